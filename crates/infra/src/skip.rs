//! How a test that needs an outside service (a database server, Redis, a
//! browser) says it did not run: a line on stderr, and one in the file
//! `PWRESET_SKIP_LOG` names, which `make test` prints at the end, so a green
//! run says what it did not cover.

use std::io::Write as _;

/// Records that a test was skipped, and why.
pub fn skipped(reason: &str) {
    eprintln!("skipped: {reason}");
    if let Some(path) = std::env::var_os("PWRESET_SKIP_LOG") {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "{reason}");
        }
    }
}
