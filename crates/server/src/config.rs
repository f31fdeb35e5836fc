//! Configuration from `PWRESET_*` environment variables, with defaults that
//! work with no configuration at all. A bad value stops start-up with one
//! line naming the setting.

use std::time::Duration;

use pwreset_infra::DatabaseUrl;
use pwreset_infra::bcrypt::COST_RANGE;
use thiserror::Error;

use crate::duration;

/// Default database: a SQLite file under `./data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/pwreset.db";
/// Cloudreve's port.
pub const DEFAULT_BIND: &str = "127.0.0.1:5212";

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

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PWRESET_DATABASE_URL`.
    pub database_url: DatabaseUrl,
    /// `PWRESET_BIND`.
    pub bind: String,
    /// `PWRESET_SITE_URL`: base of the links in emails, no trailing slash.
    pub site_url: String,
    /// `PWRESET_API_PREFIX`.
    pub api_prefix: String,
    /// `PWRESET_HASHID_SALT`: when unset, the stored (or a generated) salt is used.
    pub hashid_salt: Option<String>,
    /// `PWRESET_BCRYPT_COST`.
    pub bcrypt_cost: u32,
    /// `PWRESET_BCRYPT_CONCURRENCY`: most hashes computed at once.
    pub bcrypt_concurrency: usize,
    /// `PWRESET_TOKEN_TTL`.
    pub token_ttl: Duration,
    /// `PWRESET_DEBUG`.
    pub debug: bool,
    /// `PWRESET_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `PWRESET_DEFAULT_LANGUAGE`.
    pub default_language: String,
}

fn parse_bool(setting: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(setting, format!("must be true or false, got {raw:?}"))),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let database_url = DatabaseUrl::parse(
            &get("PWRESET_DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
        )
        .map_err(|e| bad("PWRESET_DATABASE_URL", e.to_string()))?;

        let bind = get("PWRESET_BIND").unwrap_or_else(|| DEFAULT_BIND.into()).trim().to_owned();
        if !bind.contains(':') {
            return Err(bad("PWRESET_BIND", format!("must be HOST:PORT, got {bind:?}")));
        }

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

        let api_prefix = match get("PWRESET_API_PREFIX") {
            Some(p) if !p.trim().starts_with('/') => {
                return Err(bad("PWRESET_API_PREFIX", format!("must start with '/', got {p:?}")));
            }
            Some(p) => p.trim().trim_end_matches('/').to_owned(),
            None => "/api/v4".into(),
        };

        let hashid_salt = lookup("PWRESET_HASHID_SALT").filter(|s| !s.is_empty());
        if hashid_salt.as_ref().is_some_and(|salt| !salt.is_ascii()) {
            return Err(bad("PWRESET_HASHID_SALT", "must be ASCII (go-hashids compatibility)"));
        }

        let bcrypt_cost = match get("PWRESET_BCRYPT_COST") {
            Some(raw) => {
                raw.trim().parse::<u32>().ok().filter(|c| COST_RANGE.contains(c)).ok_or_else(
                    || {
                        bad(
                            "PWRESET_BCRYPT_COST",
                            format!("must be a whole number from 4 to 31, got {raw:?}"),
                        )
                    },
                )?
            }
            None => 12,
        };

        let bcrypt_concurrency = match get("PWRESET_BCRYPT_CONCURRENCY") {
            Some(raw) => raw.trim().parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                bad(
                    "PWRESET_BCRYPT_CONCURRENCY",
                    format!("must be a whole number above 0, got {raw:?}"),
                )
            })?,
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };

        let token_ttl = match get("PWRESET_TOKEN_TTL") {
            Some(raw) => duration::parse(&raw).map_err(|e| bad("PWRESET_TOKEN_TTL", e))?,
            None => Duration::from_secs(3600),
        };
        if token_ttl < Duration::from_secs(60) || token_ttl > Duration::from_secs(7 * 86_400) {
            return Err(bad("PWRESET_TOKEN_TTL", "must be between 1m and 7d"));
        }

        let debug = get("PWRESET_DEBUG")
            .map(|v| parse_bool("PWRESET_DEBUG", &v))
            .transpose()?
            .unwrap_or(false);

        let log_format = match get("PWRESET_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad(
                    "PWRESET_LOG_FORMAT",
                    format!("must be text or json, got {other:?}"),
                ));
            }
        };

        let default_language =
            get("PWRESET_DEFAULT_LANGUAGE").unwrap_or_else(|| "en-US".into()).trim().to_owned();

        Ok(Self {
            database_url,
            bind,
            site_url,
            api_prefix,
            hashid_salt,
            bcrypt_cost,
            bcrypt_concurrency,
            token_ttl,
            debug,
            log_format,
            default_language,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DatabaseUrl::Sqlite(PathBuf::from("./data/pwreset.db")));
        assert_eq!(c.bind, "127.0.0.1:5212");
        assert_eq!(c.site_url, "http://127.0.0.1:5212");
        assert_eq!(c.api_prefix, "/api/v4");
        assert_eq!(c.bcrypt_cost, 12);
        assert_eq!(c.token_ttl, Duration::from_secs(3600));
        assert!(!c.debug);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.default_language, "en-US");
        assert_eq!(c.hashid_salt, None);
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
        assert_eq!(c.site_url, "https://drive.example.com");
        assert_eq!(c.api_prefix, "/api/v4");
        assert_eq!(c.token_ttl, Duration::from_secs(9000));
        assert_eq!(c.bcrypt_cost, 10);
        assert!(c.debug);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.hashid_salt.as_deref(), Some("salt"));
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
        ];
        for (setting, value) in cases {
            let err = config(&[(setting, value)]).unwrap_err();
            assert_eq!(err.setting, setting, "{value}");
            let line = err.to_string();
            assert!(line.starts_with(setting) && !line.contains('\n'), "{line}");
        }
    }
}
