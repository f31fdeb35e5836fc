//! Outbound ports: what the use cases need from the world.
//!
//! Each method documents what it guarantees and which error it returns for which
//! failure, so that a new adapter knows exactly what to implement. The storage
//! contract suite in `pwreset-infra` checks every storage adapter against these
//! documents.

use std::error::Error as StdError;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::model::{
    AuditRecord, Group, Language, Limit, OutgoingMail, ResetToken, User, UserProfile, UserSettings,
    UserStatus,
};
use crate::values::{
    Email, GroupId, NewPassword, PasswordHash, ResetSecret, SecretDigest, SecurityStamp, UserId,
};

/// A boxed error cause.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Storage could not do what was asked (connection lost, query failed,
/// corrupt row). Nothing was changed: every storage method is atomic.
#[derive(Debug, Error)]
#[error("{context}")]
pub struct StoreError {
    context: String,
    #[source]
    source: Option<BoxError>,
}

impl StoreError {
    /// A failure with its cause.
    pub fn new(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self { context: context.into(), source: Some(source.into()) }
    }

    /// A failure found by the adapter itself (e.g. a row that violates an invariant).
    pub fn msg(context: impl Into<String>) -> Self {
        Self { context: context.into(), source: None }
    }
}

/// A new reset token to store.
#[derive(Debug, Clone)]
pub struct NewResetToken {
    /// Whose password it resets.
    pub user_id: UserId,
    /// SHA-256 of the secret; the secret itself is never stored.
    pub digest: SecretDigest,
    /// Issue time.
    pub created_at: DateTime<Utc>,
    /// End of its life, fixed now.
    pub expires_at: DateTime<Utc>,
    /// The email that carries the link, queued in the same transaction
    /// (`None` when an operator hands the link over himself).
    pub mail: Option<OutgoingMail>,
    /// The audit event recorded with it.
    pub audit: AuditRecord,
}

/// Everything a successful reset changes, applied by [`ResetStore::complete_reset`].
#[derive(Debug, Clone)]
pub struct CompletedReset {
    /// The token being consumed.
    pub token_id: i64,
    /// Its user.
    pub user_id: UserId,
    /// The new password's hash.
    pub password_hash: PasswordHash,
    /// The user's new security stamp.
    pub security_stamp: SecurityStamp,
    /// The instant of the reset: the token must be live at it.
    pub at: DateTime<Utc>,
    /// The "your password was changed" email, queued with the change.
    pub notice: Option<OutgoingMail>,
    /// The audit event recorded with it.
    pub audit: AuditRecord,
}

/// How [`ResetStore::complete_reset`] ended. Only `Applied` changed anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetCommit {
    /// Everything was applied; the user as it now is.
    Applied(Box<UserProfile>),
    /// The token was used, revoked or expired by the time of the commit
    /// (typically a concurrent reset won). Nothing changed.
    TokenNotLive,
    /// The user is no longer active. Nothing changed; the token is still live.
    UserNotActive,
}

/// Token persistence.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait ResetStore: Send + Sync {
    /// Finds the token whose secret has this digest, in whatever state it is.
    ///
    /// Must be an indexed lookup: it runs for every reset attempt, including
    /// every wrong guess.
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read.
    fn find_token(&self, digest: &SecretDigest) -> Result<Option<ResetToken>, StoreError>;

    /// Stores a token, queues its email (if any) and records its audit event,
    /// revoking every other outstanding token of the same user, all in one
    /// transaction.
    ///
    /// # Errors
    /// [`StoreError`] when anything fails; then nothing changed.
    fn issue_token(&self, token: &NewResetToken) -> Result<(), StoreError>;

    /// Applies a reset as one atomic unit:
    /// 1. marks the token used, only if at `reset.at` it is still unused,
    ///    unrevoked and unexpired, and still belongs to `reset.user_id`;
    /// 2. stores the new hash and security stamp, only if the user is active;
    /// 3. revokes every other outstanding token of the user;
    /// 4. queues the notice email, if any, and records the audit event.
    ///
    /// If step 1 or 2 finds its condition false, nothing is changed and the
    /// matching [`ResetCommit`] variant is returned. Of any number of
    /// concurrent calls for one token (from any process sharing the storage),
    /// at most one returns `Applied`.
    ///
    /// # Errors
    /// [`StoreError`] when anything fails; then nothing changed and the token is
    /// as live as it was.
    fn complete_reset(&self, reset: &CompletedReset) -> Result<ResetCommit, StoreError>;
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Address; unique, case-insensitively.
    pub email: Email,
    /// Display name.
    pub nickname: String,
    /// Initial password hash.
    pub password_hash: PasswordHash,
    /// Initial state.
    pub status: UserStatus,
    /// Group; must exist.
    pub group_id: GroupId,
    /// Preferences.
    pub settings: UserSettings,
    /// Initial security stamp.
    pub security_stamp: SecurityStamp,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Why [`UserStore::create_user`] refused.
