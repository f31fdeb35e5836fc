//! A Cloudreve V4 database for tests (feature `test-support`): the schema as
//! Cloudreve's ent migrations create it on each backend (column types, soft
//! delete columns, unique indexes, foreign keys), Cloudreve's install-time
//! rows (storage policy, the three groups, settings), and helpers to add
//! users the way Cloudreve writes them and to snapshot every table.

use std::any::Any;
use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{Connection, PgConnection, SqliteConnection};
use pwreset_domain::UserStatus;
use pwreset_infra::db::{Backend, DatabaseUrl, DbConnection};
use pwreset_infra::defaults::default_groups;

use crate::sql::{Dialect, run};

/// Column kinds of ent's schema, rendered per backend.
#[derive(Clone, Copy)]
enum Kind {
    Time,
    TimeNull,
    Str,
    StrNull,
    Str100,
    LongTextNull,
    Int,
    IntNull,
    IntDefault0,
    Bool,
    Bytes,
    JsonNull,
    Status,
}

impl Kind {
    fn ddl(self, backend: Backend) -> &'static str {
        use Backend::*;
        use Kind::*;
        match (self, backend) {
            (Time, Sqlite) => "datetime NOT NULL",
            (Time, Postgres) => "timestamptz NOT NULL",
            (TimeNull, Sqlite) => "datetime NULL",
            (TimeNull, Postgres) => "timestamptz NULL",
            (Str | Str100, Sqlite) => "text NOT NULL",
            (Str | Str100, Postgres) => "character varying NOT NULL",
            (StrNull, Sqlite) => "text NULL",
            (StrNull, Postgres) => "character varying NULL",
            (LongTextNull, Sqlite | Postgres) => "text NULL",
            (Int, Sqlite) => "integer NOT NULL",
            (Int, Postgres) => "bigint NOT NULL",
            (IntNull, Sqlite) => "integer NULL",
            (IntNull, Postgres) => "bigint NULL",
            (IntDefault0, Sqlite) => "integer NOT NULL DEFAULT 0",
            (IntDefault0, Postgres) => "bigint NOT NULL DEFAULT 0",
            (Bool, Sqlite) => "bool NOT NULL DEFAULT false",
            (Bool, Postgres) => "boolean NOT NULL DEFAULT false",
            (Bytes, Sqlite) => "blob NOT NULL",
            (Bytes, Postgres) => "bytea NOT NULL",
            (JsonNull, Sqlite) => "json NULL",
            (JsonNull, Postgres) => "jsonb NULL",
            (Status, Sqlite) => "text NOT NULL DEFAULT 'active'",
            (Status, Postgres) => "character varying NOT NULL DEFAULT 'active'",
            #[cfg(feature = "mysql")]
            (kind, Mysql) => match kind {
                Time => "datetime NOT NULL",
                TimeNull => "datetime NULL",
                Str => "varchar(255) NOT NULL",
                StrNull => "varchar(255) NULL",
                Str100 => "varchar(100) NOT NULL",
                LongTextNull => "longtext NULL",
                Int => "bigint NOT NULL",
                IntNull => "bigint NULL",
                IntDefault0 => "bigint NOT NULL DEFAULT 0",
                Bool => "bool NOT NULL DEFAULT false",
                Bytes => "blob NOT NULL",
                JsonNull => "json NULL",
                Status => {
                    "enum('active','inactive','manual_banned','sys_banned') NOT NULL DEFAULT 'active'"
                }
            },
        }
    }

    fn is_bytes(self) -> bool {
        matches!(self, Kind::Bytes)
    }
}

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    unique: &'static [&'static str],
    /// (column, referenced table, constraint name, on delete)
    foreign: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

