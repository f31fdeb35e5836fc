//! The background mail worker: delivers queued email, woken at once when a
//! request queues one and every `poll` otherwise (for retries, and for
//! messages queued by other instances).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Metrics;
use pwreset_domain::usecases::{DeliverMail, DeliveryEvent};
use pwreset_domain::values::mask_emails_in;

/// A running worker.
#[derive(Debug)]
pub struct MailWorker {
    wake: SyncSender<()>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl MailWorker {
    /// Starts the worker thread.
    pub fn spawn(
        deliver: DeliverMail,
        poll: Duration,
        batch: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        // One pending wake-up is enough: they coalesce.
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new().name("mail-worker".into()).spawn(move || {
            loop {
                drain(&deliver, batch, &metrics);
                match woken.recv_timeout(poll) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if stopping.load(Ordering::Acquire) {
                    break;
                }
            }
        })?;
        Ok(Self { wake, stop, thread })
    }

    /// A function that wakes the worker (cheap; never blocks).
    pub fn waker(&self) -> Arc<dyn Fn() + Send + Sync> {
        let wake = self.wake.clone();
        Arc::new(move || {
            let _ = wake.try_send(());
        })
    }

    /// Stops the worker after its current pass, waiting at most `grace`.
    /// Messages it could not finish stay claimed until their lease ends, then
    /// another pass (here after a restart, or in another instance) sends them.
    pub fn stop(self, grace: Duration) {
        self.stop.store(true, Ordering::Release);
        let _ = self.wake.try_send(());
        let deadline = Instant::now() + grace;
        while !self.thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.thread.is_finished() {
            let _ = self.thread.join();
        } else {
            tracing::warn!("mail worker still sending at shutdown; its messages will be retried");
        }
    }
}

/// Passes until the outbox has nothing due (a full batch means there may be more).
fn drain(deliver: &DeliverMail, batch: usize, metrics: &Metrics) {
    loop {
        match deliver.run_once() {
            Ok(report) => {
                for event in &report.events {
                    log(event);
                    let (kind, result) = match event {
                        DeliveryEvent::Sent { kind, .. } => (kind, "delivered"),
                        DeliveryEvent::Retrying { kind, .. } => (kind, "retrying"),
                        DeliveryEvent::GaveUp { kind, .. } => (kind, "given_up"),
                        DeliveryEvent::LeaseLost { kind, .. } => (kind, "lease_lost"),
                    };
                    metrics.mail(kind.as_str(), result);
                }
                if report.events.len() < batch {
                    return;
                }
            }
            Err(e) => {
                tracing::error!(error = %pwreset_domain::error_chain(&e), "mail outbox unavailable; will retry");
                return;
            }
        }
    }
}

fn log(event: &DeliveryEvent) {
    match event {
        DeliveryEvent::Sent { id, kind, attempts } => {
            tracing::info!(outbox_id = id, kind = kind.as_str(), attempts, "email delivered");
        }
        DeliveryEvent::Retrying { id, kind, attempts, retry_at, error } => tracing::warn!(
            outbox_id = id,
            kind = kind.as_str(),
            attempts,
            retry_at = %retry_at,
            error = %mask_emails_in(error),
            "email delivery failed; will retry"
        ),
        DeliveryEvent::LeaseLost { id, kind } => tracing::warn!(
            outbox_id = id,
            kind = kind.as_str(),
            "email not sent: its lease could not be renewed in time, another instance may hold it"
        ),
        DeliveryEvent::GaveUp { id, kind, attempts, error } => tracing::error!(
            outbox_id = id,
            kind = kind.as_str(),
            attempts,
            error = %mask_emails_in(error),
            "email delivery failed; giving up"
        ),
    }
}
