//! The configuration: any `--config` file text, and any set of `PWRESET_*`
//! environment values, becomes a `Config` or a one-line error naming the
//! setting — never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwreset_infra::DatabaseUrl;
use pwreset_infra::mail::MailTarget;
use pwreset_server::config::{Config, ConfigError, SETTINGS, parse_file};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    // As a TOML file.
    match parse_file(text) {
        Ok(file) => {
            for name in file.keys() {
                assert!(SETTINGS.contains(&name.as_str()), "{name}");
            }
            check(Config::from_lookup(|name| contained(name, file.get(name).map(String::as_str))));
        }
        Err(e) => assert_eq!(e.setting, "--config"),
    }

    // As environment values: line i is the value of setting i (rotated by the
    // first byte, so every setting gets its share of odd input).
    let shift = data.first().map_or(0, |b| usize::from(*b));
    let values: Vec<&str> = text.lines().collect();
    check(Config::from_lookup(|name| {
        let i = SETTINGS.iter().position(|s| *s == name)?;
        contained(name, values.get((i + shift) % SETTINGS.len()).copied())
    }));
});

/// The value itself, unless it names a folder the configuration would probe
/// for writing (the SQLite file's, the mail folder) — given or by default:
/// those parse here and are then pointed into the temporary folder, so
/// fuzzing never writes anywhere else.
fn contained(name: &str, value: Option<&str>) -> Option<String> {
    let scratch = std::env::temp_dir().join("pwreset-fuzz");
    let sqlite = || Some(format!("sqlite:{}", scratch.join("db").display()));
    let outbox = || Some(format!("file:{}", scratch.join("outbox").display()));
    let blank = value.is_none_or(|v| v.trim().is_empty());
    match name {
        "PWRESET_DATABASE_URL" if blank => sqlite(),
        "PWRESET_DATABASE_URL" => match DatabaseUrl::parse(value?) {
            Ok(DatabaseUrl::Sqlite(_)) => sqlite(),
            _ => value.map(str::to_owned),
        },
        "PWRESET_MAIL" if blank => outbox(),
        "PWRESET_MAIL" => match MailTarget::parse(value?) {
            Ok(MailTarget::File(_)) => outbox(),
            _ => value.map(str::to_owned),
        },
        _ => value.map(str::to_owned),
    }
}

fn check(result: Result<Config, ConfigError>) {
    if let Err(e) = result {
        assert!(SETTINGS.contains(&e.setting), "errors name a real setting: {}", e.setting);
        assert!(!e.reason.contains('\n'), "one line: {:?}", e.reason);
    }
}
