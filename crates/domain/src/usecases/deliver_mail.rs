//! `DeliverMail`: moves queued emails from the outbox to the mail transport,
//! retrying with exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::MailKind;
use crate::ports::{Clock, MailTransport, Outbox, StoreError};

/// When and how often delivery is tried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts before a message is given up (1 = no retry).
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_retry: Duration,
    /// Longest wait between attempts.
    pub max_retry: Duration,
    /// How long a claimed message stays reserved for its claimer. Must exceed
    /// the time to send a whole batch, or another instance may send it too.
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
            // 5 messages × a 30 s SMTP timeout fit well inside 3 minutes; a
            // crashed claimer's messages come back after at most that.
            lease: Duration::from_secs(180),
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
    /// # Errors
    /// [`StoreError`] when the outbox cannot be read or updated; messages
    /// claimed but not yet recorded become claimable again when their lease ends.
    pub fn run_once(&self) -> Result<DeliveryReport, StoreError> {
        let now = self.clock.now();
        let lease = chrono::Duration::from_std(self.policy.lease).unwrap_or(chrono::Duration::MAX);
        let claimed = self.outbox.claim_due(now, now + lease, self.policy.batch)?;
        let mut report = DeliveryReport::default();
        for queued in claimed {
            let (id, kind, attempts) = (queued.id, queued.mail.kind, queued.attempts);
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
            report.events.push(event);
        }
        Ok(report)
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
            .with(eq(now()), eq(now() + chrono::Duration::minutes(3)), eq(5))
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

    #[test]
    fn outbox_failure_is_reported() {
        let mut outbox = MockOutbox::new();
        outbox.expect_claim_due().returning(|_, _, _| Err(StoreError::msg("down")));
        assert!(deliver(outbox, MockMailTransport::new()).run_once().is_err());
    }
}
