//! `PATCH {prefix}/user/reset/{user_id}`: the seed endpoint.

use actix_web::{HttpRequest, HttpResponse, web};
use pwreset_domain::ports::HashError;
use pwreset_domain::usecases::{ResetPasswordCommand, ResetPasswordError};

use crate::body::ResetBody;
use crate::client::client_info;
use crate::correlation::CorrelationId;
use crate::envelope::{ApiError, Code, Envelope};
use crate::ratelimit::{self, LimitName};
use crate::user::UserResponse;
use crate::{ApiState, MAX_PUBLIC_ID_LEN};

pub(crate) async fn reset_password(
    state: web::Data<ApiState>,
    id: CorrelationId,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    let debug = state.settings.debug;
    let ip = state.settings.trusted_proxies.client_ip(&req);
    let ip_key = ratelimit::client_key(ip, state.limiters.ipv6_prefix);
    let client = || client_info(&req, ip, id);
    ratelimit::enforce(&state, LimitName::ResetPerIp, &ip_key, None, client, id)?;
    let public_id = path.into_inner();
    if public_id.len() > MAX_PUBLIC_ID_LEN {
        return Err(ApiError::new(
            Code::ParamErr,
            format!("User id is longer than {MAX_PUBLIC_ID_LEN} characters"),
            id,
        ));
    }
    let user_id = state
        .ids
        .decode_user(&public_id)
        .ok_or_else(|| ApiError::new(Code::ParamErr, "User id is not a valid user id", id))?;
    let (password, secret) =
        body.into_inner().validate().map_err(|msg| ApiError::new(Code::ParamErr, msg, id))?;
    let command =
        ResetPasswordCommand { user_id, secret, password, client: client_info(&req, ip, id) };

    // Checking the link only reads storage: it runs on the storage lane. The
    // rare request that gets as far as hashing leaves the lane for that, so
    // hashing never holds up the refusals queued behind it.
    let reset = state.reset.clone();
    let checked = state.storage.run(move || reset.check(command)).await.map_err(|e| {
        state.metrics().reset("error");
        e.into_api_error(id, debug)
    })?;
    let outcome = match checked {
        Ok(checked) => {
            let reset = state.reset.clone();
            web::block(move || reset.complete(checked)).await.map_err(|e| {
                ApiError::new(Code::InternalSetting, "Internal error", id).with_detail(e, debug)
            })?
        }
        // The per-user limit counts refused links only, after the secret was
        // checked: junk sent for a user id can never stop the holder of that
        // user's live link (it used to be checked first, so 20 junk PATCHes
        // made the real link answer 429 for an hour).
        Err(refused @ ResetPasswordError::InvalidLink(_)) => {
            ratelimit::enforce(
                &state,
                LimitName::ResetPerUser,
                &user_id.to_string(),
                Some(user_id),
                client,
                id,
            )?;
            Err(refused)
        }
        Err(refused) => Err(refused),
    };
    match outcome {
        Ok(profile) => {
            tracing::info!(user_id = %profile.user.id, "password reset");
            state.metrics().reset("success");
            state.mail_queued();
            let user = UserResponse::new(&profile, &*state.ids, &state.settings.default_language);
            Ok(Envelope::success(user).respond())
        }
        Err(e) => {
            state.metrics().reset(match &e {
                ResetPasswordError::InvalidLink(_) => "invalid_link",
                ResetPasswordError::UserNotActive => "user_not_active",
                ResetPasswordError::Store(_)
                | ResetPasswordError::Hash(_)
                | ResetPasswordError::Random(_) => "error",
            });
            Err(refusal(e, id, debug))
        }
    }
}

/// The envelope for each way a reset can fail. Exhaustive on purpose: a new
/// variant must be given a code here.
fn refusal(error: ResetPasswordError, id: CorrelationId, debug: bool) -> ApiError {
    match error {
        ResetPasswordError::InvalidLink(problem) => {
            // Debug, not info: refusals are audited, and a flood of them
            // should not cost a log line each.
            tracing::debug!(reason = problem.as_str(), "reset refused: invalid link");
            ApiError::new(Code::TempLinkExpired, "Link is expired", id)
        }
        ResetPasswordError::UserNotActive => {
            tracing::debug!("reset refused: user not active");
            ApiError::new(Code::UserNotFound, "User not found", id)
        }
        ResetPasswordError::Store(e) => {
            ApiError::new(Code::DbError, "Database error", id).with_detail(error_chain(&e), debug)
        }
        ResetPasswordError::Hash(HashError::Busy) => {
            ApiError::new(Code::InternalSetting, "Server is busy, please try again shortly", id)
                .with_detail(HashError::Busy, debug)
        }
        ResetPasswordError::Hash(e @ HashError::Failed(_)) => {
            ApiError::new(Code::InternalSetting, "Internal error", id).with_detail(e, debug)
        }
        ResetPasswordError::Random(e) => {
            ApiError::new(Code::InternalSetting, "Internal error", id).with_detail(e, debug)
        }
    }
}

/// `outer: inner: innermost`, for logs.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
