//! The bodies of `PATCH /user/reset/{id}` and `POST /user/reset`: any bytes
//! either become a validated command or a client-facing message, never a panic,
//! and what validates obeys the product's rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwreset_domain::NewPassword;
use pwreset_http::{RequestBody, ResetBody, parse_json};

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
///
/// A value can sit inside the message's own wording by chance (a secret
/// `"passwo"` next to "missing field `password`"), so echo is judged by
/// difference: the same body with that value swapped for a stand-in of the
/// same length in characters and bytes must give a message that holds
/// neither the stand-in nor any occurrence of the value the original lacked.
fn assert_clear(data: &[u8], message: &str) {
    assert!(message.chars().next().is_some_and(char::is_uppercase), "{message:?}");
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(data) else { return };
    for name in ["password", "secret", "email"] {
        let Some(serde_json::Value::String(value)) = fields.get(name) else { continue };
        if value.chars().count() < 6 {
            continue; // too short to tell an echo from a word of the message
        }
        // The value as it appears in the body; bodies that escape it some
        // other way are still checked by the plain test below.
        let encoded = serde_json::to_string(value).unwrap();
        let stand_in = stand_in(value);
        let swapped = replace_all(
            data,
            encoded.as_bytes(),
            serde_json::to_string(&stand_in).unwrap().as_bytes(),
        );
        let Some(swapped) = swapped else {
            assert!(!message.contains(value.as_str()), "{name} echoed in {message:?}");
            continue;
        };
        let wording = messages(&swapped).join("\n");
        assert!(!wording.contains(&stand_in), "{name} echoed in {wording:?}");
        assert!(
            message.matches(value.as_str()).count() <= wording.matches(value.as_str()).count(),
            "{name} echoed in {message:?}"
        );
    }
}

/// A string no message's wording contains, as long as `value` in characters
/// and in UTF-8 bytes, so length rules judge both alike.
fn stand_in(value: &str) -> String {
    value.chars().map(|c| ['~', '\u{a4}', '\u{20ac}', '\u{1d11e}'][c.len_utf8() - 1]).collect()
}

/// `haystack` with every `needle` replaced, or `None` if there is none.
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    let mut found = false;
    while !rest.is_empty() {
        if rest.starts_with(needle) {
            out.extend_from_slice(with);
            rest = &rest[needle.len()..];
            found = true;
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    found.then_some(out)
}

/// Every refusal message the two endpoints give for `data`.
fn messages(data: &[u8]) -> Vec<String> {
    let reset = parse_json::<ResetBody>(data).and_then(|body| body.validate().map(drop));
    let request = parse_json::<RequestBody>(data).and_then(|body| body.validate().map(drop));
    [reset.err(), request.err()].into_iter().flatten().collect()
}
