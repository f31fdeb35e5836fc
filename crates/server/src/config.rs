//! Configuration from `PWRESET_*` environment variables, with defaults that
//! work with no configuration at all. A bad value stops start-up with one
//! line naming the setting.

use std::time::Duration;

use pwreset_domain::Language;
use pwreset_http::{IpNet, Limit, RateLimits, TrustedProxies};
use pwreset_infra::DatabaseUrl;
use pwreset_infra::bcrypt::COST_RANGE;
use pwreset_infra::db::PoolOptions;
use pwreset_infra::mail::MailTarget;
use thiserror::Error;

use crate::duration;
use crate::settings;

/// The settings that hold secrets, each with the variable that may name a
/// file holding it instead (`PWRESET_DATABASE_URL_FILE=/run/secrets/db`).
pub const SECRET_FILES: &[(&str, &str)] = &[
    ("PWRESET_DATABASE_URL", "PWRESET_DATABASE_URL_FILE"),
    ("PWRESET_MAIL", "PWRESET_MAIL_FILE"),
    ("PWRESET_REDIS_URL", "PWRESET_REDIS_URL_FILE"),
    ("PWRESET_HASHID_SALT", "PWRESET_HASHID_SALT_FILE"),
];

/// Reads the secrets named by `*_FILE` variables (through `env`): the
/// file's text without its final line break.
///
/// # Errors
/// A file cannot be read or is empty, or both a setting and its `_FILE`
/// variable are set.
pub fn read_secret_files(
    env: impl Fn(&str) -> Option<String>,
) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let mut secrets = std::collections::HashMap::new();
    for &(name, file_var) in SECRET_FILES {
        let Some(path) = env(file_var) else { continue };
        if env(name).is_some() {
            return Err(bad(file_var, format!("{name} is set too; keep one of the two")));
        }
        let path = path.trim();
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(file_var, format!("cannot read {path}: {e}")))?;
        let value = text.strip_suffix('\n').unwrap_or(&text);
        let value = value.strip_suffix('\r').unwrap_or(value);
        if value.trim().is_empty() {
            return Err(bad(file_var, format!("{path} is empty")));
        }
        secrets.insert(name.to_owned(), value.to_owned());
    }
    Ok(secrets)
}

/// Reads a TOML configuration file: keys are setting names in lower case
/// without the prefix; values are strings, numbers, booleans, or (for lists
/// such as `trusted_proxies`) arrays of strings. Returns the settings under
/// their environment names.
///
/// # Errors
/// One line naming the file and what is wrong with it.
pub fn load_file(
    path: &std::path::Path,
) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let fail = |reason: String| ConfigError {
        setting: "--config",
        reason: format!("{}: {reason}", path.display()),
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    parse_file(&text).map_err(|e| fail(e.reason))
}

/// Parses the text of a configuration file (see [`load_file`]).
///
/// # Errors
/// What is wrong with it, in a line (the setting named is `--config`).
pub fn parse_file(text: &str) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let fail = |reason: String| ConfigError { setting: "--config", reason };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let message = e.message().trim_end();
        match e.span() {
            Some(span) => {
                let (line, column) = line_and_column(text, span.start);
                fail(format!("line {line}, column {column}: {message}"))
            }
            None => fail(message.to_owned()),
        }
    })?;
    let mut settings = std::collections::HashMap::new();
    for (key, value) in table {
        let name = format!("PWRESET_{}", key.to_ascii_uppercase());
        if !settings::is_setting(&name) || key.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(fail(format!("unknown setting {key:?}")));
        }
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| fail(format!("{key}: a list of strings")))
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            _ => return Err(fail(format!("{key}: a string, number or boolean"))),
        };
        settings.insert(name, value);
    }
    Ok(settings)
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// A setting has a value that cannot be used.
#[derive(Debug, Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    /// The variable's name.
    pub setting: &'static str,
    /// What is wrong and what would be right.
    pub reason: String,
}

