//! What `/readyz` and `/metrics` see of the world: the database, the outbox,
//! the hasher and the audit writer.

use std::sync::Arc;
use std::time::Duration;

use pwreset_domain::ports::Outbox;
use pwreset_http::{Gauge, Metrics, OpsProbe};
use pwreset_infra::audit::BufferedAuditLog;
use pwreset_infra::bcrypt::HashObserver;
use pwreset_infra::{BcryptHasher, DieselStore};

/// How long readiness waits for a database connection.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a count of the outbox is reused: scrapes, however frequent,
/// cost the database at most one COUNT per this.
const OUTBOX_COUNT_TTL: Duration = Duration::from_secs(5);

/// The probe of `serve`.
pub struct Probe {
    pub store: Arc<DieselStore>,
    pub hasher: Arc<BcryptHasher>,
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

    fn gauges(&self) -> Vec<Gauge> {
        let pool = self.store.pool().state();
        let mut gauges = vec![
            Gauge {
                name: "pwreset_db_pool_connections",
                help: "Open database connections.",
                value: pool.connections.into(),
            },
            Gauge {
                name: "pwreset_db_pool_idle_connections",
                help: "Idle database connections.",
                value: pool.idle_connections.into(),
            },
            Gauge {
                name: "pwreset_db_pool_max_connections",
                help: "Most database connections the pool opens.",
                value: self.store.pool().max_size().into(),
            },
            Gauge {
                name: "pwreset_bcrypt_in_flight",
                help: "Password hashes being computed.",
                value: self.hasher.in_flight() as f64,
            },
            Gauge {
                name: "pwreset_bcrypt_waiting",
                help: "Password hashes waiting for a slot.",
                value: self.hasher.waiting() as f64,
            },
            Gauge {
                name: "pwreset_audit_dropped_total",
                help: "Audit events dropped because the writer fell behind (a counter).",
                value: self.refusals.dropped() as f64,
            },
        ];
        if let Some(pending) = self.pending() {
            gauges.push(Gauge {
                name: "pwreset_outbox_pending",
                help: "Emails waiting in the outbox.",
                value: pending as f64,
            });
        }
        gauges
    }
}

/// Feeds bcrypt queue waits into the metrics.
pub struct HashWaits(pub Arc<Metrics>);

impl HashObserver for HashWaits {
    fn waited(&self, waited: Duration, _busy: bool) {
        self.0.bcrypt_waited(waited);
    }
}