#[derive(Debug, Error)]
pub enum CreateUserError {
    /// Another user has this address (compared case-insensitively).
    #[error("a user with this email address already exists")]
    EmailTaken,
    /// The group does not exist.
    #[error("group {0} does not exist")]
    UnknownGroup(GroupId),
    /// This store does not create accounts (they belong to another
    /// application, which creates them itself).
    #[error("this account store does not create users")]
    Unsupported,
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A group, named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    /// By primary key.
    Id(GroupId),
    /// By exact name.
    Name(String),
}

/// User and group persistence.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait UserStore: Send + Sync {
    /// The user with this address, compared case-insensitively.
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read.
    fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// The user and its group.
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read, or the user's group is missing.
    fn find_profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError>;

    /// A group by id or name.
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read.
    fn find_group(&self, group: &GroupRef) -> Result<Option<Group>, StoreError>;

    /// Creates a user and returns it with its group.
    ///
    /// # Errors
    /// [`CreateUserError::EmailTaken`], [`CreateUserError::UnknownGroup`] and
    /// [`CreateUserError::Unsupported`] as named; [`CreateUserError::Store`]
    /// for any other failure. Nothing is
    /// created on error.
    fn create_user(&self, user: &NewUser) -> Result<UserProfile, CreateUserError>;
}

/// Which audit events to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this user's.
    pub user: Option<UserId>,
    /// Only events at or after this instant.
    pub since: DateTime<Utc>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// The audit trail.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait AuditLog: Send + Sync {
    /// Records one event in its own transaction. An implementation may
    /// instead queue it and write it shortly after (see
    /// `pwreset_infra::audit::BufferedAuditLog`), never losing it silently.
    ///
    /// # Errors
    /// [`StoreError`] when it could not be written (or queued).
    fn record(&self, record: &AuditRecord) -> Result<(), StoreError>;

    /// Records several events in one transaction.
    ///
    /// # Errors
    /// [`StoreError`]; then none was written.
    fn record_all(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        records.iter().try_for_each(|r| self.record(r))
    }

    /// Lists events, newest first.
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read.
    fn list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
}

/// What a sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Reset tokens deleted.
    pub tokens: u64,
    /// Outbox rows deleted.
    pub mails: u64,
}

/// Removal of what is no longer needed.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Sweeper: Send + Sync {
    /// Deletes tokens that were used, revoked or expired before `cutoff`, and
    /// outbox rows delivered or given up before `cutoff`, at most `batch`
    /// rows per transaction so no table is locked for long.
    ///
    /// # Errors
    /// [`StoreError`]; batches already committed stay deleted.
    fn sweep(&self, cutoff: DateTime<Utc>, batch: usize) -> Result<SweepReport, StoreError>;
}

/// A queued email, claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    /// Outbox row id.
    pub id: i64,
    /// The email.
    pub mail: OutgoingMail,
    /// Delivery attempts so far, this one included.
    pub attempts: u32,
}

