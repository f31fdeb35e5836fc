//! The composition root: concrete adapters behind the domain's ports.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use pwreset_domain::Language;
use pwreset_domain::ports::{MailComposer, PasswordHasher, Ports};
use pwreset_infra::audit::BufferedAuditLog;
use pwreset_infra::{
    BcryptHasher, DieselStore, HashidCodec, OsRandom, SystemClock, TemplateComposer,
};
use tracing_subscriber::EnvFilter;

use pwreset_infra::mail::MailTarget;

use crate::config::{AccountsMode, Config, LogFormat};

/// Logs go to stderr (stdout is for the commands' JSON). `RUST_LOG` overrides
/// the level. Lines are handed to a writer thread, so a request never waits
/// on a `write` to stderr; nothing is dropped (a full buffer makes the logger
/// wait instead). Keep the guard alive: dropping it flushes what is left.
pub fn init_tracing(
    config: &Config,
    default_level: &str,
) -> tracing_appender::non_blocking::WorkerGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(colour);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}

/// Everything a command needs: the store and the ports over the configured
/// adapters, and the configuration in effect (in Cloudreve mode, the
/// Cloudreve's own settings fill what was not set explicitly).
pub struct Wired {
    pub store: Arc<DieselStore>,
    pub ports: Ports,
    pub config: Config,
}

/// How many refusal events may wait for the audit writer, and how many it
/// writes per transaction.
const AUDIT_QUEUE: usize = 10_000;
const AUDIT_BATCH: usize = 500;

impl Wired {
    /// Sends high-volume audit events (refusals, rate-limit hits) through a
    /// batching writer, for the server. Close it at shutdown.
    pub fn buffer_refusals(&mut self) -> anyhow::Result<Arc<BufferedAuditLog>> {
        let buffered = BufferedAuditLog::spawn(self.store.clone(), AUDIT_QUEUE, AUDIT_BATCH)
            .context("cannot start the audit writer")?;
        let buffered = Arc::new(buffered);
        self.ports.refusals = buffered.clone();
        Ok(buffered)
    }
}

fn migrate_or_require(store: &DieselStore, schema: Schema) -> anyhow::Result<()> {
    match schema {
        Schema::Migrate => {
            let applied = store.migrate()?;
            if !applied.is_empty() {
                tracing::info!(migrations = ?applied, "database migrated");
            }
            Ok(())
        }
        Schema::Require => require_current(store),
    }
}

/// What a command may do to the database's schema: only `serve` and
/// `migrate` change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Apply pending migrations first.
    Migrate,
    /// Refuse to run while migrations are pending, naming the fix.
    Require,
}

/// The line a command prints on a database that is not up to date.
fn not_migrated(what: &str) -> String {
    format!(
        "the database is not up to date ({what}); run `pwreset migrate` first \
         (other commands never change the schema; see the upgrade procedure in docs/operations.md)"
    )
}

/// Fails unless every migration of the store's table set is applied.
fn require_current(store: &DieselStore) -> anyhow::Result<()> {
    let pending: Vec<String> =
        store.migration_status()?.into_iter().filter(|m| !m.applied).map(|m| m.name).collect();
    if !pending.is_empty() {
        bail!(not_migrated(&format!("{} pending: {}", pending.len(), pending.join(", "))));
    }
    Ok(())
}

