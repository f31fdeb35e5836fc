//! pwreset's own state — reset tokens, the audit trail, the mail outbox — in
//! one of two table sets: the plain names beside pwreset's own accounts
//! (`reset_tokens`, `audit_events`, `mail_outbox`), or the `pwreset_`-prefixed
//! names inside a database that belongs to another application (a Cloudreve).
//! The queries are written once (`tables.rs`) and compiled for each set.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use pwreset_domain::ports::{AuditQuery, NewResetToken};
use pwreset_domain::{AuditRecord, OutgoingMail, SecretDigest, UserId};

use super::connection::DbConnection;
use super::dialect::ClaimedRow;
use super::rows::{AuditRow, TokenRow};

/// `(status, text body, html body)` of an outbox row.
#[cfg(any(test, feature = "test-support"))]
pub(in crate::db) type OutboxRowParts = (String, Option<String>, Option<String>);

/// Longest error text kept in the outbox.
const MAX_ERROR_LEN: usize = 1000;

/// Which names pwreset's state tables have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateLayout {
    /// `reset_tokens`, `audit_events`, `mail_outbox`, with foreign keys to
    /// pwreset's own `users` (migrations in `migrations/`).
    Plain,
    /// `pwreset_reset_tokens`, `pwreset_audit_events`, `pwreset_mail_outbox`,
    /// referring to nothing else (migrations in `state-migrations/`, tracked in
    /// `pwreset_schema_migrations`).
    Prefixed,
}

impl StateLayout {
    pub(super) fn tables(self) -> &'static dyn StateTables {
        match self {
            Self::Plain => &plain::Tables,
            Self::Prefixed => &prefixed::Tables,
        }
    }
}

/// The state-table queries, one implementation per [`StateLayout`].
pub(super) trait StateTables: Send + Sync + std::fmt::Debug {
    fn find_token(
        &self,
        conn: &mut DbConnection,
        digest: &SecretDigest,
    ) -> QueryResult<Option<TokenRow>>;
    fn insert_token(&self, conn: &mut DbConnection, token: &NewResetToken) -> QueryResult<()>;
    /// Marks the token used if it is the user's, live at `at`; returns rows changed.
    fn consume_token(
        &self,
        conn: &mut DbConnection,
        token: i64,
        user: UserId,
        at: DateTime<Utc>,
    ) -> QueryResult<usize>;
    /// Revokes the user's outstanding tokens except `keep`.
    fn revoke_outstanding(
        &self,
        conn: &mut DbConnection,
        user: UserId,
        keep: Option<i64>,
        at: DateTime<Utc>,
    ) -> QueryResult<usize>;
    fn enqueue_mail(
        &self,
        conn: &mut DbConnection,
        mail: &OutgoingMail,
        at: DateTime<Utc>,
    ) -> QueryResult<()>;
    fn insert_audit(&self, conn: &mut DbConnection, record: &AuditRecord) -> QueryResult<()>;
    fn list_audit(&self, conn: &mut DbConnection, query: &AuditQuery)
    -> QueryResult<Vec<AuditRow>>;
    /// Deletes one batch of finished tokens older than `cutoff`, in its own transaction.
    fn sweep_tokens(
        &self,
        conn: &mut DbConnection,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<usize>;
    /// Deletes one batch of delivered or given-up emails older than `cutoff`.
    fn sweep_mails(
        &self,
        conn: &mut DbConnection,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<usize>;
    fn claim(
        &self,
        conn: &mut DbConnection,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<Vec<ClaimedRow>>;
    /// Extends the leases of `ids` still held until `held_until`; the ids renewed.
    fn renew(
        &self,
        conn: &mut DbConnection,
        ids: &[i64],
        held_until: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> QueryResult<Vec<i64>>;
    fn mark_sent(&self, conn: &mut DbConnection, id: i64, at: DateTime<Utc>) -> QueryResult<()>;
    fn mark_failed(
        &self,
        conn: &mut DbConnection,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> QueryResult<()>;
    fn pending(&self, conn: &mut DbConnection) -> QueryResult<i64>;
    fn outbox_list(
        &self,
        conn: &mut DbConnection,
        state: crate::OutboxStatus,
        limit: i64,
    ) -> QueryResult<Vec<OutboxEntry>>;
    fn outbox_retry_now(
        &self,
        conn: &mut DbConnection,
        id: Option<i64>,
        now: DateTime<Utc>,
    ) -> QueryResult<usize>;
    fn outbox_counts(&self, conn: &mut DbConnection) -> QueryResult<Vec<(String, i64)>>;
    #[cfg(any(test, feature = "test-support"))]
    fn audit_kinds(&self, conn: &mut DbConnection) -> QueryResult<Vec<String>>;
    #[cfg(any(test, feature = "test-support"))]
    fn plant_token(
        &self,
        conn: &mut DbConnection,
        user: UserId,
        digest: &SecretDigest,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> QueryResult<()>;
    #[cfg(any(test, feature = "test-support"))]
    fn outbox_rows(&self, conn: &mut DbConnection) -> QueryResult<Vec<OutboxRowParts>>;
}

/// An outbox message as an operator sees it: never its bodies.
#[derive(Debug, Clone, PartialEq, Eq, diesel::Queryable)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// `reset_link` or `password_changed`.
    pub kind: String,
    /// The address it goes to.
    pub recipient: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// When the next attempt is due (pending messages).
    pub next_attempt_at: chrono::NaiveDateTime,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: chrono::NaiveDateTime,
}

mod plain {
    use crate::db::schema as tables;
    const OUTBOX_TABLE: &str = "mail_outbox";
    include!("tables.rs");
}

mod prefixed {
    use crate::db::schema::prefixed as tables;
    const OUTBOX_TABLE: &str = "pwreset_mail_outbox";
    include!("tables.rs");
}
