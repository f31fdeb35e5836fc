//! [`DieselStore`]: the ports implemented on SQL, each unit of work in one transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use pwreset_domain::ports::{
    AuditLog, AuditQuery, CompletedReset, CreateUserError, GroupRef, NewResetToken, NewUser,
    Outbox, QueuedMail, ResetCommit, ResetStore, StoreError, SweepReport, Sweeper, UserStore,
};
use pwreset_domain::{
    AuditRecord, Email, Group, MailKind, OutgoingMail, ResetToken, SecretDigest, User, UserId,
    UserProfile, UserStatus,
};
use thiserror::Error;

use super::connection::{Backend, DatabaseUrl, DbConnection, DbError, Pool, PoolOptions};
use super::dialect;
use super::rows::{AuditRow, GroupRow, TokenRow, UserRow};
use super::schema::{audit_events, groups, mail_outbox, reset_tokens, settings, users};
use crate::faults::{FaultPoint, Faults};
use crate::hashid::Hashids;

/// Name of the setting that holds the hashid salt (Cloudreve's name).
const SALT_SETTING: &str = "hash_id_salt";

/// The SQL storage adapter.
#[derive(Debug)]
pub struct DieselStore {
    pool: Pool,
    backend: Backend,
    faults: Faults,
}

/// Why the hashid salt could not be settled.
#[derive(Debug, Error)]
pub enum SaltSetupError {
    /// The configured salt differs from the one the database already uses.
    #[error(
        "PWRESET_HASHID_SALT differs from the salt this database already uses; \
         changing it would change every public user id. Unset it to use the stored salt"
    )]
    Mismatch,
    /// The salt is not usable.
    #[error("PWRESET_HASHID_SALT is invalid: {0}")]
    Invalid(#[from] crate::hashid::SaltError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness to generate a salt.
    #[error(transparent)]
    Random(#[from] pwreset_domain::ports::RandomError),
}

/// The error type of a transaction body: a database error, or an early end
/// that must roll back and report an outcome.
enum TxError<T> {
    Db(DieselError),
    Store(StoreError),
    Stop(T),
}

impl<T> From<DieselError> for TxError<T> {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

fn db_error(context: &'static str) -> impl FnOnce(DieselError) -> StoreError {
    move |e| StoreError::new(context, e)
}

fn naive(t: DateTime<Utc>) -> chrono::NaiveDateTime {
    t.naive_utc()
}

impl DieselStore {
    /// Connects to the database (without migrating it).
    ///
    /// # Errors
    /// See [`super::connect_pool`].
    pub fn connect(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self, DbError> {
        let pool = super::connect_pool(url, options)?;
        Ok(Self { pool, backend: url.backend(), faults: Faults::default() })
    }

    /// Which backend it talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for health checks and metrics.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether the database answers: a connection within `timeout`, and a ping.
    ///
    /// # Errors
    /// [`StoreError`] saying what failed.
    pub fn ping(&self, timeout: std::time::Duration) -> Result<(), StoreError> {
        use diesel::r2d2::R2D2Connection;
        let mut conn = self
            .pool
            .get_timeout(timeout)
            .map_err(|e| StoreError::new("no database connection available", e))?;
        conn.ping().map_err(db_error("the database does not answer"))
    }

    /// Applies pending migrations; returns the versions applied.
    ///
    /// # Errors
    /// [`DbError`] when no connection is available or a migration fails.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        super::run_migrations(&mut *self.pool.get()?)
    }

    /// A pooled connection, waited for until the pool's timeout or this
    /// thread's [`checkout_deadline`](super::checkout_deadline), whichever is sooner.
    fn conn(&self) -> Result<r2d2::PooledConnection<super::Manager>, StoreError> {
        let wait = super::deadline::checkout_wait(self.pool.connection_timeout());
        self.pool
            .get_timeout(wait)
            .map_err(|e| StoreError::new("no database connection available", e))
    }

    /// Settles the site's hashid salt: the stored one, or else `configured`,
    /// or else a fresh random one, stored for every later start (and every
    /// other instance on the same database).
    ///
    /// # Errors
    /// [`SaltSetupError::Mismatch`] when `configured` differs from the stored salt.
    pub fn ensure_hashid_salt(&self, configured: Option<&str>) -> Result<String, SaltSetupError> {
        if let Some(salt) = configured {
            Hashids::new(salt)?;
        }
        let mut conn = self.conn()?;
        let read = |conn: &mut DbConnection| {
            settings::table
                .filter(settings::name.eq(SALT_SETTING))
                .select(settings::value)
                .first::<String>(conn)
                .optional()
                .map_err(db_error("reading the hashid salt"))
        };
        let stored = match read(&mut conn)? {
            Some(stored) => stored,
            None => {
                let fresh = match configured {
                    Some(salt) => salt.to_owned(),
                    None => crate::random::alphanumeric(64)?,
                };
                let inserted = diesel::insert_into(settings::table)
                    .values((settings::name.eq(SALT_SETTING), settings::value.eq(&fresh)))
                    .execute(&mut conn);
                match inserted {
                    Ok(_) => fresh,
                    // Another instance stored one first: use that.
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        read(&mut conn)?.ok_or_else(|| StoreError::msg("hashid salt vanished"))?
                    }
                    Err(e) => return Err(db_error("storing the hashid salt")(e).into()),
                }
            }
        };
        match configured {
            Some(salt) if salt != stored => Err(SaltSetupError::Mismatch),
            _ => {
                Hashids::new(&stored)?;
                Ok(stored)
            }
        }
    }

    /// Outbox rows by state: (pending, sent, failed).
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read.
    pub fn outbox_counts(&self) -> Result<(u64, u64, u64), StoreError> {
        let rows: Vec<(String, i64)> = mail_outbox::table
            .group_by(mail_outbox::status)
            .select((mail_outbox::status, diesel::dsl::count_star()))
            .load(&mut *self.conn()?)
            .map_err(db_error("counting the outbox"))?;
        let count =
            |state: &str| rows.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n as u64);
        Ok((count("pending"), count("sent"), count("failed")))
    }

    /// Sets a user's status (operators' tool and tests).
    ///
    /// # Errors
    /// [`StoreError`] when the update fails.
    pub fn set_status(&self, id: UserId, status: UserStatus) -> Result<bool, StoreError> {
        let n = diesel::update(users::table.find(id.get()))
            .set(users::status.eq(status.as_str()))
            .execute(&mut self.conn()?)
            .map_err(db_error("updating a user's status"))?;
        Ok(n == 1)
    }
}

