//! Starting, reloading and stopping the service: the shared state, the middleware stack
//! (request id, structured logs, metrics, JSON errors, the loopback server's browser guard,
//! timeout, body limit), the runtime with large-stack threads, the file watcher and graceful
//! shutdown. Connections are accepted and bounded in the private `connections` module.

use std::collections::BTreeMap;
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
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::Level;

use crate::admission::Admission;
use crate::catalog::{load_tenants, Catalog, CatalogError, Layout, Problem};
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::metrics::{method_label, Metrics};

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

/// How a reload went, tenant by tenant: each tenant's folder loads on its own and is swapped
/// in on its own, so one tenant's broken bundle does not hold back the others.
#[derive(Debug)]
pub struct ReloadOutcome {
    /// When the set now serving was put together.
    pub loaded_at: chrono::DateTime<chrono::Utc>,
    /// Problems that refused the whole reload (the rules folder unreadable, no bundle
    /// anywhere): nothing changed.
    pub refused: Option<CatalogError>,
    /// Each tenant's result, by name.
    pub tenants: BTreeMap<String, TenantReload>,
}

/// How a reload went for one tenant.
#[derive(Debug)]
pub enum TenantReload {
    /// Its new contracts are serving.
    Swapped {
        /// Its contract versions now served.
        versions: usize,
        /// Its test cases that passed before the swap.
        tests_passed: usize,
    },
    /// Its folder was refused; what it served before keeps serving.
    Failed {
        /// Every problem found in its folder.
        problems: Vec<Problem>,
        /// Its contract versions still served (none when it never loaded).
        versions: usize,
    },
}

impl ReloadOutcome {
    /// Whether everything was swapped in.
    pub fn succeeded(&self) -> bool {
        self.refused.is_none()
            && self
                .tenants
                .values()
                .all(|t| matches!(t, TenantReload::Swapped { .. }))
    }

    /// Every problem found: those that refused the reload, then each failed tenant's.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.refused
            .iter()
            .flat_map(|e| e.problems.iter())
            .chain(self.tenants.values().flat_map(|t| match t {
                TenantReload::Failed { problems, .. } => problems.as_slice(),
                TenantReload::Swapped { .. } => &[],
            }))
    }
}

struct Shared {
    engine: Engine,
    rules: PathBuf,
    layout: Layout,
    config: ServerConfig,
    addr: SocketAddr,
    catalog: ArcSwap<Catalog>,
    metrics: Metrics,
    admission: Admission,
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

