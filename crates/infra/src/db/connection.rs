//! Connections: the backend is chosen by URL scheme (keeping the real
//! connection error, which diesel's derived `establish` would replace), pooled
//! with r2d2, migrated with the embedded per-backend migrations.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use thiserror::Error;

/// Every backend this build supports, behind one connection type.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// An SQLite database file.
    Sqlite(SqliteConnection),
    /// A PostgreSQL server.
    Postgres(PgConnection),
    /// A MySQL or MariaDB server (feature `mysql`).
    #[cfg(feature = "mysql")]
    Mysql(MysqlConnection),
}

impl std::fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "DbConnection::Sqlite",
            Self::Postgres(_) => "DbConnection::Postgres",
            #[cfg(feature = "mysql")]
            Self::Mysql(_) => "DbConnection::Mysql",
        })
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
#[cfg(feature = "mysql")]
const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/mysql");

// pwreset's prefixed state tables, for a database it shares with another
// application (see `StateLayout::Prefixed`).
const SQLITE_STATE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("state-migrations/sqlite");
const POSTGRES_STATE_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("state-migrations/postgres");
#[cfg(feature = "mysql")]
const MYSQL_STATE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("state-migrations/mysql");

/// Where [`run_state_migrations`] records what it applied: a table of
/// pwreset's own name, so that nothing but `pwreset_*` tables is ever added to
/// a database pwreset shares.
const STATE_MIGRATIONS_TABLE: &str = "pwreset_schema_migrations";

/// Key of the PostgreSQL advisory lock that serialises migrations of
/// instances starting at the same time ("pwreset" on a phone keypad).
const MIGRATION_LOCK: i64 = 7_973_738;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    Mysql,
}

impl Backend {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            #[cfg(feature = "mysql")]
            Self::Mysql => "mysql",
        }
    }
}

/// A parsed `PWRESET_DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` or a bare file path.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, passed to libpq as is.
    Postgres(String),
    /// `mysql://…` (MySQL or MariaDB; feature `mysql`).
    #[cfg(feature = "mysql")]
    Mysql(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Something went wrong setting up the database.
#[derive(Debug, Error)]
pub enum DbError {
    /// The URL's scheme names no supported backend.
    #[error(
        "unsupported database URL scheme {0:?}: use sqlite://PATH, a file path, postgres://… or postgresql://…"
    )]
    UnknownScheme(String),
    /// A MySQL URL in a build without MySQL support.
    #[error("mysql:// URLs need a pwreset built with the `mysql` feature")]
    MysqlNotBuilt,
    /// The URL is empty or has no path.
    #[error("the database URL is empty")]
    Empty,
    /// The SQLite file's folder could not be created.
    #[error("cannot create the folder {path} for the SQLite database")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A new SQLite file could not be made its owner's only.
    #[error("cannot make the new SQLite database {path} private to its owner")]
    FileMode {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database refused or could not be reached.
    #[error("cannot connect to {url}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// The driver's own error.
        source: diesel::r2d2::Error,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// A query failed.
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
    /// No pooled connection became free in time.
    #[error("no database connection available")]
    Pool(#[from] r2d2::Error),
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH` (relative or absolute: `sqlite://./data/x.db`,
    /// `sqlite:///var/lib/x.db`), a bare file path, `postgres://…` or
    /// `postgresql://…`.
    ///
    /// # Errors
    /// [`DbError::UnknownScheme`], [`DbError::MysqlNotBuilt`] or [`DbError::Empty`].
    pub fn parse(raw: &str) -> Result<Self, DbError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(DbError::Empty);
        }
        let Some((scheme, rest)) = raw.split_once("://") else {
            return match raw.strip_prefix("sqlite:") {
                Some(path) if !path.is_empty() => Ok(Self::Sqlite(PathBuf::from(path))),
                Some(_) => Err(DbError::Empty),
                None => Ok(Self::Sqlite(PathBuf::from(raw))),
            };
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" if rest.is_empty() => Err(DbError::Empty),
            "sqlite" => Ok(Self::Sqlite(PathBuf::from(rest))),
            "postgres" | "postgresql" => Ok(Self::Postgres(raw.to_owned())),
            #[cfg(feature = "mysql")]
            "mysql" => Ok(Self::Mysql(raw.to_owned())),
            #[cfg(feature = "mysql")]
            "mariadb" => Ok(Self::Mysql(format!("mysql://{rest}"))),
            #[cfg(not(feature = "mysql"))]
            "mysql" | "mariadb" => Err(DbError::MysqlNotBuilt),
            other => Err(DbError::UnknownScheme(other.to_owned())),
        }
    }

    /// The backend it names.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            Self::Mysql(_) => Backend::Mysql,
        }
    }

    /// The URL with any password replaced by `***`, for logs and errors.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => redact_password(url),
            #[cfg(feature = "mysql")]
            Self::Mysql(url) => redact_password(url),
        }
    }
}