/// Test support (feature `test-support`): what the storage contract suite
/// reads and arranges beyond the ports.
#[cfg(any(test, feature = "test-support"))]
impl DieselStore {
    /// Makes the next operation that reaches `point` fail.
    pub fn arm_fault(&self, point: FaultPoint) {
        self.faults.arm(point);
    }

    /// Kinds of every audit event, oldest first.
    ///
    /// # Panics
    /// When the database cannot be read.
    pub fn audit_kinds(&self) -> Vec<String> {
        use super::schema::audit_events::dsl::*;
        audit_events.order(id.asc()).select(kind).load(&mut *self.pool().get().unwrap()).unwrap()
    }

    /// Stores a live token without revoking the user's others.
    ///
    /// # Panics
    /// When the database cannot be written.
    pub fn plant_token(
        &self,
        user: UserId,
        secret: &pwreset_domain::ResetSecret,
        expires: DateTime<Utc>,
    ) {
        use super::schema::reset_tokens::dsl::*;
        diesel::insert_into(reset_tokens)
            .values((
                user_id.eq(user.get()),
                digest.eq(secret.digest().as_bytes().as_slice()),
                created_at.eq(naive(Utc::now())),
                expires_at.eq(naive(expires)),
            ))
            .execute(&mut *self.pool().get().unwrap())
            .unwrap();
    }

    /// `(status, text body, html body)` of every outbox row, oldest first.
    ///
    /// # Panics
    /// When the database cannot be read.
    pub fn outbox_rows(&self) -> Vec<(String, Option<String>, Option<String>)> {
        use super::schema::mail_outbox::dsl::*;
        mail_outbox
            .order(id.asc())
            .select((status, body_text, body_html))
            .load(&mut *self.pool().get().unwrap())
            .unwrap()
    }
}

