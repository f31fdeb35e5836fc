//! The command line. JSON results go to stdout, diagnostics to stderr.

use std::io::{BufRead, Write};

use anyhow::{Context as _, anyhow, bail};
use chrono::SecondsFormat;
use clap::{Args, Parser, Subcommand};
use pwreset_domain::ports::GroupRef;
use pwreset_domain::usecases::{
    CreateUser, CreateUserCommand, IssueLinkCommand, IssueLinkError, IssueResetLink, LinkPolicy,
};
use pwreset_domain::{ClientInfo, Email, GroupId, NewPassword, UserStatus};
use pwreset_http::UserResponse;
use pwreset_infra::OutboxStatus;
use serde::Serialize;

use crate::config::{AccountsMode, Config};
use crate::wiring::{Schema, wire};

/// pwreset: the "forgot my password" flow of a Cloudreve-compatible account system.
///
/// Settings come from PWRESET_* environment variables, over an optional TOML
/// file (--config) that uses the same names in lower case without the
/// prefix. `pwreset serve --help` lists them with their defaults; `pwreset
/// config check` prints each one's effective value and source (secrets
/// hidden); a bad value stops any command with one line naming the setting.
#[derive(Debug, Parser)]
#[command(name = "pwreset", version = env!("PWRESET_VERSION"))]
pub struct Cli {
    /// A TOML configuration file; PWRESET_* variables override it.
    #[arg(long, global = true, env = "PWRESET_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first, unless
    /// PWRESET_MIGRATE_ON_START=false).
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
    /// Look at the mail outbox and send waiting messages now.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Try the mail transport.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Ask the running server whether it is up: GET /healthz (or /readyz) on
    /// PWRESET_BIND; exit 0 on 200, 1 otherwise (a container HEALTHCHECK).
    Health {
        /// Ask /readyz instead: the database (and Redis) answer too.
        #[arg(long)]
        ready: bool,
        /// How long to wait for the answer.
        #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::duration::parse)]
        timeout: std::time::Duration,
    },
    /// Write shell completions and the man page into a folder (for packagers).
    #[command(hide = true)]
    GenerateAssets {
        /// Where to write them (created if missing).
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets hidden) as JSON; exit
    /// non-zero, naming the setting, when it is not usable.
    Check {
        /// Also reach the database, the mail server (or outbox folder) and
        /// Redis, and report each under "connections"; sends no email and
        /// changes nothing. Exits 1 when one cannot be reached.
        #[arg(long)]
        connect: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send one test email through the configured transport (PWRESET_MAIL)
    /// and print where it went.
    Test {
        /// The address to send it to.
        #[arg(long, value_name = "ADDRESS")]
        to: String,
    },
    /// Write the built-in email templates into a folder, the layout
    /// PWRESET_TEMPLATES_DIR reads: a starting point for your own (files
    /// already there are left alone).
    ExportTemplates {
        /// The folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
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
    /// List users as JSON, in id order, a page at a time:
    /// {"users": [...], "next": ID or null}; pass "next" as --after for the
    /// following page.
    List {
        /// Only users with this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// At most this many users (1 to 1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// Start after this user (a public id, as printed in "next").
        #[arg(long, value_name = "ID")]
        after: Option<String>,
    },
    /// Print one user as JSON.
    Show(UserRef),
    /// Change a user's status (ban, unban, activate) and print the user as JSON.
    SetStatus {
        #[command(flatten)]
        user: UserRef,
        /// The new status.
        #[arg(long, value_enum)]
        status: StatusArg,
    },
}

/// Which user: by email address or by public id.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct UserRef {
    /// The user's email address.
    #[arg(long)]
    email: Option<String>,
    /// The user's public id (as in links and JSON).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
}

/// A user status, as Cloudreve names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    /// Can sign in and reset.
    #[value(name = "active")]
    Active,
    /// Not activated yet.
    #[value(name = "inactive")]
    Inactive,
    /// Banned by an administrator.
    #[value(name = "manual_banned")]
    ManualBanned,
    /// Banned by the system.
    #[value(name = "sys_banned")]
    SysBanned,
}

