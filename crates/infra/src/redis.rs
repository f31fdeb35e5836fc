//! Rate limits shared by every instance, kept in Redis (6 or later) or
//! Valkey: the [`SharedLimiter`] port.
//!
//! One check is one round trip: a server-side script takes one GCRA step
//! (the same algorithm as the in-process limiter) on one key, atomically,
//! with the Redis server's clock, so instances whose clocks disagree still
//! agree on every limit. A key holds one number (the instant its allowance
//! is full again, in milliseconds) and expires at that instant: nothing is
//! left behind and nothing needs sweeping.
//!
//! Keys are `<prefix><limit>:<digest>`: the client address or email
//! address a limit counts is stored as a SHA-256 digest, never in clear.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script};
use pwreset_domain::Limit;
use pwreset_domain::ports::{LimitCheck, LimitVerdict, SharedLimiter, SharedPing, StoreError};
use sha2::{Digest, Sha256};

/// One GCRA step. `KEYS[1]`: the key; `ARGV[1]`: the interval and
/// `ARGV[2]`: the tolerance, in milliseconds. Answers 0 (allowed, counted)
/// or the milliseconds until the next request would be allowed (refused,
/// not counted).
const GCRA: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local allowed_at = tat - tolerance
if allowed_at > now then return allowed_at - now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.max(next_tat - now, 1))
return 0
";

/// How to reach Redis.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://[user:password@]host[:port][/db]`, or `rediss://…` for TLS.
    pub url: String,
    /// Prepended to every key (several deployments can share one Redis).
    pub prefix: String,
    /// Longest wait for a connection or an answer: a check that takes
    /// longer fails, and the caller decides without Redis.
    pub timeout: Duration,
    /// Connections kept open, used in turn (each is multiplexed: many
    /// checks in flight share one, and each reconnects by itself).
    pub pool_size: usize,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &crate::redact::url_password(&self.url))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// The Redis-backed [`SharedLimiter`].
pub struct RedisLimiter {
    client: Client,
    config: ConnectionManagerConfig,
    /// Opened on first use, on the async runtime that first needs each.
    connections: Vec<OnceLock<ConnectionManager>>,
    next: AtomicUsize,
    script: Script,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// A limiter on the Redis at `settings.url`. Connects lazily: a Redis
    /// that is down now is not an error here (see [`RedisLimiter::ping`]).
    ///
    /// # Errors
    /// The URL is not a Redis URL (or names TLS this build cannot do).
    pub fn new(settings: &RedisSettings) -> Result<Self, StoreError> {
        let client = Client::open(settings.url.as_str()).map_err(|e| {
            StoreError::new(
                format!(
                    "{} is not a usable Redis URL (redis://host:port or rediss://host:port)",
                    crate::redact::url_password(&settings.url)
                ),
                e,
            )
        })?;
        // Fail fast and let the caller fall back: one attempt per request,
        // each bounded by the timeout; the connection reconnects by itself
        // on the next request after an error.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(0);
        Ok(Self {
            client,
            config,
            connections: (0..settings.pool_size.max(1)).map(|_| OnceLock::new()).collect(),
            next: AtomicUsize::new(0),
            script: Script::new(GCRA),
            prefix: settings.prefix.clone(),
            timeout: settings.timeout,
        })
    }

    /// The next connection in turn (a cheap handle on a shared one). Must
    /// be called on a Tokio runtime: the connection's driver runs there.
    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let slot =
            &self.connections[self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len()];
        if let Some(conn) = slot.get() {
            return Ok(conn.clone());
        }
        let conn =
            ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
                .map_err(unreachable)?;
        Ok(slot.get_or_init(|| conn).clone())
    }

    /// Whether Redis answers a `PING` within the timeout.
    ///
    /// # Errors
    /// It does not, and why.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(async {
            let conn = self.connection()?;
            once_more(|| {
                let mut conn = conn.clone();
                async move { ::redis::cmd("PING").query_async::<String>(&mut conn).await }
            })
            .await?;
            Ok(())
        })
        .await
    }

    /// The Redis key of `key` under limit `name`.
    pub fn key_of(&self, name: &str, key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        let mut out = String::with_capacity(self.prefix.len() + name.len() + 33);
        out.push_str(&self.prefix);
        out.push_str(name);
        out.push(':');
        // 128 bits of the digest: enough to never collide in practice.
        for byte in &digest[..16] {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }

    async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, work).await.unwrap_or_else(|_| {
            Err(StoreError::msg(format!("Redis did not answer within {:?}", self.timeout)))
        })
    }

    async fn gcra(&self, key: String, limit: Limit) -> Result<LimitVerdict, StoreError> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let interval = millis(limit.interval()).max(1);
        let tolerance = millis(limit.tolerance());
        self.bounded(async {
            let conn = self.connection()?;
            let wait: u64 = once_more(|| {
                let mut conn = conn.clone();
                let mut invocation = self.script.key(&key);
                invocation.arg(interval).arg(tolerance);
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
            Ok(if wait == 0 { Ok(()) } else { Err(Duration::from_millis(wait)) })
        })
        .await
    }
}

