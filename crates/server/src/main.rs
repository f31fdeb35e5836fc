//! `pwreset`: the password-reset service. This crate only wires things
//! together: configuration, the command line, and the concrete adapters
//! behind the domain's ports.

mod cli;
mod ops;
mod serve;
mod wiring;

use std::process::ExitCode;

use pwreset_server::{config, duration};

fn main() -> ExitCode {
    let args = cli::parse();
    let config = match config::Config::from_env_and_file(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("pwreset: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let logs = wiring::init_tracing(&config, args.command.default_log_level());
    let outcome = cli::run(args, config);
    // Flush the log lines still queued before the process ends.
    drop(logs);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain, outermost first: "context: cause: root cause".
            eprintln!("pwreset: {}", pwreset_http::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
