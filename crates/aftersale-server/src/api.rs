//! The endpoints, each declared once with its OpenAPI description: the router and the
//! document come from the same list ([`routes`]), so the document cannot forget a route.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aftersale_core::{Contract, Date, Decision, Request};
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admission::Running;
use crate::auth::Caller;
use crate::catalog::{Bundle, Selector, Tenant};
use crate::config::ALL_TENANTS;
use crate::error::{ApiError, ErrorBody};
use crate::server::{AppState, TenantReload};

/// The OpenAPI document's frame; the paths come from [`routes`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "aftersale",
        description = "Decisions on after-sales service contracts (warranty, legal guarantee, maintenance, SLA) over HTTP: the same decisions as the aftersale library."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "contracts", description = "The contracts a token's tenant may use"),
        (name = "evaluate", description = "Decisions"),
        (name = "admin", description = "Operation (admin role)"),
        (name = "service", description = "Health, readiness, metrics and this document")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi
            .components
            .get_or_insert_with(utoipa::openapi::Components::new);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route with its OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_contracts))
        .routes(routes!(get_contract))
        .routes(routes!(get_graph))
        .routes(routes!(evaluate))
        .routes(routes!(evaluate_batch))
        .routes(routes!(reload))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// The OpenAPI 3.1 document of the service, generated from the code.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = routes().split_for_parts();
    api.info.version = env!("CARGO_PKG_VERSION").to_string();
    api
}

fn openapi_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        serde_json::to_string(&openapi()).unwrap_or_else(|e| {
            format!("{{\"error\": {{\"code\": \"internal\", \"message\": \"cannot serialise the OpenAPI document: {e}\"}}}}")
        })
    })
}

/// A JSON body read whatever its content type, answering our error shape (400, 413) on
/// failure instead of axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                crate::error::for_bare_status(status)
            } else {
                ApiError::bad_request("unreadable_body", rejection.body_text())
            }
        })?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            ApiError::bad_request("invalid_json", format!("invalid request body: {e}"))
        })
    }
}

// ---------------------------------------------------------------------------------------
// Contracts

/// One version of a contract, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionSummary {
    /// The version.
    pub version: String,
    /// Its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// First day in force (inclusive); absent: open.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Date)]
    pub effective_from: Option<String>,
    /// Last day in force (inclusive); absent: open.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Date)]
    pub effective_to: Option<String>,
}

/// A contract and its versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContractSummary {
    /// The contract id.
    pub id: String,
    /// Its versions, oldest effective range first.
    pub versions: Vec<VersionSummary>,
}

/// A term of a contract version.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermInfo {
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The facts its script mentions.
    pub facts_read: Vec<String>,
}

/// One version of a contract, in detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDetail {
    /// Version, description and effective range.
    #[serde(flatten)]
    pub summary: VersionSummary,
    /// The IANA zone a bare `as_of` date is read in.
    pub timezone: String,
    /// The plugins its scripts use.
    pub plugins: Vec<String>,
    /// Its terms, by name.
    pub terms: Vec<TermInfo>,
    /// The terms a decision has by default.
    pub outputs: Vec<String>,
    /// The facts the contract takes (`[facts.<name>]` of `contract.toml`): each field's
    /// name, type and bounds, as the engine checks them before any term runs. Absent when
    /// the contract declares none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub facts_schema: Option<serde_json::Value>,
}

/// A contract with every version in detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContractDetail {
    /// The contract id.
    pub id: String,
    /// Its versions, oldest effective range first.
    pub versions: Vec<VersionDetail>,
}

fn summary(contract: &Contract) -> VersionSummary {
    VersionSummary {
        version: contract.version().to_string(),
        description: contract.description().map(str::to_string),
        effective_from: contract.effective_from().map(|d| d.to_string()),
        effective_to: contract.effective_to().map(|d| d.to_string()),
    }
}

fn detail(contract: &Contract) -> VersionDetail {
    VersionDetail {
        summary: summary(contract),
        timezone: contract.timezone().name().to_string(),
        plugins: contract
            .plugin_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        terms: contract
            .terms()
            .iter()
            .map(|t| TermInfo {
                name: t.name().to_string(),
                description: t.description().map(str::to_string),
                facts_read: t.facts_read().to_vec(),
            })
            .collect(),
        outputs: contract
            .output_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        facts_schema: contract
            .facts_schema()
            .and_then(|schema| serde_json::to_value(schema).ok()),
    }
}

