//! Shared test support for the HTTP tests.

#![allow(dead_code, unused_imports)]

mod schema;
mod world;

pub use schema::*;
pub use world::*;
