//! `DeliverMail`: moves queued emails from the outbox to the mail transport,
//! retrying with exponential backoff.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use crate::model::MailKind;
use crate::ports::{Clock, MailTransport, Outbox, QueuedMail, StoreError};

/// When and how often delivery is tried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts before a message is given up (1 = no retry).
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_retry: Duration,
    /// Longest wait between attempts.
    pub max_retry: Duration,
    /// How long a claim lasts unless renewed. While a pass is sending, its
    /// unfinished messages are renewed every third of this, so a claim
    /// outlives its claimer by at most this long: then another instance
    /// (polling) sends the message.
    pub lease: Duration,
    /// Most messages claimed at once.
    pub batch: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(3600),
            // Renewed every 5 s while its sender lives; 15 s after a crash
            // (plus one poll of another instance) the message goes out again.
            lease: Duration::from_secs(15),
            batch: 5,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed attempt: `first_retry × 2^(attempts-1)`,
    /// at most `max_retry`.
    pub fn delay_after(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
        self.first_retry.saturating_mul(factor).min(self.max_retry)
    }
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryEvent {
    /// Delivered; its bodies are scrubbed.
    Sent {
        /// Outbox id.
        id: i64,
        /// What it was.
        kind: MailKind,
        /// Attempts it took.
        attempts: u32,
    },
    /// Failed; tried again at `retry_at`.
    Retrying {
        /// Outbox id.
        id: i64,
        /// What it is.
        kind: MailKind,
        /// Attempts so far.
        attempts: u32,
        /// Next attempt.
        retry_at: DateTime<Utc>,
        /// Why it failed.
        error: String,
    },
    /// Not sent by this pass: its lease could not be renewed in time and
    /// another claimer may hold it now (sending it here could send it twice).
    LeaseLost {
        /// Outbox id.
        id: i64,
        /// What it is.
        kind: MailKind,
    },
    /// Failed for good; its bodies are scrubbed.
    GaveUp {
        /// Outbox id.
        id: i64,
        /// What it was.
        kind: MailKind,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
    },
}

/// The outcome of one delivery pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// One event per claimed message.
    pub events: Vec<DeliveryEvent>,
}

impl DeliveryReport {
    /// Messages delivered in this pass.
    pub fn sent(&self) -> usize {
        self.events.iter().filter(|e| matches!(e, DeliveryEvent::Sent { .. })).count()
    }

