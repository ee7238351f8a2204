//! Prometheus metrics in the text exposition format, kept by hand: a few counters and one
//! histogram do not need a registry crate.
//!
//! - `aftersale_http_requests_total{method, route, status}`
//! - `aftersale_http_request_duration_seconds{route}` (histogram)
//! - `aftersale_http_requests_in_flight`
//! - `aftersale_evaluation_errors_total{tenant, contract, code}`
//! - `aftersale_reloads_total{result}`
//! - `aftersale_contract_version_loaded{tenant, contract, version}` (1 per loaded version)
//! - `aftersale_catalog_loaded_timestamp_seconds`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::catalog::Catalog;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

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

/// The server's counters. Cheap to update from any thread.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    eval_errors: Mutex<BTreeMap<(String, String, String), u64>>,
    reloads: Mutex<BTreeMap<&'static str, u64>>,
    in_flight: AtomicI64,
}

/// Counts a request as in flight until dropped (answered, or abandoned by its client).
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

impl Metrics {
    /// Counts a request as in flight while the guard lives.
    pub fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Counts one answered request.
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        *lock(&self.requests)
            .entry((method.to_string(), route.to_string(), status))
            .or_insert(0) += 1;
        lock(&self.latency)
            .entry(route.to_string())
            .or_default()
            .observe(elapsed.as_secs_f64());
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

    /// The exposition text, with the loaded versions of `catalog`.
    pub fn render(&self, catalog: &Catalog) -> String {
        let mut out = String::new();
        out.push_str("# HELP aftersale_http_requests_total HTTP requests answered, by route and status.\n# TYPE aftersale_http_requests_total counter\n");
        for ((method, route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "aftersale_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        out.push_str("# HELP aftersale_http_request_duration_seconds Time to answer a request, by route.\n# TYPE aftersale_http_request_duration_seconds histogram\n");
        for (route, h) in lock(&self.latency).iter() {
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
        out.push_str("# HELP aftersale_evaluation_errors_total Evaluations that failed, by contract and error code.\n# TYPE aftersale_evaluation_errors_total counter\n");
        for ((tenant, contract, code), n) in lock(&self.eval_errors).iter() {
            let _ = writeln!(
                out,
                "aftersale_evaluation_errors_total{{tenant=\"{}\",contract=\"{}\",code=\"{}\"}} {n}",
                escape(tenant),
                escape(contract),
                escape(code)
            );
        }
        out.push_str("# HELP aftersale_reloads_total Reloads of the rules folder, by result.\n# TYPE aftersale_reloads_total counter\n");
        for (result, n) in lock(&self.reloads).iter() {
            let _ = writeln!(out, "aftersale_reloads_total{{result=\"{result}\"}} {n}");
        }
        out.push_str("# HELP aftersale_contract_version_loaded Contract versions being served (1 each).\n# TYPE aftersale_contract_version_loaded gauge\n");
        for (tenant, t) in catalog.tenants() {
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
        let _ = writeln!(
            out,
            "# HELP aftersale_catalog_loaded_timestamp_seconds When the contracts being served were loaded.\n# TYPE aftersale_catalog_loaded_timestamp_seconds gauge\naftersale_catalog_loaded_timestamp_seconds {}",
            catalog.loaded_at().timestamp()
        );
        out
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
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
