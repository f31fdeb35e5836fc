//! The library half of `pwreset-server`: the configuration (the settings table,
//! environment, file) and duration parsing, shared by the binary and the fuzz
//! targets. Everything else of the binary lives in `main.rs`.

pub mod config;
pub mod duration;
pub mod settings;