/// Hides the password of `scheme://user:password@host…` and of a
/// `password=` query parameter.
fn redact_password(url: &str) -> String {
    let mut out = crate::redact::url_password(url);
    if let Some(start) = out.find("password=") {
        let value = start + "password=".len();
        let end = out[value..].find('&').map_or(out.len(), |i| value + i);
        out.replace_range(value..end, "***");
    }
    out
}

/// Opens connections for the pool, set up for pwreset's use.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
    busy_timeout: Duration,
}

impl Manager {
    fn establish(&self) -> Result<DbConnection, diesel::r2d2::Error> {
        use diesel::r2d2::Error;
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(Error::ConnectionError)?;
                // WAL lets readers run beside the writer; the busy timeout makes
                // writers queue instead of failing; FULL sync makes a committed
                // reset survive power loss, not just a crash.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                    self.busy_timeout.as_millis()
                ))
                .map_err(Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url).map_err(Error::ConnectionError)?;
                // Every timestamp is UTC; make the session agree whatever the
                // server's default zone. Every statement pwreset runs is short;
                // one that is not is stuck behind a lock, and waiting longer
                // would only pile up.
                conn.batch_execute("SET TIME ZONE 'UTC'; SET statement_timeout = '30s'")
                    .map_err(Error::QueryError)?;
                Ok(DbConnection::Postgres(conn))
            }
            #[cfg(feature = "mysql")]
            DatabaseUrl::Mysql(url) => {
                let mut conn = MysqlConnection::establish(url).map_err(Error::ConnectionError)?;
                // UTC, strict (no silent truncation), a bounded wait for row
                // locks, and READ COMMITTED: under InnoDB's default REPEATABLE
                // READ, the gap locks of two users' link requests (revoke by
                // user_id, then insert) deadlock each other. Every unit of work
                // locks what it depends on explicitly instead.
                conn.batch_execute(
                    "SET time_zone = '+00:00'; \
                     SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES'); \
                     SET SESSION innodb_lock_wait_timeout = 30; \
                     SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                )
                .map_err(Error::QueryError)?;
                Ok(DbConnection::Mysql(conn))
            }
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// The connection pool.
pub type Pool = r2d2::Pool<Manager>;

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most open connections.
    pub max_size: u32,
    /// How long a caller waits for a free connection, and how long SQLite
    /// waits for a lock, before giving up.
    pub timeout: Duration,
}

impl PoolOptions {
    /// Sensible defaults for the backend: SQLite has one writer at a time, so
    /// a few connections suffice.
    pub fn for_backend(backend: Backend) -> Self {
        let max_size = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
            #[cfg(feature = "mysql")]
            Backend::Mysql => 16,
        };
        Self { max_size, timeout: Duration::from_secs(5) }
    }
}

/// Creates the folder of a SQLite file, readable by its owner only (it holds
/// queued links, password hashes and the hashid salt).
fn ensure_parent_dir(path: &Path) -> Result<(), DbError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => crate::redact::private_dir(dir)
            .map_err(|source| DbError::CreateDir { path: dir.to_owned(), source }),
        _ => Ok(()),
    }
}

/// Opens a pool. One connection is made first, directly, so that a
/// wrong password or an unreachable server is reported with the driver's own
/// message instead of a pool timeout.
///
/// # Errors
/// [`DbError::CreateDir`] or [`DbError::Connect`].
pub fn connect_pool(url: &DatabaseUrl, options: &PoolOptions) -> Result<Pool, DbError> {
    let new_sqlite_file = match url {
        DatabaseUrl::Sqlite(path) => {
            ensure_parent_dir(path)?;
            (!path.exists()).then(|| path.clone())
        }
        _ => None,
    };
    let manager = Manager { url: url.clone(), busy_timeout: options.timeout };
    let first =
        manager.establish().map_err(|source| DbError::Connect { url: url.redacted(), source })?;
    // A database file pwreset creates is its owner's only (SQLite gives its
    // -wal and -shm files the same mode).
    if let Some(path) = new_sqlite_file {
        crate::redact::private_file(&path)
            .map_err(|source| DbError::FileMode { path: path.clone(), source })?;
    }
    drop(first);
    // A network connection can die while idle (the server restarted): check
    // each one as it is handed out, so the first request after an outage
    // does not fail on a dead connection. A SQLite file cannot go away under
    // an open connection, so it skips that round trip.
    let validate = url.backend() != Backend::Sqlite;
    Ok(r2d2::Pool::builder()
        .max_size(options.max_size)
        .test_on_check_out(validate)
        // Connections are opened only while a caller waits for one, never
        // kept warm in the background: r2d2's worker thread topping up idle
        // connections (a TLS handshake to PostgreSQL) while a short-lived
        // command exited crashed the process, OpenSSL torn down under it
        // (see docs/reliability.md).
        .min_idle(Some(0))
        .connection_timeout(options.timeout)
        .build_unchecked(manager))
}