/// The caller's tenant in the current catalog; a tenant without a folder has no contracts.
fn with_tenant<T>(
    state: &AppState,
    caller: &Caller,
    f: impl FnOnce(&Tenant) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let tenant_name = caller.tenant()?;
    let catalog = state.catalog();
    match catalog.tenant(tenant_name) {
        Some(tenant) => f(tenant),
        None => f(&Tenant::default()),
    }
}

/// Lists the contracts of the caller's tenant.
#[utoipa::path(get, path = "/v1/contracts", tag = "contracts",
    responses(
        (status = 200, description = "Every contract with its versions", body = [ContractSummary]),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_contracts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ContractSummary>>, ApiError> {
    with_tenant(&state, &caller, |tenant| {
        Ok(Json(
            tenant
                .contracts()
                .map(|(id, versions)| ContractSummary {
                    id: id.to_string(),
                    versions: versions.iter().map(|b| summary(&b.contract)).collect(),
                })
                .collect(),
        ))
    })
}

/// One contract: every version with its terms and outputs.
#[utoipa::path(get, path = "/v1/contracts/{id}", tag = "contracts",
    params(("id" = String, Path, description = "The contract id")),
    responses(
        (status = 200, description = "The contract", body = ContractDetail),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown contract (or another tenant's)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn get_contract(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ContractDetail>, ApiError> {
    with_tenant(&state, &caller, |tenant| {
        let versions = tenant
            .versions(&id)
            .ok_or(crate::catalog::SelectError::UnknownContract { id: id.clone() })?;
        Ok(Json(ContractDetail {
            id: id.clone(),
            versions: versions.iter().map(|b| detail(&b.contract)).collect(),
        }))
    })
}

/// How the graph is drawn, and of which version.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    /// `dot` (default) or `svg` (needs Graphviz's `dot` on the server).
    pub format: Option<String>,
    /// A version; default: the version in force today.
    pub version: Option<String>,
    /// The version in force on this day (`YYYY-MM-DD`).
    pub effective_on: Option<String>,
}

/// The term graph of a contract version, in Graphviz DOT or SVG.
#[utoipa::path(get, path = "/v1/contracts/{id}/graph", tag = "contracts",
    params(("id" = String, Path, description = "The contract id"), GraphQuery),
    responses(
        (status = 200, description = "The graph", content_type = "text/vnd.graphviz", body = String),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "Unknown contract or version", body = ErrorBody),
        (status = 501, description = "SVG asked for and Graphviz is not installed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn get_graph(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<GraphQuery>,
) -> Result<Response, ApiError> {
    let selector = selector(query.version.as_deref(), query.effective_on.as_deref())?;
    let (bundle, _) = with_tenant(&state, &caller, |tenant| {
        Ok(tenant.select(&id, selector, None)?)
    })?;
    let dot = bundle.contract.to_dot();
    match query.format.as_deref().unwrap_or("dot") {
        "dot" => Ok((
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            dot,
        )
            .into_response()),
        "svg" => Ok((
            [(header::CONTENT_TYPE, "image/svg+xml")],
            render_svg(dot).await?,
        )
            .into_response()),
        other => Err(ApiError::bad_request(
            "invalid_format",
            format!("unknown graph format `{other}` (expected `dot` or `svg`)"),
        )),
    }
}

/// Runs Graphviz's `dot -Tsvg`, bounded in time.
async fn render_svg(dot: String) -> Result<Vec<u8>, ApiError> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ApiError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "graphviz_unavailable",
                    "SVG needs Graphviz (`dot`) on the server; ask for `format=dot`",
                )
            } else {
                ApiError::internal(format!("cannot run Graphviz: {e}"))
            }
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot.as_bytes())
            .await
            .map_err(|e| ApiError::internal(format!("cannot write to Graphviz: {e}")))?;
    }
    let output = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output())
        .await
        .map_err(|_| ApiError::internal("Graphviz took longer than 5 s"))?
        .map_err(|e| ApiError::internal(format!("Graphviz failed: {e}")))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(ApiError::internal(format!(
            "Graphviz failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation

/// One evaluation request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The facts, a JSON object.
    #[schema(value_type = Object)]
    #[serde(deserialize_with = "aftersale_core::value::deserialize_facts")]
    pub facts: serde_json::Value,
    /// The evaluation instant: a date (00:00 in the contract's time zone) or an RFC 3339
    /// datetime. Default: now.
    #[serde(default)]
    pub as_of: Option<String>,
    /// Include a trace of every term evaluated.
    #[serde(default)]
    pub trace: bool,
    /// Decide these terms instead of the contract's outputs.
    #[serde(default)]
    pub outputs: Option<Vec<String>>,
    /// Use exactly this version (not with `effective_on`).
    #[serde(default)]
    pub version: Option<String>,
    /// Use the version in force on this day, `YYYY-MM-DD` (a purchase date, say). Without
    /// `version` or `effective_on`: the version in force at `as_of`.
    #[serde(default)]
    #[schema(format = Date)]
    pub effective_on: Option<String>,
}

/// A decision, exactly as the library gives it.
#[derive(ToSchema)]
#[schema(as = Decision)]
#[allow(
    dead_code,
    reason = "describes aftersale_core::Decision for the OpenAPI document"
)]
struct DecisionDoc {
    /// The contract's id.
    contract: String,
    /// The version that decided.
    version: String,
    /// The evaluation instant, RFC 3339.
    as_of: String,
    /// Each requested term's value.
    #[schema(value_type = Object)]
    outputs: serde_json::Value,
    /// Every term evaluated, when `trace` was asked.
    #[schema(value_type = Option<Vec<Object>>)]
    trace: Option<serde_json::Value>,
}

