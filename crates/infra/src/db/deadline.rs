//! A deadline for the connection checkouts one thread makes.
//!
//! A request that already waited its turn for a storage thread should not
//! then wait the pool's whole checkout timeout as well: during a database
//! outage under load that doubled the time to an answer (docs/reliability.md).
//! The HTTP layer runs each storage job inside [`checkout_deadline`] with the
//! moment its request stops waiting, and [`DieselStore`](super::DieselStore)
//! gives up on a checkout at that moment, or at the pool's own timeout if that
//! comes first. A free connection is still taken after the deadline: the
//! deadline bounds waiting, not work.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `work` with every connection checkout on this thread giving up at
/// `deadline` (or earlier, at the pool's timeout). The thread's previous
/// deadline, if any, is back in force afterwards, even if `work` panics.
pub fn checkout_deadline<T>(deadline: Instant, work: impl FnOnce() -> T) -> T {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.set(self.0);
        }
    }
    let _restore = Restore(DEADLINE.replace(Some(deadline)));
    work()
}

/// How long a checkout on this thread may wait for a connection, given the
/// pool's own timeout.
pub(crate) fn checkout_wait(pool_timeout: Duration) -> Duration {
    DEADLINE.get().map_or(pool_timeout, |deadline| {
        deadline.saturating_duration_since(Instant::now()).min(pool_timeout)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: Duration = Duration::from_secs(5);

    #[test]
    fn without_a_deadline_the_pool_timeout_applies() {
        assert_eq!(checkout_wait(POOL), POOL);
    }

    #[test]
    fn the_sooner_of_deadline_and_pool_timeout_applies_and_then_lapses() {
        let wait =
            checkout_deadline(Instant::now() + Duration::from_millis(300), || checkout_wait(POOL));
        assert!(wait <= Duration::from_millis(300) && wait > Duration::ZERO, "{wait:?}");
        assert_eq!(checkout_deadline(Instant::now() + POOL * 2, || checkout_wait(POOL)), POOL);
        let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        assert_eq!(checkout_deadline(past, || checkout_wait(POOL)), Duration::ZERO);
        assert_eq!(checkout_wait(POOL), POOL, "the deadline ends with the work");
    }

    #[test]
    fn nested_deadlines_restore_the_outer_one_even_after_a_panic() {
        // Wide margins, so a loaded machine cannot fail it: the outer
        // deadline is a minute away, the inner one already past, and the
        // pool would wait an hour. Restored, the wait is the outer's ~60 s:
        // neither the inner's 0 nor the pool's hour.
        let hour = Duration::from_secs(3600);
        let outer = Instant::now() + Duration::from_secs(60);
        checkout_deadline(outer, || {
            let inner = std::panic::catch_unwind(|| {
                checkout_deadline(Instant::now(), || panic!("storage failed"))
            });
            assert!(inner.is_err());
            let wait = checkout_wait(hour);
            assert!(wait > Duration::from_secs(30) && wait <= Duration::from_secs(60), "{wait:?}");
        });
        assert_eq!(checkout_wait(POOL), POOL);
    }
}
