//! Every setting in one table: its variable, what it sets, its default and
//! an example. Parsing ([`crate::config::Config::from_lookup`]) takes every
//! fixed default ([`Fallback::Value`]) from here, `config check` lists the settings in this order,
//! `serve --help` prints the table, and a test holds the table of
//! `docs/configuration.md` to [`markdown_table`], so none of them can drift.

/// What a setting is when nobody sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// This value, read by the same parser as a value that is set.
    Value(&'static str),
    /// No single value: what pwreset does instead (none, or a value derived
    /// from other settings or from the machine), in Markdown.
    Described(&'static str),
}

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable; a configuration file takes it in lower
    /// case without `PWRESET_`.
    pub name: &'static str,
    /// What it sets, in a line.
    pub about: &'static str,
    /// What it is when unset.
    pub default: Fallback,
    /// A value someone would set, with its range, in Markdown.
    pub example: &'static str,
}

/// Every setting, in the order `config check` and the documentation list them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "PWRESET_ACCOUNTS",
        about: "whose users: pwreset's own tables, or a Cloudreve V4 database's",
        default: Fallback::Value("pwreset"),
        example: "`cloudreve`",
    },
    Setting {
        name: "PWRESET_DATABASE_URL",
        about: "the database: a SQLite file, PostgreSQL or MySQL",
        default: Fallback::Value("sqlite://./data/pwreset.db"),
        example: "`postgres://u:p@db/pwreset?sslmode=require`",
    },
    Setting {
        name: "PWRESET_DATABASE_POOL_SIZE",
        about: "most database connections per instance (also its storage threads)",
        default: Fallback::Described("`8` on SQLite, `16` on PostgreSQL and MySQL"),
        example: "`4` (1 to 256)",
    },
    Setting {
        name: "PWRESET_MIGRATE_ON_START",
        about: "whether serve applies pending migrations",
        default: Fallback::Value("true"),
        example: "`false`: `serve` refuses an out-of-date database instead of migrating it ([operations.md](operations.md#upgrades))",
    },
    Setting {
        name: "PWRESET_BIND",
        about: "the public listener, HOST:PORT",
        default: Fallback::Value("127.0.0.1:5212"),
        example: "`0.0.0.0:8080`",
    },
    Setting {
        name: "PWRESET_OPS_BIND",
        about: "a private listener for /healthz, /readyz and /metrics",
        default: Fallback::Described("none"),
        example: "`127.0.0.1:9212`",
    },
    Setting {
        name: "PWRESET_METRICS_PUBLIC",
        about: "also serve /metrics on the public listener",
        default: Fallback::Value("false"),
        example: "`true`",
    },
    Setting {
        name: "PWRESET_SITE_URL",
        about: "the public base URL the emailed links start with",
        default: Fallback::Described("`http://{PWRESET_BIND}`"),
        example: "`https://drive.example.com`",
    },
    Setting {
        name: "PWRESET_API_PREFIX",
        about: "the path the API is served under",
        default: Fallback::Value("/api/v4"),
        example: "`/auth`",
    },
    Setting {
        name: "PWRESET_HASHID_SALT",
        about: "the salt of the public user ids",
        default: Fallback::Described("generated once, stored in the database"),
        example: "Cloudreve's `hash_id_salt`",
    },
    Setting {
        name: "PWRESET_BCRYPT_COST",
        about: "bcrypt cost of new password hashes",
        default: Fallback::Value("12"),
        example: "`10` (4 to 31)",
    },
    Setting {
        name: "PWRESET_BCRYPT_CONCURRENCY",
        about: "most hashes computed at once",
        default: Fallback::Described("number of CPUs"),
        example: "`4`",
    },
    Setting {
        name: "PWRESET_TOKEN_TTL",
        about: "how long a reset link works",
        default: Fallback::Value("1h"),
        example: "`30m` (1m to 7d)",
    },
    Setting {
        name: "PWRESET_RETENTION",
        about: "how long finished tokens and sent mail are kept",
        default: Fallback::Value("7d"),
        example: "`24h`",
    },
    Setting {
        name: "PWRESET_SWEEP_INTERVAL",
        about: "how often serve deletes what retention lets go",
        default: Fallback::Value("1h"),
        example: "`10m`",
    },
    Setting {
        name: "PWRESET_DEBUG",
        about: "error details in answers",
        default: Fallback::Value("false"),
        example: "`true` (never in production)",
    },
    Setting {
        name: "PWRESET_LOG_FORMAT",
        about: "log lines as text or JSON",
        default: Fallback::Value("text"),
        example: "`json`",
    },
    Setting {
        name: "PWRESET_DEFAULT_LANGUAGE",
        about: "language of emails and pages when the request names none",
        default: Fallback::Value("en-US"),
        example: "`zh-CN`",
    },
    Setting {
        name: "PWRESET_SITE_NAME",
        about: "how emails sign and pages are titled",
        default: Fallback::Value("pwreset"),
        example: "`My Drive`",
    },
    Setting {
        name: "PWRESET_LOGIN_URL",
        about: "where the reset page sends people afterwards",
        default: Fallback::Described("`{PWRESET_SITE_URL}/session`"),
        example: "`https://drive.example.com/login`",
    },
    Setting {
        name: "PWRESET_MAIL",
        about: "where email goes: SMTP, a folder, or the log",
        default: Fallback::Value("file:./data/outbox"),
        example: "`smtps://user:pass@smtp.example.com`",
    },
    Setting {
        name: "PWRESET_MAIL_FROM",
        about: "the sender of the emails",
        default: Fallback::Described("`\"{site name}\" <noreply@{site host}>`"),
        example: "`My Drive <noreply@example.com>`",
    },
    Setting {
        name: "PWRESET_TEMPLATES_DIR",
        about: "email templates over the built-in ones",
        default: Fallback::Described("none (built-in templates)"),
        example: "`/etc/pwreset/templates`",
    },
    Setting {
        name: "PWRESET_MAIL_MAX_ATTEMPTS",
        about: "deliveries tried before an email is given up",
        default: Fallback::Value("8"),
        example: "`5` (1 to 100)",
    },
    Setting {
        name: "PWRESET_MAIL_RETRY_BASE",
        about: "wait after the first failed delivery, doubled each time",
        default: Fallback::Value("30s"),
        example: "`1m`",
    },
    Setting {
        name: "PWRESET_MAIL_POLL",
        about: "how often the outbox is checked without a wake-up",
        default: Fallback::Value("5s"),
        example: "`1s`",
    },
    Setting {
        name: "PWRESET_MAIL_LEASE",
        about: "how long a claim on an email lasts unless renewed",
        default: Fallback::Value("15s"),
        example: "`30s` (at least `3s`)",
    },
    Setting {
        name: "PWRESET_REVEAL_ACCOUNT_STATE",
        about: "say whether an address has an account",
        default: Fallback::Value("false"),
        example: "`true`",
    },
    Setting {
        name: "PWRESET_LINK_REQUEST_MIN_TIME",
        about: "least time a link request takes to answer",
        default: Fallback::Value("50ms"),
        example: "`100ms`, `0` to turn off",
    },
    Setting {
        name: "PWRESET_RATE_LIMIT",
        about: "all rate limits on or off",
        default: Fallback::Value("on"),
        example: "`off`",
    },
    Setting {
        name: "PWRESET_RATE_LIMIT_REQUEST_PER_IP",
        about: "link requests per client address",
        default: Fallback::Value("20/1h"),
        example: "`50/1h`, `off`",
    },
    Setting {
        name: "PWRESET_RATE_LIMIT_REQUEST_PER_EMAIL",
        about: "link requests per email address",
        default: Fallback::Value("5/1h"),
        example: "`3/1h`",
    },
    Setting {
        name: "PWRESET_RATE_LIMIT_RESET_PER_IP",
        about: "reset attempts per client address",
        default: Fallback::Value("60/1h"),
        example: "`100/10m`",
    },
    Setting {
        name: "PWRESET_RATE_LIMIT_RESET_PER_USER",
        about: "reset attempts per user",
        default: Fallback::Value("20/1h"),
        example: "`10/1h`",
    },
    Setting {
        name: "PWRESET_RATE_LIMIT_IPV6_PREFIX",
        about: "IPv6 clients are counted per network of this prefix",
        default: Fallback::Value("64"),
        example: "`56`",
    },
    Setting {
        name: "PWRESET_REDIS_URL",
        about: "keep the rate limits in Redis, shared by every instance",
        default: Fallback::Described("none: limits per instance"),
        example: "`redis://:pass@redis.internal:6379/0`, `rediss://…`",
    },
    Setting {
        name: "PWRESET_REDIS_PREFIX",
        about: "prepended to every Redis key",
        default: Fallback::Value("pwreset:"),
        example: "`drive-a:pwreset:`",
    },
    Setting {
        name: "PWRESET_REDIS_TIMEOUT",
        about: "longest wait for Redis before a check is decided in memory",
        default: Fallback::Value("250ms"),
        example: "`100ms` (at most `10s`)",
    },
    Setting {
        name: "PWRESET_TRUSTED_PROXIES",
        about: "proxies whose X-Forwarded-For is believed",
        default: Fallback::Described("none"),
        example: "`10.0.0.0/8,127.0.0.1`",
    },
    Setting {
        name: "PWRESET_CLOUDREVE_COMPAT",
        about: "answer the Cloudreve web app's calls around the reset pages",
        default: Fallback::Value("true"),
        example: "`false`",
    },
    Setting {
        name: "PWRESET_FRONTEND_DIR",
        about: "a built Cloudreve frontend to serve at /",
        default: Fallback::Described("none"),
        example: "`/srv/cloudreve-frontend/build`",
    },
    Setting {
        name: "PWRESET_SITE_DESCRIPTION",
        about: "the frontend's site description",
        default: Fallback::Described("empty"),
        example: "`Family files`",
    },
    Setting {
        name: "PWRESET_SITE_SCRIPT",
        about: "HTML the frontend inserts as is",
        default: Fallback::Described("empty"),
        example: "`<script src=\"/stats.js\"></script>`",
    },
    Setting {
        name: "PWRESET_SITE_LOGO",
        about: "the logo the frontend shows",
        default: Fallback::Value("/static/img/logo.svg"),
        example: "",
    },
    Setting {
        name: "PWRESET_SITE_LOGO_LIGHT",
        about: "the logo on a light theme",
        default: Fallback::Value("/static/img/logo_light.svg"),
        example: "",
    },
    Setting {
        name: "PWRESET_PWA_SMALL_ICON",
        about: "the frontend's small icon",
        default: Fallback::Value("/static/img/favicon.ico"),
        example: "",
    },
    Setting {
        name: "PWRESET_PWA_MEDIUM_ICON",
        about: "the frontend's medium icon",
        default: Fallback::Value("/static/img/logo192.png"),
        example: "",
    },
    Setting {
        name: "PWRESET_PWA_LARGE_ICON",
        about: "the frontend's large icon",
        default: Fallback::Value("/static/img/logo512.png"),
        example: "",
    },
    Setting {
        name: "PWRESET_PWA_DISPLAY",
        about: "the web app manifest's display",
        default: Fallback::Value("standalone"),
        example: "`fullscreen`",
    },
    Setting {
        name: "PWRESET_PWA_THEME_COLOR",
        about: "the web app manifest's theme colour",
        default: Fallback::Value("#000000"),
        example: "`#1976d2`",
    },
    Setting {
        name: "PWRESET_PWA_BACKGROUND_COLOR",
        about: "the web app manifest's background colour",
        default: Fallback::Value("#ffffff"),
        example: "",
    },
];