/// One result of `evaluate-batch`: a decision, or an error with its `status`.
#[derive(ToSchema)]
#[allow(dead_code, reason = "describes batch items for the OpenAPI document")]
#[schema(as = BatchItem)]
enum BatchItemDoc {
    Decision(DecisionDoc),
    Error(ErrorBody),
}

fn selector<'a>(
    version: Option<&'a str>,
    effective_on: Option<&str>,
) -> Result<Selector<'a>, ApiError> {
    match (version, effective_on) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "ambiguous_version",
            "give either `version` or `effective_on`, not both",
        )),
        (Some(v), None) => Ok(Selector::Version(v)),
        (None, Some(day)) => Date::parse(day).map(Selector::EffectiveOn).map_err(|e| {
            ApiError::bad_request("invalid_effective_on", format!("invalid effective_on: {e}"))
        }),
        (None, None) => Ok(Selector::InForce),
    }
}

/// Picks the version and builds the library's request.
fn prepare(
    tenant: &Tenant,
    id: &str,
    body: EvaluateRequest,
) -> Result<(Arc<Bundle>, Request), ApiError> {
    let selector = selector(body.version.as_deref(), body.effective_on.as_deref())?;
    let (bundle, as_of) = tenant.select(id, selector, body.as_of.as_deref())?;
    let mut request = Request::new(body.facts, as_of).with_trace(body.trace);
    if let Some(outputs) = body.outputs {
        request = request.with_outputs(outputs);
    }
    Ok((bundle, request))
}

/// Admits an evaluation of `tenant` (or refuses it at once, 429 or 503 with `Retry-After`)
/// and waits for its slot; the request's timeout bounds the wait.
async fn admit(state: &AppState, tenant: &str) -> Result<Running, ApiError> {
    let admitted = state.admission().admit(tenant).map_err(|refusal| {
        state
            .metrics()
            .record_eval_rejection(tenant, refusal.reason());
        ApiError::from(refusal)
    })?;
    admitted.run().await
}

/// Evaluates on the blocking pool (the core gives a deep evaluation the stack it needs); a
/// panic there becomes a 500, never an abort.
async fn on_eval_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the evaluation did not finish: {e}")))
}

