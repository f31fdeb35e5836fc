//! What `/readyz` and `/metrics` see of the world: the database, the outbox,
//! and the audit writer.

use std::sync::Arc;
use std::time::Duration;

use pwreset_domain::ports::Outbox;
use pwreset_http::{OpsProbe, Reading};
use pwreset_infra::DieselStore;
use pwreset_infra::audit::BufferedAuditLog;

/// How long readiness waits for a database connection.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a count of the outbox is reused: scrapes, however frequent,
/// cost the database at most one COUNT per this.
const OUTBOX_COUNT_TTL: Duration = Duration::from_secs(5);

/// The probe of `serve`.
pub struct Probe {
    pub store: Arc<DieselStore>,
    pub refusals: Arc<BufferedAuditLog>,
    /// The last outbox count and when it was taken.
    pub pending: std::sync::Mutex<Option<(std::time::Instant, u64)>>,
}

impl Probe {
    fn pending(&self) -> Option<u64> {
        let mut cached = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match *cached {
            Some((at, n)) if at.elapsed() < OUTBOX_COUNT_TTL => Some(n),
            _ => {
                let n = self.store.pending().ok()?;
                *cached = Some((std::time::Instant::now(), n));
                Some(n)
            }
        }
    }
}

impl OpsProbe for Probe {
    fn ready(&self) -> Result<(), String> {
        self.store.ping(READY_TIMEOUT).map_err(|e| pwreset_http::error_chain(&e))
    }

    fn readings(&self) -> Vec<Reading> {
        let pool = self.store.pool().state();
        let mut readings = vec![
            Reading::gauge(
                "pwreset_db_pool_connections",
                "Open database connections.",
                pool.connections.into(),
            ),
            Reading::gauge(
                "pwreset_db_pool_idle_connections",
                "Idle database connections.",
                pool.idle_connections.into(),
            ),
            Reading::gauge(
                "pwreset_db_pool_max_connections",
                "Most database connections the pool opens.",
                self.store.pool().max_size().into(),
            ),
            Reading::counter(
                "pwreset_audit_dropped_total",
                "Audit events dropped because the writer fell behind.",
                self.refusals.dropped() as f64,
            ),
        ];
        if let Some(pending) = self.pending() {
            readings.push(Reading::gauge(
                "pwreset_outbox_pending",
                "Emails waiting in the outbox.",
                pending as f64,
            ));
        }
        readings
    }
}