fn bad(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError { setting, reason: reason.into() }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Whose accounts pwreset resets (`PWRESET_ACCOUNTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountsMode {
    /// `pwreset`: its own `users`, `groups` and `settings` tables.
    Pwreset,
    /// `cloudreve`: a Cloudreve V4 database's own accounts and settings.
    Cloudreve,
}

impl AccountsMode {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwreset => "pwreset",
            Self::Cloudreve => "cloudreve",
        }
    }
}

/// Which settings were given rather than defaulted: in Cloudreve mode the
/// Cloudreve's own settings fill the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Explicit {
    /// `PWRESET_SITE_URL`.
    pub site_url: bool,
    /// `PWRESET_SITE_NAME`.
    pub site_name: bool,
    /// `PWRESET_LOGIN_URL`.
    pub login_url: bool,
    /// `PWRESET_MAIL`.
    pub mail: bool,
    /// `PWRESET_MAIL_FROM`.
    pub mail_from: bool,
}

/// The effective configuration, in sections.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PWRESET_ACCOUNTS`.
    pub accounts: AccountsMode,
    /// Which settings were given explicitly.
    pub explicit: Explicit,
    /// Where accounts and tokens live.
    pub database: Database,
    /// The listeners and what they answer.
    pub http: Http,
    /// The site the links and pages belong to.
    pub site: Site,
    /// Reset links and the passwords they set.
    pub reset: Reset,
    /// The emails and their delivery.
    pub mail: Mail,
    /// Rate limits and where they are counted.
    pub limits: Limits,
    /// The Cloudreve frontend served at `/`.
    pub frontend: Frontend,
    /// `PWRESET_DEBUG`.
    pub debug: bool,
    /// `PWRESET_LOG_FORMAT`.
    pub log_format: LogFormat,
}

/// The database section.
#[derive(Debug, Clone)]
pub struct Database {
    /// `PWRESET_DATABASE_URL`.
    pub url: DatabaseUrl,
    /// `PWRESET_DATABASE_POOL_SIZE`: most database connections per instance
    /// (also the number of storage threads).
    pub pool_size: u32,
    /// `PWRESET_MIGRATE_ON_START`: whether `serve` applies pending
    /// migrations (otherwise it refuses to start on an out-of-date database).
    pub migrate_on_start: bool,
    /// `PWRESET_HASHID_SALT`: when unset, the stored (or a generated) salt is used.
    pub hashid_salt: Option<String>,
}

/// The HTTP section.
#[derive(Debug, Clone)]
pub struct Http {
    /// `PWRESET_BIND`.
    pub bind: String,
    /// `PWRESET_OPS_BIND`: a private listener for `/healthz`, `/readyz`, `/metrics`.
    pub ops_bind: Option<String>,
    /// `PWRESET_METRICS_PUBLIC`: also serve `/metrics` on the public listener.
    pub metrics_public: bool,
    /// `PWRESET_API_PREFIX`.
    pub api_prefix: String,
    /// `PWRESET_TRUSTED_PROXIES`.
    pub trusted_proxies: TrustedProxies,
    /// The same, as written (for `config check`).
    pub trusted_proxies_text: String,
    /// `PWRESET_CLOUDREVE_COMPAT`: answer the Cloudreve web app's calls around the reset pages.
    pub cloudreve_compat: bool,
    /// `PWRESET_REVEAL_ACCOUNT_STATE`.
    pub reveal_account_state: bool,
    /// `PWRESET_LINK_REQUEST_MIN_TIME`: least time a link request takes to answer.
    pub link_request_min_time: Duration,
}

/// The site section: what links, emails and pages say about the site.
#[derive(Debug, Clone)]
pub struct Site {
    /// `PWRESET_SITE_URL`: base of the links in emails, no trailing slash.
    pub url: String,
    /// `PWRESET_SITE_NAME`: how emails sign and pages are titled.
    pub name: String,
    /// `PWRESET_LOGIN_URL`: where the reset page sends people afterwards.
    pub login_url: String,
    /// `PWRESET_DEFAULT_LANGUAGE`.
    pub default_language: String,
}

/// The reset section: tokens and password hashing.
#[derive(Debug, Clone)]
pub struct Reset {
    /// `PWRESET_BCRYPT_COST`.
    pub bcrypt_cost: u32,
    /// `PWRESET_BCRYPT_CONCURRENCY`: most hashes computed at once.
    pub bcrypt_concurrency: usize,
    /// `PWRESET_TOKEN_TTL`.
    pub token_ttl: Duration,
    /// `PWRESET_RETENTION`: how long finished tokens and sent mail are kept.
    pub retention: Duration,
    /// `PWRESET_SWEEP_INTERVAL`: how often `serve` sweeps.
    pub sweep_interval: Duration,
}

/// The mail section.
#[derive(Debug, Clone)]
pub struct Mail {
    /// `PWRESET_MAIL`.
    pub target: MailTarget,
    /// `PWRESET_MAIL_FROM`.
    pub from: String,
    /// `PWRESET_TEMPLATES_DIR`: the email templates, the built-in ones with
    /// those of the folder on top, loaded and tried when the configuration is read.
    pub templates: pwreset_infra::MailTemplates,
    /// `PWRESET_MAIL_MAX_ATTEMPTS`.
    pub max_attempts: u32,
    /// `PWRESET_MAIL_RETRY_BASE`: wait after the first failed delivery, doubled each time.
    pub retry_base: Duration,
    /// `PWRESET_MAIL_POLL`: how often the outbox is checked without a wake-up.
    pub poll: Duration,
    /// `PWRESET_MAIL_LEASE`: how long a claim on an email lasts unless its
    /// claimer renews it (every third of this while sending); after a crash
    /// another instance sends it once this passes.
    pub lease: Duration,
}

/// The limits section.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `PWRESET_RATE_LIMIT` and `PWRESET_RATE_LIMIT_*`.
    pub rates: RateLimits,
    /// `PWRESET_REDIS_URL`: keep the rate limits in Redis, shared by every instance.
    pub redis_url: Option<String>,
    /// `PWRESET_REDIS_PREFIX`: prepended to every Redis key.
    pub redis_prefix: String,
    /// `PWRESET_REDIS_TIMEOUT`: longest wait for Redis before a check is decided in memory.
    pub redis_timeout: Duration,
}

/// The frontend section: a prebuilt Cloudreve frontend and what it shows.
#[derive(Debug, Clone)]
pub struct Frontend {
    /// `PWRESET_FRONTEND_DIR`: a prebuilt Cloudreve frontend to serve at `/`.
    pub dir: Option<std::path::PathBuf>,
    /// `PWRESET_SITE_DESCRIPTION`: the frontend's `{siteDes}`.
    pub site_description: String,
    /// `PWRESET_SITE_SCRIPT`: the frontend's `{siteScript}` (HTML, inserted as is).
    pub site_script: String,
    /// `PWRESET_SITE_LOGO`: the logo the app shows.
    pub logo: String,
    /// `PWRESET_SITE_LOGO_LIGHT`: the logo on a light theme.
    pub logo_light: String,
    /// `PWRESET_PWA_SMALL_ICON`.
    pub pwa_small_icon: String,
    /// `PWRESET_PWA_MEDIUM_ICON`.
    pub pwa_medium_icon: String,
    /// `PWRESET_PWA_LARGE_ICON`.
    pub pwa_large_icon: String,
    /// `PWRESET_PWA_DISPLAY`.
    pub pwa_display: String,
    /// `PWRESET_PWA_THEME_COLOR`.
    pub pwa_theme_color: String,
    /// `PWRESET_PWA_BACKGROUND_COLOR`.
    pub pwa_background_color: String,
}

/// Whether files can be created in `dir` (or in the folder that would hold
/// it, when it does not exist yet).
fn writable(dir: &std::path::Path) -> Result<(), String> {
    let mut existing = dir;
    while !existing.exists() {
        match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => existing = parent,
            _ => {
                existing = std::path::Path::new(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        return Err(format!("{} is not a folder", existing.display()));
    }
    let probe = existing.join(format!(".pwreset-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| format!("cannot write in {}: {e}", existing.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// `N/DURATION` (`5/1h`, `20/h`, `100/10m`) or `off`.
fn parse_limit(setting: &'static str, raw: &str) -> Result<Option<Limit>, ConfigError> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let invalid = |why: &str| {
        bad(setting, format!("{why}; write it like 5/1h or 100/10m, or off; got {raw:?}"))
    };
    let (max, per) = raw.split_once('/').ok_or_else(|| invalid("not a limit"))?;
    let max = max
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid("the count must be above 0"))?;
    let per = per.trim();
    let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
        per.to_owned()
    } else {
        format!("1{per}")
    };
    let per = duration::parse(&per).map_err(|e| invalid(&e))?;
    if per.is_zero() {
        return Err(invalid("the period must be longer than 0"));
    }
    Ok(Some(Limit { max, per }))
}

/// The sender used when `PWRESET_MAIL_FROM` is unset: `{site} <noreply@{host}>`,
/// with `localhost` for an IP address or a bare name.
/// The sender used when `PWRESET_MAIL_FROM` is unset: `"<site name>" <noreply@<site host>>`.
pub fn default_sender(site_name: &str, site_url: &str) -> String {
    let host = site_url.split_once("://").map_or(site_url, |(_, rest)| rest);
    let host = host.split(['/', ':']).next().unwrap_or("");
    let host = if host.contains('.') && host.parse::<std::net::IpAddr>().is_err() {
        host
    } else {
        "localhost"
    };
    let name: String = site_name.chars().filter(|c| !matches!(c, '"' | '<' | '>' | '\\')).collect();
    format!("\"{name}\" <noreply@{host}>")
}

/// A number within `range`; otherwise "must be {what} from {start} to {end}".
fn in_range<T>(
    setting: &'static str,
    raw: &str,
    range: std::ops::RangeInclusive<T>,
    what: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    raw.trim().parse::<T>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        let (start, end) = (range.start(), range.end());
        bad(setting, format!("must be {what} from {start} to {end}, got {raw:?}"))
    })
}