/// Connects to the database, applies pending migrations (or, with
/// [`Schema::Require`], refuses to go on while some are pending), settles
/// the hashid salt and builds the ports.
pub fn wire(config: &Config, schema: Schema) -> anyhow::Result<Wired> {
    if schema == Schema::Require
        && let pwreset_infra::DatabaseUrl::Sqlite(path) = &config.database.url
        && !path.exists()
    {
        bail!(not_migrated(&format!("{} does not exist", path.display())));
    }
    let hasher = BcryptHasher::new(config.reset.bcrypt_cost).context("PWRESET_BCRYPT_COST")?;
    let language = Language::from_tag(&config.site.default_language).unwrap_or(Language::EnUs);
    let options = config.pool_options();
    let (store, salt, config, mail, passwords): (
        _,
        _,
        _,
        Arc<dyn MailComposer>,
        Arc<dyn PasswordHasher>,
    ) = match config.accounts {
        AccountsMode::Pwreset => {
            let store = DieselStore::connect(&config.database.url, &options)?;
            migrate_or_require(&store, schema)?;
            let salt = store.ensure_hashid_salt(config.database.hashid_salt.as_deref())?;
            let mail = Arc::new(TemplateComposer::with_templates(
                config.site.name.clone(),
                language,
                config.mail.templates.clone(),
            ));
            (Arc::new(store), salt, config.clone(), mail, Arc::new(hasher))
        }
        AccountsMode::Cloudreve => {
            let env = |name: &str| std::env::var(name).ok();
            let site = pwreset_cloudreve::open_unmigrated(&config.database.url, &options, &env)?;
            migrate_or_require(&site.store, schema)?;
            let config = adopt_cloudreve(config, &site.settings)?;
            let own = TemplateComposer::with_templates(
                config.site.name.clone(),
                language,
                config.mail.templates.clone(),
            );
            // A templates folder the operator names wins over the site's
            // own reset template, as every PWRESET_* setting wins over
            // Cloudreve's settings.
            let composer: Arc<dyn MailComposer> = if config.mail.templates.dir().is_some() {
                tracing::info!(
                    "working on a Cloudreve V4 database's accounts, with PWRESET_TEMPLATES_DIR's emails"
                );
                Arc::new(own)
            } else {
                let composer = pwreset_cloudreve::CloudreveComposer::new(
                    site.settings.reset_template.as_deref(),
                    pwreset_cloudreve::mail::SiteContext {
                        name: config.site.name.clone(),
                        url: config.site.url.clone(),
                        logo: site.settings.logo.clone().unwrap_or_default(),
                    },
                    own,
                );
                tracing::info!(
                    templates = composer.template_count(),
                    "working on a Cloudreve V4 database's accounts"
                );
                Arc::new(composer)
            };
            let salt = site.settings.hash_id_salt.clone();
            (site.store, salt, config, composer, Arc::new(pwreset_cloudreve::CloudreveHasher))
        }
    };
    let ids = HashidCodec::new(&salt)?;
    let ports = Ports {
        users: store.clone(),
        tokens: store.clone(),
        audit: store.clone(),
        refusals: store.clone(),
        mail,
        hasher: passwords,
        clock: Arc::new(SystemClock),
        random: Arc::new(OsRandom),
        ids: Arc::new(ids),
    };
    Ok(Wired { store, ports, config })
}

/// The configuration with a Cloudreve's settings in the places pwreset's own
/// were not given: link base (`siteURL`, first entry), site name, login page,
/// mail server and sender.
pub fn adopt_cloudreve(
    config: &Config,
    site: &pwreset_cloudreve::SiteSettings,
) -> anyhow::Result<Config> {
    let mut config = config.clone();
    if config.database.hashid_salt.as_ref().is_some_and(|salt| *salt != site.hash_id_salt) {
        bail!(
            "PWRESET_HASHID_SALT differs from the Cloudreve's hash_id_salt: every \
             link would name the wrong user. Unset it"
        );
    }
    if !config.explicit.site_url {
        if let Some(url) = &site.site_url {
            let url = url.trim().trim_end_matches('/');
            if url.starts_with("http://") || url.starts_with("https://") {
                config.site.url = url.to_owned();
            } else {
                tracing::warn!(site_url = %url, "Cloudreve's siteURL is not an http(s) URL; set PWRESET_SITE_URL");
            }
        }
        if !config.explicit.login_url {
            config.site.login_url = format!("{}/session", config.site.url);
        }
    }
    if !config.explicit.site_name
        && let Some(name) = &site.site_name
    {
        config.site.name = name.trim().to_owned();
    }
    if !config.explicit.mail {
        let url = site.smtp.url().context(
            "the Cloudreve has no mail server configured (smtpHost); configure one in its \
             admin panel or set PWRESET_MAIL",
        )?;
        config.mail.target = MailTarget::parse(&url).context("Cloudreve's SMTP settings")?;
    }
    if !config.explicit.mail_from {
        config.mail.from =
            site.smtp.from().filter(|from| pwreset_infra::mail::is_mailbox(from)).unwrap_or_else(
                || crate::config::default_sender(&config.site.name, &config.site.url),
            );
    }
    Ok(config)
}