/// Decides one request.
#[utoipa::path(post, path = "/v1/contracts/{id}/evaluate", tag = "evaluate",
    params(("id" = String, Path, description = "The contract id")),
    request_body = EvaluateRequest,
    responses(
        (status = 200, description = "The decision", body = DecisionDoc),
        (status = 400, description = "Bad request: invalid JSON or facts, unknown output, bad as_of or effective_on", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown contract or version, or none in force", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A term failed on these facts", body = ErrorBody),
        (status = 429, description = "The caller's tenant has as many evaluations running and waiting as it may; see `Retry-After`", body = ErrorBody),
        (status = 503, description = "The server has as many evaluations running and waiting as it may; see `Retry-After`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EvaluateRequest>,
) -> Result<Json<Decision>, ApiError> {
    let tenant_name = caller.tenant()?.to_string();
    let (bundle, request) = with_tenant(&state, &caller, |tenant| prepare(tenant, &id, body))?;
    let running = admit(&state, &tenant_name).await?;
    // The slot goes with the work: it is given back when the evaluation ends (bounded by
    // the contract's `max_duration_ms`), even if the request timed out meanwhile.
    let result = on_eval_thread(move || {
        let _running = running;
        bundle.contract.evaluate(&request)
    })
    .await?;
    result.map(Json).map_err(|e| {
        state
            .metrics()
            .record_eval_error(&tenant_name, &id, e.code());
        ApiError::from(&e)
    })
}

/// Decides many requests in one call; each gets its decision or its error, in order.
#[utoipa::path(post, path = "/v1/contracts/{id}/evaluate-batch", tag = "evaluate",
    params(("id" = String, Path, description = "The contract id")),
    request_body = Vec<EvaluateRequest>,
    responses(
        (status = 200, description = "One item per request, in order", body = [BatchItemDoc]),
        (status = 400, description = "Not an array of requests, or more than the server's `max_batch`", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown contract", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "The caller's tenant has as many evaluations running and waiting as it may; see `Retry-After`", body = ErrorBody),
        (status = 503, description = "The server has as many evaluations running and waiting as it may, or its batches' results hold `max_batch_inflight_bytes`; see `Retry-After`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn evaluate_batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Vec<EvaluateRequest>>,
) -> Result<Response, ApiError> {
    let max = state.config().limits.max_batch;
    if body.len() > max {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!("{} requests in one batch; at most {max}", body.len()),
        ));
    }
    let tenant_name = caller.tenant()?.to_string();
    // An unknown contract fails the whole call, as for one request.
    with_tenant(&state, &caller, |tenant| {
        tenant
            .versions(&id)
            .map(|_| ())
            .ok_or_else(|| crate::catalog::SelectError::UnknownContract { id: id.clone() }.into())
    })?;
    let prepared: Vec<Result<(Arc<Bundle>, Request), ApiError>> =
        with_tenant(&state, &caller, |tenant| {
            Ok(body.into_iter().map(|b| prepare(tenant, &id, b)).collect())
        })?;
    let refused = |refusal: crate::admission::Refusal| {
        state
            .metrics()
            .record_eval_rejection(&tenant_name, refusal.reason());
        ApiError::from(refusal)
    };
    let mut held = state.admission().batch_bytes().map_err(refused)?;
    let running = admit(&state, &tenant_name).await?;
    let worker_state = state.clone();
    let worker_tenant = tenant_name.clone();
    // A blocking task cannot be cancelled: when the request is dropped (timeout, client
    // gone), the flag stops the batch at its next item instead of deciding the rest for
    // no one.
    let abandoned = AbandonOnDrop::default();
    let flag = Arc::clone(&abandoned.0);
    let answer = on_eval_thread(move || {
        let _running = running;
        // The answer is built as text item by item, each counted against
        // `max_batch_inflight_bytes` before it is kept.
        let mut out = Vec::from(*b"[");
        for item in prepared {
            if flag.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let outcome = item.and_then(|(bundle, request)| {
                bundle.contract.evaluate(&request).map_err(|e| {
                    worker_state
                        .metrics()
                        .record_eval_error(&worker_tenant, &id, e.code());
                    ApiError::from(&e)
                })
            });
            let text = match outcome {
                Ok(decision) => serde_json::to_value(decision),
                Err(e) => serde_json::to_value(e.into_batch_item()),
            }
            .and_then(|value| serde_json::to_vec(&value))
            .unwrap_or_else(|e| {
                serde_json::json!({"error": {"code": "internal", "message": format!("cannot serialise the result: {e}"), "status": 500}}).to_string().into_bytes()
            });
            held.grow(text.len() + 1)?;
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(&text);
        }
        out.push(b']');
        Ok::<_, crate::admission::Refusal>((out, held))
    })
    .await?;
    drop(abandoned);
    let (text, held) = answer.map_err(refused)?;
    let response = ([(header::CONTENT_TYPE, "application/json")], text).into_response();
    drop(held);
    Ok(response)
}

/// Sets its flag when dropped; dropped before the batch ends, the request went away.
#[derive(Default)]
struct AbandonOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------
// Admin and service

/// A successful reload.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadReport {
    /// Always true: the new set is serving.
    pub reloaded: bool,
    /// Contract versions now served, over the tenants the caller sees.
    pub versions: usize,
    /// Test cases run and passed before the swap, over the tenants the caller sees.
    pub tests_passed: usize,
    /// When the new set was loaded, RFC 3339.
    pub loaded_at: String,
}

