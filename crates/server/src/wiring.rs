//! The composition root: concrete adapters behind the domain's ports.

use std::sync::Arc;
use std::time::Duration;

use pwreset_domain::Language;
use pwreset_domain::ports::Ports;
use pwreset_infra::audit::BufferedAuditLog;
use pwreset_infra::db::PoolOptions;
use pwreset_infra::{
    BcryptHasher, DieselStore, HashidCodec, OsRandom, SystemClock, TemplateComposer,
};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// How long a reset may wait for a bcrypt slot before answering "busy".
const HASH_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Everything a command needs: the store and the ports over the configured adapters.
pub struct Wired {
    pub store: Arc<DieselStore>,
    pub hasher: Arc<BcryptHasher>,
    pub ports: Ports,
}

/// How many refusal events may wait for the audit writer, and how many it
/// writes per transaction.
const AUDIT_QUEUE: usize = 10_000;
const AUDIT_BATCH: usize = 500;

impl Wired {
    /// Sends high-volume audit events (refusals, rate-limit hits) through a
    /// batching writer, for the server. Close it at shutdown.
    pub fn buffer_refusals(&mut self) -> Result<Arc<BufferedAuditLog>, String> {
        let buffered = BufferedAuditLog::spawn(self.store.clone(), AUDIT_QUEUE, AUDIT_BATCH)
            .map_err(|e| format!("cannot start the audit writer: {e}"))?;
        let buffered = Arc::new(buffered);
        self.ports.refusals = buffered.clone();
        Ok(buffered)
    }
}

/// Connects to the database, applies pending migrations, settles the hashid
/// salt and builds the ports.
pub fn wire(config: &Config) -> Result<Wired, String> {
    let options = PoolOptions::for_backend(config.database_url.backend());
    let store = DieselStore::connect(&config.database_url, &options).map_err(|e| e.to_string())?;
    let applied = store.migrate().map_err(|e| e.to_string())?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "database migrated");
    }
    let salt =
        store.ensure_hashid_salt(config.hashid_salt.as_deref()).map_err(|e| e.to_string())?;
    let ids = HashidCodec::new(&salt).map_err(|e| e.to_string())?;
    let hasher =
        BcryptHasher::new(config.bcrypt_cost, config.bcrypt_concurrency, HASH_QUEUE_TIMEOUT)
            .map_err(|e| format!("PWRESET_BCRYPT_COST: {e}"))?;
    let store = Arc::new(store);
    let hasher = Arc::new(hasher);
    let language = Language::from_tag(&config.default_language).unwrap_or(Language::EnUs);
    let ports = Ports {
        users: store.clone(),
        tokens: store.clone(),
        audit: store.clone(),
        refusals: store.clone(),
        mail: Arc::new(TemplateComposer::new(config.site_name.clone(), language)),
        hasher: hasher.clone(),
        clock: Arc::new(SystemClock),
        random: Arc::new(OsRandom),
        ids: Arc::new(ids),
    };
    Ok(Wired { store, hasher, ports })
}
