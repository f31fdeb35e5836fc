//! The bcrypt [`PasswordHasher`], with a bound on how many hashes run at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use pwreset_domain::ports::{HashError, PasswordHasher};
use pwreset_domain::{NewPassword, PasswordHash};

/// bcrypt reads this many bytes of a password and ignores the rest.
pub const BCRYPT_MAX_BYTES: usize = 72;

/// Lowest and highest cost bcrypt accepts.
pub const COST_RANGE: std::ops::RangeInclusive<u32> = 4..=31;

/// A counting semaphore for blocking threads: at most `limit` holders at once,
/// and a waiter gives up after `timeout`.
#[derive(Debug)]
struct Permits {
    in_use: Mutex<usize>,
    freed: Condvar,
    limit: usize,
    timeout: Duration,
    waiting: AtomicUsize,
}

/// Told how long each hash waited for its turn (for metrics).
pub trait HashObserver: Send + Sync {
    /// A hash got its slot after `waited`, or gave up after it (`busy`).
    fn waited(&self, waited: Duration, busy: bool);
}

struct Permit<'a>(&'a Permits);

impl Permits {
    fn acquire(&self, observer: Option<&dyn HashObserver>) -> Result<Permit<'_>, HashError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        if *in_use >= self.limit {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            while *in_use >= self.limit {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    if let Some(o) = observer {
                        o.waited(started.elapsed(), true);
                    }
                    return Err(HashError::Busy);
                }
                in_use =
                    self.freed.wait_timeout(in_use, left).unwrap_or_else(PoisonError::into_inner).0;
            }
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        *in_use += 1;
        if let Some(o) = observer {
            o.waited(started.elapsed(), false);
        }
        Ok(Permit(self))
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.in_use.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        self.0.freed.notify_one();
    }
}

/// bcrypt (`$2b$`) at a configured cost.
///
/// Passwords up to 72 bytes are hashed in full (the `bcrypt` crate's
/// `non_truncating_*` functions wrongly refuse exactly 72); longer ones are
/// refused rather than silently truncated.
pub struct BcryptHasher {
    cost: u32,
    permits: Permits,
    observer: OnceLock<Arc<dyn HashObserver>>,
}

impl std::fmt::Debug for BcryptHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BcryptHasher")
            .field("cost", &self.cost)
            .field("permits", &self.permits)
            .finish()
    }
}

impl BcryptHasher {
    /// A hasher at `cost` that runs at most `max_concurrent` hashes at once;
    /// a caller that waits longer than `queue_timeout` for its turn gets
    /// [`HashError::Busy`].
    ///
    /// # Errors
    /// [`HashError::Failed`] when the cost is outside 4..=31 or `max_concurrent` is 0.
    pub fn new(
        cost: u32,
        max_concurrent: usize,
        queue_timeout: Duration,
    ) -> Result<Self, HashError> {
        if !COST_RANGE.contains(&cost) {
            return Err(HashError::Failed(format!("bcrypt cost must be 4..=31, got {cost}")));
        }
        if max_concurrent == 0 {
            return Err(HashError::Failed("at least one concurrent hash must be allowed".into()));
        }
        let permits = Permits {
            in_use: Mutex::new(0),
            freed: Condvar::new(),
            limit: max_concurrent,
            timeout: queue_timeout,
            waiting: AtomicUsize::new(0),
        };
        Ok(Self { cost, permits, observer: OnceLock::new() })
    }

    /// Reports every wait for a hashing slot to `observer` from now on
    /// (the first observer set stays).
    pub fn observe_with(&self, observer: Arc<dyn HashObserver>) {
        let _ = self.observer.set(observer);
    }

    /// Hashes being computed now.
    pub fn in_flight(&self) -> usize {
        *self.permits.in_use.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hashes waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.permits.waiting.load(Ordering::Relaxed)
    }

    /// The configured cost.
    pub fn cost(&self) -> u32 {
        self.cost
    }
}

impl PasswordHasher for BcryptHasher {
    fn hash(&self, password: &NewPassword) -> Result<PasswordHash, HashError> {
        let bytes = password.expose().as_bytes();
        if bytes.len() > BCRYPT_MAX_BYTES {
            return Err(HashError::Failed("password longer than 72 bytes".into()));
        }
        let _permit = self.permits.acquire(self.observer.get().map(|o| &**o))?;
        // `hash` would truncate past 72 bytes; the check above makes that moot.
        bcrypt::hash(bytes, self.cost)
            .map(PasswordHash::new)
            .map_err(|e| HashError::Failed(e.to_string()))
    }

    fn verify(&self, candidate: &str, hash: &PasswordHash) -> Result<bool, HashError> {
        if candidate.len() > BCRYPT_MAX_BYTES {
            // Its first 72 bytes might match; the password itself does not.
            return Ok(false);
        }
        let _permit = self.permits.acquire(self.observer.get().map(|o| &**o))?;
        bcrypt::verify(candidate, hash.expose()).map_err(|e| HashError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn hasher() -> BcryptHasher {
        BcryptHasher::new(4, 2, Duration::from_secs(30)).unwrap()
    }

    fn password(s: &str) -> NewPassword {
        NewPassword::parse(s.to_owned()).unwrap()
    }

    #[test]
    fn hashes_are_2b_and_verify() {
        let h = hasher();
        let hash = h.hash(&password("correct horse")).unwrap();
        assert!(hash.expose().starts_with("$2b$04$"), "{}", hash.expose().len());
        assert_eq!(hash.expose().len(), 60);
        assert!(h.verify("correct horse", &hash).unwrap());
        assert!(!h.verify("correct horsE", &hash).unwrap());
    }

    #[test]
    fn all_72_bytes_count() {
        let h = hasher();
        // 24 × 3 bytes = 72 bytes: the last character must matter.
        let full = "密".repeat(23) + "码";
        let hash = h.hash(&password(&full)).unwrap();
        assert!(h.verify(&full, &hash).unwrap());
        assert!(!h.verify(&("密".repeat(23) + "密"), &hash).unwrap());
        // A 73-byte candidate whose first 72 bytes match is still refused.
        assert!(!h.verify(&(full + "x"), &hash).unwrap());
    }

    #[test]
    fn cost_is_checked() {
        assert!(BcryptHasher::new(3, 1, Duration::ZERO).is_err());
        assert!(BcryptHasher::new(32, 1, Duration::ZERO).is_err());
        assert!(BcryptHasher::new(4, 0, Duration::ZERO).is_err());
        assert_eq!(BcryptHasher::new(12, 1, Duration::ZERO).unwrap().cost(), 12);
    }

    #[test]
    fn unparsable_hash_is_an_error_not_a_mismatch() {
        assert!(hasher().verify("whatever", &PasswordHash::new("not a hash".into())).is_err());
    }

    #[test]
    fn concurrency_is_bounded() {
        let h = Arc::new(BcryptHasher::new(6, 2, Duration::from_secs(60)).unwrap());
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (h, peak) = (h.clone(), peak.clone());
                std::thread::spawn(move || {
                    for _ in 0..3 {
                        let _p = h.permits.acquire(None).unwrap();
                        let now = *h.permits.in_use.lock().unwrap();
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn waiting_too_long_is_busy() {
        let h = BcryptHasher::new(4, 1, Duration::from_millis(10)).unwrap();
        let _held = h.permits.acquire(None).unwrap();
        assert_eq!(h.in_flight(), 1);
        assert!(matches!(h.hash(&password("abcdefgh")), Err(HashError::Busy)));
        assert_eq!(h.waiting(), 0, "the waiter left");
    }
}
