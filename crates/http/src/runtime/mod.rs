//! What runs beside the API: the mail worker (delivers the outbox) and the
//! sweeper (deletes finished tokens and delivered mail). A host starts both
//! with [`Runtime::start`] and hands [`Runtime::waker`] to its
//! [`ApiState`](crate::ApiState), so an email goes out as soon as a request
//! queues it:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use pwreset_http::runtime::{Runtime, RuntimeSettings};
//! # fn demo(ports: &pwreset_domain::ports::Ports,
//! #         store: Arc<pwreset_infra::MemoryStore>,
//! #         transport: Arc<dyn pwreset_domain::ports::MailTransport>) -> std::io::Result<()> {
//! let runtime = Runtime::start(store.clone(), store, transport, ports.clock.clone(),
//!                              RuntimeSettings::default())?;
//! let state = pwreset_http::ApiState::new(ports, pwreset_http::ApiSettings::default())
//!     .on_mail_queued(runtime.waker())
//!     .with_metrics(runtime.metrics().clone());
//! // … serve, then at shutdown:
//! runtime.stop(std::time::Duration::from_secs(10));
//! # Ok(()) }
//! ```
//!
//! Both run on threads of their own and block only there: the storage and
//! SMTP calls they make never run on the host's async executor. (The use
//! cases the API calls are blocking too; the API runs them on its own
//! threads — a host calling them itself from async code wraps them in
//! `actix_web::web::block` or `tokio::task::spawn_blocking`.)

mod sweeper;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use pwreset_domain::ports::{Clock, MailTransport, Outbox, Sweeper};
use pwreset_domain::usecases::{DeliverMail, RetryPolicy};

pub use self::sweeper::{PeriodicSweeper, SWEEP_BATCH, sweep_once};
pub use self::worker::MailWorker;
use crate::{MailQueuedHook, Metrics};

/// How the background work runs.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Retries, leases and batch size of mail delivery.
    pub retry: RetryPolicy,
    /// How often the outbox is checked without a wake-up.
    pub mail_poll: Duration,
    /// How long finished tokens and delivered mail are kept.
    pub retention: Duration,
    /// How often the sweeper runs.
    pub sweep_interval: Duration,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            mail_poll: Duration::from_secs(5),
            retention: Duration::from_secs(7 * 86_400),
            sweep_interval: Duration::from_secs(3600),
        }
    }
}

/// The running mail worker and sweeper, and the metrics they record into.
#[derive(Debug)]
pub struct Runtime {
    worker: MailWorker,
    sweeper: PeriodicSweeper,
    metrics: Arc<Metrics>,
}

impl Runtime {
    /// Starts both on threads of their own.
    ///
    /// # Errors
    /// A thread cannot be started.
    pub fn start(
        outbox: Arc<dyn Outbox>,
        sweeper: Arc<dyn Sweeper>,
        transport: Arc<dyn MailTransport>,
        clock: Arc<dyn Clock>,
        settings: RuntimeSettings,
    ) -> std::io::Result<Self> {
        Self::start_with_metrics(
            outbox,
            sweeper,
            transport,
            clock,
            settings,
            Arc::new(Metrics::default()),
        )
    }

    /// The same, recording delivery outcomes into `metrics`.
    ///
    /// # Errors
    /// A thread cannot be started.
    pub fn start_with_metrics(
        outbox: Arc<dyn Outbox>,
        sweeper: Arc<dyn Sweeper>,
        transport: Arc<dyn MailTransport>,
        clock: Arc<dyn Clock>,
        settings: RuntimeSettings,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let batch = settings.retry.batch;
        let deliver = DeliverMail::new(outbox, transport, clock.clone(), settings.retry);
        let worker = MailWorker::spawn(deliver, settings.mail_poll, batch, metrics.clone())?;
        let sweeper =
            PeriodicSweeper::spawn(sweeper, clock, settings.retention, settings.sweep_interval)?;
        Ok(Self { worker, sweeper, metrics })
    }

    /// Wakes the mail worker: pass it to [`ApiState::on_mail_queued`](crate::ApiState::on_mail_queued).
    pub fn waker(&self) -> MailQueuedHook {
        self.worker.waker()
    }

    /// The metrics delivery outcomes are recorded into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Stops both, waiting at most `grace` for the mail worker's current
    /// pass (what it could not finish is sent after a restart).
    pub fn stop(self, grace: Duration) {
        self.worker.stop(grace);
        self.sweeper.stop();
    }
}
