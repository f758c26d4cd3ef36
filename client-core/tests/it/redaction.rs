//! `Debug` of secret types must not reveal key bytes in any common rendering.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use coffer_client_core::identity::Identity;
use coffer_client_core::legacy::v1::{self, Vek};

/// Every rendering of any 6-byte window of `key` that a careless `Debug` might print.
fn renderings(key: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for window in key.windows(6) {
        let lower = hex::encode(window);
        out.push(lower.to_uppercase());
        out.push(lower);
        // Debug of a byte slice: "[171, 3, ...]" (inner part, without brackets).
        let list = format!("{window:?}");
        out.push(
            list.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        );
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        let text = engine.encode(key);
        // Base64 windows aligned to 3-byte groups are stable substrings.
        for start in (0..text.len().saturating_sub(8)).step_by(4) {
            out.push(text[start..start + 8].to_owned());
        }
    }
    out
}

fn assert_hides(debug: &str, secret: &[u8], what: &str) {
    for needle in renderings(secret) {
        assert!(
            !debug.contains(&needle),
            "{what}: Debug output {debug:?} reveals {needle:?}"
        );
    }
}

#[test]
fn vek_debug_is_redacted() {
    let bytes: [u8; 32] = std::array::from_fn(|i| 0xa0 ^ (i as u8 * 7));
    let vek = Vek::from_bytes(bytes);
    let debug = format!("{vek:?}");
    assert_eq!(debug, "Vek(<redacted>)");
    assert_eq!(format!("{vek:#?}"), "Vek(<redacted>)");
    assert_hides(&debug, &bytes, "Vek");
    let random = Vek::generate();
    assert_hides(&format!("{random:?}"), random.expose_secret(), "random Vek");
}

#[test]
fn fkek_debug_is_redacted() {
    let a = Identity::generate();
    let b = Identity::generate();
    let fkek = v1::fkek(&a, &b.public_exchange_key()).expect("contributory");
    let debug = format!("{fkek:?}");
    assert_eq!(debug, "Fkek(<redacted>)");
    assert_hides(&debug, fkek.expose_secret(), "Fkek");
}

#[test]
fn identity_debug_is_redacted() {
    let seed: [u8; 32] = std::array::from_fn(|i| 0x11 + i as u8);
    let exchange: [u8; 32] = std::array::from_fn(|i| 0xf0 - i as u8);
    let id = Identity::from_secret_bytes(&seed, &exchange);
    let debug = format!("{id:?}");
    assert_eq!(debug, "Identity(<redacted>)");
    assert_eq!(format!("{id:#?}"), "Identity(<redacted>)");
    assert_hides(&debug, &seed, "signing seed");
    assert_hides(&debug, &exchange, "exchange secret");
    assert_hides(&debug, &id.public_signing_key(), "public signing key");
    assert_hides(&debug, &id.public_exchange_key(), "public exchange key");
}

#[test]
fn error_messages_carry_no_key_material() {
    let fkek = v1::fkek(
        &Identity::generate(),
        &Identity::generate().public_exchange_key(),
    )
    .expect("ok");
    let vek = Vek::generate();
    let wrong = v1::unwrap_vek(&fkek, &[0u8; 60]).expect_err("random blob");
    let blob = v1::encrypt_volume(&vek, "meta", 1, b"secret plaintext");
    let other = Vek::generate();
    let auth = v1::decrypt_volume(&other, "meta", 1, &blob).expect_err("wrong key");
    for err in [wrong, auth] {
        let text = format!("{err} {err:?}");
        assert_hides(&text, fkek.expose_secret(), "error vs FKEK");
        assert_hides(&text, vek.expose_secret(), "error vs VEK");
        assert_hides(&text, other.expose_secret(), "error vs VEK");
        assert!(!text.contains("secret plaintext"));
    }
}
