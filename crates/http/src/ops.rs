//! Operations endpoints at the site root: `GET /healthz` (the process
//! answers), `GET /readyz` (the database answers, or a 503 within about a
//! second; `degraded` while shared rate limits are unavailable) and
//! `GET /metrics` (Prometheus text). And the headers every response carries.
//!
//! `/metrics` counts link requests by their real outcome (queued, unknown
//! address, …): it must not be reachable by the public, or it would tell
//! which addresses have accounts. [`configure_health`] is safe on the public
//! listener; [`configure_metrics`] (and [`configure_ops`], both) belong on a
//! private one.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, HttpResponse, web};
use serde_json::json;

use crate::ApiState;

/// How long `/readyz` waits for its probe.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<ApiState>) -> HttpResponse {
    // The reason (a host, a port, a user name) goes to the log, not to
    // whoever asks.
    let unavailable = |error: String| {
        tracing::warn!(%error, "not ready");
        HttpResponse::ServiceUnavailable()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"status": "unavailable"}))
    };
    if let Some(probe) = state.probe().cloned() {
        let check = web::block(move || probe.ready());
        match actix_web::rt::time::timeout(READY_TIMEOUT, check).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return unavailable(e),
            Ok(Err(e)) => return unavailable(e.to_string()),
            Err(_) => {
                return unavailable(format!("no answer within {} s", READY_TIMEOUT.as_secs()));
            }
        }
    }
    // Without the shared limiter the instance still serves (with limits of
    // its own): it stays in the load balancer, and says it is degraded.
    // (Why is in the log, once per outage.)
    let shared_up = match &state.limiters().shared {
        Some(shared) => shared.probe().await,
        None => true,
    };
    let status = if shared_up { "ready" } else { "degraded" };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": status}))
}

async fn metrics(state: web::Data<ApiState>) -> HttpResponse {
    let probe = state.probe().cloned();
    let mut readings = match probe {
        Some(probe) => {
            let read = web::block(move || probe.readings());
            match actix_web::rt::time::timeout(READY_TIMEOUT, read).await {
                Ok(Ok(readings)) => readings,
                _ => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    let (hashing, waiting) = state.hashing_load();
    readings.push(crate::Reading::gauge(
        "pwreset_bcrypt_in_flight",
        "Password hashes being computed.",
        hashing as f64,
    ));
    readings.push(crate::Reading::gauge(
        "pwreset_bcrypt_waiting",
        "Password hashes waiting for a hashing thread.",
        waiting as f64,
    ));
    if let Some(shared) = &state.limiters().shared {
        readings.push(crate::Reading::gauge(
            "pwreset_rate_limits_shared",
            "1 while rate limits are shared through Redis; 0 while this instance falls back to limits of its own.",
            if shared.probe().await { 1.0 } else { 0.0 },
        ));
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(state.metrics().render(&readings))
}

/// Registers `/healthz` and `/readyz`: safe on the public listener (their
/// answers say nothing about accounts, and nothing about the database's
/// address). Pass the result to `App::configure`.
pub fn configure_health(state: web::Data<ApiState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::resource("/healthz")
                .app_data(state.clone())
                .wrap(from_fn(crate::correlation_middleware))
                .route(web::get().to(healthz)),
        )
        .service(
            web::resource("/readyz")
                .app_data(state)
                .wrap(from_fn(crate::correlation_middleware))
                .route(web::get().to(readyz)),
        );
    }
}

/// Registers `/metrics`: for a private listener only (see the module docs).
pub fn configure_metrics(state: web::Data<ApiState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::resource("/metrics")
                .app_data(state)
                .wrap(from_fn(crate::correlation_middleware))
                .route(web::get().to(metrics)),
        );
    }
}

/// Registers `/healthz`, `/readyz` and `/metrics`, for a private operations
/// listener. Pass the result to `App::configure`.
pub fn configure_ops(state: web::Data<ApiState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        configure_health(state.clone())(cfg);
        configure_metrics(state)(cfg);
    }
}

fn set_default(
    res: &mut ServiceResponse<impl MessageBody>,
    name: header::HeaderName,
    value: &'static str,
) {
    if !res.headers().contains_key(&name) {
        res.headers_mut().insert(name, HeaderValue::from_static(value));
    }
}

/// Headers for every response (unless a handler chose its own): no MIME
/// sniffing, no framing, no Referer.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    set_default(&mut res, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(&mut res, header::X_FRAME_OPTIONS, "DENY");
    set_default(&mut res, header::REFERRER_POLICY, "no-referrer");
    Ok(res)
}

/// Headers of the JSON API: never cached, never rendered as a document.
pub(crate) async fn api_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    set_default(&mut res, header::CACHE_CONTROL, "no-store");
    set_default(
        &mut res,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    );
    Ok(res)
}
