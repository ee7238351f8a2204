//! Starting, reloading and stopping the service: the shared state, the middleware stack
//! (request id, structured logs, metrics, JSON errors, timeout, body limit), the runtime
//! with large-stack threads, the file watcher and graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aftersale_core::Engine;
use arc_swap::ArcSwap;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::oneshot;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::Level;

use crate::catalog::{load_catalog, Catalog, CatalogError, Layout, Problem};
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::EVAL_STACK_BYTES;

/// What `aftersale serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The rules folder.
    pub rules: PathBuf,
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// The configuration; without a file (`tokens: None`) one tenant, no authentication,
    /// loopback only.
    pub config: ServerConfig,
    /// Reload when files under the rules folder change.
    pub watch: bool,
    /// Threads answering requests; evaluations run on a separate blocking pool. Default:
    /// the number of cores.
    pub workers: Option<usize>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Without a configuration file there is no authentication, so only loopback is allowed.
    #[error("refusing to listen on `{addr}` without a config file: with no tokens the server has no authentication and listens on loopback only (use 127.0.0.1 or ::1, or give --config)")]
    LoopbackOnly {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The runtime could not be built.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The rules folder has problems.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The address could not be bound.
    #[error("cannot listen on `{addr}`: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The rules folder cannot be watched.
    #[error("cannot watch `{path}` for changes: {source}")]
    Watch {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: notify::Error,
    },
}

/// Why serving ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Accepting or answering connections failed.
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The serving task ended abnormally.
    #[error("the server task ended abnormally: {0}")]
    Task(String),
}

/// How a reload went.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// The new set is serving.
    Swapped {
        /// Contract versions now served.
        versions: usize,
        /// Test cases that passed before the swap.
        tests_passed: usize,
        /// When the new set was loaded.
        loaded_at: chrono::DateTime<chrono::Utc>,
    },
    /// The new set was refused; the previous one keeps serving.
    Failed(CatalogError),
}

struct Shared {
    engine: Engine,
    rules: PathBuf,
    layout: Layout,
    config: ServerConfig,
    catalog: ArcSwap<Catalog>,
    metrics: Metrics,
    reload_lock: tokio::sync::Mutex<()>,
    last_reload_failed: AtomicBool,
}

/// What every handler shares: configuration, the catalog being served, metrics.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

impl AppState {
    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// The catalog being served now; a request keeps the one it got until it ends.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.shared.catalog.load_full()
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Whether the last reload failed (an older set is serving).
    pub fn last_reload_failed(&self) -> bool {
        self.shared.last_reload_failed.load(Ordering::Relaxed)
    }

    /// Loads the rules folder anew (bundles checked, tests run) and swaps it in only when
    /// nothing is wrong; one reload at a time. Logs the outcome.
    pub async fn reload(&self) -> ReloadOutcome {
        let _one_at_a_time = self.shared.reload_lock.lock().await;
        let shared = Arc::clone(&self.shared);
        let loaded = tokio::task::spawn_blocking(move || {
            load_catalog(&shared.engine, &shared.rules, shared.layout)
        })
        .await
        .unwrap_or_else(|e| {
            Err(CatalogError {
                problems: vec![Problem {
                    tenant: String::new(),
                    bundle: self.shared.rules.display().to_string(),
                    message: format!("the reload did not finish: {e}"),
                }],
            })
        });
        match loaded {
            Ok(catalog) => {
                let versions = catalog.version_count();
                let tests_passed = tests_passed(&catalog);
                let loaded_at = catalog.loaded_at();
                self.shared.catalog.store(Arc::new(catalog));
                self.shared.metrics.record_reload(true);
                self.shared
                    .last_reload_failed
                    .store(false, Ordering::Relaxed);
                tracing::info!(
                    versions,
                    tests_passed,
                    "reloaded: the new contracts are serving"
                );
                ReloadOutcome::Swapped {
                    versions,
                    tests_passed,
                    loaded_at,
                }
            }
            Err(error) => {
                for p in &error.problems {
                    tracing::error!(tenant = %p.tenant, bundle = %p.bundle, "reload refused: {}", p.message);
                }
                tracing::error!(
                    problems = error.problems.len(),
                    "reload refused: the previous contracts keep serving"
                );
                self.shared.metrics.record_reload(false);
                self.shared
                    .last_reload_failed
                    .store(true, Ordering::Relaxed);
                ReloadOutcome::Failed(error)
            }
        }
    }
}

