//! The relay recomputes the signed payload digest of every v2 upload (docs/protocol-v2.md §4
//! and §13, docs/adr/0029-v2-payload-digest.md): `BLAKE3(label ‖ payload)`, with the volume
//! label for volumes and the owner-state label for owner states. A validly signed header that carries any
//! other digest of the payload — SHA-256 (the digest before ADR 0029), the other label's digest,
//! the digest of another payload — is refused, and nothing is stored.

use coffer_test_kit::{Kind, V2Account};
use coffer_tests::http::{Http, Resp};
use coffer_tests::relay::RelayProcess;
use coffer_tests::util::sha256;
use coffer_wire::b64;
use coffer_wire::v2::{
    AEAD_OVERHEAD, Header, Label, OwnerStateHeader, VolumeName, owner_state_payload_hash,
    padded_len, volume_payload_hash,
};
use reqwest::Method;
use serde_json::{Value, json};

const HOUR: u64 = 1_774_609_200;
const VOLUME: &str = "org.example.notes";
const VOLUME_MISMATCH: &str = "header.payload_hash does not match the payload";
const STATE_MISMATCH: &str = "The payload's length or hash differs from the header's";

async fn system(http: &Http) -> V2Account {
    let mut account = V2Account::new(Kind::System).with_handle(Some("digest"));
    let mut api = http;
    account.register(&mut api).await.unwrap();
    account.login(&mut api).await.unwrap();
    account
}

async fn put(http: &Http, owner: &V2Account, path: &str, body: &Value) -> Resp {
    let rb = http
        .request(Method::PUT, path)
        .bearer_auth(&owner.token)
        .json(body);
    http.send(rb).await
}

/// An opaque payload on the v2 grid (the relay never decrypts) under an owner-signed header
/// whose `payload_hash` is `hash`.
fn volume_body(owner: &V2Account, version: u64, payload: &[u8], hash: [u8; 32]) -> Value {
    let header = Header {
        owner: owner.id_bytes(),
        volume: VolumeName::new(VOLUME).unwrap(),
        epoch: 1,
        version,
        hour: HOUR,
        payload_len: payload.len() as u64,
        payload_hash: hash,
    };
    let bytes = header.to_bytes();
    json!({
        "header": b64::encode(&bytes),
        "signature": owner.sign_labelled(Label::VolumeHeader, &bytes),
        "payload": b64::encode(payload),
    })
}

fn owner_state_body(owner: &V2Account, version: u64, payload: &[u8], hash: [u8; 32]) -> Value {
    let header = OwnerStateHeader {
        owner: owner.id_bytes(),
        key_epoch: 1,
        version,
        hour: HOUR,
        payload_len: u32::try_from(payload.len()).unwrap(),
        payload_hash: hash,
    };
    let bytes = header.to_bytes();
    json!({
        "header": b64::encode(&bytes),
        "signature": owner.sign_labelled(Label::OwnerState, &bytes),
        "payload": b64::encode(payload),
    })
}

#[tokio::test]
async fn uploads_under_any_other_payload_digest_are_refused() {
    let relay = RelayProcess::start().await;
    let http = relay.http();
    let sys = system(&http).await;
    let path = format!("/api/v2/volumes/{VOLUME}");
    let len = usize::try_from(padded_len(1500) + AEAD_OVERHEAD).unwrap();
    let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let mut other = payload.clone();
    other[len / 2] ^= 1;

    let refused = [
        ("SHA-256 of the payload", sha256(&payload)),
        (
            "the owner-state digest of the payload",
            owner_state_payload_hash(&payload),
        ),
        ("the digest of another payload", volume_payload_hash(&other)),
    ];
    for (what, hash) in refused {
        let resp = put(&http, &sys, &path, &volume_body(&sys, 1, &payload, hash)).await;
        assert_eq!(resp.status, 400, "{what}: {}", resp.describe());
        resp.expect_error_message(400, "bad_request", VOLUME_MISMATCH);
    }
    // Nothing was stored: the volume does not exist.
    let rb = http.request(Method::GET, &path).bearer_auth(&sys.token);
    http.send(rb).await.expect_status(404);

    // The digest of the spec is stored, and version 1 was still free.
    let honest = volume_body(&sys, 1, &payload, volume_payload_hash(&payload));
    assert_eq!(
        put(&http, &sys, &path, &honest).await.expect_json(200)["version"],
        1
    );

    // The owner state is checked the same way, under its own label.
    let state: Vec<u8> = (0..3000u32).map(|i| (i % 249) as u8).collect();
    for (what, hash) in [
        ("SHA-256 of the state", sha256(&state)),
        (
            "the volume digest of the state",
            volume_payload_hash(&state),
        ),
    ] {
        let body = owner_state_body(&sys, 1, &state, hash);
        let resp = put(&http, &sys, "/api/v2/owner-state", &body).await;
        assert_eq!(resp.status, 400, "{what}: {}", resp.describe());
        resp.expect_error_message(400, "bad_request", STATE_MISMATCH);
    }
    let body = owner_state_body(&sys, 1, &state, owner_state_payload_hash(&state));
    put(&http, &sys, "/api/v2/owner-state", &body)
        .await
        .expect_json(200);
}
