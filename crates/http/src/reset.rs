//! `PATCH {prefix}/user/reset/{user_id}`: the seed endpoint.

use actix_web::{HttpRequest, HttpResponse, web};
use pwreset_domain::usecases::{ResetPasswordCommand, ResetPasswordError};

use crate::body::ResetBody;
use crate::client::client_info;
use crate::correlation::CorrelationId;
use crate::envelope::{ApiError, Code, Envelope};
use crate::failure;
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
    let debug = state.settings().debug;
    let ip = state.settings().trusted_proxies.client_ip(&req);
    let ip_key = ratelimit::client_key(ip, state.limiters().ipv6_prefix);
    let client = || client_info(&req, ip, id);
    ratelimit::enforce(&state, LimitName::ResetPerIp, &ip_key, None, client, id).await?;
    let public_id = path.into_inner();
    if public_id.len() > MAX_PUBLIC_ID_LEN {
        return Err(ApiError::new(
            Code::ParamErr,
            format!("User id is longer than {MAX_PUBLIC_ID_LEN} characters"),
            id,
        ));
    }
    let user_id = state
        .ids()
        .decode_user(&public_id)
        .ok_or_else(|| ApiError::new(Code::ParamErr, "User id is not a valid user id", id))?;
    let (password, secret) =
        body.into_inner().validate().map_err(|msg| ApiError::new(Code::ParamErr, msg, id))?;
    let command =
        ResetPasswordCommand { user_id, secret, password, client: client_info(&req, ip, id) };

    // Checking the link only reads storage: it runs on the storage lane. The
    // rare request that gets as far as hashing moves to the hashing lane for
    // the rest, so hashing never holds up the refusals queued behind it.
    let reset = state.reset_use_case().clone();
    let checked = state.on_storage(move || reset.check(command)).await.map_err(|e| {
        let failure = failure::storage(&e);
        state.metrics().reset(failure.label);
        failure.answer(id, &e, debug)
    })?;
    let outcome = match checked {
        Ok(checked) => {
            let reset = state.reset_use_case().clone();
            state.on_hashing(move || reset.complete(checked)).await.map_err(|e| {
                let failure = failure::hashing(&e);
                state.metrics().reset(failure.label);
                failure.answer(id, &e, debug)
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
            )
            .await?;
            Err(refused)
        }
        Err(refused) => Err(refused),
    };
    match outcome {
        Ok(profile) => {
            tracing::info!(user_id = %profile.user.id, "password reset");
            state.metrics().reset("success");
            state.mail_queued();
            let user = UserResponse::new(&profile, state.ids(), &state.settings().default_language);
            Ok(Envelope::success(user).respond())
        }
        Err(e) => {
            if let ResetPasswordError::InvalidLink(problem) = &e {
                // Debug, not info: refusals are audited, and a flood of them
                // should not cost a log line each.
                tracing::debug!(reason = problem.as_str(), "reset refused: invalid link");
            }
            let failure = failure::reset(&e);
            state.metrics().reset(failure.label);
            Err(failure.answer(id, &e, debug))
        }
    }
}
