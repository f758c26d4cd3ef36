//! Helpers for the unit tests: loading the known-answer files and reading hex out of them.

use serde_json::Value;

/// The project's v1 vectors, shared with the relay and the other clients.
pub(crate) const V1_VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/v1.json");
/// RFC 8032 / RFC 7748 / RFC 5869 vectors typed from the RFCs.
pub(crate) const RFC_VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/rfc.json");

pub(crate) fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

pub(crate) fn rfc_vectors() -> Value {
    load(RFC_VECTORS)
}

pub(crate) fn v1_vectors() -> Value {
    load(V1_VECTORS)
}

pub(crate) fn hex_vec(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

pub(crate) fn hex_array<const N: usize>(v: &Value) -> [u8; N] {
    <[u8; N]>::try_from(hex_vec(v)).expect("hex of the expected length")
}
