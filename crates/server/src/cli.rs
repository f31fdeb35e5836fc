//! The command line. JSON results go to stdout, diagnostics to stderr.

use std::io::{BufRead, Write};

use chrono::SecondsFormat;
use clap::{Args, Parser, Subcommand};
use pwreset_domain::ports::GroupRef;
use pwreset_domain::usecases::{
    CreateUser, CreateUserCommand, IssueLinkCommand, IssueLinkError, IssueResetLink, LinkPolicy,
};
use pwreset_domain::{ClientInfo, Email, GroupId, NewPassword, UserStatus};
use pwreset_http::UserResponse;
use serde::Serialize;

use crate::config::{AccountsMode, Config};
use crate::wiring::{Schema, wire};

/// pwreset: the "forgot my password" flow of a Cloudreve-compatible account system.
///
/// Settings come from PWRESET_* environment variables, over an optional TOML
/// file (--config) that uses the same names in lower case without the
/// prefix. `pwreset config check` prints every setting with its effective
/// value (secrets hidden); a bad value stops any command with one line
/// naming the setting.
#[derive(Debug, Parser)]
#[command(name = "pwreset", version = env!("PWRESET_VERSION"), about)]
pub struct Cli {
    /// A TOML configuration file; PWRESET_* variables override it.
    #[arg(long, global = true, env = "PWRESET_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit (with --status: list them, change nothing).
    Migrate {
        /// Print every migration and whether the database has it, as JSON;
        /// change nothing.
        #[arg(long)]
        status: bool,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage reset tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets hidden) as JSON; exit
    /// non-zero, naming the setting, when it is not usable.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print audit events as JSON, newest first.
    List {
        /// Only this user's events (the user's public id, as in links).
        #[arg(long)]
        user: Option<String>,
        /// Only events this recent (90s, 15m, 24h, 7d).
        #[arg(long, default_value = "24h")]
        since: String,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print it as JSON.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Email address (unique, case-insensitively).
    #[arg(long)]
    email: String,
    /// Display name.
    #[arg(long)]
    nickname: String,
    /// Read the initial password from one line of standard input. Without it
    /// the account gets an unusable random password until it is reset.
    #[arg(long)]
    password_stdin: bool,
    /// Group name or numeric id.
    #[arg(long, default_value = "User")]
    group: String,
    /// Initial status: active, inactive, manual_banned or sys_banned.
    #[arg(long, default_value = "active")]
    status: String,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a reset link for a user and print {user_id, secret, url, expires_at}.
    Issue {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
    /// Delete tokens that were used, revoked or expired, and sent or failed
    /// emails, older than PWRESET_RETENTION; print what was deleted.
    Sweep,
}

impl Command {
    /// The server reports what it does; one-shot commands stay quiet unless
    /// something goes wrong.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Self::Serve | Self::Migrate { status: false } => "info",
            Self::Migrate { status: true } => "warn",
            Self::User(_) | Self::Token(_) | Self::Audit(_) | Self::Config(_) => "warn",
        }
    }
}

/// Runs a command.
pub fn run(cli: Cli, config: Config) -> Result<(), String> {
    match cli.command {
        Command::Serve => crate::serve::serve(config),
        Command::Migrate { status: false } => {
            let wired = wire(&config, Schema::Migrate)?;
            eprintln!("database {} is up to date", config.database_url.redacted());
            drop(wired);
            Ok(())
        }
        Command::Migrate { status: true } => migration_status(&config),
        Command::User(UserCommand::Create(args)) => create_user(&config, args),
        Command::Token(TokenCommand::Issue { email }) => issue_token(&config, &email),
        Command::Token(TokenCommand::Sweep) => sweep(&config),
        Command::Config(ConfigCommand::Check) => {
            // In Cloudreve mode, what the Cloudreve's settings make of it
            // (read only: nothing is created).
            let config = match config.accounts {
                AccountsMode::Pwreset => config,
                AccountsMode::Cloudreve => {
                    let options = config.pool_options();
                    let env = |name: &str| std::env::var(name).ok();
                    let site = pwreset_cloudreve::inspect(&config.database_url, &options, &env)
                        .map_err(|e| e.to_string())?;
                    crate::wiring::adopt_cloudreve(&config, &site)?
                }
            };
            let settings: serde_json::Map<String, serde_json::Value> =
                config.describe().into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect();
            print_json(&settings)
        }
        Command::Audit(AuditCommand::List { user, since, limit }) => {
            list_audit(&config, user.as_deref(), &since, limit)
        }
    }
}

