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

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_certs::{client_config_pinned, pin_of_cert_file};
use coffer_wire::v1::ControlHeader;
use coffer_wire::v2::{
    AEAD_OVERHEAD, Grant, GrantEntry, Header, Label, VolumeName, key_binding_message, labelled,
    login_transcript,
};
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn uuid_bytes(id: &str) -> [u8; 16] {
    *uuid::Uuid::parse_str(id).unwrap().as_bytes()
}

fn hour_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    now - now % 3600
}

struct Account {
    key: SigningKey,
    id: String,
    token: String,
}

async fn v1_account(api: &Api, client_type: &str, handle: &str) -> Account {
    let key = key();
    let reg = api
        .call(
            "POST",
            "/api/v1/register",
            None,
            json!({
                "public_signing_key": b64(key.verifying_key().as_bytes()),
                "public_exchange_key": b64(&rand::random::<[u8; 32]>()),
                "client_type": client_type,
                "protocol_version": 1,
                "feature_set": ["meta:1", "members:1", "fronts:1", "journal:1", "polls:1", "vault:1", "analytics:1"],
                "handle": handle,
            }),
        )
        .await;
    let id = reg["user_id"].as_str().unwrap().to_owned();
    let ch = api
        .call(
            "POST",
            "/api/v1/auth/challenge",
            None,
            json!({ "user_id": id }),
        )
        .await;
    let nonce = ch["nonce"].as_str().unwrap();
    let signature = key.sign(nonce.as_bytes());
    let tok = api
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            json!({ "user_id": id, "nonce": nonce, "signature": b64(&signature.to_bytes()) }),
        )
        .await;
    let token = tok["token"].as_str().unwrap().to_owned();
    Account { key, id, token }
}

async fn v2_account(api: &Api, client_type: &str, handle: &str) -> Account {
    let key = key();
    let exchange = rand::random::<[u8; 32]>();
    let signing = key.verifying_key().to_bytes();
    let binding = key.sign(&key_binding_message(&signing, &exchange));
    let reg = api
        .call(
            "POST",
            "/api/v2/register",
            None,
            json!({
                "client_type": client_type,
                "public_signing_key": b64(&signing),
                "public_exchange_key": b64(&exchange),
                "key_binding_signature": b64(&binding.to_bytes()),
                "handle": handle,
            }),
        )
        .await;
    let id = reg["user_id"].as_str().unwrap().to_owned();
    let ch = api
        .call(
            "POST",
            "/api/v2/auth/challenge",
            None,
            json!({ "user_id": id }),
        )
        .await;
    let nonce_text = ch["nonce"].as_str().unwrap();
    let nonce: [u8; 32] = STANDARD.decode(nonce_text).unwrap().try_into().unwrap();
    let transcript = login_transcript(&api.url, &uuid_bytes(&id), &nonce).unwrap();
    let tok = api
        .call(
            "POST",
            "/api/v2/auth/token",
            None,
            json!({
                "user_id": id,
                "nonce": nonce_text,
                "origin": api.url,
                "signature": b64(&key.sign(&transcript).to_bytes()),
            }),
        )
        .await;
    let token = tok["token"].as_str().unwrap().to_owned();
    Account { key, id, token }
}

async fn v1_upload(api: &Api, system: &Account, name: &str) {
    let blob: Vec<u8> = (0..4096 + 28).map(|_| rand::random::<u8>()).collect();
    let header = ControlHeader {
        volume_name: name.to_owned(),
        version: 1,
        modified_at: hour_now(),
        size_bytes: blob.len() as u64,
        event_tags: vec![name.to_owned()],
    };
    let signature = system.key.sign(&header.signature_input(&blob));
    api.call(
        "PUT",
        &format!("/api/v1/volumes/{name}"),
        Some(&system.token),
        json!({
            "control_header": serde_json::to_value(&header).unwrap(),
            "encrypted_payload": b64(&blob),
            "signature": b64(&signature.to_bytes()),
        }),
    )
    .await;
}

