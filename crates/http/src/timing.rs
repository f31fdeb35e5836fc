//! How long a link request takes to answer. The work behind it differs with
//! the address (a token and an email for an account; an audit row for any
//! other address), so every answer waits until the *slowest recent* link
//! request's work would have finished, and never less than the configured
//! floor. Under load the known-address path slows down, and the floor rises
//! with it: the two stay indistinguishable by timing.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// Longest any link request is held back.
pub(crate) const MAX_FLOOR: Duration = Duration::from_secs(5);

/// The recent work durations and the configured floor.
#[derive(Debug)]
pub(crate) struct TimingFloor {
    configured: Duration,
    recent: Mutex<VecDeque<Duration>>,
}

/// How many recent link requests the floor follows.
const WINDOW: usize = 64;

impl TimingFloor {
    pub(crate) fn new(configured: Duration) -> Self {
        Self { configured, recent: Mutex::new(VecDeque::with_capacity(WINDOW)) }
    }

    /// Records how long a link request's work took, and returns how long
    /// its answer must take in all: the configured floor, raised to the
    /// slowest of the last link requests (at most [`MAX_FLOOR`]). A floor
    /// of zero turns the whole mechanism off.
    pub(crate) fn after(&self, work: Duration) -> Duration {
        self.floor(Some(work))
    }

    /// The floor without recording anything (for answers that did no work).
    pub(crate) fn current(&self) -> Duration {
        self.floor(None)
    }

    fn floor(&self, work: Option<Duration>) -> Duration {
        if self.configured.is_zero() {
            return Duration::ZERO;
        }
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(work) = work {
            if recent.len() == WINDOW {
                recent.pop_front();
            }
            recent.push_back(work);
        }
        let slowest = recent.iter().copied().max().unwrap_or_default();
        slowest.max(self.configured).min(MAX_FLOOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_floor_follows_the_slowest_recent_work() {
        let floor = TimingFloor::new(ms(50));
        assert_eq!(floor.after(ms(3)), ms(50), "quick work waits for the configured floor");
        assert_eq!(floor.after(ms(180)), ms(180), "slow work raises it");
        assert_eq!(floor.after(ms(2)), ms(180), "for the quick answers that follow too");
        assert_eq!(floor.current(), ms(180));
        for _ in 0..WINDOW {
            floor.after(ms(1));
        }
        assert_eq!(floor.current(), ms(50), "and falls back once the slow ones are old");
        assert_eq!(floor.after(Duration::from_secs(60)), MAX_FLOOR, "never beyond the cap");
        let off = TimingFloor::new(Duration::ZERO);
        assert_eq!(off.after(ms(500)), Duration::ZERO);
    }
}
