//! [`ApiState`]: what the handlers share — the use cases, the rate limiters,
//! the storage and hashing lanes, the metrics and the settings — behind
//! accessors.

use std::sync::Arc;
use std::time::Duration;

use pwreset_domain::ports::{AuditLog, Clock, Ports, PublicIdCodec, SharedLimiter};
use pwreset_domain::usecases::{RequestPasswordReset, ResetPassword};

use crate::{ApiSettings, Metrics, OpsProbe, StorageDeadline, lane, openapi, ratelimit, timing};

/// Called whenever a request queued an email, so delivery can start at once.
pub type MailQueuedHook = Arc<dyn Fn() + Send + Sync>;

/// What the handlers share: the use cases, the rate limiters and the settings.
pub struct ApiState {
    reset: ResetPassword,
    request: RequestPasswordReset,
    ids: Arc<dyn PublicIdCodec>,
    clock: Arc<dyn Clock>,
    refusals: Arc<dyn AuditLog>,
    limiters: ratelimit::Limiters,
    on_mail_queued: Option<MailQueuedHook>,
    openapi: serde_json::Value,
    metrics: Arc<Metrics>,
    probe: Option<Arc<dyn OpsProbe>>,
    storage: lane::Lane,
    hashing: lane::Lane,
    timing: timing::TimingFloor,
    settings: ApiSettings,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl ApiState {
    /// Wires the use cases to the ports.
    pub fn new(ports: &Ports, settings: ApiSettings) -> Self {
        Self {
            reset: ResetPassword::new(ports),
            request: RequestPasswordReset::new(ports, settings.link.clone()),
            ids: ports.ids.clone(),
            clock: ports.clock.clone(),
            refusals: ports.refusals.clone(),
            limiters: ratelimit::Limiters::new(&settings.rate_limits),
            on_mail_queued: None,
            openapi: openapi::document(&settings.prefix),
            metrics: Arc::new(Metrics::default()),
            probe: None,
            storage: lane::Lane::new(
                "db",
                settings.storage_threads,
                settings.storage_wait,
                lane::Priority::Normal,
            ),
            hashing: lane::Lane::new(
                "hash",
                settings.hash_threads,
                settings.hash_wait,
                lane::Priority::Background,
            ),
            timing: timing::TimingFloor::new(settings.link_request_min_time),
            settings,
        }
    }

    /// Records into `metrics` (shared with, say, the mail worker) instead of
    /// a registry of its own.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Lets `/readyz` and `/metrics` look at the database and the rest.
    pub fn with_probe(mut self, probe: Arc<dyn OpsProbe>) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Runs each request's storage work inside `deadline`, so storage stops
    /// waiting (for a pooled connection, say) once the request has waited
    /// `storage_wait` in all.
    pub fn with_storage_deadline(mut self, deadline: Arc<dyn StorageDeadline>) -> Self {
        self.storage.with_deadline(deadline);
        self
    }

    /// Keeps every rate limit in `limiter` (Redis), shared by all instances.
    /// A check it does not answer within `timeout` is decided by this
    /// instance's own limiters, and `/readyz` and `/metrics` say so until
    /// it answers again.
    pub fn with_shared_limits(
        mut self,
        limiter: Arc<dyn SharedLimiter>,
        timeout: Duration,
    ) -> Self {
        self.limiters.shared = Some(ratelimit::SharedLimits::new(limiter, timeout));
        self
    }

    /// Whether rate limits are shared and the shared limiter answers:
    /// `None` without one, `Some(false)` while this instance falls back to
    /// its own limits.
    pub fn shared_limits_up(&self) -> Option<bool> {
        self.limiters.shared.as_ref().map(ratelimit::SharedLimits::is_up)
    }

    /// The metrics this state records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Calls `hook` whenever a request queued an email (a link or a notice),
    /// e.g. to wake the delivery worker.
    pub fn on_mail_queued(mut self, hook: MailQueuedHook) -> Self {
        self.on_mail_queued = Some(hook);
        self
    }

    pub(crate) fn mail_queued(&self) {
        if let Some(hook) = &self.on_mail_queued {
            hook();
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ApiSettings {
        &self.settings
    }

    // What the handler modules read, one accessor each.

    pub(crate) fn reset_use_case(&self) -> &ResetPassword {
        &self.reset
    }

    pub(crate) fn request_use_case(&self) -> &RequestPasswordReset {
        &self.request
    }

    pub(crate) fn ids(&self) -> &dyn PublicIdCodec {
        &*self.ids
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    pub(crate) fn refusals(&self) -> &dyn AuditLog {
        &*self.refusals
    }

    pub(crate) fn limiters(&self) -> &ratelimit::Limiters {
        &self.limiters
    }

    pub(crate) fn openapi(&self) -> &serde_json::Value {
        &self.openapi
    }

    pub(crate) fn probe(&self) -> Option<&Arc<dyn OpsProbe>> {
        self.probe.as_ref()
    }

    /// Runs storage work on the storage lane.
    pub(crate) async fn on_storage<T, F>(&self, work: F) -> Result<T, lane::LaneError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.storage.run(work, |_| ()).await
    }

    /// Runs work that hashes a password on the hashing lane, recording how
    /// long it waited for a thread.
    pub(crate) async fn on_hashing<T, F>(&self, work: F) -> Result<T, lane::LaneError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let metrics = self.metrics.clone();
        self.hashing.run(work, move |waited| metrics.bcrypt_waited(waited)).await
    }

    /// Password hashes being computed now, and waiting for a thread.
    pub(crate) fn hashing_load(&self) -> (usize, usize) {
        (self.hashing.running(), self.hashing.queued())
    }

    pub(crate) fn timing(&self) -> &timing::TimingFloor {
        &self.timing
    }
}
