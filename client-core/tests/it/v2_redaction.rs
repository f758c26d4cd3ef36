//! `Debug` of every v2 secret type (and of values that hold secrets or ciphertext) reveals no
//! secret bytes, and v2 error messages carry no key material or plaintext.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use coffer_client_core::identity::Identity;
use coffer_client_core::v2::{
    self, BackupParams, HeaderFields, InviteLink, InviteSecret, Side, VolumeKey, WrapKey,
};
use coffer_wire::v2::VolumeName;
use uuid::Uuid;

/// Every rendering of any 6-byte window of `secret` a careless `Debug` might print.
fn renderings(secret: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for window in secret.windows(6) {
        let lower = hex::encode(window);
        out.push(lower.to_uppercase());
        out.push(lower);
        let list = format!("{window:?}");
        out.push(
            list.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        );
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        let text = engine.encode(secret);
        for start in (0..text.len().saturating_sub(8)).step_by(4) {
            out.push(text[start..start + 8].to_owned());
        }
    }
    out
}

fn assert_hides(text: &str, secret: &[u8], what: &str) {
    for needle in renderings(secret) {
        assert!(
            !text.contains(&needle),
            "{what}: {text:?} reveals {needle:?}"
        );
    }
}

fn pattern(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start.wrapping_add((i as u8).wrapping_mul(29)))
}

#[test]
fn key_types_are_redacted() {
    let vek = VolumeKey::from_bytes(pattern(0x31));
    assert_eq!(format!("{vek:?}"), "VolumeKey(<redacted>)");
    assert_eq!(format!("{vek:#?}"), "VolumeKey(<redacted>)");
    let secret = InviteSecret::from_bytes(pattern(0x55));
    assert_eq!(format!("{secret:?}"), "InviteSecret(<redacted>)");

    let id = Identity::from_secret_bytes(&pattern(0x11), &pattern(0x77));
    let exported = id.danger_export_secret();
    assert_eq!(format!("{exported:?}"), "IdentitySecret(<redacted>)");
    assert_hides(
        &format!("{exported:#?}"),
        &exported.to_bytes()[..],
        "IdentitySecret",
    );
}

#[test]
fn wrap_key_is_redacted() {
    let a = Identity::generate();
    let b = Identity::generate();
    let key = WrapKey::derive(
        &a,
        Side::Owner,
        Uuid::from_bytes([1; 16]),
        Uuid::from_bytes([2; 16]),
        &b.public_identity(),
        &b.fingerprint(),
    )
    .expect("contributory");
    let debug = format!("{key:?}");
    assert!(debug.contains("<redacted>"), "{debug}");
    // The KEK itself is not exposed; check that a wrapped key's plaintext does not leak either.
    let vek = VolumeKey::generate();
    let _ = key.wrap(&VolumeName::new("meta").expect("valid"), 1, &vek);
    assert_hides(&debug, vek.expose_secret(), "WrapKey vs VEK");
}

#[test]
fn link_sealed_and_opened_values_are_redacted() {
    let secret_bytes = pattern(0x99);
    let link = InviteLink::new(
        "https://relay.example",
        None,
        "ABCD2345EFGH",
        InviteSecret::from_bytes(secret_bytes),
        Identity::generate().fingerprint(),
    )
    .expect("valid");
    let debug = format!("{link:?} {link:#?}");
    assert!(debug.contains("<redacted>"));
    assert_hides(&debug, &secret_bytes, "InviteLink");

    let id = Identity::generate();
    let vek = VolumeKey::generate();
    let fields = HeaderFields {
        owner: Uuid::from_bytes([3; 16]),
        volume: VolumeName::new("meta").expect("valid"),
        epoch: 1,
        version: 1,
        hour: 0,
    };
    let plaintext = b"a very private journal entry, long enough to be spotted";
    let sealed = v2::seal(&id, &vek, &fields, plaintext).expect("seals");
    let debug = format!("{sealed:?}");
    assert_hides(&debug, &sealed.payload[..64], "SealedV2 payload");
    let opened = v2::open(
        &id.public_signing_key(),
        fields.owner,
        &fields.volume,
        &sealed.header_bytes,
        &sealed.signature,
        &sealed.payload,
        |_| Some(&vek),
    )
    .expect("opens");
    let debug = format!("{opened:?} {opened:#?}");
    assert_hides(&debug, plaintext, "Opened plaintext");
    assert!(!debug.contains("private journal"));
}

#[test]
fn errors_carry_no_secrets() {
    let id = Identity::generate();
    let vek = VolumeKey::generate();
    let other = VolumeKey::generate();
    let fields = HeaderFields {
        owner: Uuid::from_bytes([3; 16]),
        volume: VolumeName::new("meta").expect("valid"),
        epoch: 1,
        version: 1,
        hour: 0,
    };
    let plaintext = b"secret plaintext that must never be logged";
    let sealed = v2::seal(&id, &vek, &fields, plaintext).expect("seals");
    let tampered = v2::open(
        &id.public_signing_key(),
        fields.owner,
        &fields.volume,
        &sealed.header_bytes,
        &sealed.signature,
        &sealed.payload,
        |_| Some(&other),
    )
    .expect_err("wrong key");
    let link_err = InviteLink::parse(&format!(
        "coffer://pair?v=2&relay=https%3A%2F%2Fr&code=AB&secret={}&fp=x",
        URL_SAFE_NO_PAD.encode(pattern(0x99))
    ))
    .expect_err("bad fp");
    let backup = v2::export_backup(
        plaintext,
        "hunter2 passphrase",
        &BackupParams::danger_fast_for_tests(),
    )
    .expect("exports");
    let backup_err = v2::import_backup(&backup, "wrong").expect_err("wrong passphrase");
    let texts = [
        format!("{tampered} {tampered:?}"),
        format!("{link_err} {link_err:?}"),
        format!("{backup_err} {backup_err:?}"),
    ];
    for text in &texts {
        assert_hides(text, vek.expose_secret(), "error vs VEK");
        assert_hides(text, other.expose_secret(), "error vs VEK");
        assert_hides(text, &pattern(0x99), "error vs invite secret");
        assert_hides(text, &sealed.payload[..64], "error vs ciphertext");
        assert!(!text.contains("secret plaintext"));
        assert!(!text.contains("hunter2"));
    }
}