/// Runs a command, and once more when the connection it used had dropped
/// (Redis restarted, say): the connection reconnects as the first attempt
/// fails, so the second one finds Redis if it is back. Both within the
/// caller's timeout. (Should the first have run before its connection
/// dropped, a request is counted twice: the limit errs on the closed side.)
async fn once_more<T, F>(mut command: impl FnMut() -> F) -> Result<T, StoreError>
where
    F: Future<Output = ::redis::RedisResult<T>>,
{
    match command().await {
        Err(e) if e.is_connection_dropped() || e.is_io_error() => {
            command().await.map_err(unreachable)
        }
        other => other.map_err(unreachable),
    }
}

fn unreachable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::new("Redis is unavailable", e)
}

impl SharedLimiter for RedisLimiter {
    fn check<'a>(&'a self, name: &'a str, key: &'a str, limit: Limit) -> LimitCheck<'a> {
        Box::pin(self.gcra(self.key_of(name, key), limit))
    }

    fn ping(&self) -> SharedPing<'_> {
        Box::pin(RedisLimiter::ping(self))
    }
}

#[cfg(test)]
mod tests {
    //! Against a real Redis: `PWRESET_TEST_REDIS_URL` (the Makefile sets
    //! `redis://127.0.0.1:6379`). Without it these are skipped, except under
    //! `CI=true`, where a missing or unreachable Redis fails them. Each test
    //! uses a key prefix of its own.

    use super::*;
    use std::net::TcpListener;

    const REDIS_ENV: &str = "PWRESET_TEST_REDIS_URL";

    fn settings(url: &str, timeout: Duration) -> RedisSettings {
        let prefix = format!("pwreset-test:{}:", uuid_like());
        RedisSettings { url: url.to_owned(), prefix, timeout, pool_size: 4 }
    }

    fn uuid_like() -> String {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A limiter on the test Redis, or `None` (skipped) outside CI without one.
    async fn limiter() -> Option<RedisLimiter> {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let Ok(url) = std::env::var(REDIS_ENV) else {
            assert!(!in_ci, "{REDIS_ENV} must be set when CI=true");
            crate::skip::skipped(&format!("set {REDIS_ENV} to run the Redis adapter tests"));
            return None;
        };
        let limiter = RedisLimiter::new(&settings(&url, Duration::from_secs(2))).unwrap();
        match limiter.ping().await {
            Ok(()) => Some(limiter),
            Err(e) if in_ci => panic!("Redis at {REDIS_ENV} is unreachable (CI=true): {e}"),
            Err(e) => {
                crate::skip::skipped(&format!("Redis at {REDIS_ENV} is unreachable: {e}"));
                None
            }
        }
    }

    async fn keys(limiter: &RedisLimiter) -> Vec<String> {
        let mut conn = limiter.connection().unwrap();
        ::redis::cmd("KEYS")
            .arg(format!("{}*", limiter.prefix))
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn bursts_to_max_then_refuses_with_the_wait() {
        let Some(l) = limiter().await else { return };
        let limit = Limit { max: 3, per: MINUTE };
        for _ in 0..3 {
            assert_eq!(l.check("reset_per_ip", "192.0.2.7", limit).await.unwrap(), Ok(()));
        }
        let wait = l.check("reset_per_ip", "192.0.2.7", limit).await.unwrap().unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "one request back every 60/3 s, not {wait:?}"
        );
        // Refusals do not count: the wait does not grow.
        let again = l.check("reset_per_ip", "192.0.2.7", limit).await.unwrap().unwrap_err();
        assert!(again <= wait);
        assert_eq!(l.check("reset_per_ip", "192.0.2.8", limit).await.unwrap(), Ok(()));
        assert_eq!(l.check("reset_per_user", "192.0.2.7", limit).await.unwrap(), Ok(()));
    }

    /// Valkey's URL schemes name the same protocol: `valkey://` reaches the
    /// test server as `redis://` does.
    #[tokio::test]
    async fn valkey_urls_are_understood() {
        if limiter().await.is_none() {
            return;
        }
        let url = std::env::var(REDIS_ENV).unwrap().replacen("redis://", "valkey://", 1);
        let valkey = RedisLimiter::new(&RedisSettings { url, ..settings("", MINUTE) }).unwrap();
        valkey.ping().await.unwrap();
        let limit = Limit { max: 1, per: MINUTE };
        assert_eq!(valkey.check("l", "k", limit).await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn the_allowance_comes_back_one_interval_at_a_time() {
        let Some(l) = limiter().await else { return };
        let limit = Limit { max: 2, per: Duration::from_secs(2) };
        assert!(l.check("l", "k", limit).await.unwrap().is_ok());
        assert!(l.check("l", "k", limit).await.unwrap().is_ok());
        assert!(l.check("l", "k", limit).await.unwrap().is_err());
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert!(l.check("l", "k", limit).await.unwrap().is_ok(), "one back after 1 s");
        assert!(l.check("l", "k", limit).await.unwrap().is_err(), "only one");
    }

    #[tokio::test]
    async fn concurrent_checks_allow_exactly_max() {
        let Some(l) = limiter().await else { return };
        let l = std::sync::Arc::new(l);
        let limit = Limit { max: 10, per: MINUTE };
        let tasks: Vec<_> = (0..60)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    l.check("request_per_email", "alice@example.com", limit).await.unwrap()
                })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += usize::from(task.await.unwrap().is_ok());
        }
        assert_eq!(allowed, 10);
    }