fn load_profile(conn: &mut DbConnection, id: i64) -> Result<Option<UserProfile>, StoreError> {
    let row = users::table
        .inner_join(groups::table)
        .filter(users::id.eq(id))
        .select((UserRow::as_select(), GroupRow::as_select()))
        .first::<(UserRow, GroupRow)>(conn)
        .optional()
        .map_err(db_error("reading a user"))?;
    row.map(|(user, group)| Ok(UserProfile { user: user.try_into()?, group: group.try_into()? }))
        .transpose()
}

fn insert_audit(conn: &mut DbConnection, record: &AuditRecord) -> QueryResult<usize> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::kind.eq(record.kind.as_str()),
            audit_events::user_id.eq(record.user_id.map(UserId::get)),
            audit_events::client_ip.eq(record.client.ip.as_deref()),
            audit_events::user_agent.eq(record.client.user_agent.as_deref()),
            audit_events::correlation_id.eq(record.client.correlation_id.as_deref()),
            audit_events::detail.eq(record.detail.as_deref()),
            audit_events::created_at.eq(naive(record.at)),
        ))
        .execute(conn)
}

/// Longest error text kept in the outbox.
const MAX_ERROR_LEN: usize = 1000;

fn enqueue_mail(
    conn: &mut DbConnection,
    mail: &OutgoingMail,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::kind.eq(mail.kind.as_str()),
            mail_outbox::recipient.eq(&mail.to),
            mail_outbox::subject.eq(&mail.subject),
            mail_outbox::body_text.eq(&mail.text),
            mail_outbox::body_html.eq(&mail.html),
            mail_outbox::next_attempt_at.eq(naive(at)),
            mail_outbox::created_at.eq(naive(at)),
        ))
        .execute(conn)
}

/// Revokes the user's outstanding tokens except `keep`.
fn revoke_outstanding(
    conn: &mut DbConnection,
    user: UserId,
    keep: Option<i64>,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    let outstanding = reset_tokens::table
        .filter(reset_tokens::user_id.eq(user.get()))
        .filter(reset_tokens::used_at.is_null())
        .filter(reset_tokens::revoked_at.is_null())
        .filter(reset_tokens::id.ne(keep.unwrap_or(0)));
    diesel::update(outstanding).set(reset_tokens::revoked_at.eq(naive(at))).execute(conn)
}

impl ResetStore for DieselStore {
    fn find_token(&self, digest: &SecretDigest) -> Result<Option<ResetToken>, StoreError> {
        reset_tokens::table
            .filter(reset_tokens::digest.eq(digest.as_bytes().as_slice()))
            .select(TokenRow::as_select())
            .first::<TokenRow>(&mut self.conn()?)
            .optional()
            .map_err(db_error("looking up a reset token"))?
            .map(ResetToken::try_from)
            .transpose()
    }

    fn issue_token(&self, token: &NewResetToken) -> Result<(), StoreError> {
        // The first statement writes, so SQLite takes its write lock (waiting
        // for the busy timeout) before reading anything; the servers lock the
        // user's row first.
        self.conn()?
            .transaction(|conn| {
                dialect::lock_user(conn, token.user_id.get())?;
                revoke_outstanding(conn, token.user_id, None, token.created_at)?;
                diesel::insert_into(reset_tokens::table)
                    .values((
                        reset_tokens::user_id.eq(token.user_id.get()),
                        reset_tokens::digest.eq(token.digest.as_bytes().as_slice()),
                        reset_tokens::created_at.eq(naive(token.created_at)),
                        reset_tokens::expires_at.eq(naive(token.expires_at)),
                    ))
                    .execute(conn)?;
                if let Some(mail) = &token.mail {
                    enqueue_mail(conn, mail, token.created_at)?;
                }
                insert_audit(conn, &token.audit)?;
                Ok(())
            })
            .map_err(db_error("issuing a reset token"))
    }

