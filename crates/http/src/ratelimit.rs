//! Rate limits: per client IP and per target (an email address, a user id).
//!
//! Each limit is "at most `max` requests per `per`", enforced with GCRA (the
//! generic cell rate algorithm): a key may burst to `max` at once, then earns
//! one request back every `per / max`. State is one timestamp per key.
//!
//! The limits are kept in memory, per instance, unless a [`SharedLimiter`]
//! (Redis) is configured: then every check is made there, for all instances
//! at once, and the in-memory limiters are the fallback while it cannot be
//! reached (see [`SharedLimits`]).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pwreset_domain::ports::SharedLimiter;

pub use pwreset_domain::Limit;

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Most keys one limiter shard remembers. When a shard is full of keys whose
/// state has not expired, new keys share one overflow key of that shard
/// until room frees up: memory stays bounded, no key is forgotten early, and
/// nothing is ever let through unlimited for lack of room (under such a
/// flood, new clients are limited together — closed, not open).
const MAX_KEYS_PER_SHARD: usize = 16_384;
/// The shared key of a full shard (no real key starts with a NUL).
const OVERFLOW_KEY: &str = "\0overflow";
const SHARDS: usize = 16;

/// One limit over many keys.
#[derive(Debug)]
pub struct Limiter {
    limit: Limit,
    shards: Vec<Mutex<HashMap<String, DateTime<Utc>>>>,
    hasher: RandomState,
    capacity: usize,
}

impl Limiter {
    /// A limiter for `limit`.
    pub fn new(limit: Limit) -> Self {
        Self::with_capacity(limit, MAX_KEYS_PER_SHARD)
    }

    /// A limiter remembering at most `per_shard` keys in each of its shards.
    pub fn with_capacity(limit: Limit, per_shard: usize) -> Self {
        Self {
            limit,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            capacity: per_shard.max(1),
        }
    }

    /// Counts a request by `key` at `now`: `Ok` when allowed, otherwise how
    /// long until the next request would be.
    pub fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut key = key;
        if !map.contains_key(key) && map.len() >= self.capacity {
            map.retain(|_, t| *t > now);
            if map.len() >= self.capacity {
                key = OVERFLOW_KEY;
            }
        }
        let (interval, tolerance) =
            (chrono_of(self.limit.interval()), chrono_of(self.limit.tolerance()));
        // "Theoretical arrival time": when the key's allowance is back to full.
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let earliest = tat - tolerance;
        if earliest > now {
            return Err((earliest - now).to_std().unwrap_or(Duration::ZERO));
        }
        map.insert(key.to_owned(), tat + interval);
        Ok(())
    }
}