impl From<StatusArg> for UserStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Active => Self::Active,
            StatusArg::Inactive => Self::Inactive,
            StatusArg::ManualBanned => Self::ManualBanned,
            StatusArg::SysBanned => Self::SysBanned,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List emails as JSON, oldest first: address, kind, attempts, next
    /// attempt, last error. Never their bodies (a waiting reset email holds
    /// a live link).
    List {
        /// Which ones.
        #[arg(long, value_enum, default_value = "pending")]
        status: OutboxStatusArg,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
    },
    /// Make pending emails that wait for a later retry due now (all, or the
    /// one with --id); a running server sends them at its next poll. Emails
    /// given up cannot be resent: their bodies are erased (ask for a new link).
    Retry {
        /// Only this message (its id in `outbox list`).
        #[arg(long)]
        id: Option<i64>,
    },
}

/// An outbox state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutboxStatusArg {
    /// Waiting for delivery (or for a retry).
    Pending,
    /// Delivered.
    Sent,
    /// Given up.
    Failed,
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
    /// Initial status.
    #[arg(long, value_enum, default_value = "active")]
    status: StatusArg,
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
            Self::User(_)
            | Self::Token(_)
            | Self::Audit(_)
            | Self::Outbox(_)
            | Self::Config(_)
            | Self::Mail(_)
            | Self::Health { .. }
            | Self::GenerateAssets { .. } => "warn",
        }
    }
}

