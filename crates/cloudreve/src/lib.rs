//! pwreset on a Cloudreve V4 installation's own accounts
//! (`PWRESET_ACCOUNTS=cloudreve`).
//!
//! The adapter implements the domain's existing ports; the domain and its use
//! cases know nothing of Cloudreve:
//! - [`CloudreveAccounts`] plugs Cloudreve's `users` and `groups` tables into
//!   pwreset's SQL store ([`pwreset_infra::db::Accounts`]); pwreset's own state
//!   lives beside them in `pwreset_*` tables it migrates itself;
//! - [`CloudreveHasher`] writes and checks passwords in the format Cloudreve's
//!   login reads;
//! - [`open`] checks that a database is a Cloudreve V4's, reads the settings
//!   pwreset takes from it ([`SiteSettings`]: hashid salt, site URL and name,
//!   SMTP) and returns the store;
//! - [`CloudreveComposer`] renders the reset email from the operator's own
//!   `mail_reset_template`.
//!
//! The crate runs the storage contract suite of `pwreset-infra` against a
//! Cloudreve V4 schema on every backend (`tests/adapter/contract.rs`).

#![warn(missing_docs)]

pub mod accounts;
pub mod mail;
pub mod password;
pub mod site;
mod sql;
pub mod template;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use accounts::CloudreveAccounts;
pub use mail::CloudreveComposer;
pub use password::CloudreveHasher;
pub use site::{
    CloudreveSite, OpenError, SiteSettings, SmtpSettings, inspect, open, open_unmigrated,
};
pub use sql::parse_time;
