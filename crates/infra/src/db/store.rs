//! [`DieselStore`]: the ports implemented on SQL, each unit of work in one
//! transaction. Accounts come from an [`Accounts`] implementation (pwreset's
//! own tables, or another application's); pwreset's state lives in one of the
//! [`StateLayout`] table sets.

use std::sync::Arc;

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

use super::accounts::{Accounts, Credentials, PwresetAccounts};
use super::connection::{Backend, DatabaseUrl, DbConnection, DbError, Pool, PoolOptions};
use super::schema::settings;
use super::state::{StateLayout, StateTables};
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
    accounts: Arc<dyn Accounts>,
    layout: StateLayout,
    tables: &'static dyn StateTables,
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
    #[error("PWRESET_HASHID_SALT is invalid")]
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

impl DieselStore {
    /// Connects to the database (without migrating it), for pwreset's own
    /// accounts and the plain table set.
    ///
    /// # Errors
    /// See [`super::connect_pool`].
    pub fn connect(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self, DbError> {
        let pool = super::connect_pool(url, options)?;
        Ok(Self::with_accounts(pool, url.backend(), Arc::new(PwresetAccounts), StateLayout::Plain))
    }

    /// A store over `accounts`, keeping pwreset's state in `layout`'s tables.
    pub fn with_accounts(
        pool: Pool,
        backend: Backend,
        accounts: Arc<dyn Accounts>,
        layout: StateLayout,
    ) -> Self {
        Self { pool, backend, faults: Faults::default(), accounts, layout, tables: layout.tables() }
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

    /// Applies pending migrations of this store's table set; returns the
    /// versions applied.
    ///
    /// # Errors
    /// [`DbError`] when no connection is available or a migration fails.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.pool.get()?;
        let conn = &mut *conn;
        match self.layout {
            StateLayout::Plain => super::run_migrations(conn),
            StateLayout::Prefixed => super::run_state_migrations(conn),
        }
    }

    /// The migrations of this store's table set and which the database
    /// has, without changing anything.
    ///
    /// # Errors
    /// [`DbError`] when the database cannot be read.
    pub fn migration_status(&self) -> Result<Vec<super::MigrationState>, DbError> {
        let mut conn = self.pool.get()?;
        super::connection::migration_status(&mut conn, self.layout == StateLayout::Prefixed)
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
        let rows = self
            .tables
            .outbox_counts(&mut *self.conn()?)
            .map_err(db_error("counting the outbox"))?;
        let count = |state: crate::OutboxStatus| {
            rows.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n as u64)
        };
        use crate::OutboxStatus::{Failed, Pending, Sent};
        Ok((count(Pending), count(Sent), count(Failed)))
    }

    /// Up to `limit` users after `after`, in id order, optionally with one
    /// `status` (`pwreset user list`).
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read, or these accounts are
    /// not listed here.
    pub fn list_users(
        &self,
        status: Option<UserStatus>,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserProfile>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.accounts.list_users(&mut *self.conn()?, status, after, limit)
    }

    /// Up to `limit` outbox messages in `state` (`pending`, `sent` or
    /// `failed`), oldest first, without their bodies (`pwreset outbox list`).
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read.
    pub fn outbox_list(
        &self,
        state: crate::OutboxStatus,
        limit: usize,
    ) -> Result<Vec<super::OutboxEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.tables
            .outbox_list(&mut *self.conn()?, state, limit)
            .map_err(db_error("listing the outbox"))
    }

    /// Makes pending messages that wait for a later retry due at `now`
    /// (all of them, or the one with `id`); returns how many. Messages given
    /// up cannot be sent again: their bodies, which held the link, are gone.
    ///
    /// # Errors
    /// [`StoreError`] when the update fails.
    pub fn outbox_retry_now(
        &self,
        id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.tables
            .outbox_retry_now(&mut *self.conn()?, id, now)
            .map_err(db_error("rescheduling queued emails"))
    }

    /// Sets a user's status (operators' tool and tests).
    ///
    /// # Errors
    /// [`StoreError`] when the update fails.
    pub fn set_status(&self, id: UserId, status: UserStatus) -> Result<bool, StoreError> {
        self.accounts.set_status(&mut *self.conn()?, id, status)
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
        self.tables.audit_kinds(&mut self.pool.get().unwrap()).unwrap()
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
        self.tables
            .plant_token(&mut self.pool.get().unwrap(), user, &secret.digest(), Utc::now(), expires)
            .unwrap();
    }

    /// `(status, text body, html body)` of every outbox row, oldest first.
    ///
    /// # Panics
    /// When the database cannot be read.
    pub fn outbox_rows(&self) -> Vec<(String, Option<String>, Option<String>)> {
        self.tables.outbox_rows(&mut self.pool.get().unwrap()).unwrap()
    }
}