/// The durable mail outbox. Messages are written by
/// [`ResetStore::issue_token`] and [`ResetStore::complete_reset`] in the same
/// transaction as the change they announce.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Outbox: Send + Sync {
    /// Claims up to `limit` pending messages whose next attempt is due at
    /// `now`, oldest first, and counts an attempt for each. A claimed message
    /// is invisible to every other claimer (in any process sharing the
    /// storage) until `lease_until`; if it is neither marked sent nor failed
    /// by then (its claimer died), it becomes claimable again.
    ///
    /// # Errors
    /// [`StoreError`]; then nothing was claimed.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StoreError>;

    /// Extends the leases a claimer still holds: each message of `ids` that
    /// is still pending and leased until exactly `held_until` (the lease its
    /// claimer set by [`claim_due`](Outbox::claim_due) or by its last
    /// renewal) is leased until `until` instead. Returns the ids renewed. An
    /// id missing from the answer was finished, or its lease ended and
    /// another claimer took it: its claimer must not send it. Lease times are
    /// whole milliseconds, so every backend stores them exactly.
    ///
    /// # Errors
    /// [`StoreError`]; then nothing was renewed.
    fn renew(
        &self,
        ids: &[i64],
        held_until: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError>;

    /// Marks a message delivered and scrubs its bodies (which may hold a
    /// reset secret).
    ///
    /// # Errors
    /// [`StoreError`].
    fn mark_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records a failed attempt with its error. With `retry_at`, the message
    /// waits until then; without, it is given up and its bodies are scrubbed.
    ///
    /// # Errors
    /// [`StoreError`].
    fn mark_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// How many messages wait for delivery (due or not).
    ///
    /// # Errors
    /// [`StoreError`].
    fn pending(&self) -> Result<u64, StoreError>;
}

/// Sending failed.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct MailError {
    /// The server refused for good (unknown mailbox, message rejected):
    /// retrying cannot help.
    pub permanent: bool,
    /// What went wrong.
    pub message: String,
}

/// Hands an email to the outside world (SMTP, a folder, the log).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait MailTransport: Send + Sync {
    /// Sends one email. Blocking.
    ///
    /// # Errors
    /// [`MailError`], saying whether a retry could help.
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// What the reset-link email says.
#[derive(Debug, Clone)]
pub struct ResetLinkMail<'a> {
    /// Recipient.
    pub to: &'a str,
    /// Their display name.
    pub nickname: &'a str,
    /// The link, secret included.
    pub url: &'a str,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// Its lifetime, for "valid for 1 hour".
    pub ttl: chrono::Duration,
    /// Preferred language; the composer's default when `None`.
    pub language: Option<Language>,
    /// The language tag the request asked for, as given (e.g. `de-DE`), for
    /// composers with languages beyond [`Language`]; it wins over the user's.
    pub requested_language: Option<&'a str>,
    /// The user's own language tag as stored (e.g. `ja-JP`), for composers
    /// that keep per-language templates of their own.
    pub user_language: Option<&'a str>,
}

/// What the "password changed" email says.
#[derive(Debug, Clone)]
pub struct PasswordChangedMail<'a> {
    /// Recipient.
    pub to: &'a str,
    /// Their display name.
    pub nickname: &'a str,
    /// When the change happened.
    pub at: DateTime<Utc>,
    /// Preferred language; the composer's default when `None`.
    pub language: Option<Language>,
    /// The user's own language tag as stored, for composers with languages
    /// beyond [`Language`].
    pub user_language: Option<&'a str>,
}

/// Renders emails from templates.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait MailComposer: Send + Sync {
    /// The email carrying a reset link.
    fn reset_link<'a>(&self, mail: &ResetLinkMail<'a>) -> OutgoingMail;
    /// The notice that a password was changed.
    fn password_changed<'a>(&self, mail: &PasswordChangedMail<'a>) -> OutgoingMail;
}