/// Applies the pending migrations of the prefixed state tables
/// (`state-migrations/`), recording them in `pwreset_schema_migrations`;
/// returns the versions applied. Creates and alters nothing else. Instances
/// starting together take turns as in [`run_migrations`].
///
/// # Errors
/// [`DbError::Migrate`] with the failing migration's message.
pub fn run_state_migrations(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    match conn {
        DbConnection::Sqlite(c) => {
            c.batch_execute("BEGIN IMMEDIATE")?;
            let applied = apply_tracked(c, &SQLITE_STATE_MIGRATIONS, true);
            c.batch_execute(if applied.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
            applied
        }
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let applied = c.transaction(|c| apply_tracked(c, &POSTGRES_STATE_MIGRATIONS, false));
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            applied
        }
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => {
            // MySQL commits DDL as it goes: the lock is what keeps two
            // instances from applying one migration twice.
            c.batch_execute("DO GET_LOCK('pwreset_migrations', 300)")?;
            let applied = apply_tracked(c, &MYSQL_STATE_MIGRATIONS, false);
            c.batch_execute("DO RELEASE_LOCK('pwreset_migrations')")?;
            applied
        }
    }
}

/// Runs every migration of `source` not yet listed in the tracking table.
/// `sqlite_types` picks the DDL of the tracking table.
fn apply_tracked<C>(
    conn: &mut C,
    source: &EmbeddedMigrations,
    sqlite_types: bool,
) -> Result<Vec<String>, DbError>
where
    C: Connection + diesel::migration::MigrationConnection + 'static,
    EmbeddedMigrations: diesel::migration::MigrationSource<C::Backend>,
    C: diesel::connection::BoxableConnection<C::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, AppliedVersion>,
{
    use diesel::RunQueryDsl;
    use diesel::migration::MigrationSource;
    let migrate = |e: &dyn std::fmt::Display| DbError::Migrate(e.to_string());
    let (version_type, time_type) =
        if sqlite_types { ("TEXT", "TIMESTAMP") } else { ("VARCHAR(50)", "TIMESTAMP") };
    conn.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {STATE_MIGRATIONS_TABLE} (\
         version {version_type} PRIMARY KEY NOT NULL, \
         run_on {time_type} NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    ))?;
    let applied: Vec<String> =
        diesel::sql_query(format!("SELECT version FROM {STATE_MIGRATIONS_TABLE}"))
            .load::<AppliedVersion>(conn)?
            .into_iter()
            .map(|v| v.version)
            .collect();
    let mut migrations = source.migrations().map_err(|e| migrate(&e))?;
    migrations.sort_by(|a, b| a.name().version().cmp(&b.name().version()));
    let mut done = Vec::new();
    for migration in migrations {
        let version = migration.name().version().to_string();
        if applied.contains(&version) {
            continue;
        }
        migration.run(conn).map_err(|e| migrate(&format!("{}: {e}", migration.name())))?;
        // The version is a date and a counter from the folder name: no quoting needed,
        // but it is checked anyway.
        if !version.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(DbError::Migrate(format!("unexpected migration version {version:?}")));
        }
        conn.batch_execute(&format!(
            "INSERT INTO {STATE_MIGRATIONS_TABLE} (version) VALUES ('{version}')"
        ))?;
        done.push(version);
    }
    Ok(done)
}

/// One migration of a table set, and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Its version (the date and counter of its folder name).
    pub version: String,
    /// Its folder name.
    pub name: String,
    /// Whether the database has it.
    pub applied: bool,
}

