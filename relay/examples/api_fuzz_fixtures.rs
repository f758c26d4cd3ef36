//! Accounts and data for the API fuzz run (`scripts/api-fuzz.sh`): registers a v1 system and
//! friend and a v2 system and friend on a running relay, logs them in, shares a v1 relationship,
//! uploads signed v1 and v2 volumes, pairs the v2 accounts and stores a signed grant — so the
//! fuzzer's authenticated requests reach the handlers' deep paths with real tokens and ids.
//! Prints the tokens and ids as one JSON object on stdout.
//!
//! ```text
//! cargo run -p coffer-relay --example api_fuzz_fixtures -- https://127.0.0.1:PORT DATA_DIR/tls/cert.pem
//! ```
//!
//! Trusts the relay by the SPKI pin of its certificate file (never "accept any certificate").
//! Payloads and wrapped keys are random bytes: the relay cannot tell them from ciphertext.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_certs::pin_of_cert_file;
use coffer_test_kit::{Api as _, Kind, PinnedApi, V1Account, V2Account, hour_now};
use coffer_wire::b64;
use coffer_wire::v2::{
    AEAD_OVERHEAD, Grant, GrantEntry, Header, Label, VolumeName, volume_payload_hash,
};
use serde_json::{Value, json};

/// One request that must succeed; its JSON answer.
async fn call(api: &mut PinnedApi, method: &str, path: &str, token: &str, body: Value) -> Value {
    let body = (!body.is_null()).then_some(body);
    let (status, answer) = api
        .call(method, path, Some(token), body.as_ref())
        .await
        .unwrap();
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {answer}"
    );
    answer
}

fn random_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|_| rand::random::<u8>()).collect()
}

async fn v1_account(api: &mut PinnedApi, kind: Kind, handle: &str) -> V1Account {
    let mut account = V1Account::new(kind)
        .with_handle(Some(handle))
        .with_features(&[
            "meta:1",
            "members:1",
            "fronts:1",
            "journal:1",
            "polls:1",
            "vault:1",
            "analytics:1",
        ]);
    account.register(api).await.unwrap();
    account.login(api).await.unwrap();
    account
}

async fn v2_upload(api: &mut PinnedApi, system: &V2Account, name: &str) {
    let payload = random_bytes(1024 + AEAD_OVERHEAD as usize);
    let header = Header {
        owner: system.id_bytes(),
        volume: VolumeName::new(name).unwrap(),
        epoch: 1,
        version: 1,
        hour: hour_now() as u64,
        payload_len: payload.len() as u64,
        payload_hash: volume_payload_hash(&payload),
    }
    .to_bytes();
    let body = json!({
        "header": b64::encode(&header),
        "signature": system.sign_labelled(Label::VolumeHeader, &header),
        "payload": b64::encode(&payload),
    });
    let path = format!("/api/v2/volumes/{name}");
    call(api, "PUT", &path, &system.token, body).await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, cert] = args.as_slice() else {
        eprintln!("usage: api_fuzz_fixtures https://HOST:PORT CERT.pem");
        std::process::exit(2);
    };
    let pin = pin_of_cert_file(std::path::Path::new(cert)).expect("a readable certificate");
    let api = &mut PinnedApi::new(url, pin);

    // v1: a system sharing everything with a friend, two volumes, an open invite.
    let system = v1_account(api, Kind::System, "fuzz-system").await;
    let friend = v1_account(api, Kind::Friend, "fuzz-friend").await;
    let request = call(
        api,
        "POST",
        "/api/v1/sharing/request",
        &friend.token,
        json!({ "from_user_id": friend.id, "to_user_id": system.id }),
    )
    .await;
    let sharing_id = request["id"].as_str().unwrap().to_owned();
    let all: serde_json::Map<String, Value> = coffer_wire::v1::Permissions::FLAGS
        .iter()
        .map(|f| ((*f).to_owned(), json!(true)))
        .collect();
    call(
        api,
        "POST",
        "/api/v1/sharing/respond",
        &system.token,
        json!({
            "request_id": sharing_id,
            "accepted": true,
            "encrypted_vek_blob": b64::encode(&random_bytes(60)),
            "permissions": all,
        }),
    )
    .await;
    for name in ["meta", "members", "analytics"] {
        system
            .upload(api, name, 1, &random_bytes(4096 + 28))
            .await
            .unwrap();
    }
    let invite = call(
        api,
        "POST",
        "/api/v1/sharing/invite",
        &system.token,
        Value::Null,
    )
    .await;

    // v2: a paired system and friend with a grant for meta, and an open invite.
    let v2_system = V2Account::sign_up(api, Kind::System, Some("fuzz-v2-system"))
        .await
        .unwrap();
    let v2_friend = V2Account::sign_up(api, Kind::Friend, Some("fuzz-v2-friend"))
        .await
        .unwrap();
    let code = call(
        api,
        "POST",
        "/api/v2/invites",
        &v2_system.token,
        Value::Null,
    )
    .await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let pairing = call(
        api,
        "POST",
        "/api/v2/invites/redeem",
        &v2_friend.token,
        json!({ "code": code, "proof": b64::encode(&random_bytes(32)) }),
    )
    .await;
    for name in ["meta", "org.example.notes"] {
        v2_upload(api, &v2_system, name).await;
    }
    let grant = Grant {
        owner: v2_system.id_bytes(),
        friend: v2_friend.id_bytes(),
        friend_fingerprint: rand::random(),
        sequence: 1,
        expires_at: 0,
        entries: vec![GrantEntry {
            volume: VolumeName::new("meta").unwrap(),
            epoch: 1,
        }],
    }
    .to_bytes();
    call(
        api,
        "PUT",
        &format!("/api/v2/grants/{}", v2_friend.id),
        &v2_system.token,
        json!({
            "grant": b64::encode(&grant),
            "signature": v2_system.sign_labelled(Label::Grant, &grant),
            "wrapped_keys": [{
                "volume": "meta", "epoch": 1, "wrapped_key": b64::encode(&random_bytes(60)),
            }],
        }),
    )
    .await;
    let v2_invite = call(
        api,
        "POST",
        "/api/v2/invites",
        &v2_system.token,
        Value::Null,
    )
    .await;

    let out = json!({
        "tokens": {
            "system": system.token,
            "friend": friend.token,
            "v2-system": v2_system.token,
            "v2-friend": v2_friend.token,
        },
        "ids": {
            "system": system.id,
            "friend": friend.id,
            "v2-system": v2_system.id,
            "v2-friend": v2_friend.id,
            "sharing": sharing_id,
            "pairing": pairing["pairing_id"],
        },
        "v2_handles": ["fuzz-v2-system", "fuzz-v2-friend"],
        "invite_codes": [invite["code"], v2_invite["code"]],
        "volumes": { "v1": ["meta", "members", "analytics"], "v2": ["meta", "org.example.notes"] },
    });
    println!("{out}");
}