/// The rate-limit key of a client address: IPv4 addresses as they are,
/// IPv6 addresses by their network of `ipv6_prefix` bits (a /64 is one
/// subscriber: counting per /128 would give each one 2^64 keys). IPv4-mapped
/// IPv6 addresses count as IPv4. No address (a test, a Unix socket) is "".
pub fn client_key(ip: Option<IpAddr>, ipv6_prefix: u8) -> String {
    match ip {
        None => String::new(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                format!("{}/{prefix}", Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
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
    /// Resets (PATCH) with a refused link, per user id.
    pub reset_per_user: Option<Limit>,
    /// IPv6 clients are counted per network of this many bits (64: a subscriber).
    pub ipv6_prefix: u8,
}

impl RateLimits {
    /// No limits at all (`PWRESET_RATE_LIMIT=off`).
    pub fn off() -> Self {
        Self {
            request_per_ip: None,
            request_per_email: None,
            reset_per_ip: None,
            reset_per_user: None,
            ipv6_prefix: 64,
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
            ipv6_prefix: 64,
        }
    }
}

/// The limiters of one server instance.
#[derive(Debug)]
pub struct Limiters {
    pub(crate) request_per_ip: Option<Limiter>,
    /// `request_per_email` per (address, client network): a 429 for the
    /// client that keeps asking.
    pub request_per_email: Option<Limiter>,
    /// `request_per_email` per address, whoever asks: beyond it, requests are
    /// answered as usual but mint and send nothing (and revoke nothing), so
    /// an address gets a bounded number of emails, its newest link stays
    /// live, and nobody can make its owner's own requests fail.
    pub request_per_address: Option<Limiter>,
    /// `reset_per_ip`.
    pub reset_per_ip: Option<Limiter>,
    /// `reset_per_user`, counting refused links only.
    pub reset_per_user: Option<Limiter>,
    pub(crate) ipv6_prefix: u8,
    /// Where the limits are kept for every instance, when anywhere.
    pub(crate) shared: Option<SharedLimits>,
}

impl Limiters {
    /// The limiters of `limits` (`None` where a limit is off).
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            request_per_ip: limits.request_per_ip.map(Limiter::new),
            request_per_email: limits.request_per_email.map(Limiter::new),
            request_per_address: limits.request_per_email.map(Limiter::new),
            reset_per_ip: limits.reset_per_ip.map(Limiter::new),
            reset_per_user: limits.reset_per_user.map(Limiter::new),
            ipv6_prefix: limits.ipv6_prefix,
            shared: None,
        }
    }

    fn local(&self, limit: LimitName) -> Option<&Limiter> {
        match limit {
            LimitName::RequestPerIp => self.request_per_ip.as_ref(),
            LimitName::RequestPerEmail => self.request_per_email.as_ref(),
            LimitName::RequestPerAddress => self.request_per_address.as_ref(),
            LimitName::ResetPerIp => self.reset_per_ip.as_ref(),
            LimitName::ResetPerUser => self.reset_per_user.as_ref(),
        }
    }

    /// Counts a request by `key` against `limit` at `now`: in the shared
    /// limiter when there is one and it answers, otherwise in memory.
    pub(crate) async fn check(
        &self,
        limit: LimitName,
        key: &str,
        now: DateTime<Utc>,
        metrics: &crate::Metrics,
    ) -> Result<(), Duration> {
        let Some(local) = self.local(limit) else { return Ok(()) };
        let Some(shared) = &self.shared else { return local.check(key, now) };
        match shared.check(limit.as_str(), key, local.limit).await {
            Some(verdict) => {
                // The in-memory limiter keeps counting what this instance
                // lets through, so a fallback starts from this instance's
                // own history rather than from nothing.
                if verdict.is_ok() {
                    let _ = local.check(key, now);
                }
                verdict
            }
            None => {
                metrics.rate_limit_fallback(limit.as_str());
                local.check(key, now)
            }
        }
    }
}

/// Limits kept in a [`SharedLimiter`] for every instance, with the way back
/// and forth to the in-memory limiters: a check the shared limiter does not
/// answer within `timeout` (or answers with an error) is decided in memory,
/// and the shared limiter is left alone for [`RETRY_AFTER`] before one
/// request tries it again. The outage is logged once when it starts and
/// once when it ends, and shown by `/readyz` and `/metrics`.
pub(crate) struct SharedLimits {
    limiter: Arc<dyn SharedLimiter>,
    timeout: Duration,
    /// Whether the last attempt was answered.
    up: AtomicBool,
    /// While down: when the next attempt may be made, in milliseconds since `epoch`.
    retry_at: AtomicU64,
    epoch: Instant,
}

/// How long the shared limiter is left alone after it failed.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits")
            .field("limiter", &self.limiter)
            .field("up", &self.up)
            .finish_non_exhaustive()
    }
}

