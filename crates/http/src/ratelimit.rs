//! Rate limits: per client IP and per target (an email address, a user id),
//! in memory, per instance.
//!
//! Each limit is "at most `max` requests per `per`", enforced with GCRA (the
//! generic cell rate algorithm): a key may burst to `max` at once, then earns
//! one request back every `per / max`. State is one timestamp per key.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// "At most `max` requests per `per`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed in a burst and per period.
    pub max: u32,
    /// The period.
    pub per: Duration,
}

impl Limit {
    fn interval(self) -> chrono::Duration {
        chrono::Duration::from_std(self.per / self.max).unwrap_or(chrono::Duration::MAX)
    }

    fn tolerance(self) -> chrono::Duration {
        chrono::Duration::from_std(self.per).unwrap_or(chrono::Duration::MAX) - self.interval()
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}s", self.max, self.per.as_secs())
    }
}

/// Most keys one limiter remembers; beyond it, keys whose state has expired
/// are dropped first, and if none has, new keys are let through unlimited
/// rather than growing memory without bound.
const MAX_KEYS_PER_SHARD: usize = 16_384;
const SHARDS: usize = 16;

/// One limit over many keys.
#[derive(Debug)]
pub struct Limiter {
    limit: Limit,
    shards: Vec<Mutex<HashMap<String, DateTime<Utc>>>>,
    hasher: RandomState,
}

impl Limiter {
    /// A limiter for `limit`.
    pub fn new(limit: Limit) -> Self {
        Self {
            limit,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Counts a request by `key` at `now`: `Ok` when allowed, otherwise how
    /// long until the next request would be.
    pub fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (interval, tolerance) = (self.limit.interval(), self.limit.tolerance());
        // "Theoretical arrival time": when the key's allowance is back to full.
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let earliest = tat - tolerance;
        if earliest > now {
            return Err((earliest - now).to_std().unwrap_or(Duration::ZERO));
        }
        if map.len() >= MAX_KEYS_PER_SHARD && !map.contains_key(key) {
            map.retain(|_, t| *t > now);
            if map.len() >= MAX_KEYS_PER_SHARD {
                return Ok(());
            }
        }
        map.insert(key.to_owned(), tat + interval);
        Ok(())
    }
}

/// The limits pwreset applies, each optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Link requests (POST) per client IP.
    pub request_per_ip: Option<Limit>,
    /// Link requests (POST) per email address.
    pub request_per_email: Option<Limit>,
    /// Resets (PATCH) per client IP.
    pub reset_per_ip: Option<Limit>,
    /// Resets (PATCH) per user id.
    pub reset_per_user: Option<Limit>,
}

impl RateLimits {
    /// No limits at all (`PWRESET_RATE_LIMIT=off`).
    pub fn off() -> Self {
        Self {
            request_per_ip: None,
            request_per_email: None,
            reset_per_ip: None,
            reset_per_user: None,
        }
    }
}

impl Default for RateLimits {
    /// A person can ask for a link a few times an hour; a script cannot ask
    /// hundreds of times.
    fn default() -> Self {
        let hour = Duration::from_secs(3600);
        Self {
            request_per_ip: Some(Limit { max: 20, per: hour }),
            request_per_email: Some(Limit { max: 5, per: hour }),
            reset_per_ip: Some(Limit { max: 60, per: hour }),
            reset_per_user: Some(Limit { max: 20, per: hour }),
        }
    }
}

/// The limiters of one server instance.
#[derive(Debug)]
pub struct Limiters {
    pub(crate) request_per_ip: Option<Limiter>,
    pub request_per_email: Option<Limiter>,
    pub reset_per_ip: Option<Limiter>,
    pub reset_per_user: Option<Limiter>,
}

impl Limiters {
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            request_per_ip: limits.request_per_ip.map(Limiter::new),
            request_per_email: limits.request_per_email.map(Limiter::new),
            reset_per_ip: limits.reset_per_ip.map(Limiter::new),
            reset_per_user: limits.reset_per_user.map(Limiter::new),
        }
    }
}

/// Checks `key` against an optional limiter.
pub(crate) fn check(
    limiter: Option<&Limiter>,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), Duration> {
    limiter.map_or(Ok(()), |l| l.check(key, now))
}

/// Checks one limit for a request; when it is hit, records the hit in the
/// audit trail and returns the 429 answer.
pub(crate) fn enforce(
    state: &crate::ApiState,
    limit: LimitName,
    key: &str,
    user: Option<pwreset_domain::UserId>,
    client: impl FnOnce() -> pwreset_domain::ClientInfo,
    id: crate::CorrelationId,
) -> Result<(), crate::ApiError> {
    let now = state.clock.now();
    let limiter = match limit {
        LimitName::RequestPerIp => state.limiters.request_per_ip.as_ref(),
        LimitName::RequestPerEmail => state.limiters.request_per_email.as_ref(),
        LimitName::ResetPerIp => state.limiters.reset_per_ip.as_ref(),
        LimitName::ResetPerUser => state.limiters.reset_per_user.as_ref(),
    };
    check(limiter, key, now).map_err(|wait| {
        tracing::info!(limit = limit.as_str(), retry_after_s = wait.as_secs(), "rate limit hit");
        state.metrics().rate_limited(limit.as_str());
        let record = pwreset_domain::AuditRecord {
            kind: pwreset_domain::AuditKind::RateLimited,
            user_id: user,
            client: client(),
            detail: Some(format!("limit={}", limit.as_str())),
            at: now,
        };
        if let Err(e) = state.refusals.record(&record) {
            tracing::warn!(error = %e, "rate-limit hit not audited");
        }
        crate::ApiError::too_many_requests(wait, id)
    })
}

/// The limits, by name (as audited and counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitName {
    RequestPerIp,
    RequestPerEmail,
    ResetPerIp,
    ResetPerUser,
}

impl LimitName {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::RequestPerIp => "request_per_ip",
            Self::RequestPerEmail => "request_per_email",
            Self::ResetPerIp => "reset_per_ip",
            Self::ResetPerUser => "reset_per_user",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn bursts_to_max_then_refills_evenly() {
        let limiter = Limiter::new(Limit { max: 3, per: Duration::from_secs(60) });
        for _ in 0..3 {
            assert_eq!(limiter.check("a", t0()), Ok(()));
        }
        let wait = limiter.check("a", t0()).unwrap_err();
        assert_eq!(wait, Duration::from_secs(20), "one request back every 60/3 s");
        assert_eq!(limiter.check("b", t0()), Ok(()), "keys are independent");
        let later = t0() + chrono::Duration::seconds(20);
        assert_eq!(limiter.check("a", later), Ok(()));
        assert!(limiter.check("a", later).is_err());
        // After a full period of quiet, the whole burst is back.
        let quiet = later + chrono::Duration::seconds(60);
        for _ in 0..3 {
            assert_eq!(limiter.check("a", quiet), Ok(()));
        }
        assert!(limiter.check("a", quiet).is_err());
    }

    #[test]
    fn refusals_do_not_extend_the_wait() {
        let limiter = Limiter::new(Limit { max: 1, per: Duration::from_secs(10) });
        assert!(limiter.check("k", t0()).is_ok());
        for _ in 0..100 {
            assert!(limiter.check("k", t0()).is_err());
        }
        assert!(limiter.check("k", t0() + chrono::Duration::seconds(10)).is_ok());
    }
}
