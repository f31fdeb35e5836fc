//! The configuration: any `--config` file text, and any set of `PWRESET_*`
//! environment values, becomes a `Config` or a one-line error naming the
//! setting — never a panic. Parsing writes nothing (the folder checks are
//! `Config::check_environment`, not called here), so any value is safe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwreset_server::config::{Config, ConfigError, parse_file};
use pwreset_server::settings::{SETTINGS, is_setting};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    // As a TOML file.
    match parse_file(text) {
        Ok(file) => {
            for name in file.keys() {
                assert!(is_setting(name), "{name}");
            }
            check(Config::from_lookup(|name| file.get(name).cloned()));
        }
        Err(e) => assert_eq!(e.setting, "--config"),
    }

    // As environment values: line i is the value of setting i (rotated by the
    // first byte, so every setting gets its share of odd input).
    let shift = data.first().map_or(0, |b| usize::from(*b));
    let values: Vec<&str> = text.lines().collect();
    check(Config::from_lookup(|name| {
        let i = SETTINGS.iter().position(|s| s.name == name)?;
        values.get((i + shift) % SETTINGS.len()).map(|v| (*v).to_owned())
    }));
});

fn check(result: Result<Config, ConfigError>) {
    if let Err(e) = result {
        assert!(is_setting(e.setting), "errors name a real setting: {}", e.setting);
        assert!(!e.reason.contains('\n'), "one line: {:?}", e.reason);
    }
}
