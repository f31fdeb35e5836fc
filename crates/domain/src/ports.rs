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

use crate::model::{AuditRecord, Group, ResetToken, User, UserProfile, UserSettings, UserStatus};
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

    /// Stores a token and records its audit event, revoking every other live
    /// token of the same user, all in one transaction.
    ///
    /// # Errors
    /// [`StoreError`] when anything fails; then nothing changed.
    fn issue_token(&self, token: &NewResetToken) -> Result<(), StoreError>;

    /// Applies a reset as one atomic unit:
    /// 1. marks the token used, only if at `reset.at` it is still unused,
    ///    unrevoked and unexpired, and still belongs to `reset.user_id`;
    /// 2. stores the new hash and security stamp, only if the user is active;
    /// 3. revokes every other live token of the user;
    /// 4. records the audit event.
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
    /// [`CreateUserError::EmailTaken`] and [`CreateUserError::UnknownGroup`] as
    /// named; [`CreateUserError::Store`] for any other failure. Nothing is
    /// created on error.
    fn create_user(&self, user: &NewUser) -> Result<UserProfile, CreateUserError>;
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
