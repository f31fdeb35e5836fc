//! The diesel storage adapter: SQLite and PostgreSQL behind one
//! [`DbConnection`], chosen at run time from the database URL.

mod connection;
mod dialect;
mod rows;
pub mod schema;
mod store;

pub use connection::{
    Backend, DatabaseUrl, DbConnection, DbError, Manager, Pool, PoolOptions, connect_pool,
    run_migrations,
};
pub use store::{DieselStore, SaltSetupError};