/// Loads the rules folder anew, checks every bundle and runs its tests; each tenant whose
/// folder passes is swapped in, on its own. A tenant with problems keeps serving its
/// previous set. The answer covers the tenants the caller sees.
#[utoipa::path(post, path = "/v1/admin/reload", tag = "admin",
    responses(
        (status = 200, description = "The new set is serving", body = ReloadReport),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 422, description = "A bundle is broken or its tests fail; the previous set of that tenant keeps serving (`problems` lists the caller's tenant's)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn reload(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ReloadReport>, ApiError> {
    caller.require_admin()?;
    tracing::info!(by = %caller.name, "reload requested");
    let outcome = state.reload().await;
    let mut problems: Vec<crate::catalog::Problem> = outcome
        .refused
        .iter()
        .flat_map(|e| e.problems.iter().cloned())
        .collect();
    let (mut versions, mut tests_passed) = (0, 0);
    let mut swapped = Vec::new();
    for (tenant, result) in outcome
        .tenants
        .into_iter()
        .filter(|(t, _)| caller.sees_tenant(t))
    {
        match result {
            TenantReload::Swapped {
                versions: v,
                tests_passed: t,
            } => {
                versions += v;
                tests_passed += t;
                swapped.push(tenant);
            }
            TenantReload::Failed {
                problems: p,
                versions: v,
            } => {
                versions += v;
                problems.extend(p);
            }
        }
    }
    if problems.is_empty() {
        return Ok(Json(ReloadReport {
            reloaded: true,
            versions,
            tests_passed,
            loaded_at: outcome.loaded_at.to_rfc3339(),
        }));
    }
    let total = problems.len();
    let swapped_text = if swapped.is_empty() || outcome.refused.is_some() {
        String::new()
    } else {
        format!(
            "; swapped in: {}",
            swapped
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut api = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "reload_failed",
        format!(
            "reload refused: {total} problem{} found; the previous contracts keep serving{swapped_text}",
            if total == 1 { "" } else { "s" }
        ),
    );
    api.detail.problems = problems;
    Err(api)
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Whether the process is up.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "Up", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness, with what is being served.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// Contract versions served, over all tenants.
    pub versions: usize,
    /// When they were loaded, RFC 3339.
    pub loaded_at: String,
    /// Whether the last reload (if any) failed, leaving an older set serving.
    pub last_reload_failed: bool,
    /// How many tenants' folders did not load the last time (at start-up such a tenant
    /// serves nothing; after, what it served before).
    pub failing_tenant_count: usize,
    /// Those of them the caller's token may see (every one without a config file, or for
    /// an operator's `*` token); empty without a token.
    pub failing_tenants: Vec<String>,
}

/// Whether the server serves contracts (always, once started: it refuses to start with
/// no tenant to serve), and which tenants' folders are refused.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, description = "Serving", body = Ready))
)]
async fn readyz(State(state): State<AppState>, caller: Result<Caller, ApiError>) -> Json<Ready> {
    let catalog = state.catalog();
    let failing: Vec<&str> = catalog.failing().map(|(t, _)| t).collect();
    Json(Ready {
        status: "ready".into(),
        versions: catalog.version_count(),
        loaded_at: catalog.loaded_at().to_rfc3339(),
        last_reload_failed: state.last_reload_failed(),
        failing_tenant_count: failing.len(),
        failing_tenants: failing
            .into_iter()
            .filter(|t| caller.as_ref().is_ok_and(|c| c.sees_tenant(t)))
            .map(str::to_string)
            .collect(),
    })
}

/// Prometheus metrics: requests by route and status, latency histogram, connections,
/// refusals by reason, evaluations running and waiting, evaluation errors per contract,
/// loaded versions. Needs an admin token when tokens are configured; a tenant's admin sees
/// only its tenant's series.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_admin()?;
    // The operator, and the one tenant of a server without configuration, see everything;
    // a tenant's admin sees its tenant's series only.
    let scope = if !state.config().authenticates() || caller.tenant == ALL_TENANTS {
        crate::metrics::Scope::All
    } else {
        crate::metrics::Scope::Tenant(&caller.tenant)
    };
    let text = state
        .metrics()
        .render(&state.catalog(), state.admission(), scope);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_text()).into_response()
}