/// The setting named `name`.
///
/// # Panics
/// When no setting has that name: the parser asks only for names of this
/// table (a test reads every one).
pub fn setting(name: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is not in settings::SETTINGS"))
}

/// The default value of `name`, when it has one.
pub fn default_value(name: &str) -> Option<&'static str> {
    match setting(name).default {
        Fallback::Value(value) => Some(value),
        Fallback::Described(_) => None,
    }
}

/// Whether `name` is a setting.
pub fn is_setting(name: &str) -> bool {
    SETTINGS.iter().any(|s| s.name == name)
}

/// The Markdown table of docs/configuration.md's "Every setting".
pub fn markdown_table() -> String {
    let mut table = String::from("| variable | sets | default | example |\n|---|---|---|---|\n");
    for s in SETTINGS {
        let default = match s.default {
            Fallback::Value(value) => format!("`{value}`"),
            Fallback::Described(text) => text.to_owned(),
        };
        let row = format!("| `{}` | {} | {default} | {} |", s.name, s.about, s.example);
        table.push_str(row.trim_end());
        table.push('\n');
    }
    table
}

/// Markdown as plain text, for a terminal: `code` → code, [text](link) → text.
pub fn plain(markdown: &str) -> String {
    let mut text = String::new();
    let mut rest = markdown;
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let Some((inner, after)) = rest[open + 1..].split_once("](") else {
            text.push_str(&rest[open..]);
            rest = "";
            break;
        };
        text.push_str(inner);
        rest = after.split_once(')').map_or("", |(_, r)| r);
    }
    text.push_str(rest);
    text.replace('`', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documentation_shows_this_table() {
        let docs = include_str!("../../../docs/configuration.md");
        let section = docs.split("\n## Every setting\n").nth(1).unwrap_or_default();
        let documented: String = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        let expected = markdown_table();
        assert!(
            documented == expected,
            "docs/configuration.md's \"Every setting\" table differs from settings::SETTINGS; \
             put this there:\n\n{expected}"
        );
    }

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        assert!(names.iter().all(|n| n.starts_with("PWRESET_")), "{names:?}");
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a setting is listed twice");
    }

    #[test]
    fn markdown_becomes_plain_text() {
        assert_eq!(
            plain("`false`: see [operations.md](operations.md#upgrades)"),
            "false: see operations.md"
        );
        assert_eq!(plain("a [b"), "a [b");
    }
}
