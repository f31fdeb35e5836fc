//! The diesel storage adapter: SQLite and PostgreSQL behind one
//! [`DbConnection`], chosen at run time from the database URL.

mod connection;
mod deadline;
mod dialect;
mod rows;
pub mod schema;
mod store;

pub use connection::{
    Backend, DatabaseUrl, DbConnection, DbError, Manager, Pool, PoolOptions, connect_pool,
    run_migrations,
};
pub use deadline::checkout_deadline;
pub use store::{DieselStore, SaltSetupError};
