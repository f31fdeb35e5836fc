//! `POST {prefix}/user/reset`: ask for a reset link by email address.

use actix_web::{HttpRequest, HttpResponse, web};
use pwreset_domain::usecases::{
    Ineligible, RequestResetCommand, RequestResetError, RequestResetOutcome,
};

use crate::ApiState;
use crate::body::RequestBody;
use crate::client::client_info;
use crate::correlation::CorrelationId;
use crate::envelope::{ApiError, Code, Envelope};
use crate::ratelimit::{self, LimitName};

pub(crate) async fn request_reset(
    state: web::Data<ApiState>,
    id: CorrelationId,
    req: HttpRequest,
    body: web::Json<RequestBody>,
) -> Result<HttpResponse, ApiError> {
    let debug = state.settings.debug;
    let ip = state.settings.trusted_proxies.client_ip(&req);
    let ip_key = ip.map(|ip| ip.to_string()).unwrap_or_default();
    let client = || client_info(&req, ip, id);
    ratelimit::enforce(&state, LimitName::RequestPerIp, &ip_key, None, client, id)?;
    let (email, language) =
        body.into_inner().validate().map_err(|msg| ApiError::new(Code::ParamErr, msg, id))?;
    ratelimit::enforce(&state, LimitName::RequestPerEmail, &email.normalized(), None, client, id)?;

    let masked = email.masked();
    let command = RequestResetCommand { email, language, client: client_info(&req, ip, id) };
    let use_case = state.request.clone();
    let started = std::time::Instant::now();
    let outcome = state.storage.run(move || use_case.execute(command)).await;
    // From here on the work depended on whether the address has an account;
    // answer no sooner than the floor, so the timing does not say which.
    let floor = state.settings.link_request_min_time;
    if let Some(rest) = floor.checked_sub(started.elapsed()) {
        actix_web::rt::time::sleep(rest).await;
    }
    let outcome = outcome.map_err(|e| {
        state.metrics().link_request("error");
        e.into_api_error(id, debug)
    })?;
    if outcome.is_err() {
        state.metrics().link_request("error");
    }
    match outcome {
        Ok(RequestResetOutcome::Queued) => {
            tracing::info!(email = %masked, "reset link queued");
            state.metrics().link_request("queued");
            state.mail_queued();
            Ok(Envelope::ok().respond())
        }
        Ok(RequestResetOutcome::NotQueued(reason)) => {
            tracing::info!(email = %masked, reason = ?reason, "reset link not sent");
            state.metrics().link_request(match reason {
                Ineligible::UnknownUser => "unknown_address",
                Ineligible::Inactive => "inactive",
                Ineligible::Banned => "banned",
            });
            match (state.settings.reveal_account_state, reason) {
                (false, _) => Ok(Envelope::ok().respond()),
                (true, Ineligible::UnknownUser) => {
                    Err(ApiError::new(Code::UserNotFound, "User not found", id))
                }
                (true, Ineligible::Banned) => {
                    Err(ApiError::new(Code::UserBanned, "This user is banned", id))
                }
                (true, Ineligible::Inactive) => {
                    Err(ApiError::new(Code::UserNotActivated, "This user is not activated", id))
                }
            }
        }
        Err(e @ RequestResetError::Lookup(_)) => {
            Err(ApiError::new(Code::DbError, "Database error", id)
                .with_detail(crate::reset::error_chain(&e), debug))
        }
        Err(e @ RequestResetError::Record(_)) => {
            Err(ApiError::new(Code::FailedSendEmail, "Failed to send email", id)
                .with_detail(crate::reset::error_chain(&e), debug))
        }
        Err(e @ RequestResetError::Random(_)) => {
            Err(ApiError::new(Code::InternalSetting, "Internal error", id).with_detail(e, debug))
        }
    }
}