/// The migrations of a table set (`state_only`: pwreset's `pwreset_*`
/// tables beside a host's, else pwreset's whole schema) and which the
/// database has. Reads only: nothing is created, not even the table that
/// tracks them.
///
/// # Errors
/// [`DbError`] when the database cannot be read.
pub fn migration_status(
    conn: &mut DbConnection,
    state_only: bool,
) -> Result<Vec<MigrationState>, DbError> {
    let table = if state_only { STATE_MIGRATIONS_TABLE } else { "__diesel_schema_migrations" };
    let exists = format!(
        "SELECT table_name AS version FROM information_schema.tables \
                          WHERE table_schema = {{schema}} AND table_name = '{table}'"
    );
    match conn {
        DbConnection::Sqlite(c) => {
            let exists = format!(
                "SELECT name AS version FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            );
            let source = if state_only { SQLITE_STATE_MIGRATIONS } else { SQLITE_MIGRATIONS };
            status_of(c, &source, table, &exists)
        }
        DbConnection::Postgres(c) => {
            let exists = exists
                .replace("{schema}", "current_schema()")
                .replace("table_name AS", "table_name::text AS");
            let source = if state_only { POSTGRES_STATE_MIGRATIONS } else { POSTGRES_MIGRATIONS };
            status_of(c, &source, table, &exists)
        }
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => {
            let exists = exists.replace("{schema}", "DATABASE()");
            let source = if state_only { MYSQL_STATE_MIGRATIONS } else { MYSQL_MIGRATIONS };
            status_of(c, &source, table, &exists)
        }
    }
}

/// The migrations `backend` has for a table set, none applied: the status
/// of a database that does not exist yet.
///
/// # Errors
/// [`DbError::Migrate`] when the embedded migrations cannot be listed.
pub fn embedded_migrations(
    backend: Backend,
    state_only: bool,
) -> Result<Vec<MigrationState>, DbError> {
    use diesel::migration::MigrationSource;
    fn list<DB: diesel::backend::Backend>(
        source: &EmbeddedMigrations,
    ) -> Result<Vec<MigrationState>, DbError>
    where
        EmbeddedMigrations: MigrationSource<DB>,
    {
        let mut all: Vec<MigrationState> = MigrationSource::<DB>::migrations(source)
            .map_err(|e| DbError::Migrate(e.to_string()))?
            .iter()
            .map(|m| MigrationState {
                version: m.name().version().to_string(),
                name: m.name().to_string(),
                applied: false,
            })
            .collect();
        all.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(all)
    }
    match backend {
        Backend::Sqlite => list::<diesel::sqlite::Sqlite>(if state_only {
            &SQLITE_STATE_MIGRATIONS
        } else {
            &SQLITE_MIGRATIONS
        }),
        Backend::Postgres => list::<diesel::pg::Pg>(if state_only {
            &POSTGRES_STATE_MIGRATIONS
        } else {
            &POSTGRES_MIGRATIONS
        }),
        #[cfg(feature = "mysql")]
        Backend::Mysql => list::<diesel::mysql::Mysql>(if state_only {
            &MYSQL_STATE_MIGRATIONS
        } else {
            &MYSQL_MIGRATIONS
        }),
    }
}

fn status_of<C>(
    conn: &mut C,
    source: &EmbeddedMigrations,
    table: &str,
    exists: &str,
) -> Result<Vec<MigrationState>, DbError>
where
    C: Connection + 'static,
    EmbeddedMigrations: diesel::migration::MigrationSource<C::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, AppliedVersion>,
{
    use diesel::RunQueryDsl;
    use diesel::migration::MigrationSource;
    let tracked = !diesel::sql_query(exists).load::<AppliedVersion>(conn)?.is_empty();
    let applied: Vec<String> = if tracked {
        diesel::sql_query(format!("SELECT version FROM {table}"))
            .load::<AppliedVersion>(conn)?
            .into_iter()
            .map(|v| v.version)
            .collect()
    } else {
        Vec::new()
    };
    let mut migrations = source.migrations().map_err(|e| DbError::Migrate(e.to_string()))?;
    migrations.sort_by(|a, b| a.name().version().cmp(&b.name().version()));
    Ok(migrations
        .iter()
        .map(|m| {
            let version = m.name().version().to_string();
            MigrationState {
                applied: applied.contains(&version),
                name: m.name().to_string(),
                version,
            }
        })
        .collect())
}

#[derive(diesel::QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// Applies pending migrations; returns the versions applied.
///
/// On PostgreSQL an advisory lock makes instances that start together take
/// turns, so exactly one applies each migration.
///
/// # Errors
/// [`DbError::Migrate`] with the failing migration's message.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let versions = |r: Result<Vec<diesel::migration::MigrationVersion<'_>>, _>| {
        r.map(|v| v.iter().map(ToString::to_string).collect())
            .map_err(|e: Box<dyn std::error::Error + Send + Sync>| DbError::Migrate(e.to_string()))
    };
    match conn {
        DbConnection::Sqlite(c) => versions(c.run_pending_migrations(SQLITE_MIGRATIONS)),
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let applied = versions(c.run_pending_migrations(POSTGRES_MIGRATIONS));
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            applied
        }
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => {
            c.batch_execute("DO GET_LOCK('pwreset_migrations', 300)")?;
            let applied = versions(c.run_pending_migrations(MYSQL_MIGRATIONS));
            c.batch_execute("DO RELEASE_LOCK('pwreset_migrations')")?;
            applied
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_their_backend() {
        let sqlite = |p: &str| Ok(DatabaseUrl::Sqlite(PathBuf::from(p)));
        assert_eq!(
            DatabaseUrl::parse("sqlite://./data/pwreset.db").map_err(|e| e.to_string()),
            sqlite("./data/pwreset.db")
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/p.db").map_err(|e| e.to_string()),
            sqlite("/var/lib/p.db")
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:rel.db").map_err(|e| e.to_string()),
            sqlite("rel.db")
        );
        assert_eq!(DatabaseUrl::parse("data/x.db").map_err(|e| e.to_string()), sqlite("data/x.db"));
        assert_eq!(DatabaseUrl::parse("/abs/x.db").map_err(|e| e.to_string()), sqlite("/abs/x.db"));
        for pg in ["postgres://u@h/db", "postgresql://u:p@h:5432/db?sslmode=require"] {
            assert_eq!(DatabaseUrl::parse(pg).unwrap().backend(), Backend::Postgres);
        }
        #[cfg(not(feature = "mysql"))]
        assert!(matches!(DatabaseUrl::parse("mysql://root@h/db"), Err(DbError::MysqlNotBuilt)));
        #[cfg(feature = "mysql")]
        assert_eq!(DatabaseUrl::parse("mysql://root@h/db").unwrap().backend(), Backend::Mysql);
        assert!(
            matches!(DatabaseUrl::parse("redis://h"), Err(DbError::UnknownScheme(s)) if s == "redis")
        );
        assert!(matches!(DatabaseUrl::parse("  "), Err(DbError::Empty)));
        assert!(matches!(DatabaseUrl::parse("sqlite://"), Err(DbError::Empty)));
    }

    #[cfg(unix)]
    #[test]
    fn a_new_sqlite_database_is_its_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data/pwreset.db");
        let url = DatabaseUrl::Sqlite(path.clone());
        drop(connect_pool(&url, &PoolOptions::for_backend(Backend::Sqlite)).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(path.parent().unwrap()), 0o700, "the folder");
        assert_eq!(mode(&path), 0o600, "the file");
    }

    #[test]
    fn passwords_never_show() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/pw?sslmode=require").unwrap();
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/pw?sslmode=require");
        assert_eq!(format!("{url:?}"), "postgres://app:***@db:5432/pw?sslmode=require");
        let url = DatabaseUrl::parse("postgres://h/pw?user=a&password=s3cret&x=1").unwrap();
        assert_eq!(url.redacted(), "postgres://h/pw?user=a&password=***&x=1");
        let url = DatabaseUrl::parse("postgres://app@db/pw").unwrap();
        assert_eq!(url.redacted(), "postgres://app@db/pw");
        // Whatever the password holds: a slash, an @, a colon.
        for password in ["s3cr/et", "p@ss", "a:b/c@d", "x?y"] {
            let url = DatabaseUrl::parse(&format!("postgres://app:{password}@db/x")).unwrap();
            let shown = url.redacted();
            assert!(!shown.contains(password), "{shown}");
            assert!(shown.starts_with("postgres://app:***@"), "{shown}");
        }
    }

    #[test]
    fn real_connection_errors_are_kept() {
        let url =
            DatabaseUrl::parse("postgres://nobody:pw@127.0.0.1:1/none?connect_timeout=2").unwrap();
        let err = connect_pool(&url, &PoolOptions::for_backend(Backend::Postgres)).unwrap_err();
        let text = pwreset_domain::error_chain(&err);
        assert!(text.starts_with("cannot connect to postgres://nobody:***@127.0.0.1:1/"), "{text}");
        assert!(!text.contains("Invalid connection url for multiconnection"), "{text}");
        // The driver's own words, kept as the cause.
        assert!(text.to_lowercase().contains("connection refused"), "{text}");
    }
}