    fn complete_reset(&self, reset: &CompletedReset) -> Result<ResetCommit, StoreError> {
        let at = naive(reset.at);
        let outcome = self.conn()?.transaction::<_, TxError<ResetCommit>, _>(|conn| {
            // Units of work on one user take turns (the user's row lock on the
            // servers, the write lock on SQLite). Consuming the token is the
            // first write: concurrent resets with one secret wait for each
            // other and then re-check the condition, so exactly one of them
            // sees a live token.
            dialect::lock_user(conn, reset.user_id.get())?;
            let consumed = diesel::update(
                reset_tokens::table
                    .filter(reset_tokens::id.eq(reset.token_id))
                    .filter(reset_tokens::user_id.eq(reset.user_id.get()))
                    .filter(reset_tokens::used_at.is_null())
                    .filter(reset_tokens::revoked_at.is_null())
                    .filter(reset_tokens::expires_at.gt(at)),
            )
            .set(reset_tokens::used_at.eq(at))
            .execute(conn)?;
            if consumed == 0 {
                return Err(TxError::Stop(ResetCommit::TokenNotLive));
            }
            self.faults.check(FaultPoint::AfterTokenUpdate).map_err(TxError::Store)?;

            let changed = diesel::update(
                users::table
                    .filter(users::id.eq(reset.user_id.get()))
                    .filter(users::status.eq(UserStatus::Active.as_str())),
            )
            .set((
                users::password.eq(reset.password_hash.expose()),
                users::security_stamp.eq(reset.security_stamp.as_str()),
                users::updated_at.eq(at),
            ))
            .execute(conn)?;
            if changed == 0 {
                return Err(TxError::Stop(ResetCommit::UserNotActive));
            }
            revoke_outstanding(conn, reset.user_id, Some(reset.token_id), reset.at)?;
            if let Some(notice) = &reset.notice {
                enqueue_mail(conn, notice, reset.at)?;
            }
            insert_audit(conn, &reset.audit)?;
            let profile = load_profile(conn, reset.user_id.get())
                .map_err(TxError::Store)?
                .ok_or_else(|| TxError::Store(StoreError::msg("user vanished during reset")))?;
            Ok(profile)
        });
        match outcome {
            Ok(profile) => Ok(ResetCommit::Applied(Box::new(profile))),
            Err(TxError::Stop(outcome)) => Ok(outcome),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Db(e)) => Err(StoreError::new("completing a reset", e)),
        }
    }
}

impl UserStore for DieselStore {
    fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        dialect::user_by_email(&mut *self.conn()?, &email.normalized())
            .map_err(db_error("looking up a user by email"))?
            .map(User::try_from)
            .transpose()
    }

    fn find_profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError> {
        load_profile(&mut *self.conn()?, id.get())
    }

    fn find_group(&self, group: &GroupRef) -> Result<Option<Group>, StoreError> {
        let mut conn = self.conn()?;
        let query = groups::table.select(GroupRow::as_select());
        let row = match group {
            GroupRef::Id(id) => query.filter(groups::id.eq(id.get())).first::<GroupRow>(&mut conn),
            GroupRef::Name(name) => {
                query.filter(groups::name.eq(name)).first::<GroupRow>(&mut conn)
            }
        };
        row.optional().map_err(db_error("looking up a group"))?.map(Group::try_from).transpose()
    }

    fn create_user(&self, new: &NewUser) -> Result<UserProfile, CreateUserError> {
        let settings_json = serde_json::to_string(&new.settings)
            .map_err(|e| StoreError::new("serialising user settings", e))?;
        let created = self.conn()?.transaction::<_, TxError<CreateUserError>, _>(|conn| {
            // Inserting first: the unique index on lower(email) and the
            // foreign key on group_id decide, race-free.
            let inserted = diesel::insert_into(users::table)
                .values((
                    users::email.eq(new.email.as_str()),
                    users::nick.eq(&new.nickname),
                    users::password.eq(new.password_hash.expose()),
                    users::status.eq(new.status.as_str()),
                    users::settings.eq(&settings_json),
                    users::group_id.eq(new.group_id.get()),
                    users::created_at.eq(naive(new.created_at)),
                    users::updated_at.eq(naive(new.created_at)),
                    users::security_stamp.eq(new.security_stamp.as_str()),
                ))
                .execute(conn);
            match inserted {
                Ok(_) => {}
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    return Err(TxError::Stop(CreateUserError::EmailTaken));
                }
                Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
                    return Err(TxError::Stop(CreateUserError::UnknownGroup(new.group_id)));
                }
                Err(e) => return Err(e.into()),
            }
            let user = dialect::user_by_email(conn, &new.email.normalized())?
                .ok_or_else(|| TxError::Store(StoreError::msg("user vanished after insert")))?;
            load_profile(conn, user.id())
                .map_err(TxError::Store)?
                .ok_or_else(|| TxError::Store(StoreError::msg("user vanished after insert")))
        });
        created.map_err(|e| match e {
            TxError::Stop(e) => e,
            TxError::Store(e) => CreateUserError::Store(e),
            TxError::Db(e) => CreateUserError::Store(StoreError::new("creating a user", e)),
        })
    }
}

