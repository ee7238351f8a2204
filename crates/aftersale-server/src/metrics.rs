//! Prometheus metrics in the text exposition format, kept by hand: a few counters and one
//! histogram do not need a registry crate.
//!
//! Every label value comes from a closed set or from the configuration and the catalog,
//! never from a request's text: a method is one of the standard ones or `other`, a route
//! is the template that matched or `unmatched`, a tenant is a token's, a contract one that
//! exists. So the series stay as many as the server's routes and contracts, whatever
//! clients send. Rendering copies the counters under their locks and formats afterwards,
//! so a large `/metrics` never holds up the requests that update them.
//!
//! - `aftersale_http_requests_total{method, route, status}`
//! - `aftersale_http_request_duration_seconds{route}` (histogram)
//! - `aftersale_http_requests_in_flight`
//! - `aftersale_connections_open`, `aftersale_connections_accepted_total`
//! - `aftersale_connection_header_timeouts_total` (closed: the head took too long)
//! - `aftersale_connections_evicted_total` (closed at the limit: it had sent no request)
//! - `aftersale_rejections_total{reason}` (`connections`, `body_too_large`,
//!   `forbidden_origin`, `forbidden_host`)
//! - `aftersale_evaluations_running{tenant}`, `aftersale_evaluations_queued{tenant}` (their
//!   sums are the server's: each evaluation holds a place of its tenant and of the server)
//! - `aftersale_evaluations_rejected_total{tenant, reason}` (`tenant_busy`, `overloaded`,
//!   `batch_memory`)
//! - `aftersale_batch_inflight_bytes`
//! - `aftersale_evaluation_errors_total{tenant, contract, code}`
//! - `aftersale_reloads_total{result}`
//! - `aftersale_contract_version_loaded{tenant, contract, version}` (1 per loaded version)
//! - `aftersale_tenant_failing{tenant}` (1 per tenant whose folder did not load last time)
//! - `aftersale_catalog_loaded_timestamp_seconds`
//!
//! A tenant's admin sees only the series of its tenant ([`Scope::Tenant`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::admission::Admission;
use crate::catalog::Catalog;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The methods counted by name; any other is `other`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
];

