//! Correlation ids: taken from `X-Cr-Correlation-Id` when it holds a UUID,
//! otherwise minted; echoed on every response and attached to every log line
//! of the request.

use std::convert::Infallible;
use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use tracing::Instrument;
use uuid::Uuid;

/// Cloudreve's correlation header.
pub const HEADER: HeaderName = HeaderName::from_static("x-cr-correlation-id");

/// The correlation id of the current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrelationId(pub Uuid);

impl CorrelationId {
    /// The id the middleware attached to the request, or a fresh one when the
    /// request did not pass through it.
    pub fn of(req: &HttpRequest) -> Self {
        req.extensions().get::<Self>().copied().unwrap_or_else(|| Self(Uuid::new_v4()))
    }

    fn from_header(value: Option<&HeaderValue>) -> Self {
        value
            .and_then(|v| v.to_str().ok())
            .and_then(|s| Uuid::parse_str(s.trim()).ok())
            .map_or_else(|| Self(Uuid::new_v4()), Self)
    }
}

impl std::fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl FromRequest for CorrelationId {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// Assigns the request its correlation id, runs it inside a span that
/// carries the id, logs its status and latency, and echoes the id in the
/// response header. Idempotent: when an outer layer (the host application's
/// `App`) already did all this, it steps aside.
pub async fn correlation_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if req.extensions().get::<CorrelationId>().is_some() {
        return next.call(req).await;
    }
    let id = CorrelationId::from_header(req.headers().get(HEADER));
    req.extensions_mut().insert(id);
    let metrics =
        req.app_data::<actix_web::web::Data<crate::ApiState>>().map(|s| s.metrics().clone());
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.path(),
        correlation_id = %id,
    );
    let started = std::time::Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let code = res.response().extensions().get::<crate::envelope::EnvelopeCode>().map(|c| c.0);
    let status = res.status().as_u16();
    if let Some(metrics) = metrics {
        metrics.observe_request(&route, method.as_str(), status, code, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(
            route = %route,
            status,
            code,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        res.headers_mut().insert(HEADER, value);
    }
    Ok(res)
}