/// Runs a command.
pub fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    let config_file = cli.config.clone();
    match cli.command {
        Command::Serve => crate::serve::serve(config),
        Command::Migrate { status: false } => {
            let wired = wire(&config, Schema::Migrate)?;
            eprintln!("database {} is up to date", config.database.url.redacted());
            drop(wired);
            Ok(())
        }
        Command::Migrate { status: true } => migration_status(&config),
        Command::User(UserCommand::Create(args)) => create_user(&config, args),
        Command::User(UserCommand::List { status, limit, after }) => {
            list_users(&config, status, usize::from(limit), after.as_deref())
        }
        Command::User(UserCommand::Show(user)) => {
            let wired = wire(&config, Schema::Require)?;
            let profile = find_user(&wired, &user)?;
            print_json(&UserResponse::new(
                &profile,
                &*wired.ports.ids,
                &config.site.default_language,
            ))
        }
        Command::User(UserCommand::SetStatus { user, status }) => {
            let wired = wire(&config, Schema::Require)?;
            let id = find_user(&wired, &user)?.user.id;
            wired.store.set_status(id, status.into())?;
            let profile = find_user(&wired, &user)?;
            print_json(&UserResponse::new(
                &profile,
                &*wired.ports.ids,
                &config.site.default_language,
            ))
        }
        Command::Outbox(OutboxCommand::List { status, limit }) => {
            list_outbox(&config, status, usize::from(limit))
        }
        Command::Outbox(OutboxCommand::Retry { id }) => {
            let wired = wire(&config, Schema::Require)?;
            let now = wired.ports.clock.now();
            let n = wired.store.outbox_retry_now(id, now)?;
            if id.is_some() && n == 0 {
                bail!("no pending message with this id waits for a retry");
            }
            print_json(&serde_json::json!({ "rescheduled": n }))
        }
        Command::Health { ready, timeout } => {
            let path = if ready { "/readyz" } else { "/healthz" };
            let body = probe(&config.http.bind, path, timeout)?;
            writeln!(std::io::stdout().lock(), "{body}")?;
            Ok(())
        }
        Command::Token(TokenCommand::Issue { email }) => issue_token(&config, &email),
        Command::Token(TokenCommand::Sweep) => sweep(&config),
        Command::Config(ConfigCommand::Check { connect }) => {
            let given = config.describe();
            let config = effective(config)?;
            let described = config.describe();
            let sources = sources(config_file.as_deref(), &given, &described)?;
            let mut settings: serde_json::Map<String, serde_json::Value> =
                described.into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect();
            settings.insert("sources".into(), sources.into());
            if !connect {
                return print_json(&settings);
            }
            let checks = connections(&config);
            let failed: Vec<&str> =
                checks.iter().filter(|(_, c)| c.is_err()).map(|(name, _)| *name).collect();
            let report: serde_json::Map<String, serde_json::Value> = checks
                .into_iter()
                .map(|(name, check)| {
                    let (ok, detail) = match check {
                        Ok(detail) => (true, detail),
                        Err(e) => (false, pwreset_http::error_chain(e.as_ref())),
                    };
                    (name.to_owned(), serde_json::json!({ "ok": ok, "detail": detail }))
                })
                .collect();
            settings.insert("connections".into(), report.into());
            print_json(&settings)?;
            if !failed.is_empty() {
                bail!("cannot reach: {}", failed.join(", "));
            }
            Ok(())
        }
        Command::GenerateAssets { out } => generate_assets(&out),
        Command::Mail(MailCommand::Test { to }) => {
            let config = effective(config)?;
            let email = Email::parse(&to).context("--to")?;
            let transport = pwreset_infra::mail::transport(&config.mail.target, &config.mail.from)
                .context("PWRESET_MAIL")?;
            let site = &config.site.name;
            let text = format!(
                "This is a test email from pwreset for {site}. If it reached you, \
                 password reset emails will too.\n"
            );
            let mail = pwreset_domain::OutgoingMail {
                kind: pwreset_domain::MailKind::Test,
                to: email.as_str().to_owned(),
                subject: format!("[{site}] Test email"),
                html: format!("<p>{}</p>", escape_html(text.trim_end())),
                text,
            };
            transport.send(&mail).map_err(|e| anyhow!("not sent: {}", e.message))?;
            print_json(&serde_json::json!({
                "sent": true,
                "to": email.masked().to_string(),
                "via": config.mail.target.redacted(),
                "from": config.mail.from,
            }))
        }
        Command::Mail(MailCommand::ExportTemplates { out }) => export_templates(&out),
        Command::Audit(AuditCommand::List { user, since, limit }) => {
            list_audit(&config, user.as_deref(), &since, limit)
        }
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Reads one line and drops one trailing newline (`\n` or `\r\n`).
fn read_password_line(input: &mut impl BufRead) -> anyhow::Result<NewPassword> {
    let mut line = String::new();
    input.read_line(&mut line).context("cannot read the password from stdin")?;
    let line = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    NewPassword::parse(line.to_owned()).context("--password-stdin")
}

fn create_user(config: &Config, args: CreateArgs) -> anyhow::Result<()> {
    let email = Email::parse(&args.email).context("--email")?;
    let status = UserStatus::from(args.status);
    let group = match args.group.trim().parse::<i64>() {
        Ok(n) => GroupRef::Id(GroupId::new(n).context("--group")?),
        Err(_) => GroupRef::Name(args.group.trim().to_owned()),
    };
    let password = if args.password_stdin {
        Some(read_password_line(&mut std::io::stdin().lock())?)
    } else {
        None
    };
    let wired = wire(config, Schema::Require)?;
    let profile = CreateUser::new(&wired.ports).execute(CreateUserCommand {
        email,
        nickname: args.nickname,
        password,
        group,
        status,
    })?;
    print_json(&UserResponse::new(&profile, &*wired.ports.ids, &config.site.default_language))
}

#[derive(Serialize)]
struct IssuedToken {
    user_id: String,
    secret: String,
    url: String,
    expires_at: String,
}

fn issue_token(config: &Config, email: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).context("--email")?;
    let wired = wire(config, Schema::Require)?;
    let ttl = chrono::Duration::from_std(config.reset.token_ttl)?;
    let policy = LinkPolicy { ttl, site_url: wired.config.site.url.clone() };
    let link = IssueResetLink::new(&wired.ports, policy)
        .execute(IssueLinkCommand { email, client: ClientInfo::default(), channel: "cli" })
        .map_err(|e| match e {
            IssueLinkError::UnknownUser => anyhow!("no user has this email address"),
            IssueLinkError::UserNotActive(status) => anyhow!(
                "the account is {}; only active accounts can reset their password",
                status.as_str()
            ),
            other => other.into(),
        })?;
    print_json(&IssuedToken {
        user_id: link.public_id,
        secret: link.secret.expose().to_owned(),
        url: link.url,
        expires_at: link.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

/// Writes the built-in templates under `out`, skipping files that exist.
fn export_templates(out: &std::path::Path) -> anyhow::Result<()> {
    let (mut written, mut kept) = (Vec::new(), Vec::new());
    for (name, text) in pwreset_infra::MailTemplates::built_in_files() {
        let path = out.join(name);
        let parent = path.parent().unwrap_or(out);
        std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes()).with_context(|| path.display().to_string())?;
                written.push(name);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => kept.push(name),
            Err(e) => return Err(e).with_context(|| path.display().to_string()),
        }
    }
    print_json(
        &serde_json::json!({ "dir": out.display().to_string(), "written": written, "kept": kept }),
    )
}

/// The address a local client reaches a listener bound to `bind` at: a
/// wildcard host (`0.0.0.0`, `[::]`, empty) becomes loopback.
fn local_address(bind: &str) -> String {
    let (host, port) = bind.rsplit_once(':').unwrap_or((bind, "5212"));
    let host = match host {
        "" | "0.0.0.0" | "*" => "127.0.0.1",
        "[::]" => "[::1]",
        other => other,
    };
    format!("{host}:{port}")
}

/// `GET path` over plain HTTP/1.0 on the server's own listener; the body
/// when the answer is 200, an error naming the status or the failure otherwise.
fn probe(bind: &str, path: &str, timeout: std::time::Duration) -> anyhow::Result<String> {
    let address = local_address(bind);
    http_get(&address, path, timeout).with_context(|| format!("{address}{path}"))
}

/// `GET path` over plain HTTP/1.0 at `address`: the body of a 200 answer.
fn http_get(address: &str, path: &str, timeout: std::time::Duration) -> anyhow::Result<String> {
    use std::io::Read;
    use std::net::{TcpStream, ToSocketAddrs};
    let target = address.to_socket_addrs()?.next().context("the address resolves to nothing")?;
    let mut stream = TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.lines().next().unwrap_or_default();
    match status.split_whitespace().nth(1) {
        Some("200") => Ok(body.trim().to_owned()),
        Some(_) => bail!("{status} {}", body.trim()),
        None => bail!("no HTTP answer"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn probes_reach_wildcard_listeners_on_loopback() {
        assert_eq!(local_address("0.0.0.0:5212"), "127.0.0.1:5212");
        assert_eq!(local_address("[::]:80"), "[::1]:80");
        assert_eq!(local_address("10.0.0.7:5212"), "10.0.0.7:5212");
    }

    use super::*;

    #[test]
    fn password_line_drops_exactly_one_newline() {
        let read = |s: &str| {
            read_password_line(&mut s.as_bytes())
                .map(|p| p.expose().to_owned())
                .map_err(|e| format!("{e:#}"))
        };
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
    fn serve_help_lists_every_setting_with_its_default() {
        let help = command().find_subcommand_mut("serve").unwrap().render_long_help().to_string();
        for setting in pwreset_server::settings::SETTINGS {
            assert!(help.contains(&format!("  {}  ", setting.name)), "{} in {help}", setting.name);
        }
        assert!(help.contains("  PWRESET_BIND  "), "{help}");
        for line in [
            "default: 127.0.0.1:5212\n",
            "default: sqlite://./data/pwreset.db\n",
            "default: true\n",
            "default: none (built-in templates)\n",
        ] {
            assert!(help.contains(line), "{line:?} in {help}");
        }
        assert!(!help.contains('`') && !help.contains("]("), "markdown stays out: {help}");
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
            matches!(cli.command, Command::User(UserCommand::Create(ref a)) if a.group == "User" && a.status == StatusArg::Active)
        );
    }
}

/// `migrate --status`: every migration of the table set this configuration
/// uses and whether the database has it. Changes nothing (a SQLite file
/// that does not exist is not created).
fn migration_status(config: &Config) -> anyhow::Result<()> {
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
    let migrations: Vec<MigrationState> = match &config.database.url {
        pwreset_infra::DatabaseUrl::Sqlite(path) if !path.exists() => {
            pwreset_infra::db::embedded_migrations(config.database.url.backend(), state_only)?
        }
        url if state_only => {
            let env = |name: &str| std::env::var(name).ok();
            pwreset_cloudreve::open_unmigrated(url, &config.pool_options(), &env)?
                .store
                .migration_status()?
        }
        url => DieselStore::connect(url, &config.pool_options())?.migration_status()?,
    };
    print_json(&Status {
        database: config.database.url.redacted(),
        tables: if state_only { "pwreset_* beside Cloudreve's" } else { "pwreset" },
        pending: migrations.iter().filter(|m| !m.applied).count(),
        migrations: migrations
            .into_iter()
            .map(|m| Row { version: m.version, name: m.name, applied: m.applied })
            .collect(),
    })
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Where each setting's value came from: `env`, `env file` (the file a
/// `*_FILE` variable names), `config file`, `cloudreve` (the Cloudreve's
/// settings, in Cloudreve mode) or `default`.
fn sources(
    file: Option<&std::path::Path>,
    given: &[(&'static str, String)],
    effective: &[(&'static str, String)],
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let file = file.map(crate::config::load_file).transpose()?;
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let secret_file = |name: &str| {
        crate::config::SECRET_FILES.iter().any(|(setting, var)| *setting == name && set(var))
    };
    Ok(effective
        .iter()
        .map(|(name, value)| {
            let adopted = given.iter().any(|(n, v)| n == name && v != value);
            let source = if adopted {
                "cloudreve"
            } else if set(name) {
                "env"
            } else if secret_file(name) {
                "env file"
            } else if file.as_ref().is_some_and(|f| f.contains_key(*name)) {
                "config file"
            } else {
                "default"
            };
            ((*name).to_owned(), source.into())
        })
        .collect())
}

/// The long help of `serve`: every setting's variable, its default and
/// what it sets, from [`pwreset_server::settings::SETTINGS`].
fn settings_help() -> String {
    use pwreset_server::settings::{Fallback, SETTINGS, plain};
    let width = SETTINGS.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut help = String::from(
        "Settings (environment variables; a --config file takes the same names in lower \
         case without PWRESET_; pwreset config check shows the effective values):\n",
    );
    for setting in SETTINGS {
        let default = match setting.default {
            Fallback::Value(value) => value.to_owned(),
            Fallback::Described(text) => plain(text),
        };
        let (name, about) = (setting.name, setting.about);
        help.push_str(&format!("  {name:width$}  default: {default}\n  {:width$}  {about}\n", ""));
    }
    help
}

/// The command line, with the settings in `serve --help`.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().mut_subcommand("serve", |serve| {
        serve
            .after_help("Every setting, its variable and its default: pwreset serve --help")
            .after_long_help(settings_help())
    })
}

/// Parses the process's arguments (exits with clap's message on an error).
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}

/// Shell completions (bash, zsh, fish) and the man page pages, from the
/// clap definitions, for a package to install.
fn generate_assets(out: &std::path::Path) -> anyhow::Result<()> {
    use clap_complete::Shell;
    let fail = || out.display().to_string();
    std::fs::create_dir_all(out).with_context(fail)?;
    let mut cli = command();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cli, "pwreset", out).with_context(fail)?;
    }
    clap_mangen::generate_to(cli, out).with_context(fail)?;
    print_json(&serde_json::json!({ "written": out.display().to_string() }))
}

/// The configuration as commands see it: in Cloudreve mode, with what the
/// Cloudreve's settings fill in (read only: nothing is created).
fn effective(config: Config) -> anyhow::Result<Config> {
    match config.accounts {
        AccountsMode::Pwreset => Ok(config),
        AccountsMode::Cloudreve => {
            let env = |name: &str| std::env::var(name).ok();
            let site =
                pwreset_cloudreve::inspect(&config.database.url, &config.pool_options(), &env)?;
            crate::wiring::adopt_cloudreve(&config, &site)
        }
    }
}

/// Reaches the database, the mail target and Redis (when configured);
/// changes nothing and sends nothing. Each says what answered, or why not.
fn connections(config: &Config) -> Vec<(&'static str, anyhow::Result<String>)> {
    let database = match &config.database.url {
        pwreset_infra::DatabaseUrl::Sqlite(path) if !path.exists() => {
            Ok(format!("{} does not exist yet; `pwreset migrate` creates it", path.display()))
        }
        url => pwreset_infra::DieselStore::connect(url, &config.pool_options())
            .map_err(anyhow::Error::from)
            .and_then(|store| {
                store.ping(std::time::Duration::from_secs(5)).map_err(anyhow::Error::from)
            })
            .map(|()| format!("{} answers", url.redacted())),
    };
    let mail = pwreset_infra::mail::check(&config.mail.target).map_err(anyhow::Error::msg);
    let mut checks = vec![("database", database), ("mail", mail)];
    if let Some(url) = &config.limits.redis_url {
        let redis = pwreset_infra::RedisLimiter::new(&pwreset_infra::RedisSettings {
            url: url.clone(),
            prefix: config.limits.redis_prefix.clone(),
            timeout: std::time::Duration::from_secs(5),
            pool_size: 1,
        })
        .map_err(anyhow::Error::from)
        .and_then(|limiter| {
            actix_web::rt::System::new()
                .block_on(async move { limiter.ping().await })
                .map_err(anyhow::Error::from)
        })
        .map(|()| format!("{} answers", pwreset_infra::redact::url_password(url)));
        checks.push(("redis", redis));
    }
    checks
}

/// The user `user` names, or why not.
fn find_user(
    wired: &crate::wiring::Wired,
    user: &UserRef,
) -> anyhow::Result<pwreset_domain::UserProfile> {
    let id = match (&user.email, &user.id) {
        (Some(email), _) => {
            let email = Email::parse(email).context("--email")?;
            wired
                .ports
                .users
                .find_user_by_email(&email)?
                .context("no user has this email address")?
                .id
        }
        (None, Some(public)) => wired
            .ports
            .ids
            .decode_user(public.trim())
            .context("--id: not a user id of this site")?,
        (None, None) => bail!("name the user with --email or --id"),
    };
    wired.ports.users.find_profile(id)?.context("no such user")
}

fn list_users(
    config: &Config,
    status: Option<StatusArg>,
    limit: usize,
    after: Option<&str>,
) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Page {
        users: Vec<UserResponse>,
        next: Option<String>,
    }
    let wired = wire(config, Schema::Require)?;
    let after = after
        .map(|public| {
            wired
                .ports
                .ids
                .decode_user(public.trim())
                .context("--after: not a user id of this site")
        })
        .transpose()?;
    let profiles = wired.store.list_users(status.map(Into::into), after, limit)?;
    let next = (profiles.len() == limit)
        .then(|| profiles.last().map(|p| wired.ports.ids.encode_user(p.user.id)))
        .flatten();
    let users = profiles
        .iter()
        .map(|p| UserResponse::new(p, &*wired.ports.ids, &config.site.default_language))
        .collect();
    print_json(&Page { users, next })
}

fn list_outbox(config: &Config, status: OutboxStatusArg, limit: usize) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Message {
        id: i64,
        kind: String,
        recipient: String,
        status: String,
        attempts: i32,
        next_attempt_at: String,
        last_error: Option<String>,
        created_at: String,
    }
    let wired = wire(config, Schema::Require)?;
    let state = match status {
        OutboxStatusArg::Pending => OutboxStatus::Pending,
        OutboxStatusArg::Sent => OutboxStatus::Sent,
        OutboxStatusArg::Failed => OutboxStatus::Failed,
    };
    let time = |t: chrono::NaiveDateTime| t.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true);
    let messages: Vec<Message> = wired
        .store
        .outbox_list(state, limit)?
        .into_iter()
        .map(|m| Message {
            id: m.id,
            kind: m.kind,
            recipient: m.recipient,
            status: m.status,
            attempts: m.attempts,
            next_attempt_at: time(m.next_attempt_at),
            last_error: m.last_error,
            created_at: time(m.created_at),
        })
        .collect();
    print_json(&serde_json::json!({ "messages": messages }))
}

fn sweep(config: &Config) -> anyhow::Result<()> {
    let wired = wire(config, Schema::Require)?;
    let report = pwreset_http::runtime::sweep_once(
        &*wired.store,
        &*wired.ports.clock,
        config.reset.retention,
    )?;
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
) -> anyhow::Result<()> {
    let since = crate::duration::parse(since).map_err(|e| anyhow!("--since: {e}"))?;
    let wired = wire(config, Schema::Require)?;
    let ids = &wired.ports.ids;
    let user = user
        .map(|public| {
            ids.decode_user(public).with_context(|| format!("--user: {public:?} is not a user id"))
        })
        .transpose()?;
    let since = wired.ports.clock.now()
        - chrono::Duration::from_std(since).map_err(|_| anyhow!("--since: too long"))?;
    let records =
        wired.ports.audit.list(&pwreset_domain::ports::AuditQuery { user, since, limit })?;
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
