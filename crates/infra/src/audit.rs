//! [`BufferedAuditLog`]: an audit trail that queues high-volume events
//! (refused resets, rate-limit hits) and writes them in batches on its own
//! thread, so that a flood of bad requests costs one transaction per batch
//! instead of one per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use pwreset_domain::AuditRecord;
use pwreset_domain::ports::{AuditLog, AuditQuery, StoreError};

enum Message {
    Record(Box<AuditRecord>),
    Flush(SyncSender<()>),
}

/// Queues events and writes them in batches. When the queue is full (the
/// database is down or far behind), new events are dropped and counted —
/// [`BufferedAuditLog::dropped`] — rather than slowing requests down.
pub struct BufferedAuditLog {
    target: Arc<dyn AuditLog>,
    sender: Mutex<Option<SyncSender<Message>>>,
    dropped: Arc<AtomicU64>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for BufferedAuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedAuditLog").field("dropped", &self.dropped()).finish_non_exhaustive()
    }
}

/// Attempts at writing one batch before it is dropped.
const WRITE_ATTEMPTS: u32 = 5;

/// How long the writer lets events gather after the first of a batch. While
/// it sleeps, queueing an event is a lock-free push that wakes nobody; a
/// flood of refusals then costs one transaction (and one fsync) per batch.
const LINGER: Duration = Duration::from_millis(50);

fn write_loop(
    target: &dyn AuditLog,
    receiver: &Receiver<Message>,
    max_batch: usize,
    dropped: &AtomicU64,
) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut waiting = Vec::new();
    while let Ok(first) = receiver.recv() {
        if matches!(first, Message::Record(_)) {
            std::thread::sleep(LINGER);
        }
        let mut next = Some(first);
        // Take what is queued now, up to a batch.
        while let Some(message) = next.take() {
            match message {
                Message::Record(record) => batch.push(*record),
                Message::Flush(done) => waiting.push(done),
            }
            if batch.len() < max_batch {
                next = receiver.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let mut delay = Duration::from_millis(100);
            let mut attempt = 1;
            while let Err(e) = target.record_all(&batch) {
                if attempt == WRITE_ATTEMPTS {
                    dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tracing::error!(events = batch.len(), error = %pwreset_domain::error_chain(&e), "audit events could not be written; dropped");
                    break;
                }
                tracing::warn!(events = batch.len(), error = %pwreset_domain::error_chain(&e), attempt, "audit events not written yet; retrying");
                std::thread::sleep(delay);
                delay *= 2;
                attempt += 1;
            }
            batch.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

impl BufferedAuditLog {
    /// Starts the writer thread: events go to `target` in batches of at most
    /// `max_batch`; at most `capacity` wait in memory.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(
        target: Arc<dyn AuditLog>,
        capacity: usize,
        max_batch: usize,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::sync_channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let (writer_target, writer_dropped) = (target.clone(), dropped.clone());
        let writer = std::thread::Builder::new().name("audit-writer".into()).spawn(move || {
            write_loop(&*writer_target, &receiver, max_batch.max(1), &writer_dropped)
        })?;
        Ok(Self {
            target,
            sender: Mutex::new(Some(sender)),
            dropped,
            writer: Mutex::new(Some(writer)),
        })
    }

    fn sender(&self) -> Option<SyncSender<Message>> {
        self.sender.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Events dropped so far (queue full, or a batch that could not be written).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until everything queued so far is written (or `timeout` passes);
    /// returns whether it was.
    pub fn flush(&self, timeout: Duration) -> bool {
        let Some(sender) = self.sender() else { return true };
        let (done, finished) = mpsc::sync_channel(1);
        if sender.send(Message::Flush(done)).is_err() {
            return true;
        }
        !matches!(finished.recv_timeout(timeout), Err(RecvTimeoutError::Timeout))
    }

    /// Writes what is queued and stops the writer (waiting at most `timeout`).
    pub fn close(&self, timeout: Duration) {
        self.flush(timeout);
        self.sender.lock().unwrap_or_else(PoisonError::into_inner).take();
        // With the sender gone, the writer drains what is left and ends.
        if let Some(writer) = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = writer.join();
        }
    }
}

impl AuditLog for BufferedAuditLog {
    fn record(&self, record: &AuditRecord) -> Result<(), StoreError> {
        let Some(sender) = self.sender() else {
            return Err(StoreError::msg("the audit writer has stopped"));
        };
        match sender.try_send(Message::Record(Box::new(record.clone()))) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                if self.dropped.fetch_add(1, Ordering::Relaxed).is_multiple_of(1000) {
                    tracing::warn!("audit queue full; events are being dropped");
                }
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(StoreError::msg("the audit writer has stopped"))
            }
        }
    }

    fn list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.target.list(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use chrono::Utc;
    use pwreset_domain::ports::MockAuditLog;
    use pwreset_domain::{AuditKind, ClientInfo};

    fn event(n: usize) -> AuditRecord {
        AuditRecord {
            kind: AuditKind::ResetRefused,
            user_id: None,
            client: ClientInfo::default(),
            detail: Some(format!("n={n}")),
            at: Utc::now(),
        }
    }

    #[test]
    fn events_arrive_in_order_in_batches() {
        let store = Arc::new(MemoryStore::new());
        let log = BufferedAuditLog::spawn(store.clone(), 1000, 7).unwrap();
        for n in 0..100 {
            log.record(&event(n)).unwrap();
        }
        assert!(log.flush(Duration::from_secs(10)));
        let details: Vec<String> =
            store.audit_records().into_iter().map(|r| r.detail.unwrap()).collect();
        assert_eq!(details, (0..100).map(|n| format!("n={n}")).collect::<Vec<_>>());
        assert_eq!(log.dropped(), 0);
        log.close(Duration::from_secs(5));
        assert!(log.record(&event(0)).is_err(), "closed");
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let mut target = MockAuditLog::new();
        let (release, blocked) = mpsc::channel::<()>();
        let blocked = Mutex::new(blocked);
        target.expect_record_all().returning(move |_| {
            let _ = blocked.lock().unwrap().recv_timeout(Duration::from_secs(10));
            Ok(())
        });
        let log = BufferedAuditLog::spawn(Arc::new(target), 4, 1).unwrap();
        for n in 0..50 {
            log.record(&event(n)).unwrap();
        }
        // One batch is being written, 4 wait: the rest were dropped.
        assert!(log.dropped() >= 40, "{}", log.dropped());
        drop(release);
        log.close(Duration::from_secs(10));
    }

    #[test]
    fn a_batch_that_cannot_be_written_is_retried_then_dropped_and_counted() {
        let mut target = MockAuditLog::new();
        target
            .expect_record_all()
            .times(WRITE_ATTEMPTS as usize)
            .returning(|_| Err(StoreError::msg("down")));
        let log = BufferedAuditLog::spawn(Arc::new(target), 10, 10).unwrap();
        log.record(&event(1)).unwrap();
        log.record(&event(2)).unwrap();
        assert!(log.flush(Duration::from_secs(30)));
        assert_eq!(log.dropped(), 2);
    }
}