fn parse_bool(setting: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(setting, format!("must be true or false, got {raw:?}"))),
    }
}

impl Config {
    /// Reads the process environment, layered over a configuration file:
    /// a variable that is set (and not empty) wins over the file.
    /// A secret-bearing setting may instead come from the file named by
    /// `<NAME>_FILE` (a container or systemd secret).
    pub fn from_env_and_file(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let file = file.map(load_file).transpose()?.unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let secrets = read_secret_files(env)?;
        let config = Self::from_lookup(|name| {
            env(name).or_else(|| secrets.get(name).cloned()).or_else(|| file.get(name).cloned())
        })?;
        config.check_environment()?;
        Ok(config)
    }

    /// Checks the folders the settings name on this machine: the SQLite
    /// file's and a `file:` mail folder must be writable (or creatable).
    /// Parsing ([`Config::from_lookup`]) writes nothing; this creates and
    /// removes a probe file in each.
    ///
    /// # Errors
    /// The setting whose folder cannot be written.
    pub fn check_environment(&self) -> Result<(), ConfigError> {
        if let DatabaseUrl::Sqlite(path) = &self.database.url {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            writable(dir).map_err(|e| {
                bad("PWRESET_DATABASE_URL", format!("the folder of the SQLite file: {e}"))
            })?;
        }
        // (In Cloudreve mode an unset PWRESET_MAIL means Cloudreve's SMTP
        // server, so the default folder is never used.)
        let default_replaced = self.accounts == AccountsMode::Cloudreve && !self.explicit.mail;
        if let MailTarget::File(dir) = &self.mail.target
            && !default_replaced
        {
            writable(dir).map_err(|e| bad("PWRESET_MAIL", e))?;
        }
        Ok(())
    }