async fn v2_upload(api: &Api, system: &Account, name: &str) {
    let payload: Vec<u8> = (0..1024 + AEAD_OVERHEAD)
        .map(|_| rand::random::<u8>())
        .collect();
    let header = Header {
        owner: uuid_bytes(&system.id),
        volume: VolumeName::new(name).unwrap(),
        epoch: 1,
        version: 1,
        hour: hour_now() as u64,
        payload_len: payload.len() as u64,
        payload_hash: Sha256::digest(&payload).into(),
    }
    .to_bytes();
    let mut signed = labelled(Label::VolumeHeader);
    signed.extend_from_slice(&header);
    api.call(
        "PUT",
        &format!("/api/v2/volumes/{name}"),
        Some(&system.token),
        json!({
            "header": b64(&header),
            "signature": b64(&system.key.sign(&signed).to_bytes()),
            "payload": b64(&payload),
        }),
    )
    .await;
}

#[actix_web::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, cert] = args.as_slice() else {
        eprintln!("usage: api_fuzz_fixtures https://HOST:PORT CERT.pem");
        std::process::exit(2);
    };
    let pin = pin_of_cert_file(std::path::Path::new(cert)).expect("a readable certificate");
    let api = Api {
        http: reqwest::Client::builder()
            .tls_backend_preconfigured(client_config_pinned(pin))
            .build()
            .unwrap(),
        url: url.trim_end_matches('/').to_owned(),
    };

    // v1: a system sharing everything with a friend, two volumes, an open invite.
    let system = v1_account(&api, "system", "fuzz-system").await;
    let friend = v1_account(&api, "friend", "fuzz-friend").await;
    let request = api
        .call(
            "POST",
            "/api/v1/sharing/request",
            Some(&friend.token),
            json!({ "from_user_id": friend.id, "to_user_id": system.id }),
        )
        .await;
    let sharing_id = request["id"].as_str().unwrap().to_owned();
    let all: serde_json::Map<String, Value> = coffer_wire::v1::Permissions::FLAGS
        .iter()
        .map(|f| ((*f).to_owned(), json!(true)))
        .collect();
    api.call(
        "POST",
        "/api/v1/sharing/respond",
        Some(&system.token),
        json!({
            "request_id": sharing_id,
            "accepted": true,
            "encrypted_vek_blob": b64(&rand::random::<[u8; 60]>()),
            "permissions": all,
        }),
    )
    .await;
    for name in ["meta", "members", "analytics"] {
        v1_upload(&api, &system, name).await;
    }
    let invite = api
        .call(
            "POST",
            "/api/v1/sharing/invite",
            Some(&system.token),
            Value::Null,
        )
        .await;

    // v2: a paired system and friend with a grant for meta, and an open invite.
    let v2_system = v2_account(&api, "system", "fuzz-v2-system").await;
    let v2_friend = v2_account(&api, "friend", "fuzz-v2-friend").await;
    let code = api
        .call(
            "POST",
            "/api/v2/invites",
            Some(&v2_system.token),
            Value::Null,
        )
        .await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let pairing = api
        .call(
            "POST",
            "/api/v2/invites/redeem",
            Some(&v2_friend.token),
            json!({ "code": code, "proof": b64(&rand::random::<[u8; 32]>()) }),
        )
        .await;
    for name in ["meta", "org.example.notes"] {
        v2_upload(&api, &v2_system, name).await;
    }
    let grant = Grant {
        owner: uuid_bytes(&v2_system.id),
        friend: uuid_bytes(&v2_friend.id),
        friend_fingerprint: rand::random(),
        sequence: 1,
        expires_at: 0,
        entries: vec![GrantEntry {
            volume: VolumeName::new("meta").unwrap(),
            epoch: 1,
        }],
    }
    .to_bytes();
    let mut signed = labelled(Label::Grant);
    signed.extend_from_slice(&grant);
    api.call(
        "PUT",
        &format!("/api/v2/grants/{}", v2_friend.id),
        Some(&v2_system.token),
        json!({
            "grant": b64(&grant),
            "signature": b64(&v2_system.key.sign(&signed).to_bytes()),
            "wrapped_keys": [{
                "volume": "meta", "epoch": 1, "wrapped_key": b64(&rand::random::<[u8; 60]>()),
            }],
        }),
    )
    .await;
    let v2_invite = api
        .call(
            "POST",
            "/api/v2/invites",
            Some(&v2_system.token),
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