impl ResetStore for DieselStore {
    fn find_token(&self, digest: &SecretDigest) -> Result<Option<ResetToken>, StoreError> {
        self.tables
            .find_token(&mut *self.conn()?, digest)
            .map_err(db_error("looking up a reset token"))?
            .map(ResetToken::try_from)
            .transpose()
    }

    fn issue_token(&self, token: &NewResetToken) -> Result<(), StoreError> {
        // The first statement writes, so SQLite takes its write lock (waiting
        // for the busy timeout) before reading anything; the servers lock the
        // user's row first.
        let tables = self.tables;
        self.conn()?
            .transaction(|conn| {
                self.accounts.lock_user(conn, token.user_id)?;
                tables.revoke_outstanding(conn, token.user_id, None, token.created_at)?;
                tables.insert_token(conn, token)?;
                if let Some(mail) = &token.mail {
                    tables.enqueue_mail(conn, mail, token.created_at)?;
                }
                tables.insert_audit(conn, &token.audit)
            })
            .map_err(db_error("issuing a reset token"))
    }

    fn complete_reset(&self, reset: &CompletedReset) -> Result<ResetCommit, StoreError> {
        let tables = self.tables;
        let outcome = self.conn()?.transaction::<_, TxError<ResetCommit>, _>(|conn| {
            // Units of work on one user take turns (the user's row lock on the
            // servers, the write lock on SQLite). Consuming the token is the
            // first write: concurrent resets with one secret wait for each
            // other and then re-check the condition, so exactly one of them
            // sees a live token.
            self.accounts.lock_user(conn, reset.user_id)?;
            if tables.consume_token(conn, reset.token_id, reset.user_id, reset.at)? == 0 {
                return Err(TxError::Stop(ResetCommit::TokenNotLive));
            }
            self.faults.check(FaultPoint::AfterTokenUpdate).map_err(TxError::Store)?;

            let credentials = Credentials {
                user: reset.user_id,
                password_hash: &reset.password_hash,
                security_stamp: &reset.security_stamp,
                at: reset.at,
            };
            if !self.accounts.set_credentials(conn, &credentials).map_err(TxError::Store)? {
                return Err(TxError::Stop(ResetCommit::UserNotActive));
            }
            tables.revoke_outstanding(conn, reset.user_id, Some(reset.token_id), reset.at)?;
            if let Some(notice) = &reset.notice {
                tables.enqueue_mail(conn, notice, reset.at)?;
            }
            tables.insert_audit(conn, &reset.audit)?;
            self.accounts
                .profile(conn, reset.user_id)
                .map_err(TxError::Store)?
                .ok_or_else(|| TxError::Store(StoreError::msg("user vanished during reset")))
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
        self.accounts.user_by_email(&mut *self.conn()?, email)
    }

    fn find_profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError> {
        self.accounts.profile(&mut *self.conn()?, id)
    }

    fn find_group(&self, group: &GroupRef) -> Result<Option<Group>, StoreError> {
        self.accounts.group(&mut *self.conn()?, group)
    }

    fn create_user(&self, new: &NewUser) -> Result<UserProfile, CreateUserError> {
        let created = self.conn()?.transaction::<_, TxError<CreateUserError>, _>(|conn| {
            self.accounts.create_user(conn, new).map_err(TxError::Stop)
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
        self.tables
            .insert_audit(&mut *self.conn()?, record)
            .map_err(db_error("recording an audit event"))
    }

    fn record_all(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let tables = self.tables;
        self.conn()?
            .transaction(|conn| records.iter().try_for_each(|r| tables.insert_audit(conn, r)))
            .map_err(db_error("recording audit events"))
    }

    fn list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.tables
            .list_audit(&mut *self.conn()?, query)
            .map_err(db_error("listing audit events"))?
            .into_iter()
            .map(AuditRecord::try_from)
            .collect()
    }
}

impl Sweeper for DieselStore {
    fn sweep(&self, cutoff: DateTime<Utc>, batch: usize) -> Result<SweepReport, StoreError> {
        let limit = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
        let mut report = SweepReport::default();
        let mut conn = self.conn()?;
        // Each batch: pick ids, delete them, commit. Selecting first keeps the
        // SQL portable (no DELETE … LIMIT) and each transaction short.
        loop {
            let deleted = self
                .tables
                .sweep_tokens(&mut conn, cutoff, limit)
                .map_err(db_error("sweeping reset tokens"))?;
            report.tokens += deleted as u64;
            if (deleted as i64) < limit {
                break;
            }
        }
        loop {
            let deleted = self
                .tables
                .sweep_mails(&mut conn, cutoff, limit)
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
        let mut rows = self
            .tables
            .claim(&mut *self.conn()?, now, lease_until, limit)
            .map_err(db_error("claiming queued emails"))?;
        rows.sort_by_key(|r| r.id);
        rows.into_iter()
            .map(|row| {
                let corrupt = |what: &str| {
                    StoreError::msg(format!("outbox row {} is invalid: {what}", row.id))
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

    fn renew(
        &self,
        ids: &[i64],
        held_until: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.tables
            .renew(&mut *self.conn()?, ids, held_until, until)
            .map_err(db_error("renewing the lease of queued emails"))
    }

    fn mark_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.tables.mark_sent(&mut *self.conn()?, id, at).map_err(db_error("marking an email sent"))
    }

    fn mark_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.tables
            .mark_failed(&mut *self.conn()?, id, error, retry_at)
            .map_err(db_error("recording a failed delivery"))
    }

    fn pending(&self) -> Result<u64, StoreError> {
        let n =
            self.tables.pending(&mut *self.conn()?).map_err(db_error("counting queued emails"))?;
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

    /// What `pwreset migrate --status` reads: every migration pending on an
    /// empty database, without creating the table that tracks them; all
    /// applied after `migrate`; for either table set.
    fn status_before_and_after_migrating(url: &str) {
        use crate::db::StateLayout;
        let url = DatabaseUrl::parse(url).unwrap();
        for layout in [StateLayout::Plain, StateLayout::Prefixed] {
            let pool =
                crate::db::connect_pool(&url, &PoolOptions::for_backend(url.backend())).unwrap();
            let store = DieselStore::with_accounts(
                pool,
                url.backend(),
                std::sync::Arc::new(crate::db::PwresetAccounts),
                layout,
            );
            let before = store.migration_status().unwrap();
            assert!(
                !before.is_empty() && before.iter().all(|m| !m.applied),
                "{layout:?}: {before:?}"
            );
            assert!(
                store.migration_status().unwrap().iter().all(|m| !m.applied),
                "reading created nothing"
            );
            store.migrate().unwrap();
            let after = store.migration_status().unwrap();
            assert!(after.iter().all(|m| m.applied), "{layout:?}: {after:?}");
            assert_eq!(
                after.iter().map(|m| &m.name).collect::<Vec<_>>(),
                before.iter().map(|m| &m.name).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn migration_status_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        status_before_and_after_migrating(&format!(
            "sqlite://{}",
            dir.path().join("s.db").display()
        ));
    }

    #[test]
    fn migration_status_on_postgres() {
        if let Some(db) = PostgresTestDb::create() {
            status_before_and_after_migrating(&db.url);
        }
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn migration_status_on_mysql() {
        if let Some(db) = crate::testing::MysqlTestDb::create() {
            status_before_and_after_migrating(&db.url);
        }
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
            Err(e) => {
                let chain = pwreset_domain::error_chain(&e);
                if chain.contains("server does not support SSL") {
                    crate::skip::skipped("this PostgreSQL server has TLS off (the sslmode test)");
                    return;
                }
                panic!("{chain}");
            }
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
