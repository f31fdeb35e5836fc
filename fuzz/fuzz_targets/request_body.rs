//! The bodies of `PATCH /user/reset/{id}` and `POST /user/reset`: any bytes
//! either become a validated command or a client-facing message, never a panic,
//! and what validates obeys the product's rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwreset_domain::NewPassword;
use pwreset_http::body::{RequestBody, ResetBody, parse_json};

fuzz_target!(|data: &[u8]| {
    let assert_clear = |message: &str| assert_clear(data, message);
    match parse_json::<ResetBody>(data) {
        Ok(body) => {
            let typed = body.password.clone();
            match body.validate() {
                Ok((password, _secret)) => {
                    let chars = password.expose().chars().count();
                    assert!((NewPassword::MIN_CHARS..=NewPassword::MAX_CHARS).contains(&chars));
                    assert!(password.expose().len() <= NewPassword::MAX_BYTES);
                    assert_eq!(password.expose(), typed, "the password is stored as typed");
                }
                Err(message) => assert_clear(&message),
            }
        }
        Err(message) => assert_clear(&message),
    }
    match parse_json::<RequestBody>(data) {
        Ok(body) => {
            let typed = body.email.clone();
            match body.validate() {
                Ok((email, _language)) => {
                    assert_eq!(email.as_str(), typed.trim());
                    assert!(email.as_str().len() <= 254);
                    assert_eq!(email.as_str().matches('@').count(), 1);
                    let (local, domain) = email.as_str().rsplit_once('@').unwrap();
                    let first = local.chars().next().unwrap();
                    assert_eq!(
                        email.masked(),
                        format!("{first}***@{domain}"),
                        "logs hide the name"
                    );
                }
                Err(message) => assert_clear(&message),
            }
        }
        Err(message) => assert_clear(&message),
    }
});

/// A message a client can act on (a capitalised sentence) that never echoes
/// a password or secret the body carried: refusals are logged and shown.
fn assert_clear(data: &[u8], message: &str) {
    assert!(message.chars().next().is_some_and(char::is_uppercase), "{message:?}");
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(data) else { return };
    for name in ["password", "secret"] {
        if let Some(serde_json::Value::String(value)) = fields.get(name) {
            if value.chars().count() >= 6 {
                assert!(!message.contains(value.as_str()), "{name} echoed in {message:?}");
            }
        }
    }
}
