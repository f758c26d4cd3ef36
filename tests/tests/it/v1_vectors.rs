//! The test client's own crypto path (what `V1Client` sends and how it reads) against the
//! known answers in `docs/vectors/v1.json` (v1.md §2.11). No relay needed: if these fail, the
//! end-to-end tests would be testing the relay against a wrong client.

use coffer_certs::SpkiPin;
use coffer_client_core::legacy::v1 as crypto;
use coffer_tests::client::{
    FEATURE_SET_HEADER, Kind, V1Client, all_features, open_volume, upload_body_text,
};
use coffer_tests::http::Http;
use coffer_tests::util::sha256;
use coffer_wire::b64;
use coffer_wire::v1::{ControlHeader, VolumeName};
use serde_json::{Value, json};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/v1.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

/// A client that never connects (the HTTP client is only built, not used).
fn offline_client(kind: Kind, seed: &[u8; 32], exchange: &[u8; 32]) -> V1Client {
    let pin: SpkiPin = format!("sha256/{}", b64::encode(&[0u8; 32]))
        .parse()
        .unwrap();
    V1Client::from_secrets(Http::new("https://127.0.0.1:9", pin), kind, seed, exchange)
}

#[test]
fn login_signature_and_registration_keys() {
    let v = vectors();
    let ed = &v["ed25519"];
    let client = offline_client(Kind::System, &hex32(&ed["seed"]), &[9u8; 32]);
    assert_eq!(client.signing_key_b64(), ed["public_b64"].as_str().unwrap());
    // The login signs the nonce *text*, not its decoded bytes.
    let nonce = ed["login_nonce_text"].as_str().unwrap();
    assert_eq!(
        client.sign_login_b64(nonce),
        ed["login_signature_b64"].as_str().unwrap()
    );
    let decoded = b64::decode_strict(nonce).unwrap();
    assert_ne!(
        b64::encode(&client.sign_raw(&decoded)),
        ed["login_signature_b64"].as_str().unwrap()
    );
    // The registration body carries both keys as 44-char standard base64 and the template's
    // fields.
    let body = client.register_body();
    assert_eq!(body["public_signing_key"], ed["public_b64"]);
    assert_eq!(body["public_exchange_key"].as_str().unwrap().len(), 44);
    assert_eq!(body["client_type"], "system");
    assert_eq!(body["protocol_version"], 1);
    assert_eq!(body["handle"], Value::Null);
    assert_eq!(body["feature_set"], json!(all_features()));
    assert_eq!(
        FEATURE_SET_HEADER,
        "members:1,fronts:1,journal:1,chat:1,polls:1,analytics:1,meta:1,vault:1"
    );
}

#[test]
fn upload_body_matches_vector() {
    let v = vectors();
    let ed = &v["ed25519"];
    let vol = &v["volume"];
    let mut client = offline_client(Kind::System, &hex32(&ed["seed"]), &[9u8; 32]);
    client.vek = crypto::Vek::from_bytes(hex32(&vol["vek"]));
    let doc = vol["document_utf8"].as_str().unwrap();
    // Any time inside the vector's hour floors to its modified_at.
    let sealed = client.seal_at(VolumeName::Meta, 1, 1_774_609_200 + 1_799, doc.as_bytes());

    assert_eq!(
        sealed.header.canonical_json(),
        ed["upload_header_json"].as_str().unwrap()
    );
    assert_eq!(sealed.blob.len() as u64, vol["blob_len"].as_u64().unwrap());
    assert_eq!(
        hex::encode(sha256(&sealed.blob)),
        vol["blob_sha256"].as_str().unwrap()
    );
    assert_eq!(b64::encode(&sealed.blob), vol["blob_b64"].as_str().unwrap());
    assert_eq!(
        b64::encode(&sealed.signature),
        ed["upload_signature_b64"].as_str().unwrap()
    );

    // The body the harness sends: the signed header JSON verbatim, then payload and signature.
    let text = upload_body_text(&sealed);
    let expected_prefix = format!(
        "{{\"control_header\":{},\"encrypted_payload\":",
        ed["upload_header_json"].as_str().unwrap()
    );
    assert!(text.starts_with(&expected_prefix), "{}", &text[..200]);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["encrypted_payload"], vol["blob_b64"]);
    assert_eq!(body["signature"], ed["upload_signature_b64"]);
    assert_eq!(
        body["control_header"],
        serde_json::from_str::<Value>(ed["upload_header_json"].as_str().unwrap()).unwrap()
    );
}

