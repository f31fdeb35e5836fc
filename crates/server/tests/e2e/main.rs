//! End-to-end tests against the real `pwreset` binary: one test binary (each
//! binary links the whole dependency graph), a module per area. `support`
//! starts servers, databases, SMTP sinks, proxies, Redis and a browser.

mod support;

mod browser;
mod cloudreve_accounts;
mod flows;
mod mail;
mod reliability;