    /// The admission control of evaluations.
    pub fn admission(&self) -> &Admission {
        &self.shared.admission
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Whether the last reload failed (an older set is serving).
    pub fn last_reload_failed(&self) -> bool {
        self.shared.last_reload_failed.load(Ordering::Relaxed)
    }

    /// Loads the rules folder anew (bundles checked, tests run) and swaps in each tenant
    /// whose folder has no problem; a tenant with problems keeps serving what it served.
    /// One reload at a time. Logs the outcome.
    pub async fn reload(&self) -> ReloadOutcome {
        let _one_at_a_time = self.shared.reload_lock.lock().await;
        let shared = Arc::clone(&self.shared);
        let loaded = tokio::task::spawn_blocking(move || {
            load_tenants(&shared.engine, &shared.rules, shared.layout)
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
        let outcome = match loaded {
            Ok(loads) => {
                let previous = self.shared.catalog.load_full();
                let catalog = Catalog::merge(Some(&previous), loads.clone());
                let tenants = loads
                    .into_iter()
                    .map(|(name, load)| {
                        let result = match load {
                            Ok(tenant) => TenantReload::Swapped {
                                versions: tenant.version_count(),
                                tests_passed: tenant.tests_passed(),
                            },
                            Err(problems) => TenantReload::Failed {
                                versions: catalog.tenant(&name).map_or(0, |t| t.version_count()),
                                problems,
                            },
                        };
                        (name, result)
                    })
                    .collect();
                let loaded_at = catalog.loaded_at();
                self.shared.catalog.store(Arc::new(catalog));
                ReloadOutcome {
                    loaded_at,
                    refused: None,
                    tenants,
                }
            }
            Err(error) => ReloadOutcome {
                loaded_at: self.shared.catalog.load().loaded_at(),
                refused: Some(error),
                tenants: BTreeMap::new(),
            },
        };
        let ok = outcome.succeeded();
        for p in outcome.problems() {
            tracing::error!(tenant = %p.tenant, bundle = %p.bundle, "reload refused: {}", p.message);
        }
        for (tenant, result) in &outcome.tenants {
            if let TenantReload::Swapped {
                versions,
                tests_passed,
            } = result
            {
                tracing::info!(%tenant, versions, tests_passed, "reloaded: the new contracts are serving");
            }
        }
        if !ok {
            tracing::error!(
                problems = outcome.problems().count(),
                "reload refused where problems were found: the previous contracts keep serving there"
            );
        }
        self.shared.metrics.record_reload(ok);
        self.shared.last_reload_failed.store(!ok, Ordering::Relaxed);
        outcome
    }
}

fn tests_passed(catalog: &Catalog) -> usize {
    catalog.tenants().map(|(_, t)| t.tests_passed()).sum()
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
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let in_flight = state.metrics().start_request();
    let response = next.run(request).await;
    drop(in_flight);
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        state.metrics().record_rejection("body_too_large");
    }
    state.metrics().record_request(
        method,
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
        for kept in [header::ALLOW, header::RETRY_AFTER] {
            if let Some(value) = response.headers().get(&kept) {
                replaced.headers_mut().insert(kept, value.clone());
            }
        }
        return replaced;
    }
    response
}

/// Without a configuration file the server has no authentication and listens on loopback,
/// where a browser on the same machine can still reach it: a page elsewhere may post to it
/// (its request carries that page's `Origin`), or make its own name resolve to 127.0.0.1
/// (DNS rebinding: the request then carries that name as `Host`). So such a server answers
/// only requests whose `Host` is its own loopback address and whose `Origin`, when sent
/// (browsers do; curl and backends do not), is its own.
async fn refuse_browser_attacks(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.config().authenticates() {
        return next.run(request).await;
    }
    let addr = state.local_addr();
    let host = request
        .headers()
        .get(header::HOST)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_string()));
    let allowed = format!(
        "`localhost:{port}`, `127.0.0.1:{port}`, `[::1]:{port}` or `{addr}`",
        port = addr.port()
    );
    if !host.as_deref().is_some_and(|h| is_own_host(h, addr)) {
        state.metrics().record_rejection("forbidden_host");
        let message = match host {
            Some(h) => format!("host `{h}` is not this server's address: without a config file only {allowed} is answered (a guard against DNS rebinding)"),
            None => format!("a request without a `Host` header is refused: without a config file only {allowed} is answered (a guard against DNS rebinding)"),
        };
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden_host", message).into_response();
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        let own = origin
            .strip_prefix("http://")
            .is_some_and(|h| is_own_host(h, addr));
        if !own {
            state.metrics().record_rejection("forbidden_origin");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_origin",
                format!("origin `{origin}` is not this server's: without a config file a request a browser sends from another site is refused (the server's own origin is `http://` with {allowed})"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Whether `host` (`name[:port]`, as in a `Host` header) names the server at `addr`:
/// `localhost`, `127.0.0.1`, `[::1]` or the bound address, with the bound port (80 when
/// absent).
fn is_own_host(host: &str, addr: SocketAddr) -> bool {
    let is_bound = |ip: &str| {
        ip.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip == addr.ip())
    };
    let (name_ok, port) = match host.strip_prefix('[') {
        Some(bracketed) => {
            let Some((ip, tail)) = bracketed.split_once(']') else {
                return false;
            };
            let port = match tail.strip_prefix(':') {
                Some(port) => Some(port),
                None if tail.is_empty() => None,
                None => return false,
            };
            (ip == "::1" || (ip.contains(':') && is_bound(ip)), port)
        }
        None => {
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (host, None),
            };
            let ok = name.eq_ignore_ascii_case("localhost")
                || name == "127.0.0.1"
                || (!name.contains(':') && is_bound(name));
            (ok, port)
        }
    };
    let port_ok = match port {
        Some(p) => p.parse::<u16>().is_ok_and(|p| p == addr.port()),
        None => addr.port() == 80,
    };
    name_ok && port_ok
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
        // A `Content-Length` over the limit is refused before any of the body is awaited.
        .layer(RequestBodyLimitLayer::new(limits.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(limits.request_timeout_ms),
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            refuse_browser_attacks,
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
    /// and starts serving on a runtime of its own. Call it from outside any async runtime.
    /// Bundles may use the core vocabulary and every domain plugin; a host with plugins of
    /// its own uses [`Server::start_with_engine`].
    pub fn start(options: ServeOptions) -> Result<Self, StartError> {
        Self::start_with_engine(
            options,
            aftersale_domain::with_domain_plugins(Engine::builder()).build(),
        )
    }

    /// [`Server::start`] with the engine every bundle is loaded (and reloaded) with: the
    /// plugins and default limits a host offers its contracts.
    pub fn start_with_engine(options: ServeOptions, engine: Engine) -> Result<Self, StartError> {
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
            .thread_name("aftersale-server")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let layout = if authenticates {
            Layout::Tenants
        } else {
            Layout::SingleTenant
        };
        let loads = {
            let (engine, rules) = (engine.clone(), options.rules.clone());
            let loading = runtime.spawn_blocking(move || load_tenants(&engine, &rules, layout));
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
        // A tenant with problems is refused and the others serve; with none to serve, the
        // server does not start.
        if loads.values().all(Result::is_err) {
            return Err(StartError::Catalog(CatalogError {
                problems: loads
                    .into_values()
                    .filter_map(Result::err)
                    .flatten()
                    .collect(),
            }));
        }
        let catalog = Catalog::merge(None, loads);
        for (tenant, problems) in catalog.failing() {
            for p in problems {
                tracing::error!(%tenant, bundle = %p.bundle, "tenant refused: {}", p.message);
            }
            tracing::error!(%tenant, problems = problems.len(), "tenant refused at start-up: its contracts are not served until a reload succeeds");
        }
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
        let state = AppState {
            shared: Arc::new(Shared {
                engine,
                rules: options.rules.clone(),
                layout,
                admission: Admission::new(&options.config.resources),
                config: options.config,
                addr,
                catalog: ArcSwap::from_pointee(catalog),
                metrics: Metrics::default(),
                reload_lock: tokio::sync::Mutex::new(()),
                last_reload_failed: AtomicBool::new(false),
            }),
        };
        let (shutdown, stop) = oneshot::channel::<()>();
        let serving = runtime.spawn(crate::connections::serve(
            listener,
            app(state.clone()),
            state.clone(),
            stop,
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_hosts_are_loopback_names_or_the_bound_address_with_its_port() {
        let v4: SocketAddr = "127.0.0.2:8080".parse().unwrap();
        for host in [
            "localhost:8080",
            "LOCALHOST:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "127.0.0.2:8080",
        ] {
            assert!(is_own_host(host, v4), "{host}");
        }
        for host in [
            "localhost",
            "localhost:80",
            "evil.example:8080",
            "[localhost]:8080",
            "[::1]x:8080",
            "127.0.0.1:08080x",
            "::1:8080",
            "[::2]:8080",
        ] {
            assert!(!is_own_host(host, v4), "{host}");
        }
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert!(is_own_host("[::1]", v6));
        assert!(is_own_host("localhost", v6));
        assert!(!is_own_host("[::1]:8080", v6));
    }
}