    /// Whether the pass found nothing to do.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// The delivery use case; one pass at a time, called by a background worker.
#[derive(Clone)]
pub struct DeliverMail {
    outbox: Arc<dyn Outbox>,
    transport: Arc<dyn MailTransport>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
}

impl std::fmt::Debug for DeliverMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliverMail").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl DeliverMail {
    /// Wires the use case.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        transport: Arc<dyn MailTransport>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
    ) -> Self {
        Self { outbox, transport, clock, policy }
    }

    /// Claims the due messages and tries each once. Blocking.
    ///
    /// While the pass sends, a heartbeat renews the lease of the messages it
    /// has not finished, every third of the lease: a slow SMTP server never
    /// lets another instance send the same message, and a crashed pass's
    /// messages come back one lease after its last renewal. A message whose
    /// lease could not be renewed is not sent (see [`DeliveryEvent::LeaseLost`]).
    ///
    /// # Errors
    /// [`StoreError`] when the outbox cannot be read or updated; messages
    /// claimed but not yet recorded become claimable again when their lease ends.
    pub fn run_once(&self) -> Result<DeliveryReport, StoreError> {
        let now = self.clock.now();
        let claimed = self.outbox.claim_due(now, self.lease_from(now), self.policy.batch)?;
        if claimed.is_empty() {
            return Ok(DeliveryReport::default());
        }
        let lease = Lease {
            state: Mutex::new(Held {
                unfinished: claimed.iter().map(|q| q.id).collect(),
                until: self.lease_from(now),
                lost: Vec::new(),
                done: false,
            }),
            wake: Condvar::new(),
        };
        std::thread::scope(|scope| {
            scope.spawn(|| self.heartbeat(&lease));
            let result = self.send_all(claimed, &lease);
            lease.finish();
            result
        })
    }

    /// When a lease taken now ends: `now + lease`, in whole milliseconds.
    fn lease_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let lease = chrono::Duration::from_std(self.policy.lease).unwrap_or(chrono::Duration::MAX);
        (now + lease).trunc_subsecs(3)
    }

    fn send_all(
        &self,
        claimed: Vec<QueuedMail>,
        lease: &Lease,
    ) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport::default();
        for queued in claimed {
            let (id, kind, attempts) = (queued.id, queued.mail.kind, queued.attempts);
            if !lease.take(id) {
                report.events.push(DeliveryEvent::LeaseLost { id, kind });
                continue;
            }
            let event = match self.transport.send(&queued.mail) {
                Ok(()) => {
                    self.outbox.mark_sent(id, self.clock.now())?;
                    DeliveryEvent::Sent { id, kind, attempts }
                }
                Err(e) if e.permanent || attempts >= self.policy.max_attempts => {
                    self.outbox.mark_failed(id, &e.message, None)?;
                    DeliveryEvent::GaveUp { id, kind, attempts, error: e.message }
                }
                Err(e) => {
                    let delay = chrono::Duration::from_std(self.policy.delay_after(attempts))
                        .unwrap_or(chrono::Duration::MAX);
                    let retry_at = self.clock.now() + delay;
                    self.outbox.mark_failed(id, &e.message, Some(retry_at))?;
                    DeliveryEvent::Retrying { id, kind, attempts, retry_at, error: e.message }
                }
            };
            lease.release(id);
            report.events.push(event);
        }
        Ok(report)
    }

    /// Renews the unfinished messages' lease every third of it until the
    /// pass is done. A failed renewal is tried again at the next beat (the
    /// lease still runs); a message left out of a renewal is lost.
    fn heartbeat(&self, lease: &Lease) {
        let every = self.policy.lease / 3;
        let mut held = lease.lock();
        loop {
            let (guard, _) = lease
                .wake
                .wait_timeout_while(held, every, |h| !h.done)
                .unwrap_or_else(PoisonError::into_inner);
            held = guard;
            if held.done {
                return;
            }
            let (ids, until) = (held.unfinished.clone(), held.until);
            if ids.is_empty() {
                continue;
            }
            let next = self.lease_from(self.clock.now());
            // The renewal is a storage call: the sender must not wait on it.
            drop(held);
            let renewed = self.outbox.renew(&ids, until, next);
            held = lease.lock();
            if let Ok(renewed) = renewed {
                held.until = next;
                let gone: Vec<i64> = ids.into_iter().filter(|id| !renewed.contains(id)).collect();
                held.unfinished.retain(|id| !gone.contains(id));
                held.lost.extend(gone);
            }
        }
    }
}

/// The leases of one pass, shared by the sender and the heartbeat.
struct Lease {
    state: Mutex<Held>,
    wake: Condvar,
}

struct Held {
    /// Claimed, not yet finished (the heartbeat renews these).
    unfinished: Vec<i64>,
    /// Their lease, as last set.
    until: DateTime<Utc>,
    /// Left out of a renewal: another claimer may have them.
    lost: Vec<i64>,
    done: bool,
}

impl Lease {
    fn lock(&self) -> MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `id` may be sent: it was not lost to another claimer.
    fn take(&self, id: i64) -> bool {
        !self.lock().lost.contains(&id)
    }

    /// `id` is finished (sent or recorded as failed): no more renewals.
    fn release(&self, id: i64) {
        self.lock().unfinished.retain(|&u| u != id);
    }