impl AuditLog for DieselStore {
    fn record(&self, record: &AuditRecord) -> Result<(), StoreError> {
        insert_audit(&mut *self.conn()?, record)
            .map(drop)
            .map_err(db_error("recording an audit event"))
    }

    fn record_all(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        self.conn()?
            .transaction(|conn| records.iter().try_for_each(|r| insert_audit(conn, r).map(drop)))
            .map_err(db_error("recording audit events"))
    }

    fn list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let mut select = audit_events::table
            .filter(audit_events::created_at.ge(naive(query.since)))
            .order((audit_events::created_at.desc(), audit_events::id.desc()))
            .limit(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .select(AuditRow::as_select())
            .into_boxed();
        if let Some(user) = query.user {
            select = select.filter(audit_events::user_id.eq(user.get()));
        }
        select
            .load::<AuditRow>(&mut *self.conn()?)
            .map_err(db_error("listing audit events"))?
            .into_iter()
            .map(AuditRecord::try_from)
            .collect()
    }
}

impl Sweeper for DieselStore {
    fn sweep(&self, cutoff: DateTime<Utc>, batch: usize) -> Result<SweepReport, StoreError> {
        let (cutoff, limit) = (naive(cutoff), i64::try_from(batch.max(1)).unwrap_or(i64::MAX));
        let mut report = SweepReport::default();
        let mut conn = self.conn()?;
        // Each batch: pick ids, delete them, commit. Selecting first keeps the
        // SQL portable (no DELETE … LIMIT) and each transaction short.
        loop {
            let deleted = conn
                .transaction(|c| {
                    let ids: Vec<i64> = reset_tokens::table
                        .filter(
                            reset_tokens::used_at
                                .lt(cutoff)
                                .or(reset_tokens::revoked_at.lt(cutoff))
                                .or(reset_tokens::expires_at.lt(cutoff)),
                        )
                        .select(reset_tokens::id)
                        .limit(limit)
                        .load(c)?;
                    diesel::delete(reset_tokens::table.filter(reset_tokens::id.eq_any(&ids)))
                        .execute(c)
                })
                .map_err(db_error("sweeping reset tokens"))?;
            report.tokens += deleted as u64;
            if (deleted as i64) < limit {
                break;
            }
        }
        loop {
            let deleted = conn
                .transaction(|c| {
                    let ids: Vec<i64> = mail_outbox::table
                        .filter(mail_outbox::status.ne("pending"))
                        .filter(mail_outbox::created_at.lt(cutoff))
                        .select(mail_outbox::id)
                        .limit(limit)
                        .load(c)?;
                    diesel::delete(mail_outbox::table.filter(mail_outbox::id.eq_any(&ids)))
                        .execute(c)
                })
                .map_err(db_error("sweeping the mail outbox"))?;
            report.mails += deleted as u64;
            if (deleted as i64) < limit {
                break;
            }
        }
        Ok(report)
    }
}

