//! The Cloudreve envelope and the mapping of every failure onto it.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;
use uuid::Uuid;

use crate::ApiState;
use crate::correlation::CorrelationId;

/// Cloudreve's response codes, as pwreset uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Code {
    /// Success.
    Success = 0,
    /// No such route.
    NotFound = 404,
    /// The route exists, not with this method.
    MethodNotAllowed = 405,
    /// Rate limit hit (the only code sent with a non-200 status).
    TooManyRequests = 429,
    /// Malformed or invalid input.
    ParamErr = 40001,
    /// The account is banned (only when account state is revealed).
    UserBanned = 40017,
    /// The account is not activated (only when account state is revealed).
    UserNotActivated = 40018,
    /// A session credential is invalid (only from the token-refresh shim).
    CredentialInvalid = 40020,
    /// No such user, or not active.
    UserNotFound = 40021,
    /// The email could not be queued.
    FailedSendEmail = 40028,
    /// The reset link is unknown, wrong, expired, used or another user's.
    TempLinkExpired = 40030,
    /// The database failed.
    DbError = 50001,
    /// Any other internal failure.
    InternalSetting = 50005,
}

impl Code {
    /// A failure of the server (storage, mail, anything internal), not a
    /// refusal of the request: its cause is logged.
    pub fn is_internal(self) -> bool {
        matches!(self, Self::DbError | Self::InternalSetting | Self::FailedSendEmail)
    }
}

/// The envelope code of a response, attached to it for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeCode(pub i32);

/// `{"code", "data", "msg", "error", "correlation_id"}`, in Cloudreve's key order.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    /// 0 on success.
    pub code: i32,
    /// The payload, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Human-readable message; empty on success.
    pub msg: String,
    /// Internal detail, in debug mode only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The request's correlation id, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
}

impl<T: Serialize> Envelope<T> {
    /// The HTTP 200 response carrying this envelope.
    pub fn respond(&self) -> HttpResponse {
        let mut response = HttpResponse::Ok().json(self);
        response.extensions_mut().insert(EnvelopeCode(self.code));
        response
    }

    /// A success envelope around `data`.
    pub fn success(data: T) -> Self {
        Self {
            code: Code::Success as i32,
            data: Some(data),
            msg: String::new(),
            error: None,
            correlation_id: None,
        }
    }
}

impl Envelope<()> {
    /// A success envelope without data: `{"code":0,"msg":""}`.
    pub fn ok() -> Self {
        Self {
            code: Code::Success as i32,
            data: None,
            msg: String::new(),
            error: None,
            correlation_id: None,
        }
    }
}

/// A failure, rendered as an envelope (HTTP 200 unless the code says otherwise).
#[derive(Debug)]
pub struct ApiError {
    code: Code,
    msg: String,
    correlation_id: CorrelationId,
    /// Internal cause; sent only in debug mode, always logged for 5xxxx codes.
    detail: Option<String>,
    debug: bool,
    /// For 429: when to come back.
    retry_after: Option<std::time::Duration>,
}

impl ApiError {
    /// A failure with a public message.
    pub fn new(code: Code, msg: impl Into<String>, correlation_id: CorrelationId) -> Self {
        Self {
            code,
            msg: msg.into(),
            correlation_id,
            detail: None,
            debug: false,
            retry_after: None,
        }
    }

    /// HTTP 429 with `Retry-After` (whole seconds, at least 1).
    pub fn too_many_requests(
        retry_after: std::time::Duration,
        correlation_id: CorrelationId,
    ) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let secs = secs.max(1);
        Self {
            retry_after: Some(std::time::Duration::from_secs(secs)),
            ..Self::new(
                Code::TooManyRequests,
                format!("Too many requests; try again in {secs} seconds"),
                correlation_id,
            )
        }
    }

    /// Attaches the internal cause — the error and its whole chain of
    /// sources — logs it once (for server-side failures), and includes it in
    /// the envelope only when `debug` is on.
    pub fn with_cause(mut self, cause: &(dyn std::error::Error + 'static), debug: bool) -> Self {
        let detail = pwreset_domain::error_chain(cause);
        if self.code.is_internal() {
            tracing::error!(code = self.code as i32, correlation_id = %self.correlation_id, error = %detail, "request failed");
        }
        self.detail = Some(detail);
        self.debug = debug;
        self
    }

    /// The envelope code.
    pub fn code(&self) -> Code {
        self.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code as i32, self.msg)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self.code {
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Code::Success
            | Code::ParamErr
            | Code::UserBanned
            | Code::UserNotActivated
            | Code::CredentialInvalid
            | Code::UserNotFound
            | Code::FailedSendEmail
            | Code::TempLinkExpired
            | Code::DbError
            | Code::InternalSetting => StatusCode::OK,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(after) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, after.as_secs()));
        }
        let mut response = response.json(Envelope::<()> {
            code: self.code as i32,
            data: None,
            msg: self.msg.clone(),
            error: self.detail.clone().filter(|_| self.debug),
            correlation_id: Some(self.correlation_id.0),
        });
        response.extensions_mut().insert(EnvelopeCode(self.code as i32));
        response
    }
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        self.error_response()
    }
}

fn debug_mode(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<ApiState>>().is_some_and(|s| s.settings().debug)
}

/// Turns every JSON extraction failure into a 40001 envelope that says what
/// was wrong.
pub(crate) fn json_error(
    err: actix_web::error::JsonPayloadError,
    req: &HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let msg = match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => {
            format!("Request body is larger than {} KiB", crate::MAX_BODY_BYTES / 1024)
        }
        E::ContentType => "Content-Type must be application/json".to_owned(),
        E::Deserialize(e) => crate::body::describe(e),
        _ => "Cannot read the request body".to_owned(),
    };
    ApiError::new(Code::ParamErr, msg, CorrelationId::of(req))
        .with_cause(&err, debug_mode(req))
        .into()
}

/// Unknown route under the API prefix.
pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::new(Code::NotFound, "Not found", CorrelationId::of(&req)).error_response()
}

/// The fallback of a known route for any other method: 405 with the `Allow`
/// header RFC 9110 requires (`allow` lists the route's methods).
pub(crate) fn method_not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move |req: HttpRequest| async move {
        let mut res =
            ApiError::new(Code::MethodNotAllowed, "Method not allowed", CorrelationId::of(&req))
                .error_response();
        res.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
        res
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_envelope_shape() {
        let json = serde_json::to_string(&Envelope::success(serde_json::json!({"a": 1}))).unwrap();
        assert_eq!(json, r#"{"code":0,"data":{"a":1},"msg":""}"#);
    }

    #[test]
    fn failure_envelope_hides_detail_unless_debug() {
        let id = CorrelationId(Uuid::nil());
        let body = |e: ApiError| {
            let res = e.error_response();
            assert_eq!(res.status(), StatusCode::OK);
            let bytes = actix_web::rt::System::new()
                .block_on(actix_web::body::to_bytes(res.into_body()))
                .unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        let plain = body(
            ApiError::new(Code::DbError, "Database error", id)
                .with_cause(&std::io::Error::other("boom"), false),
        );
        assert_eq!(
            plain,
            r#"{"code":50001,"msg":"Database error","correlation_id":"00000000-0000-0000-0000-000000000000"}"#
        );
        let debug = body(
            ApiError::new(Code::DbError, "Database error", id)
                .with_cause(&std::io::Error::other("boom"), true),
        );
        assert!(debug.contains(r#""error":"boom""#), "{debug}");
    }
}
