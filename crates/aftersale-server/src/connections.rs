//! Accepting connections, bounded: at most `max_connections` open at once (one more is
//! answered 503 with `Retry-After` and closed), each given `header_read_timeout_ms` to send
//! a request's head (counted from the connection's start and, kept alive, from the end of
//! the previous response: hyper's timer, so also the idle keep-alive timeout), and a
//! graceful shutdown that closes idle connections at once and lets requests in flight
//! finish.
//!
//! `axum::serve` sets none of these, so this is its loop with hyper's own connection builder
//! (HTTP/1.1, the only protocol the server speaks) and hyper-util's graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

use crate::server::AppState;

/// Connections refused at the limit that may be answered at once; beyond, they are closed
/// without an answer (each answer takes a task for up to [`REFUSAL_TIME`]).
const MAX_REFUSING: usize = 64;

/// The longest time spent answering a refused connection.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `stop` fires or is dropped, then lets the connections
/// finish their requests in flight (the caller bounds how long).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let limits = state.config().resources.clone();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .keep_alive(true);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait a little instead of spinning, as
                // `axum::serve` does.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            state.metrics().record_rejection("connections");
            if let Ok(answering) = Arc::clone(&refusing).try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(answering);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let state = state.clone();
        tokio::spawn(async move {
            let _open = state.metrics().open_connection();
            if let Err(e) = connection.await {
                if e.is_timeout() {
                    state.metrics().record_header_timeout();
                } else {
                    tracing::debug!("connection ended: {e}");
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answers a connection over the limit 503 with `Retry-After`, then closes it, reading what
/// the client sent meanwhile so that the close does not reset the connection before the
/// client read the answer.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error":{"code":"overloaded","message":"the server has as many connections open as it may (`max_connections`); retry later"}}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: {}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        crate::admission::RETRY_AFTER_SECONDS,
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}