    /// Every setting with its effective value, secrets hidden, for `config check`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let limit = |l: Option<Limit>| {
            l.map_or_else(|| "off".to_owned(), |l| format!("{}/{}", l.max, duration::format(l.per)))
        };
        let secret =
            |set: bool| if set { "(set, hidden)".to_owned() } else { "(not set)".to_owned() };
        let limits_on = self.limits.rates != RateLimits::off();
        vec![
            ("PWRESET_ACCOUNTS", self.accounts.as_str().to_owned()),
            ("PWRESET_DATABASE_URL", self.database.url.redacted()),
            ("PWRESET_DATABASE_POOL_SIZE", self.database.pool_size.to_string()),
            ("PWRESET_MIGRATE_ON_START", self.database.migrate_on_start.to_string()),
            ("PWRESET_BIND", self.http.bind.clone()),
            ("PWRESET_OPS_BIND", self.http.ops_bind.clone().unwrap_or_default()),
            ("PWRESET_METRICS_PUBLIC", self.http.metrics_public.to_string()),
            ("PWRESET_SITE_URL", self.site.url.clone()),
            ("PWRESET_API_PREFIX", self.http.api_prefix.clone()),
            (
                "PWRESET_HASHID_SALT",
                if self.database.hashid_salt.is_some() {
                    secret(true)
                } else {
                    "(stored in the database)".into()
                },
            ),
            ("PWRESET_BCRYPT_COST", self.reset.bcrypt_cost.to_string()),
            ("PWRESET_BCRYPT_CONCURRENCY", self.reset.bcrypt_concurrency.to_string()),
            ("PWRESET_TOKEN_TTL", duration::format(self.reset.token_ttl)),
            ("PWRESET_RETENTION", duration::format(self.reset.retention)),
            ("PWRESET_SWEEP_INTERVAL", duration::format(self.reset.sweep_interval)),
            ("PWRESET_DEBUG", self.debug.to_string()),
            (
                "PWRESET_LOG_FORMAT",
                match self.log_format {
                    LogFormat::Text => "text",
                    LogFormat::Json => "json",
                }
                .into(),
            ),
            ("PWRESET_DEFAULT_LANGUAGE", self.site.default_language.clone()),
            ("PWRESET_SITE_NAME", self.site.name.clone()),
            ("PWRESET_LOGIN_URL", self.site.login_url.clone()),
            ("PWRESET_MAIL", self.mail.target.redacted()),
            ("PWRESET_MAIL_FROM", self.mail.from.clone()),
            (
                "PWRESET_TEMPLATES_DIR",
                match self.mail.templates.dir() {
                    Some(dir) => format!(
                        "{} (languages: {})",
                        dir.display(),
                        self.mail.templates.languages().join(", ")
                    ),
                    None => "(not set: built-in templates, en-US and zh-CN)".into(),
                },
            ),
            ("PWRESET_MAIL_MAX_ATTEMPTS", self.mail.max_attempts.to_string()),
            ("PWRESET_MAIL_RETRY_BASE", duration::format(self.mail.retry_base)),
            ("PWRESET_MAIL_POLL", duration::format(self.mail.poll)),
            ("PWRESET_MAIL_LEASE", duration::format(self.mail.lease)),
            ("PWRESET_REVEAL_ACCOUNT_STATE", self.http.reveal_account_state.to_string()),
            ("PWRESET_LINK_REQUEST_MIN_TIME", duration::format(self.http.link_request_min_time)),
            ("PWRESET_RATE_LIMIT", if limits_on { "on" } else { "off" }.into()),
            ("PWRESET_RATE_LIMIT_REQUEST_PER_IP", limit(self.limits.rates.request_per_ip)),
            ("PWRESET_RATE_LIMIT_REQUEST_PER_EMAIL", limit(self.limits.rates.request_per_email)),
            ("PWRESET_RATE_LIMIT_RESET_PER_IP", limit(self.limits.rates.reset_per_ip)),
            ("PWRESET_RATE_LIMIT_RESET_PER_USER", limit(self.limits.rates.reset_per_user)),
            ("PWRESET_RATE_LIMIT_IPV6_PREFIX", self.limits.rates.ipv6_prefix.to_string()),
            (
                "PWRESET_REDIS_URL",
                self.limits.redis_url.as_deref().map_or_else(
                    || "(not set: limits per instance)".into(),
                    pwreset_infra::redact::url_password,
                ),
            ),
            ("PWRESET_REDIS_PREFIX", self.limits.redis_prefix.clone()),
            ("PWRESET_REDIS_TIMEOUT", duration::format(self.limits.redis_timeout)),
            ("PWRESET_TRUSTED_PROXIES", self.http.trusted_proxies_text.clone()),
            ("PWRESET_CLOUDREVE_COMPAT", self.http.cloudreve_compat.to_string()),
            (
                "PWRESET_FRONTEND_DIR",
                self.frontend
                    .dir
                    .as_ref()
                    .map_or_else(|| "(not set)".into(), |d| d.display().to_string()),
            ),
            ("PWRESET_SITE_DESCRIPTION", self.frontend.site_description.clone()),
            (
                "PWRESET_SITE_SCRIPT",
                if self.frontend.site_script.is_empty() {
                    String::new()
                } else {
                    format!("({} characters)", self.frontend.site_script.len())
                },
            ),
            ("PWRESET_SITE_LOGO", self.frontend.logo.clone()),
            ("PWRESET_SITE_LOGO_LIGHT", self.frontend.logo_light.clone()),
            ("PWRESET_PWA_SMALL_ICON", self.frontend.pwa_small_icon.clone()),
            ("PWRESET_PWA_MEDIUM_ICON", self.frontend.pwa_medium_icon.clone()),
            ("PWRESET_PWA_LARGE_ICON", self.frontend.pwa_large_icon.clone()),
            ("PWRESET_PWA_DISPLAY", self.frontend.pwa_display.clone()),
            ("PWRESET_PWA_THEME_COLOR", self.frontend.pwa_theme_color.clone()),
            ("PWRESET_PWA_BACKGROUND_COLOR", self.frontend.pwa_background_color.clone()),
        ]
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    /// It writes nothing, and reads only the templates folder and the
    /// frontend's `index.html` when those are set;
    /// [`Config::check_environment`] checks that the folders the settings
    /// name are writable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        // What is set, else the table's default: one parser reads both.
        let value =
            |name: &str| get(name).or_else(|| settings::default_value(name).map(Into::into));

        let accounts = match value("PWRESET_ACCOUNTS").as_deref().map(str::trim) {
            Some("pwreset") => AccountsMode::Pwreset,
            Some("cloudreve") => AccountsMode::Cloudreve,
            other => {
                return Err(bad(
                    "PWRESET_ACCOUNTS",
                    format!("must be pwreset or cloudreve, got {:?}", other.unwrap_or_default()),
                ));
            }
        };
        let explicit = Explicit {
            site_url: get("PWRESET_SITE_URL").is_some(),
            site_name: get("PWRESET_SITE_NAME").is_some(),
            login_url: get("PWRESET_LOGIN_URL").is_some(),
            mail: get("PWRESET_MAIL").is_some(),
            mail_from: get("PWRESET_MAIL_FROM").is_some(),
        };

        let database_url = DatabaseUrl::parse(&value("PWRESET_DATABASE_URL").unwrap_or_default())
            .map_err(|e| bad("PWRESET_DATABASE_URL", e.to_string()))?;

        let database_pool_size = match get("PWRESET_DATABASE_POOL_SIZE") {
            None => PoolOptions::for_backend(database_url.backend()).max_size,
            Some(raw) => in_range("PWRESET_DATABASE_POOL_SIZE", &raw, 1..=256, "a whole number")?,
        };

        let bind = value("PWRESET_BIND").unwrap_or_default().trim().to_owned();
        if !bind.contains(':') {
            return Err(bad("PWRESET_BIND", format!("must be HOST:PORT, got {bind:?}")));
        }
        let ops_bind = get("PWRESET_OPS_BIND").map(|b| b.trim().to_owned());
        if let Some(ops) = &ops_bind {
            if !ops.contains(':') {
                return Err(bad("PWRESET_OPS_BIND", format!("must be HOST:PORT, got {ops:?}")));
            }
            if *ops == bind {
                return Err(bad("PWRESET_OPS_BIND", "must differ from PWRESET_BIND"));
            }
        }
        let metrics_public = parse_bool(
            "PWRESET_METRICS_PUBLIC",
            &value("PWRESET_METRICS_PUBLIC").unwrap_or_default(),
        )?;

        let site_url = match get("PWRESET_SITE_URL") {
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url.contains(char::is_whitespace)
                {
                    return Err(bad(
                        "PWRESET_SITE_URL",
                        format!("must be an http:// or https:// URL, got {url:?}"),
                    ));
                }
                url
            }
            None => format!("http://{bind}"),
        };

        let api_prefix = value("PWRESET_API_PREFIX").unwrap_or_default();
        if !api_prefix.trim().starts_with('/') {
            return Err(bad(
                "PWRESET_API_PREFIX",
                format!("must start with '/', got {api_prefix:?}"),
            ));
        }
        let api_prefix = api_prefix.trim().trim_end_matches('/').to_owned();

        let hashid_salt = lookup("PWRESET_HASHID_SALT").filter(|s| !s.is_empty());
        if hashid_salt.as_ref().is_some_and(|salt| !salt.is_ascii()) {
            return Err(bad("PWRESET_HASHID_SALT", "must be ASCII (go-hashids compatibility)"));
        }

        let raw = value("PWRESET_BCRYPT_COST").unwrap_or_default();
        let bcrypt_cost = in_range("PWRESET_BCRYPT_COST", &raw, COST_RANGE, "a whole number")?;

        let bcrypt_concurrency = match get("PWRESET_BCRYPT_CONCURRENCY") {
            Some(raw) => raw.trim().parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                bad(
                    "PWRESET_BCRYPT_CONCURRENCY",
                    format!("must be a whole number above 0, got {raw:?}"),
                )
            })?,
            // Every core: hashing threads run at a lower priority, so request
            // handling still gets the CPU whenever it wants it.
            None => pwreset_http::default_hash_threads(),
        };

        let token_ttl = duration::parse(&value("PWRESET_TOKEN_TTL").unwrap_or_default())
            .map_err(|e| bad("PWRESET_TOKEN_TTL", e))?;
        if token_ttl < Duration::from_secs(60) || token_ttl > Duration::from_secs(7 * 86_400) {
            return Err(bad("PWRESET_TOKEN_TTL", "must be between 1m and 7d"));
        }

        let debug = parse_bool("PWRESET_DEBUG", &value("PWRESET_DEBUG").unwrap_or_default())?;

        let log_format = match value("PWRESET_LOG_FORMAT").as_deref().map(str::trim) {
            Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            other => {
                return Err(bad(
                    "PWRESET_LOG_FORMAT",
                    format!("must be text or json, got {:?}", other.unwrap_or_default()),
                ));
            }
        };

        let default_language =
            value("PWRESET_DEFAULT_LANGUAGE").unwrap_or_default().trim().to_owned();
        if Language::from_tag(&default_language).is_none() {
            return Err(bad(
                "PWRESET_DEFAULT_LANGUAGE",
                format!("must be en-US or zh-CN, got {default_language:?}"),
            ));
        }

        let site_name = value("PWRESET_SITE_NAME").unwrap_or_default().trim().to_owned();
        let login_url = match get("PWRESET_LOGIN_URL") {
            Some(url) => {
                let url = url.trim().to_owned();
                let absolute = url.starts_with("http://") || url.starts_with("https://");
                if !(absolute || url.starts_with('/')) || url.contains(char::is_whitespace) {
                    return Err(bad(
                        "PWRESET_LOGIN_URL",
                        format!(
                            "must be an http(s):// URL or a path starting with '/', got {url:?}"
                        ),
                    ));
                }
                url
            }
            None => format!("{site_url}/session"),
        };
        let mail = MailTarget::parse(&value("PWRESET_MAIL").unwrap_or_default())
            .map_err(|e| bad("PWRESET_MAIL", e.to_string()))?;
        let mail_from = get("PWRESET_MAIL_FROM")
            .map(|f| f.trim().to_owned())
            .unwrap_or_else(|| default_sender(&site_name, &site_url));
        if !pwreset_infra::mail::is_mailbox(&mail_from) {
            return Err(bad(
                "PWRESET_MAIL_FROM",
                format!("must be an address like pwreset <noreply@example.com>, got {mail_from:?}"),
            ));
        }
        let raw = value("PWRESET_MAIL_MAX_ATTEMPTS").unwrap_or_default();
        let mail_max_attempts =
            in_range("PWRESET_MAIL_MAX_ATTEMPTS", &raw, 1..=100, "a whole number")?;
        let duration_setting = |name: &'static str| -> Result<Duration, ConfigError> {
            let d = duration::parse(&value(name).unwrap_or_default()).map_err(|e| bad(name, e))?;
            if d.is_zero() { Err(bad(name, "must be longer than 0")) } else { Ok(d) }
        };
        let retention = duration_setting("PWRESET_RETENTION")?;
        let sweep_interval = duration_setting("PWRESET_SWEEP_INTERVAL")?;
        let mail_retry_base = duration_setting("PWRESET_MAIL_RETRY_BASE")?;
        let mail_poll = duration_setting("PWRESET_MAIL_POLL")?;
        let mail_lease = duration_setting("PWRESET_MAIL_LEASE")?;
        if mail_lease < Duration::from_secs(3) {
            return Err(bad(
                "PWRESET_MAIL_LEASE",
                "must be at least 3s (it is renewed every third of it while an email is sent)",
            ));
        }

        let reveal_account_state = parse_bool(
            "PWRESET_REVEAL_ACCOUNT_STATE",
            &value("PWRESET_REVEAL_ACCOUNT_STATE").unwrap_or_default(),
        )?;

        let link_request_min_time = match value("PWRESET_LINK_REQUEST_MIN_TIME") {
            Some(raw) if raw.trim() == "0" => Duration::ZERO,
            raw => duration::parse(&raw.unwrap_or_default())
                .map_err(|e| bad("PWRESET_LINK_REQUEST_MIN_TIME", e))?,
        };
        if link_request_min_time > Duration::from_secs(5) {
            return Err(bad("PWRESET_LINK_REQUEST_MIN_TIME", "must be at most 5s"));
        }

        let v = value("PWRESET_RATE_LIMIT").unwrap_or_default();
        let limits_on = match v.trim().to_ascii_lowercase().as_str() {
            "on" => true,
            "off" => false,
            _ => return Err(bad("PWRESET_RATE_LIMIT", format!("must be on or off, got {v:?}"))),
        };
        let raw = value("PWRESET_RATE_LIMIT_IPV6_PREFIX").unwrap_or_default();
        let ipv6_prefix =
            in_range("PWRESET_RATE_LIMIT_IPV6_PREFIX", &raw, 16..=128, "a prefix length")?;
        let rate_limits = if limits_on {
            let limit = |name: &'static str| parse_limit(name, &value(name).unwrap_or_default());
            RateLimits {
                request_per_ip: limit("PWRESET_RATE_LIMIT_REQUEST_PER_IP")?,
                request_per_email: limit("PWRESET_RATE_LIMIT_REQUEST_PER_EMAIL")?,
                reset_per_ip: limit("PWRESET_RATE_LIMIT_RESET_PER_IP")?,
                reset_per_user: limit("PWRESET_RATE_LIMIT_RESET_PER_USER")?,
                ipv6_prefix,
            }
        } else {
            RateLimits { ipv6_prefix, ..RateLimits::off() }
        };

        let redis_url = get("PWRESET_REDIS_URL").map(|u| u.trim().to_owned());
        if let Some(url) = &redis_url {
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            if !matches!(scheme.as_deref(), Some("redis" | "rediss" | "valkey" | "valkeys")) {
                return Err(bad(
                    "PWRESET_REDIS_URL",
                    format!(
                        "must be redis://host:port (or rediss:// for TLS), got {}",
                        pwreset_infra::redact::url_password(url)
                    ),
                ));
            }
        }
        let redis_prefix = value("PWRESET_REDIS_PREFIX").unwrap_or_default().trim().to_owned();
        let redis_timeout = duration::parse(&value("PWRESET_REDIS_TIMEOUT").unwrap_or_default())
            .map_err(|e| bad("PWRESET_REDIS_TIMEOUT", e))?;
        if redis_timeout.is_zero() || redis_timeout > Duration::from_secs(10) {
            return Err(bad("PWRESET_REDIS_TIMEOUT", "must be longer than 0 and at most 10s"));
        }

        let migrate_on_start = parse_bool(
            "PWRESET_MIGRATE_ON_START",
            &value("PWRESET_MIGRATE_ON_START").unwrap_or_default(),
        )?;

        let cloudreve_compat = parse_bool(
            "PWRESET_CLOUDREVE_COMPAT",
            &value("PWRESET_CLOUDREVE_COMPAT").unwrap_or_default(),
        )?;
        let frontend_dir = get("PWRESET_FRONTEND_DIR").map(|d| std::path::PathBuf::from(d.trim()));
        if let Some(dir) = &frontend_dir
            && !dir.join("index.html").is_file()
        {
            return Err(bad(
                "PWRESET_FRONTEND_DIR",
                format!(
                    "{} has no index.html; point it at a built Cloudreve frontend",
                    dir.display()
                ),
            ));
        }
        let mail_templates = match get("PWRESET_TEMPLATES_DIR") {
            Some(dir) => pwreset_infra::MailTemplates::load_dir(std::path::Path::new(dir.trim()))
                .map_err(|e| bad("PWRESET_TEMPLATES_DIR", e.to_string()))?,
            None => pwreset_infra::MailTemplates::built_in(),
        };
        let text = |name: &str| value(name).unwrap_or_default().trim().to_owned();
        let site_description = text("PWRESET_SITE_DESCRIPTION");
        let site_script = lookup("PWRESET_SITE_SCRIPT").unwrap_or_default();
        let site_logo = text("PWRESET_SITE_LOGO");
        let site_logo_light = text("PWRESET_SITE_LOGO_LIGHT");
        let pwa_small_icon = text("PWRESET_PWA_SMALL_ICON");
        let pwa_medium_icon = text("PWRESET_PWA_MEDIUM_ICON");
        let pwa_large_icon = text("PWRESET_PWA_LARGE_ICON");
        let pwa_display = text("PWRESET_PWA_DISPLAY");
        let pwa_theme_color = text("PWRESET_PWA_THEME_COLOR");
        let pwa_background_color = text("PWRESET_PWA_BACKGROUND_COLOR");

        let trusted_proxies_text =
            get("PWRESET_TRUSTED_PROXIES").unwrap_or_default().trim().to_owned();
        let trusted_proxies = TrustedProxies(
            get("PWRESET_TRUSTED_PROXIES")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.parse::<IpNet>().map_err(|e| bad("PWRESET_TRUSTED_PROXIES", e)))
                .collect::<Result<_, _>>()?,
        );

        Ok(Self {
            accounts,
            explicit,
            database: Database {
                url: database_url,
                pool_size: database_pool_size,
                migrate_on_start,
                hashid_salt,
            },
            http: Http {
                bind,
                ops_bind,
                metrics_public,
                api_prefix,
                trusted_proxies,
                trusted_proxies_text,
                cloudreve_compat,
                reveal_account_state,
                link_request_min_time,
            },
            site: Site { url: site_url, name: site_name, login_url, default_language },
            reset: Reset { bcrypt_cost, bcrypt_concurrency, token_ttl, retention, sweep_interval },
            mail: Mail {
                target: mail,
                from: mail_from,
                templates: mail_templates,
                max_attempts: mail_max_attempts,
                retry_base: mail_retry_base,
                poll: mail_poll,
                lease: mail_lease,
            },
            limits: Limits { rates: rate_limits, redis_url, redis_prefix, redis_timeout },
            frontend: Frontend {
                dir: frontend_dir,
                site_description,
                site_script,
                logo: site_logo,
                logo_light: site_logo_light,
                pwa_small_icon,
                pwa_medium_icon,
                pwa_large_icon,
                pwa_display,
                pwa_theme_color,
                pwa_background_color,
            },
            debug,
            log_format,
        })
    }
}

