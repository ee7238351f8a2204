//! Admission control for evaluations: how many run at once and how many may wait, overall
//! and per tenant, and how many bytes of batch results are held at once.
//!
//! A request is admitted (or refused at once, 429 when its tenant is over its share, 503
//! when the server is) before it waits; then it waits for a slot of its tenant, then for
//! one of the server. Both semaphores are fair (first come, first served), and a tenant
//! holds at most `max_running_per_tenant` places in the server's queue, so one token cannot
//! starve the others. A request that times out while waiting leaves the queue (its future
//! is dropped); one that runs keeps its slot until its blocking task ends, so the count is
//! the work really running.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ResourceLimits;
use crate::error::ApiError;

/// What `Retry-After` says when the server or a tenant is full: a second, since an
/// evaluation takes milliseconds.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// Slots to run in and places to wait in, with their counts.
#[derive(Debug)]
struct Gate {
    run: Arc<Semaphore>,
    /// Admitted: waiting or running.
    admitted: AtomicUsize,
    running: AtomicUsize,
    /// Most admitted at once: running slots plus places to wait.
    cap: usize,
}

impl Gate {
    fn new(running: usize, queued: usize) -> Self {
        Self {
            run: Arc::new(Semaphore::new(running)),
            admitted: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            cap: running.saturating_add(queued),
        }
    }

    fn try_admit(&self) -> bool {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.cap).then_some(n + 1)
            })
            .is_ok()
    }
}

/// Counts of one gate: running, and waiting for a slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Running now.
    pub running: usize,
    /// Admitted, waiting for a slot.
    pub queued: usize,
}

impl From<&Gate> for Load {
    fn from(gate: &Gate) -> Self {
        let admitted = gate.admitted.load(Ordering::Acquire);
        let running = gate.running.load(Ordering::Acquire);
        Self {
            running,
            queued: admitted.saturating_sub(running),
        }
    }
}

/// Why an evaluation was not admitted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    /// The caller's tenant has as many evaluations running and waiting as it may.
    #[error("tenant `{tenant}` has {limit} evaluations running or waiting, its limit (`max_running_per_tenant` + `max_queued_per_tenant`); retry later")]
    TenantBusy {
        /// The tenant.
        tenant: String,
        /// Its limit.
        limit: usize,
    },
    /// The server has as many evaluations running and waiting as it may.
    #[error("the server has {limit} evaluations running or waiting, its limit (`max_running` + `max_queued`); retry later")]
    Overloaded {
        /// The limit.
        limit: usize,
    },
    /// The results of the batches being answered hold the most bytes allowed.
    #[error("the results of the evaluate-batch calls being answered would hold more than {limit} bytes (`max_batch_inflight_bytes`); retry later, or send smaller batches or fewer traces")]
    BatchMemory {
        /// The limit.
        limit: usize,
    },
}

impl Refusal {
    /// The label of its metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TenantBusy { .. } => "tenant_busy",
            Self::Overloaded { .. } => "overloaded",
            Self::BatchMemory { .. } => "batch_memory",
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let (status, code) = match refusal {
            Refusal::TenantBusy { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Refusal::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Refusal::BatchMemory { .. } => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
        };
        let mut error = ApiError::new(status, code, refusal.to_string());
        error.retry_after = Some(RETRY_AFTER_SECONDS);
        error
    }
}

/// The server's admission control.
#[derive(Debug)]
pub struct Admission {
    limits: ResourceLimits,
    server: Arc<Gate>,
    tenants: Mutex<HashMap<String, Arc<Gate>>>,
    batch_bytes: Arc<AtomicUsize>,
}

