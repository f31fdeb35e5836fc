//! `GET {prefix}/openapi.json`: the API as served — the founding seed document
//! extended with the link-request endpoint, the failure envelope and rate
//! limiting. The tests validate real responses against it.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::ApiState;

/// The document as committed (`crates/http/openapi.json`).
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// The document with `servers` pointing at the configured prefix.
pub(crate) fn document(prefix: &str) -> Value {
    let mut doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is valid JSON");
    let prefix = if prefix.is_empty() { "/" } else { prefix };
    doc["servers"] = json!([{ "url": prefix }]);
    doc
}

pub(crate) async fn serve(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok().json(state.openapi())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_parses_and_follows_the_prefix() {
        let doc = super::document("/auth");
        assert_eq!(doc["servers"][0]["url"], "/auth");
        assert_eq!(doc["openapi"], "3.0.1");
        assert!(doc["paths"]["/user/reset/{user_id}"]["patch"].is_object());
        assert!(doc["paths"]["/user/reset"]["post"].is_object());
    }
}
