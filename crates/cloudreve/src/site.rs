//! Opening a Cloudreve V4 database: checking that it is one, reading the
//! settings pwreset takes from it, and building the store over its accounts.

use std::sync::Arc;

use diesel::sql_types::{Nullable, Text};
use pwreset_infra::db::{
    Backend, DatabaseUrl, DbConnection, DbError, DieselStore, PoolOptions, StateLayout,
};
use thiserror::Error;

use crate::accounts::CloudreveAccounts;
use crate::sql::{Dialect, run};

/// Why a Cloudreve database cannot be used. Each says what to do in one line.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The database cannot be reached, or pwreset's own tables not created.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A table or column Cloudreve V4 has is missing.
    #[error(
        "this database holds no Cloudreve V4 schema ({0}); PWRESET_ACCOUNTS=cloudreve needs \
         PWRESET_DATABASE_URL to name the database a Cloudreve V4 uses"
    )]
    NotCloudreve(String),
    /// The hashid salt is missing.
    #[error(
        "the Cloudreve setting hash_id_salt is missing or empty (and CR_SETTING_hash_id_salt \
         is unset): without it no public id would match Cloudreve's"
    )]
    NoSalt,
    /// A setting cannot be read.
    #[error("the Cloudreve setting {name} is invalid: {reason}")]
    BadSetting {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// The columns pwreset reads or writes, per table: all must exist.
const REQUIRED: [(&str, &[&str]); 3] = [
    (
        "users",
        &[
            "id",
            "created_at",
            "updated_at",
            "deleted_at",
            "email",
            "nick",
            "password",
            "status",
            "avatar",
            "settings",
            "group_users",
        ],
    ),
    ("groups", &["id", "deleted_at", "name", "permissions", "settings"]),
    ("settings", &["id", "deleted_at", "name", "value"]),
];

/// Refuses a database that is not a Cloudreve V4's: every table and column
/// pwreset relies on must be there (a pwreset database has `group_id` where
/// Cloudreve V4 has `group_users`; Cloudreve V3 has neither `settings` JSON
/// on users nor soft-deleted groups by ent). Reads only.
///
/// # Errors
/// [`OpenError::NotCloudreve`] naming the first thing missing.
pub fn check_schema(conn: &mut DbConnection, backend: Backend) -> Result<(), OpenError> {
    let sql = Dialect(backend);
    for (table, columns) in REQUIRED {
        let probe = format!("SELECT {} FROM {} WHERE 1 = 0", columns.join(", "), sql.table(table));
        if let Err(e) = run!(conn, &probe, execute) {
            let what = format!("table {table} with columns {}: {e}", columns.join(", "));
            return Err(OpenError::NotCloudreve(what));
        }
    }
    Ok(())
}

/// Cloudreve's SMTP settings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SmtpSettings {
    /// `smtpHost`; empty when Cloudreve has no mail server configured.
    pub host: String,
    /// `smtpPort`.
    pub port: u16,
    /// `smtpUser`.
    pub user: String,
    /// `smtpPass`.
    pub password: String,
    /// `smtpEncryption`: implicit TLS; otherwise STARTTLS when offered.
    pub implicit_tls: bool,
    /// `fromName`.
    pub from_name: String,
    /// `fromAdress` (Cloudreve's spelling).
    pub from_address: String,
    /// `replyTo`.
    pub reply_to: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"***")
            .field("implicit_tls", &self.implicit_tls)
            .field("from_name", &self.from_name)
            .field("from_address", &self.from_address)
            .field("reply_to", &self.reply_to)
            .finish()
    }
}

