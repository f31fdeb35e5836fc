//! The diesel storage adapter: SQLite, PostgreSQL and (feature `mysql`)
//! MySQL/MariaDB behind one [`DbConnection`], chosen at run time from the
//! database URL.

mod accounts;
mod connection;
mod deadline;
mod dialect;
mod rows;
pub mod schema;
mod state;
mod store;

pub use accounts::{Accounts, Credentials, PwresetAccounts};
pub use connection::{
    Backend, DatabaseUrl, DbConnection, DbError, Manager, MigrationState, Pool, PoolOptions,
    connect_pool, embedded_migrations, migration_status, run_migrations, run_state_migrations,
};
pub use deadline::checkout_deadline;
pub use state::{OutboxEntry, StateLayout};
pub use store::{DieselStore, SaltSetupError};