fn tests_passed(catalog: &Catalog) -> usize {
    catalog
        .tenants()
        .flat_map(|(_, t)| t.contracts())
        .flat_map(|(_, versions)| versions.iter())
        .map(|b| b.tests_passed)
        .sum()
}

/// Request ids: a per-process prefix (the start time) and a counter, cheap and unique
/// enough to follow one request through the logs.
#[derive(Clone)]
struct SequentialIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl MakeRequestId for SequentialIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// Counts every answer by route template and status, with its latency.
async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let in_flight = state.metrics().start_request();
    let response = next.run(request).await;
    drop(in_flight);
    state.metrics().record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Gives the JSON error body to errors that layers or the router answer bare (unknown
/// route, wrong method, timeout, body limit).
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let mut replaced = crate::error::for_bare_status(status).into_response();
        if let Some(allow) = response.headers().get(header::ALLOW) {
            replaced.headers_mut().insert(header::ALLOW, allow.clone());
        }
        return replaced;
    }
    response
}

/// The application: every route, behind the middleware stack.
pub fn app(state: AppState) -> Router {
    let limits = &state.config().limits;
    let (router, _) = crate::api::routes().split_for_parts();
    let ids = SequentialIds {
        prefix: format!("{:x}", chrono::Utc::now().timestamp()).into(),
        next: Arc::new(AtomicU64::new(1)),
    };
    router
        .layer(DefaultBodyLimit::max(limits.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(limits.request_timeout_ms),
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
                })
                .on_request(())
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                ),
        )
        .layer(SetRequestIdLayer::x_request_id(ids))
        .with_state(state)
}