fn print_json(value: &impl Serialize) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(|e| e.to_string())?;
    writeln!(out).map_err(|e| e.to_string())
}

/// Reads one line and drops one trailing newline (`\n` or `\r\n`).
fn read_password_line(input: &mut impl BufRead) -> Result<NewPassword, String> {
    let mut line = String::new();
    input.read_line(&mut line).map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let line = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    NewPassword::parse(line.to_owned()).map_err(|e| format!("--password-stdin: {e}"))
}

fn create_user(config: &Config, args: CreateArgs) -> Result<(), String> {
    let email = Email::parse(&args.email).map_err(|e| format!("--email: {e}"))?;
    let status = UserStatus::parse(&args.status).ok_or_else(|| {
        format!(
            "--status: must be active, inactive, manual_banned or sys_banned, got {:?}",
            args.status
        )
    })?;
    let group = match args.group.trim().parse::<i64>() {
        Ok(n) => GroupRef::Id(GroupId::new(n).map_err(|e| format!("--group: {e}"))?),
        Err(_) => GroupRef::Name(args.group.trim().to_owned()),
    };
    let password = if args.password_stdin {
        Some(read_password_line(&mut std::io::stdin().lock())?)
    } else {
        None
    };
    let wired = wire(config, Schema::Require)?;
    let profile = CreateUser::new(&wired.ports)
        .execute(CreateUserCommand { email, nickname: args.nickname, password, group, status })
        .map_err(|e| e.to_string())?;
    print_json(&UserResponse::new(&profile, &*wired.ports.ids, &config.default_language))
}

#[derive(Serialize)]
struct IssuedToken {
    user_id: String,
    secret: String,
    url: String,
    expires_at: String,
}

fn issue_token(config: &Config, email: &str) -> Result<(), String> {
    let email = Email::parse(email).map_err(|e| format!("--email: {e}"))?;
    let wired = wire(config, Schema::Require)?;
    let ttl = chrono::Duration::from_std(config.token_ttl).map_err(|e| e.to_string())?;
    let policy = LinkPolicy { ttl, site_url: wired.config.site_url.clone() };
    let link = IssueResetLink::new(&wired.ports, policy)
        .execute(IssueLinkCommand { email, client: ClientInfo::default(), channel: "cli" })
        .map_err(|e| match e {
            IssueLinkError::UnknownUser => "no user has this email address".to_owned(),
            IssueLinkError::UserNotActive(status) => {
                format!(
                    "the account is {}; only active accounts can reset their password",
                    status.as_str()
                )
            }
            other => other.to_string(),
        })?;
    print_json(&IssuedToken {
        user_id: link.public_id,
        secret: link.secret.expose().to_owned(),
        url: link.url,
        expires_at: link.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_line_drops_exactly_one_newline() {
        let read = |s: &str| read_password_line(&mut s.as_bytes()).map(|p| p.expose().to_owned());
        assert_eq!(read("secret-pw\n"), Ok("secret-pw".into()));
        assert_eq!(read("secret-pw\r\n"), Ok("secret-pw".into()));
        assert_eq!(read("secret-pw"), Ok("secret-pw".into()));
        assert_eq!(
            read(" spaced pw \n"),
            Ok(" spaced pw ".into()),
            "spaces are part of a password"
        );
        assert_eq!(read("secret-pw\n\nsecond line"), Ok("secret-pw".into()));
        assert!(read("short\n").unwrap_err().contains("at least 6"));
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "pwreset",
            "user",
            "create",
            "--email",
            "a@b.c",
            "--nickname",
            "A",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::User(UserCommand::Create(ref a)) if a.group == "User" && a.status == "active")
        );
    }
}