    fn finish(&self) {
        self.lock().done = true;
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OutgoingMail;
    use crate::ports::{MailError, MockClock, MockMailTransport, MockOutbox, QueuedMail};
    use crate::usecases::fixtures::now;
    use mockall::predicate::{always, eq};

    fn queued(id: i64, attempts: u32) -> QueuedMail {
        QueuedMail {
            id,
            attempts,
            mail: OutgoingMail {
                kind: MailKind::ResetLink,
                to: format!("u{id}@example.com"),
                subject: "s".into(),
                text: "t".into(),
                html: "h".into(),
            },
        }
    }

    fn deliver(outbox: MockOutbox, transport: MockMailTransport) -> DeliverMail {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        DeliverMail::new(
            Arc::new(outbox),
            Arc::new(transport),
            Arc::new(clock),
            RetryPolicy::default(),
        )
    }

    fn outbox_with(messages: Vec<QueuedMail>) -> MockOutbox {
        let mut outbox = MockOutbox::new();
        outbox
            .expect_claim_due()
            .with(eq(now()), eq(now() + chrono::Duration::seconds(15)), eq(5))
            .times(1)
            .return_once(move |_, _, _| Ok(messages));
        outbox
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        let secs: Vec<u64> = (1..=9).map(|n| p.delay_after(n).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(p.delay_after(u32::MAX), p.max_retry);
    }

    #[test]
    fn delivered_messages_are_marked_sent() {
        let mut outbox = outbox_with(vec![queued(1, 1), queued(2, 3)]);
        outbox.expect_mark_sent().with(eq(1), eq(now())).times(1).returning(|_, _| Ok(()));
        outbox.expect_mark_sent().with(eq(2), eq(now())).times(1).returning(|_, _| Ok(()));
        let mut transport = MockMailTransport::new();
        transport.expect_send().times(2).returning(|_| Ok(()));
        let report = deliver(outbox, transport).run_once().unwrap();
        assert_eq!(report.sent(), 2);
    }

    #[test]
    fn transient_failures_are_retried_later() {
        let mut outbox = outbox_with(vec![queued(1, 3)]);
        let retry_at = now() + chrono::Duration::seconds(120);
        outbox
            .expect_mark_failed()
            .with(eq(1), eq("421 try later"), eq(Some(retry_at)))
            .times(1)
            .returning(|_, _, _| Ok(()));
        let mut transport = MockMailTransport::new();
        transport
            .expect_send()
            .returning(|_| Err(MailError { permanent: false, message: "421 try later".into() }));
        let report = deliver(outbox, transport).run_once().unwrap();
        assert_eq!(
            report.events,
            [DeliveryEvent::Retrying {
                id: 1,
                kind: MailKind::ResetLink,
                attempts: 3,
                retry_at,
                error: "421 try later".into()
            }]
        );
    }

    #[test]
    fn permanent_failures_and_the_last_attempt_give_up() {
        let mut outbox = outbox_with(vec![queued(1, 1), queued(2, 8)]);
        outbox
            .expect_mark_failed()
            .with(always(), always(), eq(None))
            .times(2)
            .returning(|_, _, _| Ok(()));
        let mut transport = MockMailTransport::new();
        transport.expect_send().with(eq(queued(1, 1).mail)).returning(|_| {
            Err(MailError { permanent: true, message: "550 no such mailbox".into() })
        });
        transport.expect_send().with(eq(queued(2, 8).mail)).returning(|_| {
            Err(MailError { permanent: false, message: "connection refused".into() })
        });
        let report = deliver(outbox, transport).run_once().unwrap();
        assert!(
            report.events.iter().all(|e| matches!(e, DeliveryEvent::GaveUp { .. })),
            "{report:?}"
        );
    }

    #[test]
    fn an_empty_outbox_is_a_quiet_pass() {
        let outbox = outbox_with(vec![]);
        let report = deliver(outbox, MockMailTransport::new()).run_once().unwrap();
        assert!(report.is_empty());
    }

    /// A lease of 30 ms (renewed every 10 ms) and sends of 100 ms: every
    /// send outlives the lease it was claimed with.
    fn slow(outbox: MockOutbox, send_ms: u64) -> DeliverMail {
        let mut transport = MockMailTransport::new();
        transport.expect_send().returning(move |_| {
            std::thread::sleep(Duration::from_millis(send_ms));
            Ok(())
        });
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let policy = RetryPolicy { lease: Duration::from_millis(30), ..RetryPolicy::default() };
        DeliverMail::new(Arc::new(outbox), Arc::new(transport), Arc::new(clock), policy)
    }

    #[test]
    fn a_slow_send_keeps_renewing_its_lease() {
        let lease_until = now() + chrono::Duration::milliseconds(30);
        let mut outbox = MockOutbox::new();
        outbox.expect_claim_due().return_once(move |_, _, _| Ok(vec![queued(1, 1)]));
        outbox
            .expect_renew()
            .withf(move |ids, held, until| {
                ids == [1] && *held == lease_until && *until == lease_until
            })
            .times(1..)
            .returning(|ids, _, _| Ok(ids.to_vec()));
        outbox.expect_mark_sent().times(1).returning(|_, _| Ok(()));
        let report = slow(outbox, 100).run_once().unwrap();
        assert_eq!(report.sent(), 1);
    }

    #[test]
    fn a_message_whose_lease_was_lost_is_not_sent() {
        let mut outbox = MockOutbox::new();
        outbox.expect_claim_due().return_once(|_, _, _| Ok(vec![queued(1, 1), queued(2, 1)]));
        // Message 2's lease ended while message 1 was sending, and someone
        // else claimed it: renewals leave it out.
        outbox
            .expect_renew()
            .returning(|ids, _, _| Ok(ids.iter().copied().filter(|&i| i != 2).collect()));
        outbox.expect_mark_sent().with(eq(1), always()).times(1).returning(|_, _| Ok(()));
        let report = slow(outbox, 100).run_once().unwrap();
        assert_eq!(
            report.events,
            [
                DeliveryEvent::Sent { id: 1, kind: MailKind::ResetLink, attempts: 1 },
                DeliveryEvent::LeaseLost { id: 2, kind: MailKind::ResetLink },
            ]
        );
    }

    #[test]
    fn a_failed_renewal_is_tried_again_and_the_send_goes_on() {
        let mut outbox = MockOutbox::new();
        outbox.expect_claim_due().return_once(|_, _, _| Ok(vec![queued(1, 1), queued(2, 1)]));
        let calls = std::sync::atomic::AtomicUsize::new(0);
        outbox.expect_renew().returning(move |ids, _, _| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Err(StoreError::msg("connection reset"))
            } else {
                Ok(ids.to_vec())
            }
        });
        outbox.expect_mark_sent().times(2).returning(|_, _| Ok(()));
        // An unanswered renewal is not a lost lease: message 2 still goes.
        assert_eq!(slow(outbox, 100).run_once().unwrap().sent(), 2);
    }

    #[test]
    fn leases_are_whole_milliseconds() {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| now() + chrono::Duration::nanoseconds(1_234_567));
        let mut outbox = MockOutbox::new();
        outbox
            .expect_claim_due()
            .with(always(), eq(now() + chrono::Duration::milliseconds(15_001)), always())
            .times(1)
            .returning(|_, _, _| Ok(vec![]));
        let deliver = DeliverMail::new(
            Arc::new(outbox),
            Arc::new(MockMailTransport::new()),
            Arc::new(clock),
            RetryPolicy::default(),
        );
        assert!(deliver.run_once().unwrap().is_empty());
    }

    #[test]
    fn outbox_failure_is_reported() {
        let mut outbox = MockOutbox::new();
        outbox.expect_claim_due().returning(|_, _, _| Err(StoreError::msg("down")));
        assert!(deliver(outbox, MockMailTransport::new()).run_once().is_err());
    }
}