impl Outbox for DieselStore {
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows =
            dialect::claim_outbox(&mut *self.conn()?, naive(now), naive(lease_until), limit)
                .map_err(db_error("claiming queued emails"))?;
        rows.sort_by_key(|r| r.id);
        rows.into_iter()
            .map(|row| {
                let corrupt = |what: &str| {
                    StoreError::msg(format!("mail_outbox row {} is invalid: {what}", row.id))
                };
                let kind = MailKind::parse(&row.kind).ok_or_else(|| corrupt("unknown kind"))?;
                let (Some(text), Some(html)) = (row.body_text, row.body_html) else {
                    return Err(corrupt("pending without a body"));
                };
                Ok(QueuedMail {
                    id: row.id,
                    attempts: u32::try_from(row.attempts)
                        .map_err(|_| corrupt("negative attempts"))?,
                    mail: OutgoingMail {
                        kind,
                        to: row.recipient,
                        subject: row.subject,
                        text,
                        html,
                    },
                })
            })
            .collect()
    }

    fn mark_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        diesel::update(mail_outbox::table.find(id))
            .set((
                mail_outbox::status.eq("sent"),
                mail_outbox::sent_at.eq(naive(at)),
                mail_outbox::body_text.eq(None::<String>),
                mail_outbox::body_html.eq(None::<String>),
                mail_outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
                mail_outbox::last_error.eq(None::<String>),
            ))
            .execute(&mut self.conn()?)
            .map(drop)
            .map_err(db_error("marking an email sent"))
    }

    fn mark_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(MAX_ERROR_LEN).collect();
        let row = mail_outbox::table.find(id);
        let done = match retry_at {
            Some(at) => diesel::update(row)
                .set((
                    mail_outbox::next_attempt_at.eq(naive(at)),
                    mail_outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
                    mail_outbox::last_error.eq(&error),
                ))
                .execute(&mut self.conn()?),
            None => diesel::update(row)
                .set((
                    mail_outbox::status.eq("failed"),
                    mail_outbox::body_text.eq(None::<String>),
                    mail_outbox::body_html.eq(None::<String>),
                    mail_outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
                    mail_outbox::last_error.eq(&error),
                ))
                .execute(&mut self.conn()?),
        };
        done.map(drop).map_err(db_error("recording a failed delivery"))
    }

    fn pending(&self) -> Result<u64, StoreError> {
        let n: i64 = mail_outbox::table
            .filter(mail_outbox::status.eq("pending"))
            .count()
            .get_result(&mut self.conn()?)
            .map_err(db_error("counting queued emails"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod backend_tests {
    //! Backend facts: the lookups that run on every request use their indexes
    //! (plans read for SQL equivalent to what diesel sends), and TLS works.

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    use super::DieselStore;
    use crate::db::{DatabaseUrl, DbConnection, PoolOptions};
    use crate::testing::PostgresTestDb;

    const LOOKUPS: [(&str, &str); 2] = [
        ("SELECT id FROM reset_tokens WHERE digest = X'00' LIMIT 1", "reset_tokens_digest"),
        ("SELECT id FROM users WHERE lower(email) = 'a@example.com' LIMIT 1", "users_email_lower"),
    ];

    #[derive(QueryableByName)]
    struct SqlitePlan {
        #[diesel(sql_type = Text)]
        detail: String,
    }

    #[derive(QueryableByName)]
    struct Tls {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }

    /// `sslmode=require` needs libpq built with TLS: the bundled libpq with
    /// vendored OpenSSL provides it, with no system library.
    #[test]
    fn postgres_tls_works_with_sslmode_require() {
        let Some(db) = PostgresTestDb::create() else { return };
        let separator = if db.url.contains('?') { '&' } else { '?' };
        let url = DatabaseUrl::parse(&format!("{}{separator}sslmode=require", db.url)).unwrap();
        let store = match DieselStore::connect(&url, &PoolOptions::for_backend(url.backend())) {
            Ok(store) => store,
            Err(e) if e.to_string().contains("server does not support SSL") => {
                eprintln!("skipped: this PostgreSQL server has TLS off");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let mut conn = store.pool().get().unwrap();
        let DbConnection::Postgres(conn) = &mut *conn else { panic!("not PostgreSQL") };
        let tls: Tls =
            diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .get_result(conn)
                .unwrap();
        assert!(tls.ssl, "the connection is encrypted");
    }

    #[derive(QueryableByName)]
    struct PgPlan {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }

    fn open(url: &DatabaseUrl) -> DieselStore {
        let store = DieselStore::connect(url, &PoolOptions::for_backend(url.backend())).unwrap();
        store.migrate().unwrap();
        store
    }

    #[test]
    fn sqlite_lookups_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&DatabaseUrl::Sqlite(dir.path().join("plan.db")));
        let mut conn = store.pool().get().unwrap();
        let DbConnection::Sqlite(conn) = &mut *conn else { panic!("not SQLite") };
        for (query, index) in LOOKUPS {
            let plan: Vec<SqlitePlan> =
                diesel::sql_query(format!("EXPLAIN QUERY PLAN {query}")).load(conn).unwrap();
            let text: Vec<&str> = plan.iter().map(|p| p.detail.as_str()).collect();
            assert!(text.iter().any(|d| d.contains(index)), "{query}: {text:?}");
            assert!(!text.iter().any(|d| d.starts_with("SCAN")), "{query}: {text:?}");
        }
    }

    #[test]
    fn postgres_lookups_use_their_indexes() {
        let Some(db) = PostgresTestDb::create() else { return };
        let store = open(&DatabaseUrl::parse(&db.url).unwrap());
        let mut conn = store.pool().get().unwrap();
        let DbConnection::Postgres(conn) = &mut *conn else { panic!("not PostgreSQL") };
        // On empty tables the planner rightly prefers a scan; forbidding it
        // shows whether a usable index exists.
        conn.batch_execute("SET enable_seqscan = off").unwrap();
        for (query, index) in LOOKUPS {
            let query = query.replace("X'00'", "'\\x00'::bytea");
            let plan: Vec<PgPlan> =
                diesel::sql_query(format!("EXPLAIN {query}")).load(conn).unwrap();
            let text: Vec<&str> = plan.iter().map(|p| p.line.as_str()).collect();
            assert!(text.iter().any(|l| l.contains(index)), "{query}: {text:?}");
            assert!(!text.iter().any(|l| l.contains("Seq Scan")), "{query}: {text:?}");
        }
    }
}

#[cfg(test)]
mod checkout_tests {
    use std::time::{Duration, Instant};

    use pwreset_domain::Email;
    use pwreset_domain::ports::UserStore;

    use super::DieselStore;
    use crate::db::{DatabaseUrl, PoolOptions, checkout_deadline};

    /// A store whose only connection is taken: the next checkout waits.
    fn exhausted(timeout: Duration) -> (DieselStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("pwreset.db"));
        let store = DieselStore::connect(&url, &PoolOptions { max_size: 1, timeout }).unwrap();
        store.migrate().unwrap();
        (store, dir)
    }

    #[test]
    fn a_checkout_gives_up_at_the_threads_deadline() {
        let (store, _dir) = exhausted(Duration::from_secs(2));
        let email = Email::parse("a@example.com").unwrap();
        let held = store.pool().get().unwrap();

        let started = Instant::now();
        let err = store.find_user_by_email(&email).unwrap_err();
        let on_pool_timeout = started.elapsed();
        assert!(err.to_string().contains("no database connection available"), "{err}");

        let started = Instant::now();
        let deadline = started + Duration::from_millis(50);
        let err = checkout_deadline(deadline, || store.find_user_by_email(&email)).unwrap_err();
        let on_deadline = started.elapsed();
        assert!(err.to_string().contains("no database connection available"), "{err}");
        // Ratios from one run, not wall-clock limits: the pool's wait is 40
        // times the deadline's.
        assert!(on_pool_timeout >= Duration::from_secs(2), "{on_pool_timeout:?}");
        assert!(on_deadline * 4 < on_pool_timeout, "{on_deadline:?} vs {on_pool_timeout:?}");

        drop(held);
        let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        assert_eq!(
            checkout_deadline(past, || store.find_user_by_email(&email)).unwrap(),
            None,
            "a free connection is taken even after the deadline: it bounds waiting, not work"
        );
    }
}