/// A running server. Dropping it stops it without waiting; [`Server::shutdown`] lets
/// requests in flight finish.
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _watcher: Option<notify::RecommendedWatcher>,
    // Last, so that it drops after the tasks' handles.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads the rules folder (every bundle checked and its tests run), binds the address
    /// and starts serving on a runtime of its own whose threads have
    /// [`EVAL_STACK_BYTES`] stacks. Call it from outside any async runtime.
    pub fn start(options: ServeOptions) -> Result<Self, StartError> {
        let authenticates = options.config.authenticates();
        if !authenticates && !options.addr.ip().is_loopback() {
            return Err(StartError::LoopbackOnly { addr: options.addr });
        }
        let workers = options
            .workers
            .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(2)
            .max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .max_blocking_threads(64)
            .thread_stack_size(EVAL_STACK_BYTES)
            .thread_name("aftersale-server")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let layout = if authenticates {
            Layout::Tenants
        } else {
            Layout::SingleTenant
        };
        let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
        let catalog = {
            let (engine, rules) = (engine.clone(), options.rules.clone());
            let loading = runtime.spawn_blocking(move || load_catalog(&engine, &rules, layout));
            runtime.block_on(loading).map_err(|e| {
                StartError::Catalog(CatalogError {
                    problems: vec![Problem {
                        tenant: String::new(),
                        bundle: options.rules.display().to_string(),
                        message: format!("loading did not finish: {e}"),
                    }],
                })
            })??
        };
        let state = AppState {
            shared: Arc::new(Shared {
                engine,
                rules: options.rules.clone(),
                layout,
                config: options.config,
                catalog: ArcSwap::from_pointee(catalog),
                metrics: Metrics::default(),
                reload_lock: tokio::sync::Mutex::new(()),
                last_reload_failed: AtomicBool::new(false),
            }),
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(options.addr))
            .map_err(|source| StartError::Bind {
                addr: options.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: options.addr,
            source,
        })?;
        let (shutdown, stop) = oneshot::channel::<()>();
        let app = app(state.clone());
        let serving = runtime.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await
        });
        let watcher = if options.watch {
            Some(watch(&runtime, &state, &options.rules)?)
        } else {
            None
        };
        let catalog = state.catalog();
        tracing::info!(
            %addr,
            rules = %options.rules.display(),
            versions = catalog.version_count(),
            tests_passed = tests_passed(&catalog),
            tenants = if authenticates { "one per folder under the rules folder" } else { "one (no config file)" },
            watch = options.watch,
            "serving"
        );
        if !authenticates {
            tracing::warn!(%addr, "no config file: no authentication, one tenant, loopback only");
        }
        Ok(Self {
            addr,
            state,
            shutdown: Some(shutdown),
            serving: Some(serving),
            _watcher: watcher,
            runtime: Some(runtime),
        })
    }

    /// The address it listens on (with the port picked, when `:0` was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (to reload from code, say).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Reloads now, as `POST /v1/admin/reload` does.
    pub fn reload(&self) -> Option<ReloadOutcome> {
        let runtime = self.runtime.as_ref()?;
        Some(runtime.block_on(self.state.reload()))
    }

    /// Serves until SIGTERM or Ctrl-C, then shuts down gracefully.
    pub fn run_until_signal(mut self) -> Result<(), ServeError> {
        let (Some(runtime), Some(serving)) = (self.runtime.as_ref(), self.serving.as_mut()) else {
            return Ok(());
        };
        let ended_early = runtime.block_on(async {
            tokio::select! {
                () = shutdown_signal() => None,
                ended = serving => Some(ended),
            }
        });
        if let Some(ended) = ended_early {
            self.serving = None;
            return ended
                .map_err(|e| ServeError::Task(e.to_string()))?
                .map_err(ServeError::Io);
        }
        tracing::info!("signal received: finishing requests in flight");
        self.shutdown()
    }

    /// Stops accepting connections, lets requests in flight finish (at most the request
    /// timeout plus a second), then stops.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let grace = Duration::from_millis(self.state.config().limits.request_timeout_ms)
            + Duration::from_secs(1);
        let result = match (self.runtime.as_ref(), self.serving.take()) {
            (Some(runtime), Some(serving)) => {
                match runtime.block_on(async { tokio::time::timeout(grace, serving).await }) {
                    Ok(Ok(result)) => result.map_err(ServeError::Io),
                    Ok(Err(e)) => Err(ServeError::Task(e.to_string())),
                    Err(_) => {
                        tracing::warn!(
                            "requests still in flight after the grace period: stopping anyway"
                        );
                        Ok(())
                    }
                }
            }
            _ => Ok(()),
        };
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        tracing::info!("stopped");
        result
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Watches the rules folder; a burst of changes (an editor's save, a `git pull`) becomes
/// one reload after 300 ms of quiet.
fn watch(
    runtime: &tokio::runtime::Runtime,
    state: &AppState,
    rules: &std::path::Path,
) -> Result<notify::RecommendedWatcher, StartError> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            // Reading files (as a reload does) must not trigger another reload.
            Ok(e) if matches!(e.kind, EventKind::Access(_)) => {}
            Ok(_) => {
                let _ = tx.try_send(());
            }
            Err(e) => tracing::warn!("file watcher: {e}"),
        }
    })
    .map_err(|source| StartError::Watch {
        path: rules.to_path_buf(),
        source,
    })?;
    watcher
        .watch(rules, RecursiveMode::Recursive)
        .map_err(|source| StartError::Watch {
            path: rules.to_path_buf(),
            source,
        })?;
    let state = state.clone();
    runtime.spawn(async move {
        while rx.recv().await.is_some() {
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if rx.try_recv().is_err() {
                    break;
                }
            }
            tracing::info!("files changed under the rules folder: reloading");
            let _ = state.reload().await;
        }
    });
    Ok(watcher)
}