#[test]
fn reading_a_served_volume_matches_vector() {
    let v = vectors();
    let ed = &v["ed25519"];
    let vol = &v["volume"];
    // As a relay serves it: header re-emitted with sorted keys plus an unsigned extra key.
    let answer = json!({
        "control_header": {"event_tags": ["meta"], "extra_key": "x", "modified_at": 1_774_609_200,
                           "size_bytes": 4124, "version": 1, "volume_name": "meta"},
        "encrypted_payload": vol["blob_b64"],
        "signature": ed["upload_signature_b64"],
    });
    let vek = crypto::Vek::from_bytes(hex32(&vol["vek"]));
    let opened = open_volume(&answer, "meta", &vek, ed["public_b64"].as_str().unwrap());
    assert_eq!(opened.document, json!({"schema_version": 1}));
    assert_eq!(opened.header.version, 1);

    // A blob served under another version is caught (nonce re-derivation, W4).
    let wrong = std::panic::catch_unwind(|| {
        let mut a = answer.clone();
        a["control_header"]["version"] = json!(2);
        open_volume(&a, "meta", &vek, ed["public_b64"].as_str().unwrap())
    });
    assert!(wrong.is_err(), "a re-labelled blob must not open");
}

#[test]
fn fkek_and_vek_wrapping_match_vector() {
    let v = vectors();
    let x = &v["x25519"];
    let system = offline_client(Kind::System, &[1u8; 32], &hex32(&x["system_private"]));
    let friend = offline_client(Kind::Friend, &[2u8; 32], &hex32(&x["friend_private"]));
    assert_eq!(
        system.exchange_key_b64(),
        x["system_public_b64"].as_str().unwrap()
    );
    assert_eq!(
        friend.exchange_key_b64(),
        x["friend_public_b64"].as_str().unwrap()
    );

    let fkek = crypto::fkek(
        system.identity(),
        &b64::decode_exact::<32>(&friend.exchange_key_b64()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        hex::encode(fkek.expose_secret()),
        v["fkek"]["fkek"].as_str().unwrap()
    );
    let wrap = &v["vek_wrap"];
    let vek = crypto::Vek::from_bytes(hex32(&wrap["vek"]));
    let nonce: [u8; 12] = hex::decode(wrap["nonce"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        b64::encode(&crypto::wrap_vek_with_nonce(&fkek, &vek, nonce)),
        wrap["wrapped_b64"].as_str().unwrap()
    );

    // The friend path the harness uses: unwrap with (friend private, system public).
    let unwrapped = friend.unwrap_vek_parts(
        x["system_public_b64"].as_str().unwrap(),
        wrap["wrapped_b64"].as_str().unwrap(),
    );
    assert_eq!(unwrapped.expose_secret(), vek.expose_secret());

    // The system path the harness uses (random nonce): 80 chars, opens on the friend side.
    let mut system = system;
    system.vek = crypto::Vek::from_bytes(hex32(&wrap["vek"]));
    let blob = system.wrap_vek_for(&friend.exchange_key_b64());
    assert_eq!(blob.len(), 80);
    let again = friend.unwrap_vek_parts(&system.exchange_key_b64(), &blob);
    assert_eq!(again.expose_secret(), vek.expose_secret());
}

#[test]
fn volume_nonces_padding_and_hours() {
    let v = vectors();
    for (label, hex_nonce) in v["volume_nonces"].as_object().unwrap() {
        let (name, version) = label.split_once('|').unwrap();
        assert_eq!(
            hex::encode(crypto::volume_nonce(name, version.parse().unwrap())),
            hex_nonce.as_str().unwrap(),
            "{label}"
        );
    }
    let client = offline_client(Kind::System, &[3u8; 32], &[4u8; 32]);
    for (len, expected) in [
        (1usize, 4124usize),
        (4096, 4124),
        (4097, 8220),
        (70_000, 73_756),
    ] {
        let sealed = client.seal_bytes(VolumeName::Journal, 1, &vec![b'x'; len]);
        assert_eq!(sealed.blob.len(), expected, "plaintext {len}");
        assert_eq!(sealed.header.size_bytes, expected as u64);
        assert_eq!(sealed.header.modified_at % 3600, 0);
        assert_eq!(sealed.header.event_tags, vec!["journal".to_owned()]);
    }
    // Header parsing (what the harness uses to rebuild the signed bytes from a served header).
    let h = ControlHeader::from_json_object(
        json!({"volume_name":"fronts","version":3,"modified_at":7200,"size_bytes":4124})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        h.canonical_json(),
        r#"{"volume_name":"fronts","version":3,"modified_at":7200,"size_bytes":4124,"event_tags":[]}"#
    );
}