/// Hashing failed.
#[derive(Debug, Error)]
pub enum HashError {
    /// Too many hashes were waiting; try again later.
    #[error("too many password hashes in progress")]
    Busy,
    /// The hasher itself failed (bad cost, bad stored hash, …).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Password hashing (bcrypt in production).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password. Slow on purpose; call it off any async executor.
    ///
    /// # Errors
    /// [`HashError`] when hashing is impossible or too many are waiting.
    fn hash(&self, password: &NewPassword) -> Result<PasswordHash, HashError>;

    /// Whether `candidate` is the password behind `hash`. A candidate the
    /// hasher could not have hashed in full (over 72 bytes for bcrypt) is `false`.
    ///
    /// # Errors
    /// [`HashError`] when `hash` is not a hash this hasher understands.
    fn verify(&self, candidate: &str, hash: &PasswordHash) -> Result<bool, HashError>;
}

/// The current time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system could not provide randomness.
#[derive(Debug, Error)]
#[error("no randomness available: {0}")]
pub struct RandomError(pub String);

/// Unpredictable values, from a cryptographically secure source.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait RandomSource: Send + Sync {
    /// A fresh reset secret.
    ///
    /// # Errors
    /// [`RandomError`] when the OS generator fails.
    fn reset_secret(&self) -> Result<ResetSecret, RandomError>;

    /// A fresh security stamp.
    ///
    /// # Errors
    /// [`RandomError`] when the OS generator fails.
    fn security_stamp(&self) -> Result<SecurityStamp, RandomError>;
}

/// Public ids (Cloudreve hashids) of users and groups.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait PublicIdCodec: Send + Sync {
    /// The public id of a user.
    fn encode_user(&self, id: UserId) -> String;
    /// The user behind a public id; `None` for anything that is not exactly
    /// one user's id.
    fn decode_user(&self, public_id: &str) -> Option<UserId>;
    /// The public id of a group.
    fn encode_group(&self, id: GroupId) -> String;
}

/// Every port, for wiring use cases together.
#[derive(Clone)]
pub struct Ports {
    /// User persistence.
    pub users: Arc<dyn UserStore>,
    /// Token persistence.
    pub tokens: Arc<dyn ResetStore>,
    /// The audit trail, written in the caller's time (link requests: their
    /// cost must not depend on whether the address exists).
    pub audit: Arc<dyn AuditLog>,
    /// The audit trail for high-volume events (refused resets, rate-limit
    /// hits); may buffer and write in batches.
    pub refusals: Arc<dyn AuditLog>,
    /// Email rendering.
    pub mail: Arc<dyn MailComposer>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub random: Arc<dyn RandomSource>,
    /// Public ids.
    pub ids: Arc<dyn PublicIdCodec>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports { .. }")
    }
}

/// What a [`SharedLimiter`] check answers: `Ok(())` to go ahead, `Err(wait)`
/// when the limit is reached and the next request would be allowed in `wait`.
pub type LimitVerdict = Result<(), std::time::Duration>;

/// The future of a [`SharedLimiter`] check.
pub type LimitCheck<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<LimitVerdict, StoreError>> + Send + 'a>>;

/// The future of a [`SharedLimiter`] ping.
pub type SharedPing<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Rate-limit state shared by every instance of a deployment (Redis): a
/// limit checked here holds for the site, whichever instance a request
/// reaches. The only asynchronous port: it is asked on the request path,
/// before any blocking work, and must not hold an executor thread.
pub trait SharedLimiter: Send + Sync + std::fmt::Debug {
    /// Counts one request by `key` (a client network, an address, a user
    /// id) against the limit `name` (`reset_per_ip`), atomically for every
    /// instance: at most `limit.max` requests are allowed in a burst, then
    /// one per `limit.interval()`. A refused request does not count.
    ///
    /// # Errors
    /// [`StoreError`] when the shared state cannot be reached; the caller
    /// decides what to do without it.
    fn check<'a>(&'a self, name: &'a str, key: &'a str, limit: Limit) -> LimitCheck<'a>;

    /// Whether the shared state can be reached (for readiness probes).
    ///
    /// # Errors
    /// [`StoreError`] saying why not.
    fn ping(&self) -> SharedPing<'_>;
}
