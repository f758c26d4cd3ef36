//! The v1 control header and the exact bytes its upload signature covers (v1.md §2.5).

use serde::Serialize;
use serde_json::{Map, Value};

/// At most this many event tags (the System app sends one or two).
pub const MAX_EVENT_TAGS: usize = 16;
/// At most this many bytes per event tag.
pub const MAX_EVENT_TAG_LEN: usize = 64;

/// Why a control header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A required key is absent.
    #[error("Missing required field: control_header.{0}")]
    Missing(&'static str),
    /// A key has the wrong JSON type or an out-of-range value.
    #[error("control_header.{field} must be {expected}")]
    Invalid {
        /// The offending key.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
}

/// The five signed fields of a v1 control header, in their canonical order.
///
/// The struct's field order *is* the wire order of the signed JSON; do not reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlHeader {
    /// Volume name (checked against the URL by the relay).
    pub volume_name: String,
    /// Version, ≥ 1, strictly increasing per volume.
    pub version: u64,
    /// Unix seconds, floored to the hour by the client.
    pub modified_at: i64,
    /// Length of the encrypted payload (nonce ‖ ciphertext ‖ tag).
    pub size_bytes: u64,
    /// Static plaintext tags per volume type.
    pub event_tags: Vec<String>,
}

impl ControlHeader {
    /// Reads the signed fields out of an uploaded `control_header` object. Extra keys are
    /// allowed (v1 stores and echoes them) but are not covered by the signature.
    pub fn from_json_object(obj: &Map<String, Value>) -> Result<Self, HeaderError> {
        let volume_name = match obj.get("volume_name") {
            None => return Err(HeaderError::Missing("volume_name")),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("volume_name", "a string")),
        };
        let version = match obj.get("version") {
            None => return Err(HeaderError::Missing("version")),
            Some(v) => v
                .as_u64()
                .filter(|v| *v >= 1 && *v <= i64::MAX as u64)
                .ok_or_else(|| invalid("version", "a positive integer"))?,
        };
        let modified_at = match obj.get("modified_at") {
            None => return Err(HeaderError::Missing("modified_at")),
            Some(v) => v
                .as_i64()
                .filter(|t| *t >= 0)
                .ok_or_else(|| invalid("modified_at", "a non-negative integer (Unix seconds)"))?,
        };
        let size_bytes = match obj.get("size_bytes") {
            None => return Err(HeaderError::Missing("size_bytes")),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| invalid("size_bytes", "a non-negative integer"))?,
        };
        let event_tags = match obj.get("event_tags") {
            // The reference relay signs `[]` for a missing list; so do we.
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_EVENT_TAGS => items
                .iter()
                .map(|t| match t {
                    Value::String(s) if s.len() <= MAX_EVENT_TAG_LEN => Ok(s.clone()),
                    _ => Err(invalid("event_tags", "a list of short strings")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("event_tags", "a list of at most 16 short strings")),
        };
        Ok(Self {
            volume_name,
            version,
            modified_at,
            size_bytes,
            event_tags,
        })
    }

    /// Compact JSON with keys in canonical order and Dart `jsonEncode` escaping (only `"`, `\`
    /// and control characters are escaped; non-ASCII is written as raw UTF-8). serde_json's
    /// compact writer escapes exactly that set, with the same short forms and lowercase hex.
    pub fn canonical_json(&self) -> String {
        // Serialising a struct of strings, integers and a string list cannot fail.
        serde_json::to_string(self).expect("ControlHeader always serialises")
    }

    /// The upload signature input: UTF-8 of [`Self::canonical_json`] followed by the raw blob.
    pub fn signature_input(&self, blob: &[u8]) -> Vec<u8> {
        let json = self.canonical_json();
        let mut input = Vec::with_capacity(json.len() + blob.len());
        input.extend_from_slice(json.as_bytes());
        input.extend_from_slice(blob);
        input
    }
}

fn invalid(field: &'static str, expected: &'static str) -> HeaderError {
    HeaderError::Invalid { field, expected }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("test input must be an object"),
        }
    }

    #[test]
    fn canonical_form_matches_vector() {
        // docs/vectors/v1.json: ed25519.upload_header_json; sent here in a different key order.
        let h = ControlHeader::from_json_object(&obj(serde_json::json!({
            "event_tags": ["meta"], "size_bytes": 4124, "modified_at": 1774609200,
            "version": 1, "volume_name": "meta", "extra": true
        })))
        .expect("valid header");
        assert_eq!(
            h.canonical_json(),
            r#"{"volume_name":"meta","version":1,"modified_at":1774609200,"size_bytes":4124,"event_tags":["meta"]}"#
        );
        assert_eq!(&h.signature_input(b"xy")[h.canonical_json().len()..], b"xy");
    }

    #[test]
    fn dart_escaping() {
        let h = ControlHeader {
            volume_name: "meta".into(),
            version: 2,
            modified_at: 0,
            size_bytes: 1,
            event_tags: vec!["ünï/\"\\\n\u{1}\u{7f}".into()],
        };
        assert_eq!(
            h.canonical_json(),
            "{\"volume_name\":\"meta\",\"version\":2,\"modified_at\":0,\"size_bytes\":1,\"event_tags\":[\"ünï/\\\"\\\\\\n\\u0001\u{7f}\"]}"
        );
    }

    #[test]
    fn missing_tags_sign_as_empty_list() {
        let h = ControlHeader::from_json_object(&obj(serde_json::json!({
            "volume_name": "meta", "version": 1, "modified_at": 0, "size_bytes": 4124
        })))
        .expect("valid header");
        assert!(h.canonical_json().ends_with("\"event_tags\":[]}"));
    }

    #[test]
    fn refusals() {
        let base = serde_json::json!({
            "volume_name": "meta", "version": 1, "modified_at": 0, "size_bytes": 4124, "event_tags": []
        });
        for (key, bad) in [
            ("version", serde_json::json!(0)),
            ("version", serde_json::json!(-1)),
            ("version", serde_json::json!(1.5)),
            ("version", serde_json::json!("1")),
            ("modified_at", serde_json::json!(-5)),
            ("modified_at", serde_json::json!(null)),
            ("size_bytes", serde_json::json!("4124")),
            ("volume_name", serde_json::json!(5)),
            ("event_tags", serde_json::json!("meta")),
            ("event_tags", serde_json::json!([1])),
            ("event_tags", serde_json::json!(["x".repeat(65)])),
            ("event_tags", serde_json::json!(vec!["a"; 17])),
        ] {
            let mut o = obj(base.clone());
            o.insert(key.into(), bad.clone());
            assert!(
                ControlHeader::from_json_object(&o).is_err(),
                "{key} = {bad}"
            );
        }
        for key in ["volume_name", "version", "modified_at", "size_bytes"] {
            let mut o = obj(base.clone());
            o.remove(key);
            assert_eq!(
                ControlHeader::from_json_object(&o),
                Err(HeaderError::Missing(key))
            );
        }
    }
}
