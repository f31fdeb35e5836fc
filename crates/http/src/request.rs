//! `POST {prefix}/user/reset`: ask for a reset link by email address.

use actix_web::{HttpRequest, HttpResponse, web};
use pwreset_domain::usecases::{RequestResetCommand, RequestResetOutcome};

use crate::ApiState;
use crate::body::RequestBody;
use crate::client::client_info;
use crate::correlation::CorrelationId;
use crate::envelope::{ApiError, Code, Envelope};
use crate::failure;
use crate::ratelimit::{self, LimitName};

pub(crate) async fn request_reset(
    state: web::Data<ApiState>,
    id: CorrelationId,
    req: HttpRequest,
    body: web::Json<RequestBody>,
) -> Result<HttpResponse, ApiError> {
    let debug = state.settings().debug;
    let ip = state.settings().trusted_proxies.client_ip(&req);
    let network = ratelimit::client_key(ip, state.limiters().ipv6_prefix);
    let client = || client_info(&req, ip, id);
    ratelimit::enforce(&state, LimitName::RequestPerIp, &network, None, client, id).await?;
    let (email, language) =
        body.into_inner().validate().map_err(|msg| ApiError::new(Code::ParamErr, msg, id))?;
    let address = email.normalized();
    // A client that keeps asking for one address is told to wait; others
    // asking for the same address are not (they are counted apart).
    let per_client = format!("{address}\n{network}");
    ratelimit::enforce(&state, LimitName::RequestPerEmail, &per_client, None, client, id).await?;

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
    if ratelimit::hit(&state, LimitName::RequestPerAddress, &address, None, client).await.is_err() {
        wait_until(state.timing().current()).await;
        return Ok(Envelope::ok().respond());
    }

    let masked = email.masked();
    let command = RequestResetCommand { email, language, client: client_info(&req, ip, id) };
    let use_case = state.request_use_case().clone();
    let outcome = state.on_storage(move || use_case.execute(command)).await;
    wait_until(state.timing().after(started.elapsed())).await;
    let outcome = outcome.map_err(|e| {
        let failure = failure::storage(&e);
        state.metrics().link_request(failure.label);
        failure.answer(id, &e, debug)
    })?;
    match outcome {
        Ok(RequestResetOutcome::Queued) => {
            tracing::info!(email = %masked, "reset link queued");
            state.metrics().link_request("queued");
            state.mail_queued();
            Ok(Envelope::ok().respond())
        }
        Ok(RequestResetOutcome::NotQueued(reason)) => {
            tracing::info!(email = %masked, reason = ?reason, "reset link not sent");
            let failure = failure::ineligible(reason);
            state.metrics().link_request(failure.label);
            if state.settings().reveal_account_state {
                Err(ApiError::new(failure.code, failure.msg, id))
            } else {
                Ok(Envelope::ok().respond())
            }
        }
        Err(e) => {
            let failure = failure::request(&e);
            state.metrics().link_request(failure.label);
            Err(failure.answer(id, &e, debug))
        }
    }
}
