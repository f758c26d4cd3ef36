//! JSON Schemas of the values the relay reads and writes, as precise as the relay's own checks:
//! strict base64 of exact lengths (the last character carries no stray bits), lowercase
//! hyphenated UUIDs in answers, ISO 8601 times as Python's `isoformat()` writes them, and the
//! limits the handlers enforce, taken from the constants that enforce them.

use coffer_wire::v1::VolumeName;
use serde_json::{Value, json};

/// A `$ref` to a component schema.
pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// `schema` or `null`.
pub fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

/// An object with exactly these `required` properties (the relay's answers carry no others).
pub fn exact(properties: Value) -> Value {
    let required: Vec<String> = properties
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    json!({
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": false,
    })
}

/// A request object: `required` keys must be present (and not null); other keys are ignored.
pub fn request(required: &[&str], properties: Value) -> Value {
    json!({
        "type": "object",
        "required": required,
        "properties": properties,
    })
}

/// A string constant.
pub fn constant(value: &str) -> Value {
    json!({ "const": value })
}

/// A non-negative integer.
pub fn count() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

/// Any JSON integer (the relay reads it as a signed 64-bit value).
pub fn int64() -> Value {
    json!({ "type": "integer", "format": "int64" })
}

/// A lowercase hyphenated UUID, as the relay writes ids in answers.
pub const UUID_LOWER: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// A UUID the relay reads (any form `uuid::Uuid::parse_str` takes; this schema asks for the
/// hyphenated one clients send).
pub fn uuid_in() -> Value {
    json!({
        "type": "string",
        "format": "uuid",
        "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    })
}

/// Strict standard base64 of exactly `n` bytes: the length is fixed, and the last character
/// before the padding carries no bits beyond the data.
pub fn base64_exact(n: usize) -> Value {
    let chars = n.div_ceil(3) * 4;
    let pattern = match n % 3 {
        0 => format!("^[A-Za-z0-9+/]{{{chars}}}$"),
        1 => format!("^[A-Za-z0-9+/]{{{}}}[AQgw]==$", chars - 3),
        _ => format!("^[A-Za-z0-9+/]{{{}}}[AEIMQUYcgkosw048]=$", chars - 2),
    };
    json!({
        "type": "string",
        "contentEncoding": "base64",
        "minLength": chars,
        "maxLength": chars,
        "pattern": pattern,
        "description": format!("Standard base64 (with padding) of exactly {n} bytes."),
    })
}

/// Strict standard base64 of any length (at most `max_bytes` decoded, when given).
pub fn base64(max_bytes: Option<usize>) -> Value {
    let mut schema = json!({
        "type": "string",
        "contentEncoding": "base64",
        "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$",
    });
    match max_bytes {
        Some(max) => {
            schema["maxLength"] = json!(max.div_ceil(3) * 4);
            schema["description"] = json!(format!(
                "Standard base64 (with padding) of at most {max} bytes."
            ));
        }
        None => schema["description"] = json!("Standard base64 (with padding)."),
    }
    schema
}

/// The v1 volume names, from [`VolumeName::ALL`].
pub fn v1_volume_names() -> Vec<&'static str> {
    VolumeName::ALL.iter().map(|n| n.as_str()).collect()
}

/// A v2 volume name: a v1 name or a namespaced one (`coffer_wire::v2::VolumeName`).
pub fn v2_volume_name() -> Value {
    json!({
        "type": "string",
        "minLength": 3,
        "maxLength": 64,
        "pattern": format!("^(?:{}|[a-z0-9-]+(?:\\.[a-z0-9-]+)+)$", v1_volume_names().join("|")),
        "description": "One of the v1 names, or a namespaced name like org.example.notes: 3–64 \
            bytes of a-z 0-9 . -, with a dot, no empty label, not starting with pvsb or bucket.",
    })
}
