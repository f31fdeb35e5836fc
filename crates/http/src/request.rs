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
    let network = ratelimit::client_key(ip, state.limiters.ipv6_prefix);
    let client = || client_info(&req, ip, id);
    ratelimit::enforce(&state, LimitName::RequestPerIp, &network, None, client, id)?;
    let (email, language) =
        body.into_inner().validate().map_err(|msg| ApiError::new(Code::ParamErr, msg, id))?;
    let address = email.normalized();
    // A client that keeps asking for one address is told to wait; others
    // asking for the same address are not (they are counted apart).
    let per_client = format!("{address}\n{network}");
    ratelimit::enforce(&state, LimitName::RequestPerEmail, &per_client, None, client, id)?;

    let started = std::time::Instant::now();
    // From here on the work depends on whether the address has an account;
    // answer no sooner than the floor (which follows the slowest recent
    // work), so the timing does not say which.
    let wait_until = |floor: std::time::Duration| async move {
        if let Some(rest) = floor.checked_sub(started.elapsed()) {
            actix_web::rt::time::sleep(rest).await;
        }
    };
    // An address gets a bounded number of links, whoever asks. Beyond it the
    // answer is the usual one, and nothing is minted, sent or revoked: the
    // newest link already sent stays live, so nobody can keep its owner
    // from resetting, and nobody can bomb the mailbox.
    if ratelimit::hit(&state, LimitName::RequestPerAddress, &address, None, client).is_err() {
        wait_until(state.timing.current()).await;
        return Ok(Envelope::ok().respond());
    }

    let masked = email.masked();
    let command = RequestResetCommand { email, language, client: client_info(&req, ip, id) };
    let use_case = state.request.clone();
    let outcome = state.storage.run(move || use_case.execute(command)).await;
    wait_until(state.timing.after(started.elapsed())).await;
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