fn encode(part: &str) -> String {
    part.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl SmtpSettings {
    /// The server as a `PWRESET_MAIL` URL (`smtps://` for implicit TLS,
    /// `smtp://…?tls=opportunistic` otherwise), or `None` when Cloudreve has
    /// no mail server.
    pub fn url(&self) -> Option<String> {
        if self.host.trim().is_empty() {
            return None;
        }
        let auth = if self.user.is_empty() {
            String::new()
        } else {
            format!("{}:{}@", encode(&self.user), encode(&self.password))
        };
        let (scheme, query) =
            if self.implicit_tls { ("smtps", "") } else { ("smtp", "?tls=opportunistic") };
        Some(format!("{scheme}://{auth}{}:{}{query}", self.host.trim(), self.port))
    }

    /// The sender, `fromName <fromAdress>`.
    pub fn from(&self) -> Option<String> {
        let address = self.from_address.trim();
        if address.is_empty() {
            return None;
        }
        let name = self.from_name.trim().replace(['"', '\\', '<', '>'], "");
        Some(if name.is_empty() { address.to_owned() } else { format!("\"{name}\" <{address}>") })
    }
}

/// What pwreset takes from a Cloudreve's settings.
#[derive(Debug, Clone)]
pub struct SiteSettings {
    /// `hash_id_salt`: every public id is a hashid with it.
    pub hash_id_salt: String,
    /// The first entry of `siteURL`.
    pub site_url: Option<String>,
    /// `siteName`.
    pub site_name: Option<String>,
    /// `site_logo`, for the templates' `.CommonContext.Logo.Normal`.
    pub logo: Option<String>,
    /// The mail server and sender.
    pub smtp: SmtpSettings,
    /// `mail_reset_template`, raw (a JSON list of language/title/body).
    pub reset_template: Option<String>,
}

/// Names of the settings read.
const NAMES: [&str; 14] = [
    "hash_id_salt",
    "siteURL",
    "siteName",
    "site_logo",
    "smtpHost",
    "smtpPort",
    "smtpUser",
    "smtpPass",
    "smtpEncryption",
    "fromName",
    "fromAdress",
    "replyTo",
    "mail_reset_template",
    "siteID",
];

#[derive(diesel::QueryableByName)]
struct SettingRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

/// Reads the settings, each from the environment variable
/// `CR_SETTING_<name>` first (as Cloudreve does), then the `settings` table.
///
/// # Errors
/// [`OpenError::NoSalt`] without a salt; [`OpenError::BadSetting`] for a
/// port that is not a number; [`OpenError::Db`] when the table cannot be read.
pub fn read_settings(
    conn: &mut DbConnection,
    backend: Backend,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SiteSettings, OpenError> {
    let sql = Dialect(backend);
    let list = NAMES.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    let query = format!(
        "SELECT name, {value} AS value FROM {settings} \
         WHERE name IN ({list}) AND deleted_at IS NULL ORDER BY id",
        value = sql.text("value"),
        settings = sql.table("settings"),
    );
    let rows: Vec<SettingRow> = run!(conn, &query, load).map_err(DbError::Query)?;
    let get = |name: &str| -> Option<String> {
        env(&format!("CR_SETTING_{name}"))
            .or_else(|| rows.iter().find(|r| r.name == name).and_then(|r| r.value.clone()))
            .filter(|v| !v.trim().is_empty())
    };
    let hash_id_salt = get("hash_id_salt").ok_or(OpenError::NoSalt)?;
    let port = match get("smtpPort") {
        None => 25,
        Some(raw) => raw.trim().parse().map_err(|_| OpenError::BadSetting {
            name: "smtpPort",
            reason: format!("{raw:?} is not a port number"),
        })?,
    };
    let flag = |name: &str| get(name).is_some_and(|v| matches!(v.trim(), "1" | "true" | "True"));
    Ok(SiteSettings {
        hash_id_salt,
        site_url: get("siteURL").and_then(|urls| {
            urls.split(',').map(str::trim).find(|u| !u.is_empty()).map(str::to_owned)
        }),
        site_name: get("siteName"),
        logo: get("site_logo"),
        smtp: SmtpSettings {
            host: get("smtpHost").unwrap_or_default(),
            port,
            user: get("smtpUser").unwrap_or_default(),
            password: get("smtpPass").unwrap_or_default(),
            implicit_tls: flag("smtpEncryption"),
            from_name: get("fromName").unwrap_or_default(),
            from_address: get("fromAdress").unwrap_or_default(),
            reply_to: get("replyTo").unwrap_or_default(),
        },
        reset_template: get("mail_reset_template"),
    })
}

/// A Cloudreve V4 database, opened for resets.
#[derive(Debug)]
pub struct CloudreveSite {
    /// The store: Cloudreve's accounts, pwreset's `pwreset_*` state tables.
    pub store: Arc<DieselStore>,
    /// What the settings say.
    pub settings: SiteSettings,
}

/// Connects to a Cloudreve V4 database, refuses anything else, reads its
/// settings and creates (or updates) pwreset's own `pwreset_*` tables in it.
/// Cloudreve's tables are only read.
///
/// # Errors
/// [`OpenError`], saying what is wrong in one line.
pub fn open(
    url: &DatabaseUrl,
    options: &PoolOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CloudreveSite, OpenError> {
    let site = open_unmigrated(url, options, env)?;
    site.store.migrate()?;
    Ok(site)
}

/// As [`open`], without creating or updating pwreset's `pwreset_*` tables:
/// check [`DieselStore::migration_status`] before using the store.
///
/// # Errors
/// As [`open`].
pub fn open_unmigrated(
    url: &DatabaseUrl,
    options: &PoolOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CloudreveSite, OpenError> {
    let (pool, settings) = connect(url, options, env)?;
    let backend = url.backend();
    let store = DieselStore::with_accounts(
        pool,
        backend,
        Arc::new(CloudreveAccounts::new(backend)),
        StateLayout::Prefixed,
    );
    Ok(CloudreveSite { store: Arc::new(store), settings })
}

/// What [`open`] checks and reads, without creating anything: for
/// `pwreset config check`.
///
/// # Errors
/// As [`open`].
pub fn inspect(
    url: &DatabaseUrl,
    options: &PoolOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SiteSettings, OpenError> {
    connect(url, options, env).map(|(_, settings)| settings)
}

fn connect(
    url: &DatabaseUrl,
    options: &PoolOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(pwreset_infra::db::Pool, SiteSettings), OpenError> {
    if let DatabaseUrl::Sqlite(path) = url {
        // Never create an empty database where a Cloudreve's should be.
        if !path.is_file() {
            return Err(OpenError::NotCloudreve(format!("{} does not exist", path.display())));
        }
    }
    let pool = pwreset_infra::db::connect_pool(url, options)?;
    let backend = url.backend();
    let settings = {
        let mut conn = pool.get().map_err(DbError::Pool)?;
        check_schema(&mut conn, backend)?;
        read_settings(&mut conn, backend, env)?
    };
    Ok((pool, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_settings_become_a_mail_url() {
        let mut smtp = SmtpSettings {
            host: "mail.example.com".into(),
            port: 587,
            user: "me@example.com".into(),
            password: "p@ss:w/rd".into(),
            from_name: "My \"Cloud\"".into(),
            from_address: "noreply@example.com".into(),
            ..SmtpSettings::default()
        };
        assert_eq!(
            smtp.url().unwrap(),
            "smtp://me%40example.com:p%40ss%3Aw%2Frd@mail.example.com:587?tls=opportunistic"
        );
        smtp.implicit_tls = true;
        smtp.port = 465;
        assert_eq!(
            smtp.url().unwrap(),
            "smtps://me%40example.com:p%40ss%3Aw%2Frd@mail.example.com:465"
        );
        assert_eq!(smtp.from().unwrap(), "\"My Cloud\" <noreply@example.com>");
        assert!(!format!("{smtp:?}").contains("p@ss"), "the password never shows");
        assert_eq!(SmtpSettings::default().url(), None);
    }
}
