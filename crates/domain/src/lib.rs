//! The password-reset domain of pwreset: entities, value types, ports and use cases.
//!
//! This crate knows nothing of HTTP, SQL or async runtimes. Adapters (see the
//! `pwreset-infra` and `pwreset-http` crates) implement the traits in [`ports`]
//! and call the use cases in [`usecases`].

#![warn(missing_docs)]

mod chain;
pub mod model;
pub mod ports;
pub mod usecases;
pub mod values;

pub use chain::error_chain;
pub use model::{
    AuditKind, AuditRecord, Avatar, ClientInfo, Group, Language, Limit, MailKind, OutgoingMail,
    ResetToken, TokenState, User, UserProfile, UserSettings, UserStatus,
};
pub use values::{
    Email, GroupId, NewPassword, PasswordHash, ResetSecret, SecretDigest, SecurityStamp,
    SubmittedSecret, UserId,
};
