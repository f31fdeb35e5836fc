//! Test support: throwaway databases for the storage contract suite and for
//! other crates' integration tests (feature `test-support`).
//!
//! PostgreSQL tests read the server's URL from `PWRESET_TEST_POSTGRES_URL`.
//! Without it they are skipped, except under `CI=true`, where a missing or
//! unreachable server fails the test instead.

use std::sync::atomic::{AtomicU32, Ordering};

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::contract::Subject;
use crate::db::{DatabaseUrl, DieselStore, PoolOptions};

/// The variable that names the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "PWRESET_TEST_POSTGRES_URL";

/// The variable that names the MySQL/MariaDB server for tests (feature `mysql`).
pub const MYSQL_ENV: &str = "PWRESET_TEST_MYSQL_URL";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A PostgreSQL database of its own for one test, dropped (with any
/// connections still open to it) when this value is dropped.
#[derive(Debug)]
pub struct PostgresTestDb {
    admin_url: String,
    name: String,
    /// URL of the new, empty database.
    pub url: String,
}

/// Replaces the database name in a `postgres://…/name?params` URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl PostgresTestDb {
    /// Creates a fresh database, or returns `None` (after saying so on
    /// stderr) when no server is configured or reachable outside CI.
    ///
    /// # Panics
    /// Under `CI=true`, when the server is not configured or not reachable.
    pub fn create() -> Option<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            assert!(!in_ci(), "{POSTGRES_ENV} must be set when CI=true");
            crate::skip::skipped(&format!("set {POSTGRES_ENV} to run the PostgreSQL tests"));
            return None;
        };
        let mut admin = match PgConnection::establish(&admin_url) {
            Ok(conn) => conn,
            Err(e) if !in_ci() => {
                crate::skip::skipped(&format!("PostgreSQL at {POSTGRES_ENV} is unreachable: {e}"));
                return None;
            }
            Err(e) => panic!("PostgreSQL at {POSTGRES_ENV} is unreachable (CI=true): {e}"),
        };
        let name = format!(
            "pwreset_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            crate::random::alphanumeric(8).expect("OS randomness").to_ascii_lowercase()
        );
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).expect("CREATE DATABASE");
        let url = with_database(&admin_url, &name);
        Some(Self { admin_url, name, url })
    }
}

impl Drop for PostgresTestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
        }
    }
}

/// A MySQL/MariaDB database of its own for one test, dropped when this value
/// is dropped. Same rules as [`PostgresTestDb`], with `PWRESET_TEST_MYSQL_URL`.
#[cfg(feature = "mysql")]
#[derive(Debug)]
pub struct MysqlTestDb {
    admin_url: String,
    name: String,
    /// URL of the new, empty database.
    pub url: String,
}

#[cfg(feature = "mysql")]
impl MysqlTestDb {
    /// Creates a fresh database, or returns `None` when no server is
    /// configured or reachable outside CI.
    ///
    /// # Panics
    /// Under `CI=true`, when the server is not configured or not reachable.
    pub fn create() -> Option<Self> {
        use diesel::MysqlConnection;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let Ok(admin_url) = std::env::var(MYSQL_ENV) else {
            assert!(!in_ci(), "{MYSQL_ENV} must be set when CI=true and the mysql feature is on");
            crate::skip::skipped(&format!("set {MYSQL_ENV} to run the MySQL tests"));
            return None;
        };
        let mut admin = match MysqlConnection::establish(&admin_url) {
            Ok(conn) => conn,
            Err(e) if !in_ci() => {
                crate::skip::skipped(&format!("MySQL at {MYSQL_ENV} is unreachable: {e}"));
                return None;
            }
            Err(e) => panic!("MySQL at {MYSQL_ENV} is unreachable (CI=true): {e}"),
        };
        let name = format!(
            "pwreset_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            crate::random::alphanumeric(8).expect("OS randomness").to_ascii_lowercase()
        );
        admin
            .batch_execute(&format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ))
            .expect("CREATE DATABASE");
        let url = with_database(&admin_url, &name);
        Some(Self { admin_url, name, url })
    }
}

#[cfg(feature = "mysql")]
impl Drop for MysqlTestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = <diesel::MysqlConnection as Connection>::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", self.name));
        }
    }
}

/// A migrated store on `url` (pwreset's own accounts).
///
/// # Panics
/// When the database cannot be reached or migrated.
pub fn migrated_store(url: &DatabaseUrl) -> DieselStore {
    let store = DieselStore::connect(url, &PoolOptions::for_backend(url.backend())).unwrap();
    store.migrate().unwrap();
    store
}

/// The SQLite store in a temporary directory, for the contract suite.
///
/// # Panics
/// When the temporary database cannot be created.
pub fn sqlite_subject() -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(migrated_store(&DatabaseUrl::Sqlite(dir.path().join("nested/pwreset.db"))));
    Subject::new(store.clone(), store, dir)
}

/// The PostgreSQL store in a throwaway database, for the contract suite
/// (`None` when no server is configured, outside CI).
pub fn postgres_subject() -> Option<Subject> {
    let db = PostgresTestDb::create()?;
    let store = Arc::new(migrated_store(&DatabaseUrl::parse(&db.url).unwrap()));
    Some(Subject::new(store.clone(), store, db))
}

/// The MySQL/MariaDB store in a throwaway database, for the contract suite
/// (`None` when no server is configured, outside CI).
#[cfg(feature = "mysql")]
pub fn mysql_subject() -> Option<Subject> {
    let db = MysqlTestDb::create()?;
    let store = Arc::new(migrated_store(&DatabaseUrl::parse(&db.url).unwrap()));
    Some(Subject::new(store.clone(), store, db))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
    }
}