/// The label of a request's method: a standard method (`GET`, `POST`, ...), else `other`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method.as_str())
        .copied()
        .unwrap_or("other")
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|&b| seconds <= b) {
            if let Some(c) = self.counts.get_mut(i) {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Whose series a `/metrics` answer shows.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every series: the operator (or the one tenant of a server without configuration).
    All,
    /// Only the series of this tenant, for its admin.
    Tenant(&'a str),
}

impl Scope<'_> {
    fn shows(&self, tenant: &str) -> bool {
        match self {
            Self::All => true,
            Self::Tenant(t) => *t == tenant,
        }
    }
}

/// The server's counters. Cheap to update from any thread.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    eval_errors: Mutex<BTreeMap<(String, String, String), u64>>,
    eval_rejections: Mutex<BTreeMap<(String, &'static str), u64>>,
    rejections: Mutex<BTreeMap<&'static str, u64>>,
    reloads: Mutex<BTreeMap<&'static str, u64>>,
    in_flight: AtomicI64,
    connections_open: AtomicI64,
    connections_accepted: AtomicU64,
    header_timeouts: AtomicU64,
    evictions: AtomicU64,
}

/// Counts a request (or a connection) as in flight until dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A poisoned lock only means another thread panicked mid-update of a counter: the numbers
/// are still worth showing.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A copy of a locked map, so that formatting happens without the lock.
fn snapshot<T: Clone>(m: &Mutex<T>) -> T {
    lock(m).clone()
}

impl Metrics {
    /// Counts a request as in flight while the guard lives.
    pub fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Counts an accepted connection as open while the guard lives.
    pub fn open_connection(&self) -> InFlight<'_> {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.connections_open)
    }

    /// Counts a connection closed to make room at the limit (it had sent no request).
    pub fn record_eviction(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection closed because its request head took too long.
    pub fn record_header_timeout(&self) {
        self.header_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one answered request; `route` is the matched template (or `unmatched`).
    pub fn record_request(
        &self,
        method: &'static str,
        route: &str,
        status: u16,
        elapsed: Duration,
    ) {
        *lock(&self.requests)
            .entry((method, route.to_string(), status))
            .or_insert(0) += 1;
        lock(&self.latency)
            .entry(route.to_string())
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one request or connection refused before any work, by reason.
    pub fn record_rejection(&self, reason: &'static str) {
        *lock(&self.rejections).entry(reason).or_insert(0) += 1;
    }

    /// Counts one evaluation refused by admission control.
    pub fn record_eval_rejection(&self, tenant: &str, reason: &'static str) {
        *lock(&self.eval_rejections)
            .entry((tenant.to_string(), reason))
            .or_insert(0) += 1;
    }

    /// Counts one failed evaluation.
    pub fn record_eval_error(&self, tenant: &str, contract: &str, code: &str) {
        *lock(&self.eval_errors)
            .entry((tenant.to_string(), contract.to_string(), code.to_string()))
            .or_insert(0) += 1;
    }

    /// Counts one reload, `ok` or `failed`.
    pub fn record_reload(&self, ok: bool) {
        *lock(&self.reloads)
            .entry(if ok { "ok" } else { "failed" })
            .or_insert(0) += 1;
    }

    /// The exposition text: the counters, the admission counts and the loaded versions of
    /// `catalog`, limited to `scope`.
    pub fn render(&self, catalog: &Catalog, admission: &Admission, scope: Scope<'_>) -> String {
        let mut out = String::new();
        let all = matches!(scope, Scope::All);
        if all {
            self.render_server(&mut out, admission);
        }
        out.push_str("# HELP aftersale_evaluations_running Evaluations running now, by tenant.\n# TYPE aftersale_evaluations_running gauge\n");
        let loads = admission.tenant_loads();
        for (tenant, load) in loads.iter().filter(|(t, _)| scope.shows(t)) {
            let _ = writeln!(
                out,
                "aftersale_evaluations_running{{tenant=\"{}\"}} {}",
                escape(tenant),
                load.running
            );
        }
        out.push_str("# HELP aftersale_evaluations_queued Evaluations admitted and waiting for a slot, by tenant.\n# TYPE aftersale_evaluations_queued gauge\n");
        for (tenant, load) in loads.iter().filter(|(t, _)| scope.shows(t)) {
            let _ = writeln!(
                out,
                "aftersale_evaluations_queued{{tenant=\"{}\"}} {}",
                escape(tenant),
                load.queued
            );
        }
        out.push_str("# HELP aftersale_evaluations_rejected_total Evaluations refused by admission control, by tenant and reason.\n# TYPE aftersale_evaluations_rejected_total counter\n");
        for ((tenant, reason), n) in snapshot(&self.eval_rejections)
            .iter()
            .filter(|((t, _), _)| scope.shows(t))
        {
            let _ = writeln!(
                out,
                "aftersale_evaluations_rejected_total{{tenant=\"{}\",reason=\"{reason}\"}} {n}",
                escape(tenant)
            );
        }
        out.push_str("# HELP aftersale_evaluation_errors_total Evaluations that failed, by contract and error code.\n# TYPE aftersale_evaluation_errors_total counter\n");
        for ((tenant, contract, code), n) in snapshot(&self.eval_errors)
            .iter()
            .filter(|((t, _, _), _)| scope.shows(t))
        {
            let _ = writeln!(
                out,
                "aftersale_evaluation_errors_total{{tenant=\"{}\",contract=\"{}\",code=\"{}\"}} {n}",
                escape(tenant),
                escape(contract),
                escape(code)
            );
        }
        if all {
            out.push_str("# HELP aftersale_reloads_total Reloads of the rules folder, by result.\n# TYPE aftersale_reloads_total counter\n");
            for (result, n) in snapshot(&self.reloads).iter() {
                let _ = writeln!(out, "aftersale_reloads_total{{result=\"{result}\"}} {n}");
            }
        }
        out.push_str("# HELP aftersale_contract_version_loaded Contract versions being served (1 each).\n# TYPE aftersale_contract_version_loaded gauge\n");
        for (tenant, t) in catalog.tenants().filter(|(t, _)| scope.shows(t)) {
            for (id, versions) in t.contracts() {
                for b in versions {
                    let _ = writeln!(
                        out,
                        "aftersale_contract_version_loaded{{tenant=\"{}\",contract=\"{}\",version=\"{}\"}} 1",
                        escape(tenant),
                        escape(id),
                        escape(b.contract.version())
                    );
                }
            }
        }
        out.push_str("# HELP aftersale_tenant_failing Tenants whose folder did not load the last time (they serve what they served before).\n# TYPE aftersale_tenant_failing gauge\n");
        for (tenant, _) in catalog.failing().filter(|(t, _)| scope.shows(t)) {
            let _ = writeln!(
                out,
                "aftersale_tenant_failing{{tenant=\"{}\"}} 1",
                escape(tenant)
            );
        }
        let _ = writeln!(
            out,
            "# HELP aftersale_catalog_loaded_timestamp_seconds When the contracts being served were loaded.\n# TYPE aftersale_catalog_loaded_timestamp_seconds gauge\naftersale_catalog_loaded_timestamp_seconds {}",
            catalog.loaded_at().timestamp()
        );
        out
    }

    /// The server-wide series: requests, connections, refusals; for the operator only.
    fn render_server(&self, out: &mut String, admission: &Admission) {
        out.push_str("# HELP aftersale_http_requests_total HTTP requests answered, by route and status.\n# TYPE aftersale_http_requests_total counter\n");
        for ((method, route, status), n) in snapshot(&self.requests).iter() {
            let _ = writeln!(
                out,
                "aftersale_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP aftersale_http_request_duration_seconds Time to answer a request, by route.\n# TYPE aftersale_http_request_duration_seconds histogram\n");
        for (route, h) in snapshot(&self.latency).iter() {
            let route = escape(route);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.counts.iter()) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "aftersale_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "aftersale_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\naftersale_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\naftersale_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP aftersale_http_requests_in_flight Requests being answered now.\n# TYPE aftersale_http_requests_in_flight gauge\naftersale_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP aftersale_connections_open Connections open now.\n# TYPE aftersale_connections_open gauge\naftersale_connections_open {}",
            self.connections_open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP aftersale_connections_accepted_total Connections accepted and served (not those refused at the limit).\n# TYPE aftersale_connections_accepted_total counter\naftersale_connections_accepted_total {}",
            self.connections_accepted.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP aftersale_connection_header_timeouts_total Connections closed because a request head took longer than `header_read_timeout_ms` (idle keep-alive included).\n# TYPE aftersale_connection_header_timeouts_total counter\naftersale_connection_header_timeouts_total {}",
            self.header_timeouts.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP aftersale_connections_evicted_total Connections that had sent no request, closed to make room for a new one at `max_connections`.\n# TYPE aftersale_connections_evicted_total counter\naftersale_connections_evicted_total {}",
            self.evictions.load(Ordering::Relaxed)
        );
        out.push_str("# HELP aftersale_rejections_total Connections and requests refused before any work, by reason.\n# TYPE aftersale_rejections_total counter\n");
        for (reason, n) in snapshot(&self.rejections).iter() {
            let _ = writeln!(out, "aftersale_rejections_total{{reason=\"{reason}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP aftersale_batch_inflight_bytes Bytes of results held by the evaluate-batch calls being answered.\n# TYPE aftersale_batch_inflight_bytes gauge\naftersale_batch_inflight_bytes {}",
            admission.batch_bytes_held()
        );
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_in_the_text() {
        let m = Metrics::default();
        m.record_request("GET", "/healthz", 200, Duration::from_micros(300));
        m.record_request("GET", "/healthz", 200, Duration::from_millis(3));
        let mut h = lock(&m.latency).get("/healthz").cloned().unwrap();
        assert_eq!(h.count, 2);
        h.observe(100.0);
        assert_eq!(
            h.counts.iter().sum::<u64>(),
            2,
            "beyond the last bucket: only +Inf"
        );
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let method = axum::http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&method), "other");
        assert_eq!(method_label(&axum::http::Method::PATCH), "PATCH");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