impl Config {
    /// Settings that are fine on a laptop and unsafe facing the internet:
    /// `serve` logs each as a warning when it binds a non-loopback address.
    pub fn unsafe_for_production(&self) -> Vec<String> {
        let host = self.http.bind.rsplit_once(':').map_or(self.http.bind.as_str(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host == "localhost"
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Vec::new();
        }
        let mut warnings = Vec::new();
        if !self.explicit.site_url && self.site.url == format!("http://{}", self.http.bind) {
            warnings.push(format!(
                "PWRESET_SITE_URL is not set: emailed links point at {}, which people cannot open; \
                 set it to the public https:// address",
                self.site.url
            ));
        } else if self.site.url.starts_with("http://") {
            warnings.push(format!(
                "PWRESET_SITE_URL is plain http ({}): reset secrets travel unencrypted",
                self.site.url
            ));
        }
        match &self.mail.target {
            MailTarget::File(dir) => warnings.push(format!(
                "PWRESET_MAIL writes emails to {} and sends none; those files hold live reset links",
                dir.display()
            )),
            MailTarget::Log => {
                warnings.push("PWRESET_MAIL=log sends no email: nobody can reset".into());
            }
            MailTarget::Smtp(url)
                if url.to_ascii_lowercase().starts_with("smtp://")
                    && !url.contains("tls=required") =>
            {
                warnings.push(
                    "PWRESET_MAIL is smtp:// without tls=required: links may cross the network \
                     unencrypted (use smtps:// or ?tls=required)"
                        .into(),
                );
            }
            MailTarget::Smtp(_) => {}
        }
        if self.accounts == AccountsMode::Pwreset && self.reset.bcrypt_cost < 10 {
            warnings.push(format!(
                "PWRESET_BCRYPT_COST={} is below 10: stolen hashes are cheap to crack",
                self.reset.bcrypt_cost
            ));
        }
        warnings
    }
}

impl Config {
    /// The database pool this configuration asks for.
    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_size: self.database.pool_size,
            ..PoolOptions::for_backend(self.database.url.backend())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment of `vars`.
    fn env_of(vars: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::write(&db, "postgres://u:s3cret@db.internal/pw\n").unwrap();
        let db = db.display().to_string();
        let secrets = read_secret_files(env_of(vec![("PWRESET_DATABASE_URL_FILE", db.clone())]));
        assert_eq!(secrets.unwrap()["PWRESET_DATABASE_URL"], "postgres://u:s3cret@db.internal/pw");

        let both = env_of(vec![
            ("PWRESET_DATABASE_URL_FILE", db),
            ("PWRESET_DATABASE_URL", "sqlite://x".into()),
        ]);
        assert_eq!(read_secret_files(both).unwrap_err().setting, "PWRESET_DATABASE_URL_FILE");

        let missing = env_of(vec![("PWRESET_MAIL_FILE", "/nonexistent/mail".into())]);
        assert!(
            read_secret_files(missing)
                .unwrap_err()
                .reason
                .contains("cannot read /nonexistent/mail")
        );

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let empty = env_of(vec![("PWRESET_REDIS_URL_FILE", empty.display().to_string())]);
        assert!(read_secret_files(empty).unwrap_err().reason.ends_with("is empty"));
    }

