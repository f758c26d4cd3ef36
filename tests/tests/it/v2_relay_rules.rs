//! What an honest v2 relay enforces (docs/protocol-v2.md §3–6), spoken to directly over HTTPS with
//! client-core's v2 primitives (not its clients): key-binding proofs, origin-bound logins,
//! exact-header uploads, grant signatures and sequences, and serving only what a live grant names.
//! The clients' own defences against a relay that does *not* enforce this are in v2_malicious.rs.

use coffer_client_core::identity::Identity;
use coffer_client_core::v2::{
    Fingerprint, HeaderFields, InviteSecret, Side, VolumeKey, WrapKey, pairing_proof, seal,
    sign_grant,
};
use coffer_test_kit::{Kind, V2Account, random32};
use coffer_tests::http::{Http, Resp};
use coffer_tests::relay::RelayProcess;
use coffer_wire::b64;
use coffer_wire::v2::api::ClientType;
use coffer_wire::v2::{Grant, GrantEntry, VolumeName};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const HOUR: u64 = 1_774_609_200;

struct Account {
    id: Identity,
    user_id: Uuid,
    token: String,
}

fn origin(http: &Http) -> String {
    http.base().trim_end_matches('/').to_owned()
}

async fn post(http: &Http, path: &str, token: Option<&str>, body: &Value) -> Resp {
    let mut rb = http.request(Method::POST, path).json(body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    http.send(rb).await
}

async fn call(http: &Http, method: Method, path: &str, token: &str, body: Option<&Value>) -> Resp {
    let mut rb = http.request(method, path).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    http.send(rb).await
}

/// A v2 account registered and logged in by the test kit, with a client-core identity of the
/// same keys (for sealing and signing grants).
async fn register(http: &Http, client_type: &str, handle: &str) -> Account {
    let (seed, exchange) = (random32(), random32());
    let id = Identity::from_secret_bytes(&seed, &exchange);
    let kind = if client_type == "system" {
        Kind::System
    } else {
        Kind::Friend
    };
    let exchange_public = b64::decode_exact::<32>(&id.public_exchange_key_b64()).unwrap();
    let mut account =
        V2Account::from_secrets(kind, &seed, exchange_public).with_handle(Some(handle));
    let mut api = http;
    account.register(&mut api).await.unwrap();
    account.login(&mut api).await.unwrap();
    Account {
        id,
        user_id: account.id.parse().unwrap(),
        token: account.token,
    }
}

async fn login(http: &Http, id: &Identity, user_id: Uuid, signed_origin: &str) -> Resp {
    let nonce_text = challenge_nonce(http, 2, user_id).await;
    let nonce = b64::decode_exact::<32>(&nonce_text).unwrap();
    let signature = id.sign_login_v2(signed_origin, user_id, &nonce).unwrap();
    post(
        http,
        "/api/v2/auth/token",
        None,
        &json!({ "user_id": user_id, "nonce": nonce_text, "origin": signed_origin, "signature": b64::encode(&signature) }),
    )
    .await
}

/// A fresh login challenge's nonce text for `user_id` (`version` 1 or 2).
async fn challenge_nonce(http: &Http, version: u8, user_id: Uuid) -> String {
    let path = format!("/api/v{version}/auth/challenge");
    post(http, &path, None, &json!({ "user_id": user_id }))
        .await
        .expect_json(200)["nonce"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn sealed_body(
    owner: &Account,
    vek: &VolumeKey,
    volume: &str,
    epoch: u32,
    version: u64,
    plaintext: &[u8],
) -> Value {
    let fields = HeaderFields {
        owner: owner.user_id,
        volume: VolumeName::new(volume).unwrap(),
        epoch,
        version,
        hour: HOUR,
    };
    let sealed = seal(&owner.id, vek, &fields, plaintext).unwrap();
    json!({
        "header": b64::encode(&sealed.header_bytes),
        "signature": b64::encode(&sealed.signature),
        "payload": b64::encode(&sealed.payload),
    })
}

async fn put_volume(http: &Http, owner: &Account, volume: &str, body: &Value) -> Resp {
    call(
        http,
        Method::PUT,
        &format!("/api/v2/volumes/{volume}"),
        &owner.token,
        Some(body),
    )
    .await
}

/// Pairs `friend` with `system` through an invite; returns the pairing id.
async fn pair(http: &Http, system: &Account, friend: &Account) -> String {
    let code = call(http, Method::POST, "/api/v2/invites", &system.token, None)
        .await
        .expect_json(201)["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let proof = pairing_proof(
        &InviteSecret::generate(),
        &code,
        friend.user_id,
        &friend.id.public_identity(),
    )
    .unwrap();
    let resp = call(
        http,
        Method::POST,
        "/api/v2/invites/redeem",
        &friend.token,
        Some(&json!({ "code": code.to_lowercase(), "proof": b64::encode(&proof) })),
    )
    .await;
    resp.expect_json(201)["pairing_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn grant_body(
    system: &Account,
    friend: &Account,
    sequence: u64,
    entries: &[(&str, u32, &VolumeKey)],
    expires_at: u64,
) -> Value {
    let fp: Fingerprint = friend.id.fingerprint();
    let grant = Grant {
        owner: *system.user_id.as_bytes(),
        friend: *friend.user_id.as_bytes(),
        friend_fingerprint: *fp.as_bytes(),
        sequence,
        expires_at,
        entries: entries
            .iter()
            .map(|(v, e, _)| GrantEntry {
                volume: VolumeName::new(v).unwrap(),
                epoch: *e,
            })
            .collect(),
    };
    let signed = sign_grant(&system.id, &grant).unwrap();
    let wrap = WrapKey::derive(
        &system.id,
        Side::Owner,
        system.user_id,
        friend.user_id,
        &friend.id.public_identity(),
        &fp,
    )
    .unwrap();
    let keys: Vec<Value> = entries
        .iter()
        .map(|(v, e, k)| {
            json!({ "volume": v, "epoch": e, "wrapped_key": b64::encode(&wrap.wrap(&VolumeName::new(v).unwrap(), *e, k)) })
        })
        .collect();
    json!({ "grant": b64::encode(&signed.bytes), "signature": b64::encode(&signed.signature), "wrapped_keys": keys })
}

#[tokio::test]
async fn registration_needs_a_key_binding_proof_and_v1_login_is_refused() {
    let relay = RelayProcess::start().await;
    let http = relay.http();
    let id = Identity::generate();
    let other = Identity::generate();
    let resp = post(
        &http,
        "/api/v2/register",
        None,
        &json!({
            "client_type": "system",
            "public_signing_key": id.public_signing_key_b64(),
            // The exchange key of someone else: the binding does not cover it.
            "public_exchange_key": other.public_exchange_key_b64(),
            "key_binding_signature": b64::encode(&id.key_binding_signature()),
            "origin": relay.url(),
            "registration_signature": b64::encode(
                &id.sign_registration_v2(relay.url(), ClientType::System, None).unwrap()
            ),
        }),
    )
    .await;
    let body = resp.expect_error(400, "bad_request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("key_binding_signature does not verify"),
        "{body}"
    );

    let acct = register(&http, "system", "binder").await;
    // The v1 login path never gets this key to sign a bare nonce (W10).
    let nonce = challenge_nonce(&http, 1, acct.user_id).await;
    let resp = post(
        &http,
        "/api/v1/auth/token",
        None,
        &json!({ "user_id": acct.user_id, "nonce": nonce, "signature": b64::encode(&[0u8; 64]) }),
    )
    .await;
    resp.expect_error(403, "forbidden");
    // Exact-handle lookup, case-insensitive; substrings find nothing.
    let found = call(
        &http,
        Method::GET,
        "/api/v2/users/by-handle/BINDER",
        &acct.token,
        None,
    )
    .await;
    assert_eq!(found.expect_json(200)["user_id"], json!(acct.user_id));
    call(
        &http,
        Method::GET,
        "/api/v2/users/by-handle/bind",
        &acct.token,
        None,
    )
    .await
    .expect_error(404, "not_found");
}

#[tokio::test]
async fn login_signs_the_relay_origin_and_challenges_are_single_use() {
    let relay = RelayProcess::start().await;
    let http = relay.http();
    let acct = register(&http, "friend", "origin-test").await;
    // A phishing relay's origin in the transcript: refused.
    login(&http, &acct.id, acct.user_id, "https://evil.example:8443")
        .await
        .expect_error(403, "forbidden");
    // The right origin works; replaying its challenge does not.
    let nonce_text = challenge_nonce(&http, 2, acct.user_id).await;
    let nonce = b64::decode_exact::<32>(&nonce_text).unwrap();
    let sig = acct
        .id
        .sign_login_v2(&origin(&http), acct.user_id, &nonce)
        .unwrap();
    let body = json!({ "user_id": acct.user_id, "nonce": nonce_text, "origin": origin(&http), "signature": b64::encode(&sig) });
    post(&http, "/api/v2/auth/token", None, &body)
        .await
        .expect_json(200);
    post(&http, "/api/v2/auth/token", None, &body)
        .await
        .expect_error(403, "forbidden");
}

#[tokio::test]
async fn uploads_are_checked_against_the_exact_signed_header() {
    let relay = RelayProcess::start().await;
    let http = relay.http();
    let sys = register(&http, "system", "uploader").await;
    let other = register(&http, "system", "someone-else").await;
    let vek = VolumeKey::generate();
    let v1 = sealed_body(&sys, &vek, "org.example.notes", 1, 1, b"first");
    assert_eq!(
        put_volume(&http, &sys, "org.example.notes", &v1)
            .await
            .expect_json(200)["version"],
        1
    );
    // Same version again, or older: 409 with the stored version and epoch.
    let stale = put_volume(
        &http,
        &sys,
        "org.example.notes",
        &sealed_body(&sys, &vek, "org.example.notes", 1, 1, b"x"),
    )
    .await;
    let err = stale.expect_error(409, "conflict");
    assert_eq!(
        (err["current_version"].clone(), err["current_epoch"].clone()),
        (json!(1), json!(1))
    );
    // Another owner's header, another volume name, a bad signature, a changed payload, a bad
    // name; a friend cannot upload.
    let friend = register(&http, "friend", "not-a-system").await;
    let notes = || sealed_body(&sys, &vek, "org.example.notes", 1, 2, b"x");
    let mut forged = notes();
    forged["signature"] = json!(b64::encode(&[7u8; 64]));
    let mut swapped = notes();
    swapped["payload"] = v1["payload"].clone();
    let foreign = sealed_body(&other, &vek, "org.example.notes", 1, 2, b"x");
    let friends = sealed_body(&friend, &vek, "meta", 1, 1, b"x");
    let refusals = [
        (
            "another owner's header",
            &sys,
            "org.example.notes",
            foreign,
            400,
            "bad_request",
        ),
        (
            "another volume's header",
            &sys,
            "meta",
            notes(),
            400,
            "bad_request",
        ),
        (
            "a forged signature",
            &sys,
            "org.example.notes",
            forged,
            403,
            "forbidden",
        ),
        (
            "another payload",
            &sys,
            "org.example.notes",
            swapped,
            400,
            "bad_request",
        ),
        ("a bad name", &sys, "pvsb.x", notes(), 400, "bad_request"),
        (
            "a friend's upload",
            &friend,
            "meta",
            friends,
            403,
            "forbidden",
        ),
    ];
    for (what, who, name, body, status, code) in refusals {
        let resp = put_volume(&http, who, name, &body).await;
        assert_eq!(resp.status, status, "{what}: {}", resp.describe());
        resp.expect_error(status, code);
    }
    // The stored header comes back byte for byte.
    let own = call(
        &http,
        Method::GET,
        "/api/v2/volumes/org.example.notes",
        &sys.token,
        None,
    )
    .await;
    assert_eq!(own.expect_json(200)["header"], v1["header"]);
    assert_eq!(own.json()["payload"], v1["payload"]);
    // A new epoch must not go backwards.
    for (epoch, version, refusal) in [(3, 5, None), (2, 6, Some((409, "conflict")))] {
        let body = sealed_body(&sys, &vek, "org.example.notes", epoch, version, b"x");
        let resp = put_volume(&http, &sys, "org.example.notes", &body).await;
        match refusal {
            None => {
                resp.expect_json(200);
            }
            Some((status, code)) => {
                resp.expect_error(status, code);
            }
        }
    }
}

#[tokio::test]
async fn grants_are_verified_sequenced_and_enforced() {
    let relay = RelayProcess::start().await;
    let http = relay.http();
    let sys = register(&http, "system", "granter").await;
    let friend = register(&http, "friend", "grantee").await;
    let stranger = register(&http, "friend", "stranger").await;
    let (meta, journal) = (VolumeKey::generate(), VolumeKey::generate());
    put_volume(
        &http,
        &sys,
        "meta",
        &sealed_body(&sys, &meta, "meta", 1, 1, b"m"),
    )
    .await
    .expect_json(200);
    put_volume(
        &http,
        &sys,
        "journal",
        &sealed_body(&sys, &journal, "journal", 1, 1, b"j"),
    )
    .await
    .expect_json(200);
    let grant_path = format!("/api/v2/grants/{}", friend.user_id);
    // What this test does again and again: the friend reads, the system stores a grant.
    let read = async |path: &str| call(&http, Method::GET, path, &friend.token, None).await;
    let put_grant =
        async |body: &Value| call(&http, Method::PUT, &grant_path, &sys.token, Some(body)).await;
    // No pairing, and no account of that id (a grant never creates a pairing, not even to a
    // friend account here: v2_replica_pairing.rs).
    let nobody = Account {
        id: Identity::generate(),
        user_id: Uuid::new_v4(),
        token: String::new(),
    };
    call(
        &http,
        Method::PUT,
        &format!("/api/v2/grants/{}", nobody.user_id),
        &sys.token,
        Some(&grant_body(&sys, &nobody, 1, &[("meta", 1, &meta)], 0)),
    )
    .await
    .expect_error(404, "not_found");
    let pairing = pair(&http, &sys, &friend).await;
    let shared = format!("/api/v2/shared/{}/volumes", sys.user_id);
    read(&shared).await.expect_error(403, "forbidden");

    // A grant signed by someone else, or with keys that do not match its entries, is refused.
    let mut forged = grant_body(&sys, &friend, 1, &[("meta", 1, &meta)], 0);
    forged["signature"] = json!(b64::encode(&[1u8; 64]));
    put_grant(&forged).await.expect_error(403, "forbidden");
    let mut widened = grant_body(&sys, &friend, 1, &[("meta", 1, &meta)], 0);
    widened["wrapped_keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "volume": "journal", "epoch": 1, "wrapped_key": b64::encode(&[0u8; 60]) }));
    put_grant(&widened).await.expect_error(400, "bad_request");

    put_grant(&grant_body(&sys, &friend, 2, &[("meta", 1, &meta)], 0))
        .await
        .expect_json(200);
    // Replaying an older (or the same) sequence: 409.
    let replay = put_grant(&grant_body(
        &sys,
        &friend,
        2,
        &[("meta", 1, &meta), ("journal", 1, &journal)],
        0,
    ))
    .await;
    assert_eq!(replay.expect_error(409, "conflict")["current_sequence"], 2);

    // Only granted volumes are listed and served, with their wrapped key.
    let list = read(&shared).await;
    let names: Vec<&str> = list.expect_json(200)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["volume"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["meta"]);
    let got = read(&format!("{shared}/meta")).await;
    assert_eq!(
        b64::decode_strict(got.expect_json(200)["wrapped_key"].as_str().unwrap())
            .unwrap()
            .len(),
        60
    );
    read(&format!("{shared}/journal"))
        .await
        .expect_error(403, "forbidden");
    let conditional = http
        .request(Method::GET, &format!("{shared}/meta"))
        .bearer_auth(&friend.token)
        .header("If-None-Match", "1");
    http.send(conditional).await.expect_status(304);
    call(&http, Method::GET, &shared, &stranger.token, None)
        .await
        .expect_error(403, "forbidden");

    // After a rotation to epoch 2, a grant naming epoch 1 no longer serves that volume.
    put_volume(
        &http,
        &sys,
        "meta",
        &sealed_body(&sys, &VolumeKey::generate(), "meta", 2, 2, b"m2"),
    )
    .await
    .expect_json(200);
    read(&format!("{shared}/meta"))
        .await
        .expect_error(403, "forbidden");

    // Expired grants serve nothing; unpairing ends everything at once.
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    put_grant(&grant_body(
        &sys,
        &friend,
        3,
        &[("journal", 1, &journal)],
        soon,
    ))
    .await
    .expect_json(200);
    read(&format!("{shared}/journal")).await.expect_json(200);
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    read(&format!("{shared}/journal"))
        .await
        .expect_error(403, "forbidden");
    call(
        &http,
        Method::DELETE,
        &format!("/api/v2/pairings/{pairing}"),
        &stranger.token,
        None,
    )
    .await
    .expect_error(403, "forbidden");
    call(
        &http,
        Method::DELETE,
        &format!("/api/v2/pairings/{pairing}"),
        &sys.token,
        None,
    )
    .await
    .expect_status(204);
    call(
        &http,
        Method::GET,
        &format!("/api/v2/shared/{}/grant", sys.user_id),
        &friend.token,
        None,
    )
    .await
    .expect_error(403, "forbidden");
}

/// Issue 15, leak 2: a friend's `GET /shared/{owner}/volumes/{name}` of a volume its grant does
/// not name is answered exactly like one that does not exist — status and body — so a granted
/// friend cannot probe which other volumes the system stores (docs/protocol-v2.md §6). Failed
/// before the fix: 403 for the stored volume, 404 for the missing one.
#[tokio::test]
async fn an_ungranted_volume_reads_like_a_missing_one() {
    let relay = RelayProcess::start().await;
    let http = relay.http();
    let sys = register(&http, "system", "oracle-sys").await;
    let friend = register(&http, "friend", "oracle-friend").await;
    let (meta, journal) = (VolumeKey::generate(), VolumeKey::generate());
    for (name, key) in [("meta", &meta), ("journal", &journal)] {
        put_volume(&http, &sys, name, &sealed_body(&sys, key, name, 1, 1, b"x"))
            .await
            .expect_json(200);
    }
    pair(&http, &sys, &friend).await;
    let shared = format!("/api/v2/shared/{}/volumes", sys.user_id);
    let read = async |name: &str| {
        let resp = call(
            &http,
            Method::GET,
            &format!("{shared}/{name}"),
            &friend.token,
            None,
        )
        .await;
        (resp.status, String::from_utf8(resp.body).unwrap())
    };
    // Paired, no grant yet: the same answer for both (a custom name and a v1 name not stored).
    assert_eq!(read("journal").await, read("app.absent").await);
    assert_eq!(read("journal").await, read("members").await);
    call(
        &http,
        Method::PUT,
        &format!("/api/v2/grants/{}", friend.user_id),
        &sys.token,
        Some(&grant_body(&sys, &friend, 1, &[("meta", 1, &meta)], 0)),
    )
    .await
    .expect_json(200);
    assert_eq!(read("meta").await.0, 200);
    let hidden = read("journal").await;
    for missing in ["app.absent", "members"] {
        assert_eq!(
            hidden,
            read(missing).await,
            "stored-but-not-granted differs from missing {missing}"
        );
    }
    assert_eq!(hidden.0, 403, "{hidden:?}");
    assert!(hidden.1.contains("\"error\":\"forbidden\""), "{hidden:?}");
}
