//! Use cases: the decisions of the reset flow, over the ports.

mod create_user;
mod issue_link;
mod reset_password;

pub use create_user::{CreateUser, CreateUserCommand, NewUserError};
pub use issue_link::{IssueLinkCommand, IssueLinkError, IssueResetLink, IssuedLink, LinkPolicy};
pub use reset_password::{LinkProblem, ResetPassword, ResetPasswordCommand, ResetPasswordError};

#[cfg(test)]
pub(crate) mod fixtures;
