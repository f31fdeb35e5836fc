//! pwreset's adapters for the domain's ports: diesel storage (SQLite,
//! PostgreSQL and MySQL), in-memory storage, bcrypt, Cloudreve hashids, email
//! (templates, SMTP, files, log), rate limits shared through Redis, the
//! system clock and the OS random generator.

#![warn(missing_docs)]

pub mod audit;
pub mod bcrypt;
pub mod clock;
#[cfg(any(test, feature = "test-support"))]
pub mod contract;
#[cfg(feature = "sql")]
pub mod db;
pub mod defaults;
mod faults;
pub mod hashid;
pub mod mail;
pub mod memory;
mod outbox;
pub mod random;
pub mod redact;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(test, feature = "test-support"))]
pub mod skip;
#[cfg(all(feature = "sql", any(test, feature = "test-support")))]
pub mod testing;

pub use crate::bcrypt::BcryptHasher;
pub use crate::clock::SystemClock;
#[cfg(feature = "sql")]
pub use crate::db::{DatabaseUrl, DieselStore};
pub use crate::hashid::HashidCodec;
pub use crate::mail::{MailTemplates, TemplateComposer, TemplateDirError};
pub use crate::memory::MemoryStore;
pub use crate::outbox::OutboxStatus;
pub use crate::random::OsRandom;
#[cfg(feature = "redis")]
pub use crate::redis::{RedisLimiter, RedisSettings};
