//! `pwreset serve`: the HTTP server and the mail worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use pwreset_domain::Language;
use pwreset_domain::usecases::{LinkPolicy, RetryPolicy};
use pwreset_http::runtime::{Runtime, RuntimeSettings};
use pwreset_http::{
    ApiSettings, ApiState, CompatSettings, Frontend, FrontendSettings, Metrics, PageSettings,
    StorageDeadline, correlation_middleware, security_headers,
};

use pwreset_infra::{RedisLimiter, RedisSettings};

use crate::config::Config;
use crate::ops::Probe;
use crate::wiring::{Schema, wire};

/// Most connections to Redis one instance opens (each is multiplexed: every
/// request in flight shares them).
const REDIS_POOL_SIZE: usize = 8;

/// How long in-flight requests may finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE_SECS: u64 = 10;

/// Runs the server until SIGINT or SIGTERM, then drains in-flight requests
/// and stops the mail worker.
pub fn serve(config: Config) -> anyhow::Result<()> {
    let schema = if config.database.migrate_on_start { Schema::Migrate } else { Schema::Require };
    let mut wired = wire(&config, schema)?;
    // In Cloudreve mode the Cloudreve's settings fill in what was not set.
    let config = wired.config.clone();
    let refusals = wired.buffer_refusals()?;
    let metrics = Arc::new(Metrics::default());
    let transport = pwreset_infra::mail::transport(&config.mail.target, &config.mail.from)
        .context("PWRESET_MAIL")?;
    let retry = RetryPolicy {
        max_attempts: config.mail.max_attempts,
        first_retry: config.mail.retry_base,
        lease: config.mail.lease,
        ..RetryPolicy::default()
    };
    let runtime = Runtime::start_with_metrics(
        wired.store.clone(),
        wired.store.clone(),
        transport,
        wired.ports.clock.clone(),
        RuntimeSettings {
            retry,
            mail_poll: config.mail.poll,
            retention: config.reset.retention,
            sweep_interval: config.reset.sweep_interval,
        },
        metrics.clone(),
    )
    .context("cannot start the mail worker and sweeper")?;

    let ttl = chrono::Duration::from_std(config.reset.token_ttl)?;
    let settings = ApiSettings {
        prefix: config.http.api_prefix.clone(),
        debug: config.debug,
        default_language: config.site.default_language.clone(),
        link: LinkPolicy { ttl, site_url: config.site.url.clone() },
        reveal_account_state: config.http.reveal_account_state,
        link_request_min_time: config.http.link_request_min_time,
        rate_limits: config.limits.rates.clone(),
        trusted_proxies: config.http.trusted_proxies.clone(),
        cloudreve_compat: config.http.cloudreve_compat.then(|| CompatSettings {
            site_title: config.site.name.clone(),
            logo: config.frontend.logo.clone(),
            logo_light: config.frontend.logo_light.clone(),
        }),
        // One thread per pooled connection: none ever waits for a connection,
        // and requests beyond that wait their turn in order, no longer in all
        // than a connection checkout may.
        storage_threads: wired.store.pool().max_size() as usize,
        storage_wait: wired.store.pool().connection_timeout(),
        // Hashing on at most PWRESET_BCRYPT_CONCURRENCY threads, whichever
        // hasher the accounts use.
        hash_threads: config.reset.bcrypt_concurrency,
        hash_wait: pwreset_http::DEFAULT_HASH_WAIT,
        pages: PageSettings {
            site_name: config.site.name.clone(),
            login_url: config.site.login_url.clone(),
            default_language: Language::from_tag(&config.site.default_language)
                .unwrap_or(Language::EnUs),
        },
    };
    let probe = Probe {
        store: wired.store.clone(),
        refusals: refusals.clone(),
        pending: std::sync::Mutex::new(None),
    };
    let mut state = ApiState::new(&wired.ports, settings)
        .on_mail_queued(runtime.waker())
        .with_metrics(metrics.clone())
        .with_probe(Arc::new(probe))
        .with_storage_deadline(Arc::new(CheckoutDeadline));
    if let Some(url) = &config.limits.redis_url {
        let limiter = RedisLimiter::new(&RedisSettings {
            url: url.clone(),
            prefix: config.limits.redis_prefix.clone(),
            timeout: config.limits.redis_timeout,
            pool_size: REDIS_POOL_SIZE,
        })
        .context("PWRESET_REDIS_URL")?;
        tracing::info!(
            redis = %pwreset_infra::redact::url_password(url),
            prefix = %config.limits.redis_prefix,
            "rate limits are shared through Redis by every instance"
        );
        state = state.with_shared_limits(Arc::new(limiter), config.limits.redis_timeout);
    }
    let state = web::Data::new(state);
    let frontend = match &config.frontend.dir {
        Some(dir) => Some(web::Data::new(
            Frontend::load(&FrontendSettings {
                dir: dir.clone(),
                site_name: config.site.name.clone(),
                site_description: config.frontend.site_description.clone(),
                site_script: config.frontend.site_script.clone(),
                pwa_small_icon: config.frontend.pwa_small_icon.clone(),
                pwa_medium_icon: config.frontend.pwa_medium_icon.clone(),
                pwa_large_icon: config.frontend.pwa_large_icon.clone(),
                pwa_display: config.frontend.pwa_display.clone(),
                pwa_theme_color: config.frontend.pwa_theme_color.clone(),
                pwa_background_color: config.frontend.pwa_background_color.clone(),
            })
            .with_context(|| format!("PWRESET_FRONTEND_DIR: cannot load {}", dir.display()))?,
        )),
        None => None,
    };
    if let Some(frontend) = &frontend {
        tracing::info!(
            dir = %frontend.dir().display(),
            "serving the web frontend at /; it owns /session/*, so pwreset's own reset pages are off"
        );
    }
    if config.debug {
        tracing::warn!("debug mode: internal error details are sent to clients");
    }
    for warning in config.unsafe_for_production() {
        tracing::warn!("{warning}");
    }
    if config.http.reveal_account_state {
        tracing::warn!(
            "PWRESET_REVEAL_ACCOUNT_STATE=true: link requests tell strangers which addresses have accounts"
        );
    }
    let metrics_public = config.http.metrics_public;
    if metrics_public {
        tracing::warn!(
            "PWRESET_METRICS_PUBLIC=true: /metrics on the public listener tells readers which addresses have accounts"
        );
    }
    let ops_state = state.clone();
    let served = actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(state.clone())
                .wrap(from_fn(security_headers))
                .wrap(from_fn(correlation_middleware))
                .configure(pwreset_http::configure(state.clone()))
                .configure(pwreset_http::configure_health(state.clone()));
            if metrics_public {
                app = app.configure(pwreset_http::configure_metrics(state.clone()));
            }
            // The frontend, when there is one, owns /session/* (its router
            // renders the reset page) and answers everything left: it goes last.
            match &frontend {
                Some(frontend) => app.configure(pwreset_http::configure_frontend(frontend.clone())),
                None => app.configure(pwreset_http::configure_pages(state.clone())),
            }
        })
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        // A client has this long to send its request head; idle connections close.
        .client_request_timeout(Duration::from_secs(10))
        .keep_alive(Duration::from_secs(30))
        .bind(&config.http.bind)
        .with_context(|| format!("PWRESET_BIND: cannot listen on {}", config.http.bind))?;
        for addr in server.addrs() {
            tracing::info!(
                address = %addr,
                database = %config.database.url.redacted(),
                mail = %config.mail.target.redacted(),
                site_url = %config.site.url,
                api_prefix = %config.http.api_prefix,
                token_ttl = %crate::duration::format(config.reset.token_ttl),
                "pwreset listening"
            );
        }
        let ops = match &config.http.ops_bind {
            Some(ops_bind) => {
                let ops = HttpServer::new(move || {
                    App::new()
                        .wrap(from_fn(security_headers))
                        .configure(pwreset_http::configure_ops(ops_state.clone()))
                })
                .workers(1)
                .shutdown_timeout(SHUTDOWN_GRACE_SECS)
                .client_request_timeout(Duration::from_secs(10))
                .bind(ops_bind)
                .with_context(|| format!("PWRESET_OPS_BIND: cannot listen on {ops_bind}"))?;
                for addr in ops.addrs() {
                    tracing::info!(address = %addr, "operations endpoints listening");
                }
                Some(ops.run())
            }
            None => None,
        };
        match ops {
            Some(ops) => {
                let (api, ops) = futures_join(server.run(), ops).await;
                api.and(ops)?;
            }
            None => server.run().await?,
        }
        anyhow::Ok(())
    });
    runtime.stop(Duration::from_secs(SHUTDOWN_GRACE_SECS));
    refusals.close(Duration::from_secs(SHUTDOWN_GRACE_SECS));
    served?;
    tracing::info!("pwreset stopped");
    Ok(())
}

/// Runs both servers to their end (each stops on SIGINT/SIGTERM).
async fn futures_join(
    a: actix_web::dev::Server,
    b: actix_web::dev::Server,
) -> (std::io::Result<()>, std::io::Result<()>) {
    let b = actix_web::rt::spawn(b);
    let a = a.await;
    let b = b.await.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    (a, b)
}

/// A request's storage work stops waiting for a pooled connection once the
/// request has waited `storage_wait` in all, queue included: during a
/// database outage under load, an answer comes within that, not twice it.
struct CheckoutDeadline;

impl StorageDeadline for CheckoutDeadline {
    fn within(&self, deadline: Instant, work: &mut dyn FnMut()) {
        pwreset_infra::db::checkout_deadline(deadline, work);
    }
}