impl Admission {
    /// Admission under these limits.
    pub fn new(limits: &ResourceLimits) -> Self {
        Self {
            server: Arc::new(Gate::new(limits.max_running, limits.max_queued)),
            limits: limits.clone(),
            tenants: Mutex::new(HashMap::new()),
            batch_bytes: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The gate of a tenant (a token's tenant: names come from the configuration, never
    /// from a request, so the map stays as small as the configuration).
    fn tenant_gate(&self, tenant: &str) -> Arc<Gate> {
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(tenants.entry(tenant.to_string()).or_insert_with(|| {
            Arc::new(Gate::new(
                self.limits.max_running_per_tenant,
                self.limits.max_queued_per_tenant,
            ))
        }))
    }

    /// Admits an evaluation of `tenant` or refuses it at once; the admitted one then waits
    /// for its slot with [`Admitted::run`].
    pub fn admit(&self, tenant: &str) -> Result<Admitted, Refusal> {
        let gate = self.tenant_gate(tenant);
        if !gate.try_admit() {
            return Err(Refusal::TenantBusy {
                tenant: tenant.to_string(),
                limit: gate.cap,
            });
        }
        let tenant_place = Place(Arc::clone(&gate));
        if !self.server.try_admit() {
            return Err(Refusal::Overloaded {
                limit: self.server.cap,
            });
        }
        Ok(Admitted {
            tenant: tenant_place,
            server: Place(Arc::clone(&self.server)),
        })
    }

    /// Reserves room for batch results, growing as they come ([`BatchBytes::grow`]); refused
    /// when the batches being answered already hold the most allowed.
    pub fn batch_bytes(&self) -> Result<BatchBytes, Refusal> {
        let limit = self.limits.max_batch_inflight_bytes;
        if self.batch_bytes.load(Ordering::Acquire) >= limit {
            return Err(Refusal::BatchMemory { limit });
        }
        Ok(BatchBytes {
            used: Arc::clone(&self.batch_bytes),
            limit,
            held: 0,
        })
    }

    /// The server's counts.
    pub fn load(&self) -> Load {
        Load::from(self.server.as_ref())
    }

    /// Bytes of batch results held now.
    pub fn batch_bytes_held(&self) -> usize {
        self.batch_bytes.load(Ordering::Acquire)
    }

    /// Each tenant's counts, by name.
    pub fn tenant_loads(&self) -> Vec<(String, Load)> {
        let tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        let mut loads: Vec<(String, Load)> = tenants
            .iter()
            .map(|(name, gate)| (name.clone(), Load::from(gate.as_ref())))
            .collect();
        loads.sort_by(|a, b| a.0.cmp(&b.0));
        loads
    }
}

/// A place taken in a gate, given back on drop.
#[derive(Debug)]
struct Place(Arc<Gate>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An admitted evaluation, waiting; dropped, it leaves the queue.
#[derive(Debug)]
pub struct Admitted {
    tenant: Place,
    server: Place,
}

impl Admitted {
    /// Waits for a slot of the tenant, then of the server.
    pub async fn run(self) -> Result<Running, ApiError> {
        let closed = |_| ApiError::internal("the evaluation slots are closed");
        let tenant = Arc::clone(&self.tenant.0.run)
            .acquire_owned()
            .await
            .map_err(closed)?;
        let server = Arc::clone(&self.server.0.run)
            .acquire_owned()
            .await
            .map_err(closed)?;
        Ok(Running::new(self, tenant, server))
    }
}

/// A running evaluation's slots: move it into the blocking task, so that the slots are
/// given back when the work really ends.
#[derive(Debug)]
pub struct Running {
    admitted: Admitted,
    _permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

impl Running {
    fn new(admitted: Admitted, tenant: OwnedSemaphorePermit, server: OwnedSemaphorePermit) -> Self {
        admitted.tenant.0.running.fetch_add(1, Ordering::AcqRel);
        admitted.server.0.running.fetch_add(1, Ordering::AcqRel);
        Self {
            admitted,
            _permits: (tenant, server),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.admitted
            .tenant
            .0
            .running
            .fetch_sub(1, Ordering::AcqRel);
        self.admitted
            .server
            .0
            .running
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes of one batch's results, counted against `max_batch_inflight_bytes`; given back on
/// drop.
#[derive(Debug)]
pub struct BatchBytes {
    used: Arc<AtomicUsize>,
    limit: usize,
    held: usize,
}

impl BatchBytes {
    /// Counts `bytes` more; refused, counting nothing, when all batches would hold more
    /// than the limit.
    pub fn grow(&mut self, bytes: usize) -> Result<(), Refusal> {
        let limit = self.limit;
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                n.checked_add(bytes).filter(|total| *total <= limit)
            })
            .map_err(|_| Refusal::BatchMemory { limit })?;
        self.held += bytes;
        Ok(())
    }
}

impl Drop for BatchBytes {
    fn drop(&mut self) {
        self.used.fetch_sub(self.held, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(
        running: usize,
        queued: usize,
        per_tenant: usize,
        per_tenant_queued: usize,
    ) -> ResourceLimits {
        ResourceLimits {
            max_running: running,
            max_queued: queued,
            max_running_per_tenant: per_tenant,
            max_queued_per_tenant: per_tenant_queued,
            max_batch_inflight_bytes: 100,
            ..ResourceLimits::default()
        }
    }

    #[test]
    fn a_tenant_over_its_share_is_refused_while_another_is_admitted() {
        let admission = Admission::new(&limits(4, 4, 1, 1));
        let a1 = admission.admit("a").unwrap();
        let _a2 = admission.admit("a").unwrap();
        assert!(matches!(
            admission.admit("a"),
            Err(Refusal::TenantBusy { .. })
        ));
        let _b = admission.admit("b").unwrap();
        drop(a1);
        let _a3 = admission.admit("a").unwrap();
        assert_eq!(
            admission.load(),
            Load {
                running: 0,
                queued: 3
            }
        );
    }

    #[test]
    fn the_server_over_its_limit_refuses_and_gives_places_back() {
        let admission = Admission::new(&limits(1, 0, 1, 5));
        let first = admission.admit("a").unwrap();
        assert!(matches!(
            admission.admit("b"),
            Err(Refusal::Overloaded { .. })
        ));
        // The refused request gave its tenant place back.
        assert_eq!(
            admission.tenant_loads(),
            vec![
                (
                    "a".into(),
                    Load {
                        running: 0,
                        queued: 1
                    }
                ),
                ("b".into(), Load::default())
            ]
        );
        drop(first);
        assert!(admission.admit("b").is_ok());
    }

    #[tokio::test]
    async fn a_request_dropped_while_waiting_leaves_the_queue() {
        let admission = Admission::new(&limits(1, 1, 1, 1));
        let running = admission.admit("a").unwrap().run().await.unwrap();
        assert_eq!(
            admission.load(),
            Load {
                running: 1,
                queued: 0
            }
        );
        let waiting = admission.admit("a").unwrap();
        assert_eq!(
            admission.load(),
            Load {
                running: 1,
                queued: 1
            }
        );
        // It cannot get the slot while `running` holds it: the wait times out (a request's
        // timeout drops it the same way).
        let waited = tokio::time::timeout(std::time::Duration::from_millis(10), waiting.run());
        assert!(waited.await.is_err());
        assert_eq!(
            admission.load(),
            Load {
                running: 1,
                queued: 0
            }
        );
        drop(running);
        assert_eq!(admission.load(), Load::default());
        assert!(admission.admit("a").is_ok());
    }

    #[test]
    fn batch_bytes_never_exceed_the_limit_and_are_given_back() {
        let admission = Admission::new(&limits(1, 0, 1, 0));
        let mut one = admission.batch_bytes().unwrap();
        one.grow(60).unwrap();
        let mut two = admission.batch_bytes().unwrap();
        assert!(two.grow(50).is_err());
        two.grow(40).unwrap();
        assert!(admission.batch_bytes().is_err());
        drop(one);
        assert_eq!(admission.batch_bytes_held(), 40);
    }
}
