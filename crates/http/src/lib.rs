//! pwreset's actix-web adapter: the Cloudreve-compatible JSON API.
//!
//! Mount it into any actix-web `App` with [`configure`]:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use actix_web::{App, web};
//! use pwreset_domain::{Language, ports::Ports};
//! use pwreset_http::{ApiSettings, ApiState};
//! use pwreset_infra::{
//!     BcryptHasher, HashidCodec, MemoryStore, OsRandom, SystemClock, TemplateComposer,
//! };
//!
//! let store = Arc::new(MemoryStore::new());
//! let ports = Ports {
//!     users: store.clone(),
//!     tokens: store.clone(),
//!     audit: store.clone(),
//!     refusals: store,
//!     mail: Arc::new(TemplateComposer::new("My Drive", Language::EnUs)),
//!     hasher: Arc::new(BcryptHasher::new(12).unwrap()),
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

#![warn(missing_docs)]

mod body;
mod client;
mod compat;
mod correlation;
mod envelope;
mod failure;
mod frontend;
mod lane;
mod metrics;
mod openapi;
mod ops;
mod pages;
mod ratelimit;
mod request;
mod reset;
pub mod runtime;
mod state;
mod timing;
mod user;

use actix_web::middleware::from_fn;
use actix_web::web;
use pwreset_domain::usecases::LinkPolicy;

pub use crate::body::{RequestBody, ResetBody, parse_json};
pub use crate::client::{IpNet, TrustedProxies};
pub use crate::compat::CompatSettings;
pub use crate::correlation::{CorrelationId, correlation_middleware};
pub use crate::envelope::{ApiError, Code, Envelope};
pub use crate::frontend::{Frontend, FrontendSettings, configure_frontend};
pub use crate::lane::StorageDeadline;
pub use crate::metrics::{Kind, Metrics, OpsProbe, Reading};
pub use crate::ops::{configure_health, configure_metrics, configure_ops, security_headers};
pub use crate::pages::PageSettings;
pub use crate::ratelimit::{Limit, RateLimits};
pub use crate::state::{ApiState, MailQueuedHook};
pub use crate::user::{GroupResponse, UserResponse};
pub use pwreset_domain::error_chain;

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
    /// Lifetime and base URL of reset links.
    pub link: LinkPolicy,
    /// Answer link requests for unknown, banned and inactive addresses with
    /// Cloudreve's revealing codes instead of the usual success.
    pub reveal_account_state: bool,
    /// Least time a link request takes to answer (after its input is
    /// checked): the work differs between known and unknown addresses, and
    /// the answer must not tell them apart by its timing. It rises to the
    /// slowest of the recent link requests' work (at most 5 s), so the two
    /// stay apart by nothing under load either; zero turns it off.
    pub link_request_min_time: std::time::Duration,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// The reset and forgot pages.
    pub pages: PageSettings,
    /// The Cloudreve web-app shims around the reset pages; `None` leaves them out.
    pub cloudreve_compat: Option<CompatSettings>,
    /// Threads that run storage work (refused resets, link requests), in
    /// arrival order; about the connection pool's size.
    pub storage_threads: usize,
    /// How long a request may wait for one of those threads before it is
    /// answered `50001` without running; about the pool's checkout timeout.
    pub storage_wait: std::time::Duration,
    /// Threads that hash passwords (and then finish the reset), in arrival
    /// order: the most hashes that run at once, whichever hasher the ports
    /// carry. They run at a lower OS priority than request handling (Linux),
    /// so one per core does not starve refusals.
    pub hash_threads: usize,
    /// How long a reset may wait for one of those threads before it is
    /// answered "busy" (`50005`) without hashing.
    pub hash_wait: std::time::Duration,
}

/// How long a reset waits for a hashing thread, by default, before it is
/// answered "busy".
pub const DEFAULT_HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Hashing threads by default: one per core. They run below request
/// handling's priority, so they use the cores requests leave idle.
pub fn default_hash_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            prefix: "/api/v4".into(),
            debug: false,
            default_language: "en-US".into(),
            link: LinkPolicy {
                ttl: chrono::Duration::hours(1),
                site_url: "http://127.0.0.1:5212".into(),
            },
            reveal_account_state: false,
            link_request_min_time: std::time::Duration::from_millis(50),
            rate_limits: RateLimits::default(),
            trusted_proxies: TrustedProxies::default(),
            pages: PageSettings::default(),
            cloudreve_compat: Some(CompatSettings::default()),
            storage_threads: 4,
            storage_wait: std::time::Duration::from_secs(5),
            hash_threads: default_hash_threads(),
            hash_wait: DEFAULT_HASH_WAIT,
        }
    }
}

/// Registers the API under `settings.prefix`, with its own correlation-id
/// middleware, JSON limits and envelope-shaped errors. Pass the result to
/// `App::configure`.
pub fn configure(state: web::Data<ApiState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let prefix = state.settings().prefix.trim_end_matches('/').to_owned();
        let json =
            web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(envelope::json_error);
        let mut scope = web::scope(&prefix);
        if state.settings().cloudreve_compat.is_some() {
            scope = compat::register(scope);
        }
        cfg.service(
            scope
                .app_data(state)
                .app_data(json)
                .wrap(from_fn(body::refuse_encoded_bodies))
                .wrap(from_fn(ops::api_headers))
                .wrap(from_fn(correlation_middleware))
                .service(
                    web::resource("/user/reset/{user_id}")
                        .route(web::patch().to(reset::reset_password))
                        .default_service(envelope::method_not_allowed("PATCH")),
                )
                .service(
                    web::resource("/user/reset")
                        .route(web::post().to(request::request_reset))
                        .default_service(envelope::method_not_allowed("POST")),
                )
                .service(
                    web::resource("/openapi.json")
                        .route(web::get().to(openapi::serve))
                        .default_service(envelope::method_not_allowed("GET")),
                )
                .default_service(web::to(envelope::not_found)),
        );
    }
}

/// Registers the pages a person sees — `GET /session/reset` (the emailed
/// link), `GET /session/forgot` and their assets under `/session/assets/` —
/// at the site root, beside (not under) the API prefix. Pass the result to
/// `App::configure`.
pub fn configure_pages(state: web::Data<ApiState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/session")
                .app_data(state)
                .wrap(from_fn(correlation_middleware))
                .route("/reset", web::get().to(pages::reset_page))
                .route("/forgot", web::get().to(pages::forgot_page))
                .service(
                    web::resource("/assets/{file}")
                        .route(web::get().to(pages::asset))
                        .route(web::head().to(pages::asset)),
                ),
        );
    }
}
