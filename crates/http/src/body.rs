//! The request bodies of the two reset endpoints, and their validation —
//! everything a client controls in a body passes through here (the fuzz
//! targets drive these same functions).

use pwreset_domain::{Email, NewPassword, SubmittedSecret};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// `PATCH {prefix}/user/reset/{id}`. Unknown fields are ignored, as Cloudreve does.
#[derive(Debug, Deserialize)]
pub struct ResetBody {
    /// The new password, as typed.
    pub password: String,
    /// The secret from the link, as submitted.
    pub secret: String,
}

/// `POST {prefix}/user/reset`. Other fields (Cloudreve's `captcha`, `ticket`) are ignored.
#[derive(Debug, Deserialize)]
pub struct RequestBody {
    /// The address typed into the form.
    pub email: String,
    /// Preferred language of the email.
    #[serde(default)]
    pub language: Option<String>,
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

impl ResetBody {
    /// The new password checked, the secret wrapped; the message says what is wrong.
    pub fn validate(self) -> Result<(NewPassword, SubmittedSecret), String> {
        let password = NewPassword::parse(self.password).map_err(|e| capitalise(&e.to_string()))?;
        Ok((password, SubmittedSecret::new(self.secret)))
    }
}

impl RequestBody {
    /// The address checked; the message says what is wrong.
    pub fn validate(self) -> Result<(Email, Option<String>), String> {
        let email = Email::parse(&self.email).map_err(|e| capitalise(&e.to_string()))?;
        Ok((email, self.language))
    }
}

/// Parses a JSON body the way the endpoints' extractor does, with the same
/// messages (the extractor also checks size and content type first).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| describe(&e))
}

/// The client-facing message for a body that is not the JSON expected.
pub(crate) fn describe(e: &serde_json::Error) -> String {
    if e.is_data() { format!("Invalid request body: {e}") } else { format!("Malformed JSON: {e}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_validate_with_clear_messages() {
        let body: ResetBody =
            parse_json(br#"{"password":"12345","secret":"s","extra":1}"#).unwrap();
        assert_eq!(body.validate().unwrap_err(), "Password must be at least 6 characters long");
        let err = parse_json::<ResetBody>(br#"{"password":1}"#).unwrap_err();
        assert!(err.starts_with("Invalid request body: invalid type"), "{err}");
        assert!(parse_json::<RequestBody>(b"{").unwrap_err().starts_with("Malformed JSON"));
        let body: RequestBody =
            parse_json(br#"{"email":" Jane@Example.com ","captcha":"x"}"#).unwrap();
        assert_eq!(body.validate().unwrap().0.as_str(), "Jane@Example.com");
    }
}
