//! Token and outbox sweeping: once (`pwreset token sweep`), or periodically.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use pwreset_domain::ports::{Clock, StoreError, SweepReport, Sweeper};

/// Rows deleted per transaction: small enough that no table is locked for long.
pub const SWEEP_BATCH: usize = 500;

/// Deletes what finished more than `retention` ago. Blocking.
///
/// # Errors
/// [`StoreError`] when storage fails; what was deleted stays deleted.
pub fn sweep_once(
    sweeper: &dyn Sweeper,
    clock: &dyn Clock,
    retention: Duration,
) -> Result<SweepReport, StoreError> {
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    sweeper.sweep(clock.now() - retention, SWEEP_BATCH)
}

/// A periodic sweeper on a thread of its own.
#[derive(Debug)]
pub struct PeriodicSweeper {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl PeriodicSweeper {
    /// Sweeps every `interval`, starting one interval from now.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn spawn(
        sweeper: Arc<dyn Sweeper>,
        clock: Arc<dyn Clock>,
        retention: Duration,
        interval: Duration,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new().name("sweeper".into()).spawn(move || {
            let tick = Duration::from_millis(200).min(interval);
            let mut waited = Duration::ZERO;
            while !stopping.load(Ordering::Acquire) {
                std::thread::sleep(tick);
                waited += tick;
                if waited < interval {
                    continue;
                }
                waited = Duration::ZERO;
                match sweep_once(&*sweeper, &*clock, retention) {
                    Ok(report) if report == SweepReport::default() => {}
                    Ok(report) => {
                        tracing::info!(tokens = report.tokens, mails = report.mails, "swept")
                    }
                    Err(e) => tracing::warn!(error = %pwreset_domain::error_chain(&e), "sweep failed; will retry"),
                }
            }
        })?;
        Ok(Self { stop, thread })
    }

    /// Stops after the current sweep.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}
