//! Shared helpers for the integration tests.
#![allow(dead_code)] // not every helper is used by a suite

use serde_json::Value;

/// `docs/vectors/v1.json`, the project's v1 known answers (in the repository).
pub const V1_VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/v1.json");

pub fn v1_vectors() -> Value {
    let text =
        std::fs::read_to_string(V1_VECTORS).unwrap_or_else(|e| panic!("read {V1_VECTORS}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {V1_VECTORS}: {e}"))
}

pub fn text(v: &Value) -> &str {
    v.as_str().expect("string value")
}

pub fn hex_array<const N: usize>(v: &Value) -> [u8; N] {
    <[u8; N]>::try_from(hex::decode(text(v)).expect("valid hex"))
        .expect("hex of the expected length")
}

pub fn b64(v: &Value) -> Vec<u8> {
    coffer_wire::b64::decode_strict(text(v)).expect("strict base64")
}

pub fn b64_array<const N: usize>(v: &Value) -> [u8; N] {
    coffer_wire::b64::decode_exact::<N>(text(v)).expect("strict base64 of the expected length")
}

pub mod clients;
