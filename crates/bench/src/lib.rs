//! Helpers for `make bench` (`crates/bench/bench.py`): nothing here ships in the
//! `pwreset` binary.
//!
//! - `bare`: the floor — a bare actix-web handler that parses the same JSON
//!   body as the reset endpoint and answers a fixed envelope.
//! - `seed`: fills a database with users and tokens quickly, printing the
//!   public ids and secrets the load generator needs.
//! - `bcrypt-raw`: the ceiling of the reset path — bcrypt hashes per second on
//!   N threads, nothing else.
