//! The seed's `User` schema (docs/seed/reset-password-via-temp-link.md) as
//! a JSON Schema validator, converted from OpenAPI 3.0 at test time so the
//! founding document itself is the reference.

use serde_json::{Map, Value};

const SEED: &str = include_str!("../../../../../docs/seed/reset-password-via-temp-link.md");

fn openapi() -> Value {
    let start = SEED.find("```yaml").expect("yaml block") + "```yaml".len();
    let end = start + SEED[start..].find("```").expect("end of yaml block");
    serde_saphyr::from_str(&SEED[start..end]).expect("seed yaml parses")
}

/// OpenAPI 3.0 → JSON Schema: `nullable` becomes a `null` type (and enum
/// member), `$ref`s are inlined, objects get `additionalProperties: false`
/// so a response cannot carry keys the seed does not define.
fn convert(node: &Value, components: &Map<String, Value>) -> Value {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r.trim_start_matches("#/components/schemas/");
                return convert(&components[name], components);
            }
            let mut out = Map::new();
            for (k, v) in map {
                if k.starts_with("x-") || k == "nullable" || k == "example" {
                    continue;
                }
                out.insert(k.clone(), convert(v, components));
            }
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), serde_json::json!([t, "null"]));
                }
                if let Some(Value::Array(e)) = out.get_mut("enum") {
                    e.push(Value::Null);
                }
            }
            if out.get("type") == Some(&Value::String("object".into())) {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| convert(v, components)).collect()),
        other => other.clone(),
    }
}

/// A validator for the seed's `User` object, with format checks on.
pub fn user_validator() -> jsonschema::Validator {
    let doc = openapi();
    let components = doc["components"]["schemas"].as_object().unwrap().clone();
    let schema = convert(&components["User"], &components);
    jsonschema::options().should_validate_formats(true).build(&schema).expect("valid schema")
}

/// Panics with every violation when `data` does not satisfy the seed's `User` schema.
pub fn assert_is_seed_user(data: &Value) {
    let validator = user_validator();
    let errors: Vec<String> = validator.iter_errors(data).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "not a seed User: {errors:?}\n{data:#}");
}

/// A validator for one response schema of an OpenAPI document (the one
/// pwreset serves), converted like the seed's.
pub fn response_validator(
    doc: &Value,
    path: &str,
    method: &str,
    status: &str,
) -> jsonschema::Validator {
    let components = doc["components"]["schemas"].as_object().unwrap().clone();
    let node =
        &doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    assert!(node.is_object(), "no schema for {method} {path} {status}");
    let schema = convert(node, &components);
    jsonschema::options().should_validate_formats(true).build(&schema).expect("valid schema")
}

/// Panics with every violation when `body` does not satisfy `validator`.
pub fn assert_valid(validator: &jsonschema::Validator, body: &Value) {
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "response does not match the served OpenAPI document: {errors:?}\n{body:#}"
    );
}
