//! Known answers from `docs/vectors/v1.json` through the public API, exactly as the
//! end-to-end tests will call it.

use crate::common::{b64, b64_array, hex_array, text, v1_vectors};
use coffer_client_core::identity::Identity;
use coffer_client_core::legacy::v1::{self, Vek};
use coffer_wire::v1::VolumeName;
use sha2::{Digest as _, Sha256};

/// System = RFC 7748 "Alice", friend = "Bob"; the signing seeds are irrelevant here.
fn pair() -> (Identity, Identity) {
    let v = v1_vectors();
    let system = Identity::from_secret_bytes(&[1; 32], &hex_array(&v["x25519"]["system_private"]));
    let friend = Identity::from_secret_bytes(&[2; 32], &hex_array(&v["x25519"]["friend_private"]));
    (system, friend)
}

#[test]
fn exchange_public_keys() {
    let v = v1_vectors();
    let (system, friend) = pair();
    assert_eq!(
        system.public_exchange_key_b64(),
        text(&v["x25519"]["system_public_b64"])
    );
    assert_eq!(
        friend.public_exchange_key_b64(),
        text(&v["x25519"]["friend_public_b64"])
    );
}

#[test]
fn fkek_from_both_sides() {
    let v = v1_vectors();
    let (system, friend) = pair();
    let expected: [u8; 32] = hex_array(&v["fkek"]["fkek"]);
    let system_side = v1::fkek(&system, &friend.public_exchange_key()).expect("contributory");
    let friend_side = v1::fkek(&friend, &system.public_exchange_key()).expect("contributory");
    assert_eq!(system_side.expose_secret(), &expected);
    assert_eq!(friend_side.expose_secret(), &expected);
    assert_eq!(system_side, friend_side);
}

#[test]
fn wrapped_vek_with_fixed_nonce_and_unwrap() {
    let v = v1_vectors();
    let (system, friend) = pair();
    let wrap = &v["vek_wrap"];
    let vek = Vek::from_bytes(hex_array(&wrap["vek"]));
    let expected: [u8; 60] = b64_array(&wrap["wrapped_b64"]);
    assert_eq!(
        coffer_wire::b64::encode(&expected),
        text(&wrap["wrapped_b64"])
    );

    let system_fkek = v1::fkek(&system, &friend.public_exchange_key()).expect("contributory");
    let wrapped = v1::wrap_vek_with_nonce(&system_fkek, &vek, hex_array(&wrap["nonce"]));
    assert_eq!(wrapped, expected);

    // The friend unwraps the vector's bytes with its own side of the exchange.
    let friend_fkek = v1::fkek(&friend, &system.public_exchange_key()).expect("contributory");
    let unwrapped = v1::unwrap_vek(&friend_fkek, &expected).expect("unwraps");
    assert_eq!(unwrapped.expose_secret(), vek.expose_secret());

    // A random-nonce wrap is different bytes but unwraps to the same key.
    let random = v1::wrap_vek(&system_fkek, &vek);
    assert_ne!(random, expected);
    assert_eq!(v1::unwrap_vek(&friend_fkek, &random).expect("unwraps"), vek);
}

#[test]
fn all_volume_nonces() {
    let v = v1_vectors();
    let nonces = v["volume_nonces"].as_object().expect("object");
    assert_eq!(nonces.len(), 9);
    for (input, expected) in nonces {
        let (name, version) = input.rsplit_once('|').expect("name|version");
        let version: u64 = version.parse().expect("decimal version");
        assert_eq!(
            v1::volume_nonce(name, version),
            hex_array::<12>(expected),
            "{input}"
        );
    }
}

#[test]
fn meta_volume_blob_exact_bytes() {
    let v = v1_vectors();
    let vol = &v["volume"];
    let vek = Vek::from_bytes(hex_array(&vol["vek"]));
    let name = text(&vol["name"]);
    let version = vol["version"].as_u64().expect("version");
    let blob = v1::encrypt_volume(&vek, name, version, text(&vol["document_utf8"]).as_bytes());

    assert_eq!(blob.len() as u64, vol["blob_len"].as_u64().expect("len"));
    assert_eq!(
        Sha256::digest(&blob)[..],
        hex_array::<32>(&vol["blob_sha256"])
    );
    assert_eq!(blob, b64(&vol["blob_b64"]));
}

#[test]
fn meta_volume_decrypts_to_the_document() {
    let v = v1_vectors();
    let vol = &v["volume"];
    let vek = Vek::from_bytes(hex_array(&vol["vek"]));
    let plaintext = v1::decrypt_volume(
        &vek,
        text(&vol["name"]),
        vol["version"].as_u64().expect("version"),
        &b64(&vol["blob_b64"]),
    )
    .expect("decrypts");
    assert_eq!(&plaintext[..], br#"{"schema_version":1}"#);
    assert_eq!(&plaintext[..], text(&vol["document_utf8"]).as_bytes());
}

#[test]
fn upload_signature_with_rfc8032_test1_key() {
    let v = v1_vectors();
    let ed = &v["ed25519"];
    let id = Identity::from_secret_bytes(&hex_array(&ed["seed"]), &[3; 32]);
    assert_eq!(id.public_signing_key_b64(), text(&ed["public_b64"]));

    let vol = &v["volume"];
    let vek = Vek::from_bytes(hex_array(&vol["vek"]));
    // 1774609200 + 59 min 59 s: seal_volume floors it to the vector's hour.
    let sealed = v1::seal_volume(
        &id,
        &vek,
        VolumeName::Meta,
        1,
        1_774_609_200 + 3599,
        text(&vol["document_utf8"]).as_bytes(),
    );
    assert_eq!(
        sealed.header.canonical_json(),
        text(&ed["upload_header_json"])
    );
    assert_eq!(sealed.blob, b64(&vol["blob_b64"]));
    assert_eq!(
        sealed.signature,
        b64_array::<64>(&ed["upload_signature_b64"])
    );
    assert_eq!(
        coffer_wire::b64::encode(&sealed.signature),
        text(&ed["upload_signature_b64"])
    );

    assert_eq!(
        v1::verify_upload(
            &id.public_signing_key(),
            &sealed.header,
            &sealed.blob,
            &sealed.signature
        ),
        Ok(())
    );
    // The vector's signature also verifies over the vector's own bytes.
    assert_eq!(
        v1::verify_upload(
            &b64_array(&ed["public_b64"]),
            &sealed.header,
            &b64(&vol["blob_b64"]),
            &b64_array(&ed["upload_signature_b64"]),
        ),
        Ok(())
    );
}

#[test]
fn login_signature_over_the_nonce_text() {
    let v = v1_vectors();
    let ed = &v["ed25519"];
    let id = Identity::from_secret_bytes(&hex_array(&ed["seed"]), &[3; 32]);
    let sig = v1::sign_login(&id, text(&ed["login_nonce_text"])).expect("a v1 nonce");
    assert_eq!(
        coffer_wire::b64::encode(&sig),
        text(&ed["login_signature_b64"])
    );
    // Signing the decoded nonce bytes instead (the classic mistake) is refused.
    let decoded = b64(&ed["login_nonce_text"]);
    assert_eq!(decoded.len(), 32);
    assert!(
        v1::sign_login(&id, &String::from_utf8_lossy(&decoded)).is_err(),
        "the decoded bytes are not a nonce text, and are not signed"
    );
}
