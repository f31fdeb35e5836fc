//! pwreset's actix-web adapter: the Cloudreve-compatible JSON API.
//!
//! Mount it into any actix-web `App` with [`configure`]:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use actix_web::{App, web};
//! use pwreset_domain::ports::Ports;
//! use pwreset_http::{ApiSettings, ApiState};
//! use pwreset_infra::{BcryptHasher, HashidCodec, MemoryStore, OsRandom, SystemClock};
//!
//! let store = Arc::new(MemoryStore::new());
//! let ports = Ports {
//!     users: store.clone(),
//!     tokens: store,
//!     hasher: Arc::new(BcryptHasher::new(12, 2, Duration::from_secs(10)).unwrap()),
//!     clock: Arc::new(SystemClock),
//!     random: Arc::new(OsRandom),
//!     ids: Arc::new(HashidCodec::new("my site salt").unwrap()),
//! };
//! let state = web::Data::new(ApiState::new(&ports, ApiSettings::default()));
//! let app = App::new().configure(pwreset_http::configure(state));
//! ```
//!
//! Every answer under the prefix is a Cloudreve envelope, including answers to
//! malformed requests and unknown routes.

pub mod correlation;
pub mod envelope;
mod reset;
mod user;

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::web;
use pwreset_domain::ports::{Ports, PublicIdCodec};
use pwreset_domain::usecases::ResetPassword;

pub use crate::correlation::{CorrelationId, correlation_middleware};
pub use crate::envelope::{ApiError, Code, Envelope};
pub use crate::user::{GroupResponse, UserResponse};

/// JSON bodies larger than this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Public ids longer than this are refused before decoding.
pub const MAX_PUBLIC_ID_LEN: usize = 32;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Route prefix, Cloudreve's `/api/v4` by default.
    pub prefix: String,
    /// Adds internal error detail (`error`) to failure envelopes. Never in production.
    pub debug: bool,
    /// Language reported for users that have none.
    pub default_language: String,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self { prefix: "/api/v4".into(), debug: false, default_language: "en-US".into() }
    }
}

/// What the handlers share: the use cases and the settings.
pub struct ApiState {
    reset: ResetPassword,
    ids: Arc<dyn PublicIdCodec>,
    settings: ApiSettings,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl ApiState {
    /// Wires the use cases to the ports.
    pub fn new(ports: &Ports, settings: ApiSettings) -> Self {
        Self { reset: ResetPassword::new(ports), ids: ports.ids.clone(), settings }
    }

    /// The settings.
    pub fn settings(&self) -> &ApiSettings {
        &self.settings
    }
}

/// Registers the API under `settings.prefix`, with its own correlation-id
/// middleware, JSON limits and envelope-shaped errors. Pass the result to
/// `App::configure`.
pub fn configure(state: web::Data<ApiState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let prefix = state.settings.prefix.trim_end_matches('/').to_owned();
        let json =
            web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(envelope::json_error);
        cfg.service(
            web::scope(&prefix)
                .app_data(state)
                .app_data(json)
                .wrap(from_fn(correlation_middleware))
                .service(
                    web::resource("/user/reset/{user_id}")
                        .route(web::patch().to(reset::reset_password))
                        .default_service(web::to(envelope::method_not_allowed)),
                )
                .default_service(web::to(envelope::not_found)),
        );
    }
}
