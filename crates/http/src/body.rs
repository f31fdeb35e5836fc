//! The request bodies of the two reset endpoints, and their validation —
//! everything a client controls in a body passes through here (the fuzz
//! targets drive these same functions).

use pwreset_domain::{Email, NewPassword, SubmittedSecret};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A body must be a JSON object. serde reads a struct from an array by
/// position too (`["n3w-Passw0rd","<secret>"]`), which the API must refuse:
/// the bodies are read as a map first, and only then as their fields.
type JsonObject = serde_json::Map<String, serde_json::Value>;

fn fields<T: DeserializeOwned>(object: JsonObject) -> Result<T, serde_json::Error> {
    serde_json::from_value(serde_json::Value::Object(object))
}

/// `PATCH {prefix}/user/reset/{id}`. Unknown fields are ignored, as Cloudreve does.
#[derive(Debug, Deserialize)]
#[serde(try_from = "JsonObject")]
pub struct ResetBody {
    /// The new password, as typed.
    pub password: String,
    /// The secret from the link, as submitted.
    pub secret: String,
}

/// `POST {prefix}/user/reset`. Other fields (Cloudreve's `captcha`, `ticket`) are ignored.
#[derive(Debug, Deserialize)]
#[serde(try_from = "JsonObject")]
pub struct RequestBody {
    /// The address typed into the form.
    pub email: String,
    /// Preferred language of the email.
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Deserialize)]
struct ResetFields {
    password: String,
    secret: String,
}

#[derive(Deserialize)]
struct RequestFields {
    email: String,
    #[serde(default)]
    language: Option<String>,
}

impl TryFrom<JsonObject> for ResetBody {
    type Error = serde_json::Error;

    fn try_from(object: JsonObject) -> Result<Self, Self::Error> {
        let ResetFields { password, secret } = fields(object)?;
        Ok(Self { password, secret })
    }
}

impl TryFrom<JsonObject> for RequestBody {
    type Error = serde_json::Error;

    fn try_from(object: JsonObject) -> Result<Self, Self::Error> {
        let RequestFields { email, language } = fields(object)?;
        Ok(Self { email, language })
    }
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

/// Refuses a request whose body is encoded (`Content-Encoding` other than
/// `identity`) with 40001, before anything reads the body: bodies are never
/// inflated (a few KiB of gzip inflate to megabytes before any limit).
pub(crate) async fn refuse_encoded_bodies(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    use actix_web::ResponseError;
    let encoded = req
        .headers()
        .get_all(actix_web::http::header::CONTENT_ENCODING)
        .any(|v| !v.to_str().is_ok_and(|v| v.trim().eq_ignore_ascii_case("identity")));
    if encoded {
        let id = crate::CorrelationId::of(req.request());
        let answer = crate::ApiError::new(
            crate::Code::ParamErr,
            "Request bodies with a Content-Encoding are not accepted",
            id,
        )
        .error_response();
        return Ok(req.into_response(answer).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
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

    #[test]
    fn only_objects_are_bodies() {
        for bad in [
            &br#"["n3w-Passw0rd","SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS"]"#[..],
            b"\"text\"",
            b"42",
            b"null",
            b"true",
        ] {
            let err = parse_json::<ResetBody>(bad).unwrap_err();
            assert!(err.starts_with("Invalid request body: invalid type"), "{err}");
        }
        let err = parse_json::<RequestBody>(br#"["a@b.example"]"#).unwrap_err();
        assert!(err.contains("expected a map"), "{err}");
    }
}