/// A subset of Cloudreve V4's tables: the three pwreset reads and four
/// others that refer to users, so a test sees that none of them changes.
const TABLES: &[Table] = &[
    Table {
        name: "storage_policies",
        columns: &[
            ("name", Kind::Str),
            ("type", Kind::Str),
            ("server", Kind::StrNull),
            ("settings", Kind::JsonNull),
            ("node_id", Kind::IntNull),
        ],
        unique: &[],
        foreign: &[],
    },
    Table {
        name: "groups",
        columns: &[
            ("name", Kind::Str),
            ("max_storage", Kind::IntNull),
            ("speed_limit", Kind::IntNull),
            ("permissions", Kind::Bytes),
            ("settings", Kind::JsonNull),
            ("storage_policy_id", Kind::IntNull),
        ],
        unique: &[],
        foreign: &[(
            "storage_policy_id",
            "storage_policies",
            "groups_storage_policies_groups",
            "SET NULL",
        )],
    },
    Table {
        name: "users",
        columns: &[
            ("email", Kind::Str100),
            ("nick", Kind::Str100),
            ("password", Kind::StrNull),
            ("status", Kind::Status),
            ("storage", Kind::IntDefault0),
            ("two_factor_secret", Kind::StrNull),
            ("avatar", Kind::StrNull),
            ("settings", Kind::JsonNull),
            ("group_users", Kind::Int),
        ],
        unique: &["email"],
        foreign: &[("group_users", "groups", "users_groups_users", "NO ACTION")],
    },
    Table {
        name: "settings",
        columns: &[("name", Kind::Str), ("value", Kind::LongTextNull)],
        unique: &["name"],
        foreign: &[],
    },
    Table {
        name: "files",
        columns: &[
            ("type", Kind::Int),
            ("name", Kind::Str),
            ("size", Kind::IntDefault0),
            ("is_symbolic", Kind::Bool),
            ("props", Kind::JsonNull),
            ("owner_id", Kind::Int),
        ],
        unique: &[],
        foreign: &[("owner_id", "users", "files_users_files", "NO ACTION")],
    },
    Table {
        name: "shares",
        columns: &[
            ("password", Kind::StrNull),
            ("views", Kind::IntDefault0),
            ("downloads", Kind::IntDefault0),
            ("user_shares", Kind::IntNull),
        ],
        unique: &[],
        foreign: &[("user_shares", "users", "shares_users_shares", "SET NULL")],
    },
    Table {
        name: "passkeys",
        columns: &[
            ("credential_id", Kind::Str),
            ("name", Kind::Str),
            ("credential", Kind::JsonNull),
            ("used_at", Kind::TimeNull),
            ("user_id", Kind::Int),
        ],
        unique: &[],
        foreign: &[("user_id", "users", "passkeys_users_passkey", "NO ACTION")],
    },
];

const MIXIN: [(&str, Kind); 3] =
    [("created_at", Kind::Time), ("updated_at", Kind::Time), ("deleted_at", Kind::TimeNull)];

fn create_table(table: &Table, backend: Backend) -> String {
    let q = |n: &str| Dialect(backend).table(n);
    let mut parts = vec![match backend {
        Backend::Sqlite => format!("{} integer NOT NULL PRIMARY KEY AUTOINCREMENT", q("id")),
        Backend::Postgres => {
            format!("{} bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY", q("id"))
        }
        #[cfg(feature = "mysql")]
        Backend::Mysql => format!("{} bigint NOT NULL AUTO_INCREMENT", q("id")),
    }];
    for (name, kind) in MIXIN.iter().chain(table.columns) {
        parts.push(format!("{} {}", q(name), kind.ddl(backend)));
    }
    if backend != Backend::Sqlite {
        parts.push(format!("PRIMARY KEY ({})", q("id")));
    }
    #[cfg(feature = "mysql")]
    if backend == Backend::Mysql {
        for column in table.unique {
            parts.push(format!("UNIQUE INDEX {} ({})", q(column), q(column)));
        }
    }
    for (column, target, constraint, on_delete) in table.foreign {
        parts.push(format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {on_delete}",
            q(constraint),
            q(column),
            q(target),
            q("id")
        ));
    }
    let mut sql = format!("CREATE TABLE {} ({})", q(table.name), parts.join(", "));
    #[cfg(feature = "mysql")]
    if backend == Backend::Mysql {
        sql.push_str(" CHARSET utf8mb4 COLLATE utf8mb4_bin");
    }
    sql.push_str(";\n");
    if !is_mysql(backend) {
        for column in table.unique {
            sql.push_str(&format!(
                "CREATE UNIQUE INDEX {} ON {} ({});\n",
                q(&format!("{}_{column}_key", table.name)),
                q(table.name),
                q(column)
            ));
        }
    }
    sql
}

fn is_mysql(backend: Backend) -> bool {
    #[cfg(feature = "mysql")]
    return backend == Backend::Mysql;
    #[cfg(not(feature = "mysql"))]
    {
        let _ = backend;
        false
    }
}

