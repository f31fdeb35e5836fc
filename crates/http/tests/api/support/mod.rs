//! Shared test support for the HTTP tests.

mod schema;
mod world;

pub use schema::*;
pub use world::*;