    #[test]
    fn file_errors_name_the_line_and_column() {
        let error =
            parse_file("bind = \"127.0.0.1:5212\"\n# ünïcode\nbcrypt_cost = = 10\n").unwrap_err();
        assert_eq!(error.setting, "--config");
        assert!(error.reason.starts_with("line 3, column 15: "), "{}", error.reason);
        assert!(!error.reason.contains('\n'), "one line: {}", error.reason);
        let unknown = parse_file("bcrypt_cots = 10").unwrap_err();
        assert_eq!(unknown.reason, "unknown setting \"bcrypt_cots\"");
        assert_eq!(line_and_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_and_column("é", 1), (1, 1), "inside a character: its start");
    }
    use std::collections::HashMap;
    use std::path::PathBuf;

    /// Parses `vars` and checks the folders they name, as the binary does.
    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let config = parse_only(vars)?;
        config.check_environment()?;
        Ok(config)
    }

    fn parse_only(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn parsing_touches_no_disk_and_the_environment_check_does() {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}/db.sqlite", dir.path().display());
        let mail = format!("file:{}/outbox", dir.path().display());
        let vars = [("PWRESET_DATABASE_URL", db.as_str()), ("PWRESET_MAIL", mail.as_str())];
        // A probe file would be created and removed: watch the folder's
        // modification time, which both change.
        let before = std::fs::metadata(dir.path()).unwrap().modified().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let parsed = parse_only(&vars).unwrap();
        assert_eq!(std::fs::metadata(dir.path()).unwrap().modified().unwrap(), before);
        parsed.check_environment().unwrap();
        assert_ne!(std::fs::metadata(dir.path()).unwrap().modified().unwrap(), before);

        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, "").unwrap();
        let url = format!("sqlite://{}/db.sqlite", file.display());
        let parsed = parse_only(&[("PWRESET_DATABASE_URL", &url)]).unwrap();
        assert_eq!(parsed.check_environment().unwrap_err().setting, "PWRESET_DATABASE_URL");
    }

    #[test]
    fn unsafe_production_settings_are_named() {
        assert!(config(&[]).unwrap().unsafe_for_production().is_empty(), "loopback: a laptop");
        let exposed = config(&[("PWRESET_BIND", "0.0.0.0:5212"), ("PWRESET_BCRYPT_COST", "4")])
            .unwrap()
            .unsafe_for_production();
        let all = exposed.join("\n");
        for expected in ["PWRESET_SITE_URL is not set", "PWRESET_MAIL writes emails", "below 10"] {
            assert!(all.contains(expected), "{expected}: {all}");
        }
        let plain = config(&[
            ("PWRESET_BIND", "[::]:5212"),
            ("PWRESET_SITE_URL", "https://drive.example.com"),
            ("PWRESET_MAIL", "smtp://mail.example.com"),
        ])
        .unwrap()
        .unsafe_for_production();
        assert_eq!(plain.len(), 1, "{plain:?}");
        assert!(plain[0].contains("smtp:// without tls=required"));
        let good = config(&[
            ("PWRESET_BIND", "10.0.0.5:5212"),
            ("PWRESET_SITE_URL", "https://drive.example.com"),
            ("PWRESET_MAIL", "smtps://u:p@mail.example.com"),
        ])
        .unwrap()
        .unsafe_for_production();
        assert!(good.is_empty(), "{good:?}");
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database.url, DatabaseUrl::Sqlite(PathBuf::from("./data/pwreset.db")));
        assert_eq!(c.http.bind, "127.0.0.1:5212");
        assert_eq!(c.site.url, "http://127.0.0.1:5212");
        assert_eq!(c.http.api_prefix, "/api/v4");
        assert_eq!(c.reset.bcrypt_cost, 12);
        assert_eq!(c.reset.token_ttl, Duration::from_secs(3600));
        assert!(!c.debug);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.site.default_language, "en-US");
        assert_eq!(c.database.hashid_salt, None);
        assert_eq!(c.mail.target, MailTarget::File(PathBuf::from("./data/outbox")));
        assert_eq!(c.mail.from, "\"pwreset\" <noreply@localhost>");
        assert_eq!(c.site.name, "pwreset");
        assert_eq!(c.site.login_url, "http://127.0.0.1:5212/session");
        assert!(c.http.cloudreve_compat);
        assert_eq!(c.frontend.dir, None);
        assert!(!c.http.reveal_account_state);
        assert_eq!(c.limits.rates, RateLimits::default());
        assert_eq!(c.http.trusted_proxies, TrustedProxies::default());
        assert_eq!(
            (c.mail.max_attempts, c.mail.retry_base, c.mail.poll),
            (8, Duration::from_secs(30), Duration::from_secs(5))
        );
    }

    #[test]
    fn a_fixed_default_written_out_changes_no_value() {
        // (In Cloudreve mode, setting PWRESET_MAIL or PWRESET_SITE_NAME also
        // keeps Cloudreve's own from taking their place: `explicit`.)
        let unset = config(&[]).unwrap().describe();
        for setting in settings::SETTINGS {
            if let settings::Fallback::Value(value) = setting.default {
                let set = config(&[(setting.name, value)]).unwrap().describe();
                assert_eq!(set, unset, "{} = {value:?}", setting.name);
            }
        }
    }

    #[test]
    fn mail_and_limits_are_read() {
        let c = config(&[
            ("PWRESET_SITE_URL", "https://drive.example.com/"),
            ("PWRESET_SITE_NAME", "My Drive"),
            ("PWRESET_MAIL", "smtps://u:p@mail.example.com"),
            ("PWRESET_REVEAL_ACCOUNT_STATE", "true"),
            ("PWRESET_RATE_LIMIT_REQUEST_PER_EMAIL", "3/h"),
            ("PWRESET_RATE_LIMIT_RESET_PER_IP", "off"),
            ("PWRESET_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1"),
        ])
        .unwrap();
        assert_eq!(c.mail.from, "\"My Drive\" <noreply@drive.example.com>");
        assert!(matches!(c.mail.target, MailTarget::Smtp(_)));
        assert!(c.http.reveal_account_state);
        assert_eq!(
            c.limits.rates.request_per_email,
            Some(Limit { max: 3, per: Duration::from_secs(3600) })
        );
        assert_eq!(c.limits.rates.reset_per_ip, None);
        assert_eq!(c.limits.rates.request_per_ip, RateLimits::default().request_per_ip);
        assert_eq!(c.http.trusted_proxies.0.len(), 2);
        let off = config(&[("PWRESET_RATE_LIMIT", "off")]).unwrap();
        assert_eq!(off.limits.rates, RateLimits::off());
    }

    #[test]
    fn values_are_read_and_normalised() {
        let c = config(&[
            ("PWRESET_DATABASE_URL", "postgres://u@h/db"),
            ("PWRESET_SITE_URL", "https://drive.example.com/"),
            ("PWRESET_API_PREFIX", "/api/v4/"),
            ("PWRESET_TOKEN_TTL", "2h30m"),
            ("PWRESET_BCRYPT_COST", "10"),
            ("PWRESET_DEBUG", "yes"),
            ("PWRESET_LOG_FORMAT", "json"),
            ("PWRESET_HASHID_SALT", "salt"),
        ])
        .unwrap();
        assert_eq!(c.site.url, "https://drive.example.com");
        assert_eq!(c.http.api_prefix, "/api/v4");
        assert_eq!(c.reset.token_ttl, Duration::from_secs(9000));
        assert_eq!(c.reset.bcrypt_cost, 10);
        assert!(c.debug);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.database.hashid_salt.as_deref(), Some("salt"));
    }

    #[test]
    fn a_file_sits_under_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pwreset.toml");
        std::fs::write(
            &file,
            "bcrypt_cost = 10\ntoken_ttl = \"2h\"\ndebug = true\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]\nsite_name = \"From file\"\n",
        )
        .unwrap();
        let settings = load_file(&file).unwrap();
        assert_eq!(settings["PWRESET_BCRYPT_COST"], "10");
        assert_eq!(settings["PWRESET_TRUSTED_PROXIES"], "10.0.0.0/8,127.0.0.1");
        let env: HashMap<&str, &str> =
            [("PWRESET_SITE_NAME", "From env"), ("PWRESET_DEBUG", "")].into();
        let c = Config::from_lookup(|name| {
            env.get(name)
                .map(|v| (*v).to_owned())
                .filter(|v| !v.is_empty())
                .or_else(|| settings.get(name).cloned())
        })
        .unwrap();
        assert_eq!(
            (c.reset.bcrypt_cost, c.reset.token_ttl, c.debug),
            (10, Duration::from_secs(7200), true)
        );
        assert_eq!(c.site.name, "From env", "the environment wins");
        assert_eq!(c.http.trusted_proxies.0.len(), 2);

        for (text, expected) in [
            ("bcrypt_cots = 10", "unknown setting \"bcrypt_cots\""),
            ("BCRYPT_COST = 10", "unknown setting"),
            ("bcrypt_cost = ", "pwreset.toml"),
            ("mail = { url = \"x\" }", "mail: a string"),
        ] {
            std::fs::write(&file, text).unwrap();
            let err = load_file(&file).unwrap_err();
            assert_eq!(err.setting, "--config");
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
        assert!(load_file(&dir.path().join("missing.toml")).is_err());
    }

    #[test]
    fn every_setting_is_described_and_documented() {
        let c = config(&[
            ("PWRESET_DATABASE_URL", "postgres://app:s3cret@db/pw"),
            ("PWRESET_MAIL", "smtps://u:hunter2@mail"),
        ])
        .unwrap();
        let described: Vec<&str> = c.describe().iter().map(|(name, _)| *name).collect();
        let names: Vec<&str> = settings::SETTINGS.iter().map(|s| s.name).collect();
        assert_eq!(described, names, "config check shows every setting, in order");
        let text = format!("{:?}", c.describe());
        assert!(!text.contains("s3cret") && !text.contains("hunter2"), "{text}");
        let docs = include_str!("../../../docs/configuration.md");
        for name in names {
            assert!(docs.contains(name), "{name} is not in docs/configuration.md");
        }
    }

    #[test]
    fn unwritable_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, "").unwrap();
        let url = format!("sqlite://{}/db.sqlite", file.display());
        let err = config(&[("PWRESET_DATABASE_URL", &url)]).unwrap_err();
        assert_eq!(err.setting, "PWRESET_DATABASE_URL");
        assert!(err.reason.contains("is not a folder"), "{err}");
        let mail = format!("file:{}/outbox", file.display());
        assert_eq!(config(&[("PWRESET_MAIL", &mail)]).unwrap_err().setting, "PWRESET_MAIL");
    }

    #[test]
    fn bad_values_name_their_setting() {
        let cases = [
            ("PWRESET_DATABASE_URL", "redis://x"),
            ("PWRESET_BCRYPT_COST", "3"),
            ("PWRESET_BCRYPT_COST", "32"),
            ("PWRESET_BCRYPT_COST", "twelve"),
            ("PWRESET_TOKEN_TTL", "60"),
            ("PWRESET_TOKEN_TTL", "10s"),
            ("PWRESET_SITE_URL", "drive.example.com"),
            ("PWRESET_API_PREFIX", "api"),
            ("PWRESET_DEBUG", "maybe"),
            ("PWRESET_LOG_FORMAT", "xml"),
            ("PWRESET_HASHID_SALT", "sälz"),
            ("PWRESET_BIND", "5212"),
            ("PWRESET_BCRYPT_CONCURRENCY", "0"),
            ("PWRESET_MAIL", "sendmail"),
            ("PWRESET_MAIL_FROM", "not an address"),
            ("PWRESET_MAIL_MAX_ATTEMPTS", "0"),
            ("PWRESET_MAIL_RETRY_BASE", "soon"),
            ("PWRESET_RATE_LIMIT", "maybe"),
            ("PWRESET_RATE_LIMIT_REQUEST_PER_IP", "lots"),
            ("PWRESET_RATE_LIMIT_RESET_PER_USER", "0/1h"),
            ("PWRESET_TRUSTED_PROXIES", "10.0.0.0/99"),
            ("PWRESET_DEFAULT_LANGUAGE", "fr-FR"),
            ("PWRESET_LINK_REQUEST_MIN_TIME", "10s"),
            ("PWRESET_LOGIN_URL", "javascript:alert(1)"),
            ("PWRESET_CLOUDREVE_COMPAT", "sometimes"),
            ("PWRESET_FRONTEND_DIR", "/nonexistent/build"),
        ];
        for (setting, value) in cases {
            let err = config(&[(setting, value)]).unwrap_err();
            assert_eq!(err.setting, setting, "{value}");
            let line = err.to_string();
            assert!(line.starts_with(setting) && !line.contains('\n'), "{line}");
        }
    }
}
