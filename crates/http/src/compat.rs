//! Compatibility shims for the stock Cloudreve V4 web app.
//!
//! That app's forgot-password and reset pages make a few calls around the two
//! reset endpoints (read from its source: `src/api/request.ts`,
//! `src/router/index.tsx`, `Pages/Login/Reset.tsx`); without answers it shows
//! a spinner forever. These handlers give the smallest truthful answers:
//!
//! | call | answer |
//! |---|---|
//! | `GET /site/config/basic` | site title and logos from configuration |
//! | `GET /site/config/login` | every captcha off, no passkeys, no sign-up |
//! | `GET /session/prepare?email=` | `password_enabled: true` for every valid address, so it reveals nothing |
//! | `POST /session/token/refresh` | 40020: pwreset issues no sessions, so a stale one is signed out |
//!
//! On by default; `PWRESET_CLOUDREVE_COMPAT=false` leaves them out.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use pwreset_domain::Email;
use serde_json::json;

use crate::ApiState;
use crate::correlation::CorrelationId;
use crate::envelope::{ApiError, Code, Envelope};

/// What the shims say about the site.
#[derive(Debug, Clone)]
pub struct CompatSettings {
    /// `title` of the basic site configuration.
    pub site_title: String,
    /// `logo` (dark-on-light logo URL).
    pub logo: String,
    /// `logo_light` (light-on-dark logo URL).
    pub logo_light: String,
}

impl Default for CompatSettings {
    fn default() -> Self {
        Self {
            site_title: "pwreset".into(),
            logo: "/static/img/logo.svg".into(),
            logo_light: "/static/img/logo_light.svg".into(),
        }
    }
}

fn settings(state: &ApiState) -> CompatSettings {
    state.settings().cloudreve_compat.clone().unwrap_or_default()
}

/// `GET {prefix}/site/config/basic`: read at app start; `data` must be an object.
pub(crate) async fn site_config_basic(state: web::Data<ApiState>) -> HttpResponse {
    let s = settings(&state);
    Envelope::success(json!({
        "title": s.site_title,
        "logo": s.logo,
        "logo_light": s.logo_light,
        "captcha_type": "normal",
    }))
    .respond()
}

/// `GET {prefix}/site/config/login`: the `/session/*` pages wait for it.
pub(crate) async fn site_config_login() -> HttpResponse {
    Envelope::success(json!({
        "login_captcha": false,
        "reg_captcha": false,
        "forget_captcha": false,
        "authn": false,
        "register_enabled": false,
    }))
    .respond()
}

/// `GET {prefix}/session/prepare?email=`: the sign-in page shows "Forgot
/// password?" only when `password_enabled` is true. The same answer for every
/// well-formed address.
pub(crate) async fn session_prepare(
    id: CorrelationId,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let email = query.get("email").map(String::as_str).unwrap_or("");
    if email.trim().is_empty() {
        return Err(ApiError::new(Code::ParamErr, "Email cannot be empty", id));
    }
    Email::parse(email).map_err(|_| ApiError::new(Code::ParamErr, "Email format error", id))?;
    Ok(Envelope::success(json!({
        "webauthn_enabled": false,
        "password_enabled": true,
        "sso_enabled": false,
        "qq_enabled": false,
    }))
    .respond())
}

/// `POST {prefix}/session/token/refresh`: pwreset issues no sessions, so any
/// refresh token is invalid; 40020 makes the app sign the stale session out.
pub(crate) async fn token_refresh(id: CorrelationId) -> ApiError {
    ApiError::new(Code::CredentialInvalid, "Failed to issue token pair", id)
}

/// Registers the shims into the API scope.
pub(crate) fn register(scope: actix_web::Scope) -> actix_web::Scope {
    let only = |path, method: &'static str, route: actix_web::Route| {
        web::resource(path)
            .route(route)
            .default_service(crate::envelope::method_not_allowed(method))
    };
    scope
        .service(only("/site/config/basic", "GET", web::get().to(site_config_basic)))
        .service(only("/site/config/login", "GET", web::get().to(site_config_login)))
        .service(only("/session/prepare", "GET", web::get().to(session_prepare)))
        .service(only("/session/token/refresh", "POST", web::post().to(token_refresh)))
}
