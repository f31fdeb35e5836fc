//! `pwreset serve`: the HTTP server.

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use pwreset_http::{ApiSettings, ApiState, correlation_middleware};

use crate::config::Config;
use crate::wiring::wire;

/// How long in-flight requests may finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE_SECS: u64 = 10;

/// Runs the server until SIGINT or SIGTERM, then drains in-flight requests.
pub fn serve(config: Config) -> Result<(), String> {
    let wired = wire(&config)?;
    let settings = ApiSettings {
        prefix: config.api_prefix.clone(),
        debug: config.debug,
        default_language: config.default_language.clone(),
    };
    let state = web::Data::new(ApiState::new(&wired.ports, settings));
    if config.debug {
        tracing::warn!("debug mode: internal error details are sent to clients");
    }
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(correlation_middleware))
                .configure(pwreset_http::configure(state.clone()))
        })
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .bind(&config.bind)
        .map_err(|e| format!("PWRESET_BIND: cannot listen on {}: {e}", config.bind))?;
        for addr in server.addrs() {
            tracing::info!(
                address = %addr,
                database = %config.database_url.redacted(),
                site_url = %config.site_url,
                api_prefix = %config.api_prefix,
                token_ttl = %crate::duration::format(config.token_ttl),
                "pwreset listening"
            );
        }
        server.run().await.map_err(|e| e.to_string())?;
        tracing::info!("pwreset stopped");
        Ok(())
    })
}
