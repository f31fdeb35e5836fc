//! The system clock.

use chrono::{DateTime, SubsecRound, Utc};
use pwreset_domain::ports::Clock;

/// The production [`Clock`]. Truncates to microseconds, the finest precision
/// every supported database stores, so values read back compare equal.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}