    #[tokio::test]
    async fn keys_expire_and_never_hold_the_address() {
        let Some(l) = limiter().await else { return };
        let limit = Limit { max: 5, per: MINUTE };
        l.check("request_per_email", "alice@example.com", limit).await.unwrap().unwrap();
        let keys = keys(&l).await;
        assert_eq!(keys, [l.key_of("request_per_email", "alice@example.com")]);
        assert!(!keys[0].contains("alice"), "{keys:?}");
        assert!(keys[0].starts_with(&format!("{}request_per_email:", l.prefix)));
        let mut conn = l.connection().unwrap();
        let ttl: i64 = ::redis::cmd("PTTL").arg(&keys[0]).query_async(&mut conn).await.unwrap();
        assert!(ttl > 0 && ttl <= 12_000, "expires when the allowance is full again: {ttl} ms");
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_an_error_not_a_wait() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("redis://127.0.0.1:{port}");
        let l = RedisLimiter::new(&settings(&url, Duration::from_millis(300))).unwrap();
        let limit = Limit { max: 1, per: MINUTE };
        assert!(l.check("l", "k", limit).await.is_err(), "nothing listens");
        assert!(l.ping().await.is_err());
    }

    #[tokio::test]
    async fn a_redis_that_never_answers_times_out() {
        // Accepts connections and never says a word.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("redis://127.0.0.1:{}", silent.local_addr().unwrap().port());
        let l = RedisLimiter::new(&settings(&url, Duration::from_millis(300))).unwrap();
        let error = l.check("l", "k", Limit { max: 1, per: MINUTE }).await.unwrap_err();
        assert!(
            error.to_string().contains("did not answer")
                || error.to_string().contains("unavailable"),
            "{error}"
        );
        drop(silent);
    }

    /// A `redis-server` of the test's own speaking only TLS, with a
    /// throwaway self-signed certificate (Debian's `redis-server` and
    /// `openssl`); `None` (skipped) outside CI when either is missing.
    struct TlsRedis {
        child: std::process::Child,
        port: u16,
        _dir: tempfile::TempDir,
    }

    impl TlsRedis {
        fn start() -> Option<Self> {
            let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            let dir = tempfile::tempdir().unwrap();
            let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
            let made = std::process::Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
                .args(["-subj", "/CN=localhost", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .output();
            if !made.as_ref().is_ok_and(|o| o.status.success()) {
                assert!(!in_ci, "openssl could not make a certificate (CI=true): {made:?}");
                crate::skip::skipped("openssl is not installed (the rediss:// test)");
                return None;
            }
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = std::process::Command::new("redis-server")
                .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
                .arg("--tls-cert-file")
                .arg(&cert)
                .arg("--tls-key-file")
                .arg(&key)
                .arg("--tls-ca-cert-file")
                .arg(&cert)
                .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            let child = match child {
                Ok(child) => child,
                Err(e) => {
                    assert!(!in_ci, "redis-server is not installed (CI=true): {e}");
                    crate::skip::skipped("redis-server is not installed (the rediss:// test)");
                    return None;
                }
            };
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(std::time::Instant::now() < deadline, "TLS redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(Self { child, port, _dir: dir })
        }
    }

    impl Drop for TlsRedis {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[tokio::test]
    async fn rediss_urls_speak_tls() {
        let Some(server) = TlsRedis::start() else { return };
        // Self-signed: `#insecure` skips the certificate check (a real
        // deployment uses a certificate its system trusts).
        let tls = format!("rediss://127.0.0.1:{}/#insecure", server.port);
        let l = RedisLimiter::new(&settings(&tls, Duration::from_secs(2))).unwrap();
        l.ping().await.unwrap();
        let limit = Limit { max: 1, per: MINUTE };
        assert_eq!(l.check("l", "k", limit).await.unwrap(), Ok(()));
        assert!(l.check("l", "k", limit).await.unwrap().is_err());
        // The same port without TLS gets nowhere.
        let plain = format!("redis://127.0.0.1:{}", server.port);
        let l = RedisLimiter::new(&settings(&plain, Duration::from_millis(500))).unwrap();
        assert!(l.ping().await.is_err());
    }

    #[test]
    fn bad_urls_are_refused_and_passwords_never_shown() {
        let error = RedisLimiter::new(&settings("http://127.0.0.1", MINUTE)).unwrap_err();
        assert!(error.to_string().contains("not a usable Redis URL"), "{error}");
        let shown = format!("{:?}", settings("redis://:hunter2@127.0.0.1:6379", MINUTE));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