impl SharedLimits {
    pub(crate) fn new(limiter: Arc<dyn SharedLimiter>, timeout: Duration) -> Self {
        Self {
            limiter,
            timeout,
            up: AtomicBool::new(true),
            retry_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Whether the shared limits are in force (the last attempt was answered).
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The shared verdict, or `None` when it must be decided in memory.
    async fn check(&self, name: &str, key: &str, limit: Limit) -> Option<Result<(), Duration>> {
        if !self.is_up() {
            // Down: one request at a time tries again, once per RETRY_AFTER;
            // the others do not wait for it.
            let (now, due) = (self.millis(), self.retry_at.load(Ordering::Acquire));
            let next = now.saturating_add(millis(RETRY_AFTER));
            if now < due
                || self
                    .retry_at
                    .compare_exchange(due, next, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return None;
            }
        }
        self.answer(self.limiter.check(name, key, limit)).await
    }

    /// Asks the shared limiter whether it answers (for `/readyz`), and
    /// records the answer as a check would.
    pub(crate) async fn probe(&self) -> bool {
        self.answer(self.limiter.ping()).await.is_some()
    }

    /// What the shared limiter answered within the timeout, recording
    /// whether it answered at all (`None`: it did not).
    async fn answer<T>(
        &self,
        call: impl Future<Output = Result<T, pwreset_domain::ports::StoreError>>,
    ) -> Option<T> {
        match actix_web::rt::time::timeout(self.timeout, call).await {
            Ok(Ok(answer)) => {
                self.back();
                Some(answer)
            }
            Ok(Err(e)) => {
                self.down(&crate::error_chain(&e));
                None
            }
            Err(_) => {
                self.down(&format!("no answer within {:?}", self.timeout));
                None
            }
        }
    }

    fn back(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!("shared rate limits are back: limits hold across instances again");
        }
    }

    fn down(&self, error: &str) {
        self.retry_at.store(self.millis().saturating_add(millis(RETRY_AFTER)), Ordering::Release);
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                error,
                "shared rate limits unavailable: each instance applies its own limits until they are back"
            );
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Checks one limit for a request; when it is hit, records the hit in the
/// audit trail and returns the 429 answer.
pub(crate) async fn enforce(
    state: &crate::ApiState,
    limit: LimitName,
    key: &str,
    user: Option<pwreset_domain::UserId>,
    client: impl FnOnce() -> pwreset_domain::ClientInfo,
    id: crate::CorrelationId,
) -> Result<(), crate::ApiError> {
    hit(state, limit, key, user, client)
        .await
        .map_err(|wait| crate::ApiError::too_many_requests(wait, id))
}

/// Checks one limit; when it is hit, logs, counts and audits the hit and
/// returns how long until the next request would be allowed.
pub(crate) async fn hit(
    state: &crate::ApiState,
    limit: LimitName,
    key: &str,
    user: Option<pwreset_domain::UserId>,
    client: impl FnOnce() -> pwreset_domain::ClientInfo,
) -> Result<(), Duration> {
    let now = state.clock().now();
    let verdict = state.limiters().check(limit, key, now, state.metrics()).await;
    verdict.inspect_err(|wait| {
        tracing::info!(limit = limit.as_str(), retry_after_s = wait.as_secs(), "rate limit hit");
        state.metrics().rate_limited(limit.as_str());
        let record = pwreset_domain::AuditRecord {
            kind: pwreset_domain::AuditKind::RateLimited,
            user_id: user,
            client: client(),
            detail: Some(format!("limit={}", limit.as_str())),
            at: now,
        };
        if let Err(e) = state.refusals().record(&record) {
            tracing::warn!(error = %crate::error_chain(&e), "rate-limit hit not audited");
        }
    })
}

/// The limits, by name (as audited and counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitName {
    RequestPerIp,
    RequestPerEmail,
    RequestPerAddress,
    ResetPerIp,
    ResetPerUser,
}

impl LimitName {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::RequestPerIp => "request_per_ip",
            Self::RequestPerEmail => "request_per_email",
            Self::RequestPerAddress => "request_per_address",
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
    fn ipv6_clients_count_per_network() {
        let key = |ip: &str, prefix| client_key(Some(ip.parse().unwrap()), prefix);
        assert_eq!(key("2001:db8:1:2:aaaa::1", 64), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff", 64), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1", 64), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:aaaa::1", 48), "2001:db8:1::/48");
        assert_eq!(key("2001:db8::1", 128), "2001:db8::1/128");
        assert_eq!(key("::ffff:192.0.2.7", 64), "192.0.2.7");
        assert_eq!(key("192.0.2.7", 64), "192.0.2.7");
        assert_eq!(client_key(None, 64), "");
    }

    proptest::proptest! {
        /// However many distinct keys pass (far beyond what the limiter
        /// remembers), a key that keeps asking is never allowed more than
        /// its limit within the period: no fail-open, bounded memory.
        #[test]
        fn limits_hold_at_any_number_of_keys(
            others in proptest::collection::vec(0u32..1_000_000, 200..2_000),
            every in 1usize..20,
        ) {
            let limit = Limit { max: 3, per: Duration::from_secs(3600) };
            let limiter = Limiter::with_capacity(limit, 4);
            let mut allowed = 0;
            for (i, other) in others.iter().enumerate() {
                let now = t0() + chrono::Duration::milliseconds(i as i64);
                let _ = limiter.check(&format!("other-{other}-{i}"), now);
                if i % every == 0 && limiter.check("victim", now).is_ok() {
                    allowed += 1;
                }
            }
            proptest::prop_assert!(allowed <= 3, "{allowed} allowed");
            let remembered: usize = limiter.shards.iter().map(|s| s.lock().unwrap().len()).sum();
            proptest::prop_assert!(remembered <= 5 * SHARDS, "4 keys and the overflow key per shard");
        }
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