/// `migrate --status`: every migration of the table set this configuration
/// uses and whether the database has it. Changes nothing (a SQLite file
/// that does not exist is not created).
fn migration_status(config: &Config) -> Result<(), String> {
    use pwreset_infra::db::{DieselStore, MigrationState};
    #[derive(Serialize)]
    struct Row {
        version: String,
        name: String,
        applied: bool,
    }
    #[derive(Serialize)]
    struct Status {
        database: String,
        tables: &'static str,
        pending: usize,
        migrations: Vec<Row>,
    }
    let state_only = config.accounts == AccountsMode::Cloudreve;
    let migrations: Vec<MigrationState> = match &config.database_url {
        pwreset_infra::DatabaseUrl::Sqlite(path) if !path.exists() => {
            pwreset_infra::db::embedded_migrations(config.database_url.backend(), state_only)
                .map_err(|e| e.to_string())?
        }
        url if state_only => {
            let env = |name: &str| std::env::var(name).ok();
            pwreset_cloudreve::open_unmigrated(url, &config.pool_options(), &env)
                .map_err(|e| e.to_string())?
                .store
                .migration_status()
                .map_err(|e| e.to_string())?
        }
        url => DieselStore::connect(url, &config.pool_options())
            .map_err(|e| e.to_string())?
            .migration_status()
            .map_err(|e| e.to_string())?,
    };
    print_json(&Status {
        database: config.database_url.redacted(),
        tables: if state_only { "pwreset_* beside Cloudreve's" } else { "pwreset" },
        pending: migrations.iter().filter(|m| !m.applied).count(),
        migrations: migrations
            .into_iter()
            .map(|m| Row { version: m.version, name: m.name, applied: m.applied })
            .collect(),
    })
}

fn sweep(config: &Config) -> Result<(), String> {
    let wired = wire(config, Schema::Require)?;
    let report =
        pwreset_http::runtime::sweep_once(&*wired.store, &*wired.ports.clock, config.retention)
            .map_err(|e| e.to_string())?;
    print_json(&serde_json::json!({ "tokens": report.tokens, "mails": report.mails }))
}

#[derive(Serialize)]
struct AuditLine {
    at: String,
    kind: &'static str,
    user_id: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    correlation_id: Option<String>,
    detail: Option<String>,
}

fn list_audit(
    config: &Config,
    user: Option<&str>,
    since: &str,
    limit: usize,
) -> Result<(), String> {
    let since = crate::duration::parse(since).map_err(|e| format!("--since: {e}"))?;
    let wired = wire(config, Schema::Require)?;
    let ids = &wired.ports.ids;
    let user = user
        .map(|public| {
            ids.decode_user(public).ok_or_else(|| format!("--user: {public:?} is not a user id"))
        })
        .transpose()?;
    let since = wired.ports.clock.now()
        - chrono::Duration::from_std(since).map_err(|_| "--since: too long".to_owned())?;
    let records = wired
        .ports
        .audit
        .list(&pwreset_domain::ports::AuditQuery { user, since, limit })
        .map_err(|e| e.to_string())?;
    let lines: Vec<AuditLine> = records
        .into_iter()
        .map(|r| AuditLine {
            at: r.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            kind: r.kind.as_str(),
            user_id: r.user_id.map(|u| ids.encode_user(u)),
            client_ip: r.client.ip,
            user_agent: r.client.user_agent,
            correlation_id: r.client.correlation_id,
            detail: r.detail,
        })
        .collect();
    print_json(&lines)
}
