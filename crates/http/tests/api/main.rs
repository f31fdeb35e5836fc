//! The HTTP API through the real actix app, on the in-memory store: one test
//! binary (each binary links the whole dependency graph), a module per area.

mod support;

mod cloudreve;
mod frontend;
mod ops;
mod pages;
mod request;
mod reset;