/// An SQL string literal (MySQL also reads backslashes as escapes).
fn lit(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn lit_for(backend: Backend, value: &str) -> String {
    if is_mysql(backend) { lit(&value.replace('\\', "\\\\")) } else { lit(value) }
}

/// A time literal as the backend's Cloudreve driver writes it: Go's
/// `Time.String()` on SQLite (in `+08:00`, as a server in China would), a
/// `timestamptz` on PostgreSQL, local wall-clock seconds on MySQL.
fn time_lit(backend: Backend, at: DateTime<Utc>) -> String {
    match backend {
        Backend::Sqlite => {
            let cst = FixedOffset::east_opt(8 * 3600).expect("valid offset");
            lit(&format!(
                "{} CST m=+0.034567890",
                at.with_timezone(&cst).format("%Y-%m-%d %H:%M:%S%.9f %z")
            ))
        }
        Backend::Postgres => format!("{}::timestamptz", lit(&at.to_rfc3339())),
        #[cfg(feature = "mysql")]
        Backend::Mysql => lit(&at.format("%Y-%m-%d %H:%M:%S").to_string()),
    }
}

fn bytes_lit(backend: Backend, bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match backend {
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
        _ => format!("X'{hex}'"),
    }
}

/// A user as Cloudreve would store it.
#[derive(Debug, Clone)]
pub struct CloudreveUser {
    /// Address.
    pub email: String,
    /// Nickname.
    pub nick: String,
    /// The `password` column (Cloudreve's `salt:sha256` format), `None` for
    /// a passkey-only account.
    pub password: Option<String>,
    /// Status.
    pub status: UserStatus,
    /// Group id.
    pub group: i64,
    /// `settings.email_language`.
    pub language: Option<String>,
    /// Creation (and last update) time.
    pub at: DateTime<Utc>,
}

impl CloudreveUser {
    /// An active user of group 2 with password `password`, created now.
    pub fn new(email: &str, password: &str) -> Self {
        Self {
            email: email.into(),
            nick: email.split('@').next().unwrap_or(email).into(),
            password: Some(crate::password::digest_password(password, "FixtureSalt00001")),
            status: UserStatus::Active,
            group: 2,
            language: None,
            at: Utc::now(),
        }
    }
}

/// A Cloudreve V4 database on one backend, with Cloudreve's install-time
/// rows. Dropped (file or database) with this value.
pub struct CloudreveDb {
    /// The database's URL, as `PWRESET_DATABASE_URL` takes it.
    pub url: String,
    backend: Backend,
    conn: std::sync::Mutex<DbConnection>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for CloudreveDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudreveDb").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The hashid salt the fixture installs.
pub const SALT: &str = "2bT9XmQ4cZr7LpV1sNw8KdF3hJ6gYe0aUo5iRt2yBv4xMq7nCz9kWs1pLj3fHd6G";

impl CloudreveDb {
    /// In a temporary SQLite file.
    ///
    /// # Panics
    /// When the file cannot be created.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("cloudreve.db");
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).expect("sqlite");
        conn.batch_execute("PRAGMA foreign_keys = ON").expect("pragma");
        Self::install(
            format!("sqlite://{}", path.display()),
            Backend::Sqlite,
            DbConnection::Sqlite(conn),
            Box::new(dir),
        )
    }

    /// In a throwaway PostgreSQL database (`None` when no server is
    /// configured, outside CI).
    ///
    /// # Panics
    /// Under `CI=true` without a server.
    pub fn postgres() -> Option<Self> {
        let db = pwreset_infra::testing::PostgresTestDb::create()?;
        let conn = PgConnection::establish(&db.url).expect("postgres");
        Some(Self::install(
            db.url.clone(),
            Backend::Postgres,
            DbConnection::Postgres(conn),
            Box::new(db),
        ))
    }

    /// In a throwaway MySQL/MariaDB database (`None` when no server is
    /// configured, outside CI).
    ///
    /// # Panics
    /// Under `CI=true` without a server.
    #[cfg(feature = "mysql")]
    pub fn mysql() -> Option<Self> {
        let db = pwreset_infra::testing::MysqlTestDb::create()?;
        let conn = diesel::MysqlConnection::establish(&db.url).expect("mysql");
        Some(Self::install(db.url.clone(), Backend::Mysql, DbConnection::Mysql(conn), Box::new(db)))
    }

    fn install(
        url: String,
        backend: Backend,
        conn: DbConnection,
        guard: Box<dyn Any + Send + Sync>,
    ) -> Self {
        let db = Self { url, backend, conn: std::sync::Mutex::new(conn), _guard: guard };
        let schema: String = TABLES.iter().map(|t| create_table(t, backend)).collect();
        db.execute(&schema);
        let q = |n: &str| Dialect(backend).table(n);
        let at = time_lit(backend, Utc::now());
        db.execute(&format!(
            "INSERT INTO {} (id, created_at, updated_at, name, type, settings) VALUES \
             (1, {at}, {at}, 'Default storage policy', 'local', '{{\"chunk_size\":26214400,\"pre_allocate\":true}}');",
            q("storage_policies")
        ));
        let sizes = [Some(1_099_511_627_776_i64), Some(1_073_741_824), None];
        for (group, max_storage) in default_groups().iter().zip(sizes) {
            let policy = if group.id.get() == 3 { "NULL".to_owned() } else { "1".to_owned() };
            let settings = if group.id.get() == 3 {
                r#"{"max_walked_files":100000,"redirected_source":true}"#.to_owned()
            } else {
                format!(
                    r#"{{"source_batch":{},"aria2_batch":1,"max_walked_files":100000,"trash_retention":{},"redirected_source":true}}"#,
                    group.direct_link_batch_size, group.trash_retention
                )
            };
            db.execute(&format!(
                "INSERT INTO {} (id, created_at, updated_at, name, max_storage, permissions, settings, storage_policy_id) \
                 VALUES ({}, {at}, {at}, {}, {}, {}, {}, {policy});",
                q("groups"),
                group.id.get(),
                lit_for(backend, &group.name),
                max_storage.map_or("NULL".into(), |m| m.to_string()),
                bytes_lit(backend, &group.permissions),
                lit_for(backend, &settings),
            ));
        }
        if backend == Backend::Postgres {
            db.execute(
                "SELECT setval(pg_get_serial_sequence('\"groups\"', 'id'), 3); \
                 SELECT setval(pg_get_serial_sequence('storage_policies', 'id'), 1);",
            );
        }
        let template = include_str!("../tests/fixtures/mail_reset_template.json");
        for (name, value) in [
            ("hash_id_salt", SALT),
            ("siteURL", "https://cloud.example.com,http://192.0.2.10:5212"),
            ("siteName", "Example Cloud"),
            ("site_logo", "/static/img/logo.svg"),
            ("smtpHost", "smtp.cloudreve.com"),
            ("smtpPort", "25"),
            ("smtpUser", "smtp.cloudreve.com"),
            ("smtpPass", ""),
            ("smtpEncryption", "0"),
            ("fromName", "Example Cloud"),
            ("fromAdress", "no-reply@cloud.example.com"),
            ("replyTo", "support@cloud.example.com"),
            ("mail_reset_template", template),
            ("secret_key", "not-needed-by-pwreset"),
            ("db_version_4.0.0", "installed"),
        ] {
            db.set_setting(name, value);
        }
        db
    }

    /// Runs SQL statements.
    ///
    /// # Panics
    /// When they fail.
    pub fn execute(&self, sql: &str) {
        let mut conn = self.conn.lock().expect("fixture connection");
        let result = match &mut *conn {
            DbConnection::Sqlite(c) => c.batch_execute(sql),
            DbConnection::Postgres(c) => c.batch_execute(sql),
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(c) => c.batch_execute(sql),
        };
        result.unwrap_or_else(|e| panic!("{e}: {sql}"));
    }

    /// Inserts or replaces a setting.
    pub fn set_setting(&self, name: &str, value: &str) {
        let q = |n: &str| Dialect(self.backend).table(n);
        let at = time_lit(self.backend, Utc::now());
        let lit = |v: &str| lit_for(self.backend, v);
        self.execute(&format!("DELETE FROM {} WHERE name = {};", q("settings"), lit(name)));
        self.execute(&format!(
            "INSERT INTO {} (created_at, updated_at, name, value) VALUES ({at}, {at}, {}, {});",
            q("settings"),
            lit(name),
            lit(value)
        ));
    }

    /// Adds a user as Cloudreve would, with a file and a share of theirs;
    /// returns its id.
    pub fn add_user(&self, user: &CloudreveUser) -> i64 {
        let q = |n: &str| Dialect(self.backend).table(n);
        let at = time_lit(self.backend, user.at);
        let lit = |v: &str| lit_for(self.backend, v);
        let mut settings = String::from(r#"{"version_retention":true,"version_retention_max":10"#);
        if let Some(language) = &user.language {
            settings.push_str(&format!(r#","email_language":"{language}""#));
        }
        settings.push('}');
        self.execute(&format!(
            "INSERT INTO {} (created_at, updated_at, email, nick, password, status, storage, settings, group_users) \
             VALUES ({at}, {at}, {}, {}, {}, {}, 1024, {}, {});",
            q("users"),
            lit(&user.email),
            lit(&user.nick),
            user.password.as_deref().map_or("NULL".into(), &lit),
            lit(user.status.as_str()),
            lit(&settings),
            user.group,
        ));
        let id = self.user_id(&user.email).expect("the user just added");
        self.execute(&format!(
            "INSERT INTO {} (created_at, updated_at, type, name, size, owner_id) VALUES ({at}, {at}, 0, 'notes.txt', 12, {id}); \
             INSERT INTO {} (created_at, updated_at, password, user_shares) VALUES ({at}, {at}, 'share-pw', {id});",
            q("files"),
            q("shares"),
        ));
        id
    }

    /// The id of the user with exactly this address.
    pub fn user_id(&self, email: &str) -> Option<i64> {
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = BigInt)]
            id: i64,
        }
        let sql = format!(
            "SELECT {} AS id FROM {} WHERE email = ?",
            Dialect(self.backend).int("id"),
            Dialect(self.backend).table("users")
        );
        let mut conn = self.conn.lock().expect("fixture connection");
        let rows: Vec<Id> = run!(&mut *conn, &sql, load, Text => email).expect("select user id");
        rows.first().map(|r| r.id)
    }

    /// Sets a user's status, as Cloudreve's admin panel does.
    pub fn set_status(&self, id: i64, status: UserStatus) {
        self.execute(&format!(
            "UPDATE {} SET status = {} WHERE id = {id};",
            Dialect(self.backend).table("users"),
            lit(status.as_str())
        ));
    }

    /// Soft-deletes a user, as Cloudreve does.
    pub fn soft_delete(&self, id: i64) {
        let at = time_lit(self.backend, Utc::now());
        self.execute(&format!(
            "UPDATE {} SET deleted_at = {at} WHERE id = {id};",
            Dialect(self.backend).table("users")
        ));
    }

    /// A user's `password` column.
    pub fn password_of(&self, id: i64) -> Option<String> {
        self.snapshot().get(&("users".to_owned(), id, "password".to_owned())).cloned().flatten()
    }

    /// Every value of every Cloudreve table, keyed by (table, row id,
    /// column): bytes as hex, everything else as the database prints it.
    pub fn snapshot(&self) -> BTreeMap<(String, i64, String), Option<String>> {
        #[derive(diesel::QueryableByName)]
        struct Cell {
            #[diesel(sql_type = BigInt)]
            id: i64,
            #[diesel(sql_type = Nullable<Text>)]
            value: Option<String>,
        }
        let sql = Dialect(self.backend);
        let mut out = BTreeMap::new();
        let mut conn = self.conn.lock().expect("fixture connection");
        for table in TABLES {
            for (column, kind) in MIXIN.iter().chain(table.columns) {
                let quoted = sql.table(column);
                let value = if kind.is_bytes() {
                    match self.backend {
                        Backend::Postgres => format!("encode({quoted}, 'hex')"),
                        _ => format!("lower(hex({quoted}))"),
                    }
                } else {
                    sql.text(&quoted)
                };
                let query = format!(
                    "SELECT {} AS id, {value} AS value FROM {} ORDER BY id",
                    sql.int("id"),
                    sql.table(table.name)
                );
                let cells: Vec<Cell> =
                    run!(&mut *conn, &query, load).unwrap_or_else(|e| panic!("{e}: {query}"));
                for cell in cells {
                    out.insert((table.name.to_owned(), cell.id, (*column).to_owned()), cell.value);
                }
            }
        }
        out
    }

    /// The names of every table in the database.
    pub fn tables(&self) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Name {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let query = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            }
            #[cfg(feature = "mysql")]
            Backend::Mysql => {
                "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1"
            }
        };
        let mut conn = self.conn.lock().expect("fixture connection");
        let names: Vec<Name> = run!(&mut *conn, query, load).expect("list tables");
        names.into_iter().map(|n| n.name).collect()
    }

    /// The URL parsed.
    ///
    /// # Panics
    /// Never for the URLs the fixture makes.
    pub fn database_url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.url).expect("fixture URL")
    }
}
