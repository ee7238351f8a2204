//! Accepting connections, bounded: at most `max_connections` open at once, each given
//! `header_read_timeout_ms` to send a request's head (counted from the connection's start
//! and, kept alive, from the end of the previous response: hyper's timer, so also the idle
//! keep-alive timeout), and a graceful shutdown that closes idle connections (and those in
//! the middle of their first request head) at once and lets requests in flight finish.
//!
//! At the limit, the oldest connection that has not sent a whole request yet is closed to
//! make room: a client holding many half-open connections (slowloris) then only pushes out
//! its own, and a new client is served. When every connection has sent a request, the new
//! one is answered 503 with `Retry-After` and closed.
//!
//! `axum::serve` sets none of these, so this is its loop with hyper's own connection builder
//! (HTTP/1.1, the only protocol the server speaks) and hyper-util's graceful shutdown.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify, Semaphore};
use tower::ServiceExt as _;

use crate::server::AppState;

/// Connections refused at the limit that may be answered at once; beyond, they are closed
/// without an answer (each answer takes a task for up to [`REFUSAL_TIME`]).
const MAX_REFUSING: usize = 64;

/// The longest time spent answering a refused connection.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// What the accept loop knows of an open connection.
#[derive(Debug, Default)]
struct Connection {
    /// A whole request head arrived on it: a client that speaks, not one holding a slot.
    spoke: AtomicBool,
    /// Told to close, to make room at the limit.
    evict: Notify,
}

/// The open connections, oldest first.
#[derive(Debug, Default)]
struct Open {
    connections: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

impl Open {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a place for connection `id`: below the limit, or in place of the oldest
    /// connection that has not spoken (told to close; `evicted` is set). `None`: full.
    fn admit(&self, id: u64, limit: usize, evicted: &mut bool) -> Option<Arc<Connection>> {
        let mut open = self.lock();
        if open.len() >= limit {
            let oldest_silent = open
                .iter()
                .find(|(_, c)| !c.spoke.load(Ordering::Acquire))
                .map(|(&id, _)| id)?;
            if let Some(silent) = open.remove(&oldest_silent) {
                silent.evict.notify_one();
                *evicted = true;
            }
        }
        let connection = Arc::new(Connection::default());
        open.insert(id, Arc::clone(&connection));
        Some(connection)
    }

    fn close(&self, id: u64) {
        self.lock().remove(&id);
    }
}

/// Serves `app` on `listener` until `stop` fires or is dropped, then lets the connections
/// finish their requests in flight (the caller bounds how long).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let limits = state.config().resources.clone();
    let open = Arc::new(Open::default());
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .keep_alive(true);
    // Tells the connections the server is stopping.
    let stopping = tokio::sync::watch::Sender::new(false);
    let mut next_id: u64 = 0;
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
        next_id += 1;
        let id = next_id;
        let mut evicted = false;
        let Some(connection) = open.admit(id, limits.max_connections, &mut evicted) else {
            state.metrics().record_rejection("connections");
            if let Ok(answering) = Arc::clone(&refusing).try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(answering);
                });
            }
            continue;
        };
        if evicted {
            state.metrics().record_eviction();
        }
        let _ = stream.set_nodelay(true);
        let spoke = Arc::clone(&connection);
        let service = TowerToHyperService::new(app.clone().map_request(
            move |request: axum::http::Request<hyper::body::Incoming>| {
                spoke.spoke.store(true, Ordering::Release);
                request
            },
        ));
        let serving = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let (state, open) = (state.clone(), Arc::clone(&open));
        let mut stopping = stopping.subscribe();
        tokio::spawn(async move {
            let _open = state.metrics().open_connection();
            tokio::pin!(serving);
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    ended = &mut serving => {
                        if let Err(e) = ended {
                            if e.is_timeout() {
                                state.metrics().record_header_timeout();
                            } else {
                                tracing::debug!("connection ended: {e}");
                            }
                        }
                        break;
                    }
                    // Dropping the connection closes it.
                    () = connection.evict.notified() => break,
                    // hyper's graceful shutdown closes an idle connection at once but waits
                    // for a first request head begun and not finished (up to the header
                    // timeout): such a connection has nothing to finish, so it is dropped.
                    stopped = stopping.wait_for(|stop| *stop), if !shutting_down => {
                        shutting_down = true;
                        if stopped.is_err() || !connection.spoke.load(Ordering::Acquire) {
                            break;
                        }
                    }
                }
            }
            open.close(id);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
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
