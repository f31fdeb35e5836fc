//! Use cases: the decisions of the reset flow, over the ports.

mod create_user;
mod deliver_mail;
mod issue_link;
mod request_reset;
mod reset_password;

pub use create_user::{CreateUser, CreateUserCommand, NewUserError};
pub use deliver_mail::{DeliverMail, DeliveryEvent, DeliveryReport, RetryPolicy};
pub use issue_link::{IssueLinkCommand, IssueLinkError, IssueResetLink, IssuedLink, LinkPolicy};
pub use request_reset::{
    Ineligible, RequestPasswordReset, RequestResetCommand, RequestResetError, RequestResetOutcome,
};
pub use reset_password::{
    CheckedReset, LinkProblem, ResetPassword, ResetPasswordCommand, ResetPasswordError,
};

#[cfg(test)]
pub(crate) mod fixtures;
