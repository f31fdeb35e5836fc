//! Every way a request can fail after its input was accepted, and how the API
//! answers it — in one place, exhaustively: each error of a use case (and of
//! the storage lane) becomes an envelope code, a public message and the
//! metric label it is counted under. A new error variant does not compile
//! until it is given all three here.
//!
//! The cause (the error's whole chain) goes to the log once, with the
//! correlation id, by [`ApiError::with_cause`]; clients see it only in debug
//! mode.

use pwreset_domain::ports::HashError;
use pwreset_domain::usecases::{Ineligible, RequestResetError, ResetPasswordError};

use crate::CorrelationId;
use crate::envelope::{ApiError, Code};
use crate::lane::LaneError;

/// How one failure is answered and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The envelope code.
    pub code: Code,
    /// What the client reads.
    pub msg: &'static str,
    /// The `outcome` label of the request's counter.
    pub label: &'static str,
}

impl Failure {
    const fn new(code: Code, msg: &'static str, label: &'static str) -> Self {
        Self { code, msg, label }
    }

    /// The envelope; for an internal failure its cause is logged (and shown
    /// in debug mode). A refusal carries no cause: it is the client's.
    pub(crate) fn answer(
        self,
        id: CorrelationId,
        cause: &(dyn std::error::Error + 'static),
        debug: bool,
    ) -> ApiError {
        let answer = ApiError::new(self.code, self.msg, id);
        if self.code.is_internal() { answer.with_cause(cause, debug) } else { answer }
    }
}

/// A reset (`PATCH`) that did not happen.
pub(crate) fn reset(error: &ResetPasswordError) -> Failure {
    match error {
        ResetPasswordError::InvalidLink(_) => {
            Failure::new(Code::TempLinkExpired, "Link is expired", "invalid_link")
        }
        ResetPasswordError::UserNotActive => {
            Failure::new(Code::UserNotFound, "User not found", "user_not_active")
        }
        ResetPasswordError::Store(_) => Failure::new(Code::DbError, "Database error", "error"),
        ResetPasswordError::Hash(HashError::Busy) => BUSY,
        ResetPasswordError::Hash(HashError::Failed(_)) | ResetPasswordError::Random(_) => INTERNAL,
    }
}

/// A link request (`POST`) that failed.
pub(crate) fn request(error: &RequestResetError) -> Failure {
    match error {
        RequestResetError::Lookup(_) => Failure::new(Code::DbError, "Database error", "error"),
        RequestResetError::Record(_) => {
            Failure::new(Code::FailedSendEmail, "Failed to send email", "error")
        }
        RequestResetError::Random(_) => {
            Failure::new(Code::InternalSetting, "Internal error", "error")
        }
    }
}

/// A link request for an address that gets no link: the label it is counted
/// under, and — only with `PWRESET_REVEAL_ACCOUNT_STATE` — Cloudreve's
/// revealing answer.
pub(crate) fn ineligible(reason: Ineligible) -> Failure {
    match reason {
        Ineligible::UnknownUser => {
            Failure::new(Code::UserNotFound, "User not found", "unknown_address")
        }
        Ineligible::Banned => Failure::new(Code::UserBanned, "This user is banned", "banned"),
        Ineligible::Inactive => {
            Failure::new(Code::UserNotActivated, "This user is not activated", "inactive")
        }
    }
}

/// Storage work that did not run: waiting too long is answered like a pool
/// checkout that timed out (`50001`), a panic like any internal error.
pub(crate) fn storage(error: &LaneError) -> Failure {
    match error {
        LaneError::Busy(..) => Failure::new(Code::DbError, "Database error", "error"),
        LaneError::Panicked(_) => INTERNAL,
    }
}

/// Hashing that did not run: waiting too long is answered like a hasher
/// that is busy (`50005`, try again shortly), a panic like any internal error.
pub(crate) fn hashing(error: &LaneError) -> Failure {
    match error {
        LaneError::Busy(..) => BUSY,
        LaneError::Panicked(_) => INTERNAL,
    }
}

const BUSY: Failure =
    Failure::new(Code::InternalSetting, "Server is busy, please try again shortly", "error");

const INTERNAL: Failure = Failure::new(Code::InternalSetting, "Internal error", "error");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_failures_are_counted_as_errors_and_refusals_by_their_kind() {
        let busy = reset(&ResetPasswordError::Hash(HashError::Busy));
        assert_eq!((busy.code, busy.label), (Code::InternalSetting, "error"));
        assert!(busy.code.is_internal());
        let unknown = ineligible(Ineligible::UnknownUser);
        assert_eq!((unknown.code, unknown.label), (Code::UserNotFound, "unknown_address"));
        assert!(!unknown.code.is_internal());
        assert_eq!(storage(&LaneError::Busy("db", std::time::Duration::ZERO)).code, Code::DbError);
        let hashing_busy = hashing(&LaneError::Busy("hash", std::time::Duration::ZERO));
        assert_eq!(hashing_busy, busy, "a full hashing lane answers as a busy hasher did");
    }
}
