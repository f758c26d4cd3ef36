//! `coffer-wire`: strict base64 and the fixed-length key newtypes, v1 and v2 volume names, the v1
//! control header and permissions, the v2 header and grant layouts, Padmé and the v1 time format.
//!
//! Every parser sees the same input (as text where it takes text, as bytes where it takes bytes),
//! and every successful parse must survive its round trip: `parse(encode(x)) == x`, and for the
//! strict formats also `encode(parse(text)) == text` (one encoding per value).

#![no_main]

use coffer_fuzz::{le_u64, text_of};
use coffer_wire::b64::{
    self, B64Error, PublicKey32, Signature64, WrappedVek60, decode_bounded, decode_exact,
    decode_strict,
};
use coffer_wire::v1::{ControlHeader, Permissions};
use coffer_wire::{time, v1, v2};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    binary_layouts(data);
    numbers(data);
    if let Some(text) = text_of(data) {
        base64_text(text);
        names(text);
        json_documents(text);
    }
});

fn base64_text(text: &str) {
    let strict = decode_strict(text);
    if let Ok(bytes) = &strict {
        // Canonical: padded, standard alphabet, zero trailing bits, so exactly one text per value.
        assert_eq!(b64::encode(bytes), text, "strict base64 is not canonical");
    }
    for max in [0usize, 1, 31, 32, 33, 64, 4096] {
        match (decode_bounded(text, max), &strict) {
            (Ok(bounded), Ok(bytes)) => assert_eq!(&bounded, bytes),
            (Ok(_), Err(_)) => panic!("decode_bounded accepted what decode_strict refuses"),
            (Err(B64Error::TooLong { max: m }), _) => {
                assert_eq!(m, max);
                if let Ok(bytes) = &strict {
                    assert!(
                        bytes.len() > max,
                        "TooLong for {} <= {max} bytes",
                        bytes.len()
                    );
                }
            }
            (Err(_), Ok(bytes)) => {
                assert!(
                    bytes.len() > max,
                    "decode_bounded refused {} <= {max} bytes",
                    bytes.len()
                )
            }
            (Err(_), Err(_)) => {}
        }
    }
    let exact = decode_exact::<32>(text);
    assert_eq!(
        exact.is_ok(),
        strict.as_ref().is_ok_and(|b| b.len() == 32),
        "decode_exact::<32> disagrees with decode_strict"
    );
    if let Ok(key) = PublicKey32::from_b64(text) {
        assert_eq!(key.to_b64(), text);
        let json = serde_json::to_string(&key).expect("a key serialises to a JSON string");
        let back: PublicKey32 = serde_json::from_str(&json).expect("a serialised key parses");
        assert_eq!(back, key);
    }
    if let Ok(sig) = Signature64::from_b64(text) {
        assert_eq!(sig.to_b64(), text);
    }
    if let Ok(wrapped) = WrappedVek60::from_b64(text) {
        assert_eq!(wrapped.to_b64(), text);
    }
    // Serde of the newtypes from any JSON value never panics and agrees with from_b64.
    if let Ok(key) = serde_json::from_str::<PublicKey32>(text) {
        let inner: String = serde_json::from_str(text).expect("a key was read from a JSON string");
        assert_eq!(key.to_b64(), inner);
    }
}

fn names(text: &str) {
    if let Ok(name) = text.parse::<v1::VolumeName>() {
        assert_eq!(name.as_str(), text);
        assert!(
            v2::VolumeName::new(text).is_ok(),
            "a v1 name must be a v2 name"
        );
    }
    if let Ok(name) = v2::VolumeName::new(text) {
        assert_eq!(name.as_str(), text);
        assert!(
            (1..=64).contains(&name.as_str().len()),
            "a v2 name fits str8"
        );
        let json = serde_json::to_string(&name).expect("a name serialises");
        let back: v2::VolumeName = serde_json::from_str(&json).expect("a serialised name parses");
        assert_eq!(back, name);
    }
}

fn json_documents(text: &str) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    if let Some(object) = value.as_object()
        && let Ok(header) = ControlHeader::from_json_object(object)
    {
        let canonical = header.canonical_json();
        let again: serde_json::Value =
            serde_json::from_str(&canonical).expect("canonical JSON is JSON");
        let again = again.as_object().expect("canonical JSON is an object");
        assert_eq!(ControlHeader::from_json_object(again).as_ref(), Ok(&header));
        assert!(
            header
                .signature_input(b"blob")
                .starts_with(canonical.as_bytes())
        );
    }
    if let Ok(permissions) = Permissions::from_json(&value) {
        let json = serde_json::to_value(permissions).expect("permissions serialise");
        assert_eq!(Permissions::from_json(&json), Ok(permissions));
        for name in v1::VolumeName::ALL {
            assert_eq!(
                permissions.allows(name),
                permissions.volumes().contains(&name)
            );
        }
    }
}

fn binary_layouts(data: &[u8]) {
    if let Ok(header) = v2::Header::parse(data) {
        // Stored and served verbatim: the parsed form must re-encode to the exact bytes.
        assert_eq!(header.to_bytes(), data, "v2 header does not round-trip");
        assert_eq!(header.core_bytes(), data[..data.len() - 32]);
    }
    if let Ok(grant) = v2::Grant::parse(data) {
        assert_eq!(grant.to_bytes(), data, "v2 grant does not round-trip");
        assert!(grant.entries.len() <= v2::MAX_GRANT_ENTRIES);
        for entry in &grant.entries {
            assert_eq!(grant.epoch_of(entry.volume.as_str()), Some(entry.epoch));
        }
    }
}

fn numbers(data: &[u8]) {
    let n = le_u64(data);
    let padded = v2::padded_len(n);
    assert!(padded >= v2::MIN_PADDED);
    if n <= 1 << 62 {
        assert!(padded >= n, "padded_len({n}) = {padded} is shorter");
    }
    assert_eq!(
        v2::padded_len(padded),
        padded,
        "padded_len is not idempotent"
    );
    if let Some(payload) = padded.checked_add(v2::AEAD_OVERHEAD) {
        assert!(v2::payload_len_is_valid(payload));
    }
    let _ = v2::payload_len_is_valid(n);
    #[allow(clippy::cast_possible_wrap)] // any i64 bit pattern is a valid test input
    let t = n as i64;
    let floored = time::floor_to_hour(t);
    assert!(floored <= t);
    let text = time::isoformat(t, u32::try_from(n >> 40).unwrap_or(0));
    assert!(text.ends_with("+00:00"));
    let _ = v1::is_on_padding_grid(n);
}
