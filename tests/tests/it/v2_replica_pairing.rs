//! Several relays per system, relay side (docs/protocol-v2.md §3, §6): a v2 account's id is
//! derived from its keys, so the same identity has the same id on every relay and one signed
//! grant verifies everywhere; registering the same keys twice is `409 already_registered`; and
//! on a relay where it redeemed no invite, the friend asks for a *replica* pairing (pending, no
//! code, no proof), which the system's grant activates if its fingerprint names the friend's
//! keys. A grant never creates a pairing, so a friend's unpair sticks.
//! Spoken to directly over HTTPS with client-core's v2 primitives, as v2_relay_rules.rs does.

use coffer_client_core::identity::Identity;
use coffer_client_core::v2::{
    HeaderFields, InviteSecret, Side, VolumeKey, WrapKey, pairing_proof, seal, sign_grant,
};
use coffer_test_kit::random32;
use coffer_tests::http::{Http, Resp};
use coffer_tests::relay::RelayProcess;
use coffer_wire::b64;
use coffer_wire::v2::api::{ClientType, Handle, UserId};
use coffer_wire::v2::{Grant, GrantEntry, VolumeName};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const HOUR: u64 = 1_774_609_200;

const ALREADY_REGISTERED: &str = "These keys already have an account on this relay: log in instead";

/// An identity (keys only; the same on every relay).
struct Keys {
    id: Identity,
    pk: [u8; 32],
    xpk: [u8; 32],
}

impl Keys {
    fn generate() -> Keys {
        let id = Identity::from_secret_bytes(&random32(), &random32());
        let pk = id.public_signing_key();
        let xpk = b64::decode_exact::<32>(&id.public_exchange_key_b64()).unwrap();
        Keys { id, pk, xpk }
    }

    fn user_id(&self) -> Uuid {
        *UserId::derive(&self.pk, &self.xpk).as_uuid()
    }

    fn register_body(&self, origin: &str, client_type: &str, handle: Option<&str>) -> Value {
        let kind = if client_type == "system" {
            ClientType::System
        } else {
            ClientType::Friend
        };
        let wire_handle = handle.map(|h| Handle::new(h).unwrap());
        let registration = self
            .id
            .sign_registration_v2(origin, kind, wire_handle.as_ref())
            .unwrap();
        let mut body = json!({
            "client_type": client_type,
            "public_signing_key": self.id.public_signing_key_b64(),
            "public_exchange_key": self.id.public_exchange_key_b64(),
            "key_binding_signature": b64::encode(&self.id.key_binding_signature()),
            "origin": origin,
            "registration_signature": b64::encode(&registration),
        });
        if let Some(h) = handle {
            body["handle"] = json!(h);
        }
        body
    }
}

/// An account of `keys` on one relay, logged in.
struct Account<'k> {
    keys: &'k Keys,
    user_id: Uuid,
    token: String,
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

async fn register_raw(http: &Http, keys: &Keys, client_type: &str, handle: Option<&str>) -> Resp {
    post(
        http,
        "/api/v2/register",
        None,
        &keys.register_body(http.base().trim_end_matches('/'), client_type, handle),
    )
    .await
}

async fn login<'k>(http: &Http, keys: &'k Keys, user_id: Uuid) -> Account<'k> {
    let nonce_text = post(
        http,
        "/api/v2/auth/challenge",
        None,
        &json!({ "user_id": user_id }),
    )
    .await
    .expect_json(200)["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let nonce = b64::decode_exact::<32>(&nonce_text).unwrap();
    let origin = http.base().trim_end_matches('/').to_owned();
    let signature = keys.id.sign_login_v2(&origin, user_id, &nonce).unwrap();
    let token = post(
        http,
        "/api/v2/auth/token",
        None,
        &json!({ "user_id": user_id, "nonce": nonce_text, "origin": origin, "signature": b64::encode(&signature) }),
    )
    .await
    .expect_json(200)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    Account {
        keys,
        user_id,
        token,
    }
}

/// Registers `keys` (the derived id is checked) and logs in.
async fn sign_up<'k>(http: &Http, keys: &'k Keys, client_type: &str) -> Account<'k> {
    let resp = register_raw(http, keys, client_type, None).await;
    let user_id: Uuid = resp.expect_json(201)["user_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(user_id, keys.user_id());
    login(http, keys, user_id).await
}

/// Pairs `friend` with `system` through an invite; returns the pairing id.
async fn pair(http: &Http, system: &Account<'_>, friend: &Account<'_>) -> String {
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
        &friend.keys.id.public_identity(),
    )
    .unwrap();
    call(
        http,
        Method::POST,
        "/api/v2/invites/redeem",
        &friend.token,
        Some(&json!({ "code": code, "proof": b64::encode(&proof) })),
    )
    .await
    .expect_json(201)["pairing_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A grant from `system` to the friend `friend_id`, naming `named`'s fingerprint (normally the
/// friend's own keys), signed by `signer`, with one wrapped key per entry.
fn grant_body(
    system: &Keys,
    signer: &Keys,
    friend_id: Uuid,
    named: &Keys,
    sequence: u64,
    entries: &[(&str, u32, &VolumeKey)],
) -> Value {
    let fp = named.id.fingerprint();
    let grant = Grant {
        owner: *system.user_id().as_bytes(),
        friend: *friend_id.as_bytes(),
        friend_fingerprint: *fp.as_bytes(),
        sequence,
        expires_at: 0,
        entries: entries
            .iter()
            .map(|(v, e, _)| GrantEntry {
                volume: VolumeName::new(v).unwrap(),
                epoch: *e,
            })
            .collect(),
    };
    let signed = sign_grant(&signer.id, &grant).unwrap();
    let wrap = WrapKey::derive(
        &system.id,
        Side::Owner,
        system.user_id(),
        friend_id,
        &named.id.public_identity(),
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

fn sealed_body(
    owner: &Keys,
    vek: &VolumeKey,
    volume: &str,
    version: u64,
    plaintext: &[u8],
) -> Value {
    let fields = HeaderFields {
        owner: owner.user_id(),
        volume: VolumeName::new(volume).unwrap(),
        epoch: 1,
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

async fn pairings(http: &Http, account: &Account<'_>) -> Vec<Value> {
    call(http, Method::GET, "/api/v2/pairings", &account.token, None)
        .await
        .expect_json(200)["pairings"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_id_is_derived_from_the_keys_and_the_same_keys_register_once() {
    let (a, b) = (RelayProcess::start().await, RelayProcess::start().await);
    let (http_a, http_b) = (a.http(), b.http());
    let keys = Keys::generate();
    // The same id on both relays, the one every client derives.
    let on_a = sign_up(&http_a, &keys, "system").await;
    let on_b = sign_up(&http_b, &keys, "system").await;
    assert_eq!(on_a.user_id, on_b.user_id);
    assert_eq!(on_a.user_id.get_version_num(), 8);

    // Again, with or without a handle, as either client type: 409 already_registered, never a
    // 500, and before the handle is looked at (this handle is someone else's).
    let other = Keys::generate();
    register_raw(&http_a, &other, "friend", Some("taken"))
        .await
        .expect_json(201);
    for (client_type, handle) in [
        ("system", None),
        ("friend", Some("fresh")),
        ("system", Some("taken")),
    ] {
        register_raw(&http_a, &keys, client_type, handle)
            .await
            .expect_error_message(409, "already_registered", ALREADY_REGISTERED);
    }
    // A taken handle with new keys is still the plain conflict.
    register_raw(&http_a, &Keys::generate(), "friend", Some("TAKEN"))
        .await
        .expect_error(409, "conflict");
    // The account still logs in; once deleted, the same keys register again, with the same id.
    let again = login(&http_a, &keys, on_a.user_id).await;
    call(
        &http_a,
        Method::DELETE,
        "/api/v2/users/me",
        &again.token,
        None,
    )
    .await
    .expect_status(204);
    assert_eq!(
        sign_up(&http_a, &keys, "friend").await.user_id,
        on_a.user_id
    );
}

/// The friend asks for a pairing on relay B (`POST /pairings/replica`); relay B never pairs
/// them on the system's word alone.
async fn ask(http: &Http, friend: &Account<'_>, system: Uuid) -> Resp {
    call(
        http,
        Method::POST,
        "/api/v2/pairings/replica",
        &friend.token,
        Some(&json!({ "system_user_id": system })),
    )
    .await
}

const NO_PAIRING: &str = "Pairing not found";
const FINGERPRINT_MISMATCH: &str =
    "The grant's friend fingerprint does not match the friend's registered keys";

#[tokio::test]
async fn the_friend_asks_and_the_grant_activates() {
    let (a, b) = (RelayProcess::start().await, RelayProcess::start().await);
    let (http_a, http_b) = (a.http(), b.http());
    let (sys_keys, friend_keys, stranger_keys) =
        (Keys::generate(), Keys::generate(), Keys::generate());
    // Relay A: paired through an invite, granted, one volume.
    let sys_a = sign_up(&http_a, &sys_keys, "system").await;
    let friend_a = sign_up(&http_a, &friend_keys, "friend").await;
    let pairing_a = pair(&http_a, &sys_a, &friend_a).await;
    let meta = VolumeKey::generate();
    let volume = sealed_body(&sys_keys, &meta, "meta", 1, b"m");
    let grant = grant_body(
        &sys_keys,
        &sys_keys,
        friend_a.user_id,
        &friend_keys,
        1,
        &[("meta", 1, &meta)],
    );
    let grant_path = format!("/api/v2/grants/{}", friend_a.user_id);
    call(
        &http_a,
        Method::PUT,
        "/api/v2/volumes/meta",
        &sys_a.token,
        Some(&volume),
    )
    .await
    .expect_json(200);
    call(
        &http_a,
        Method::PUT,
        &grant_path,
        &sys_a.token,
        Some(&grant),
    )
    .await
    .expect_json(200);
    // The invite-based pairing is as before: the system sees its code and the proof.
    let listed = pairings(&http_a, &sys_a).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["pairing_id"], json!(pairing_a));
    assert_eq!(listed[0]["status"], "active");
    assert!(listed[0]["code"].is_string() && listed[0]["proof"].is_string());

    // Relay B: both have accounts (the same ids), no invite, no pairing.
    let sys_b = sign_up(&http_b, &sys_keys, "system").await;
    let friend_b = sign_up(&http_b, &friend_keys, "friend").await;
    let stranger_b = sign_up(&http_b, &stranger_keys, "friend").await;
    let other_sys_keys = Keys::generate();
    let other_sys_b = sign_up(&http_b, &other_sys_keys, "system").await;
    assert_eq!(friend_b.user_id, friend_a.user_id);
    let put_b = async |path: &str, body: &Value| {
        call(&http_b, Method::PUT, path, &sys_b.token, Some(body)).await
    };

    // A grant never creates a pairing: the very bytes relay A holds are 404 here, as is a
    // grant to nobody; nothing is created.
    put_b(&grant_path, &grant)
        .await
        .expect_error_message(404, "not_found", NO_PAIRING);
    let nobody = Uuid::new_v4();
    let to_nobody = grant_body(&sys_keys, &sys_keys, nobody, &friend_keys, 1, &[]);
    put_b(&format!("/api/v2/grants/{nobody}"), &to_nobody)
        .await
        .expect_error_message(404, "not_found", NO_PAIRING);
    assert!(pairings(&http_b, &sys_b).await.is_empty());
    assert!(pairings(&http_b, &friend_b).await.is_empty());

    // The friend's request: only toward a v2 system account here (404 as GET /users/{id}
    // would say no more), only by a friend, with a UUID.
    for unknown in [Uuid::new_v4(), stranger_b.user_id, friend_b.user_id] {
        ask(&http_b, &friend_b, unknown).await.expect_error_message(
            404,
            "not_found",
            "User not found",
        );
    }
    call(
        &http_b,
        Method::POST,
        "/api/v2/pairings/replica",
        &other_sys_b.token,
        Some(&json!({ "system_user_id": sys_b.user_id })),
    )
    .await
    .expect_error(403, "forbidden");
    for body in [json!({}), json!({ "system_user_id": "not-a-uuid" })] {
        call(
            &http_b,
            Method::POST,
            "/api/v2/pairings/replica",
            &friend_b.token,
            Some(&body),
        )
        .await
        .expect_error(400, "bad_request");
    }
    assert!(pairings(&http_b, &friend_b).await.is_empty());

    // Asked: a pending pairing with neither code nor proof, the same one when asked again.
    let asked = ask(&http_b, &friend_b, sys_b.user_id).await;
    let asked = asked.expect_json(201);
    assert_eq!(asked["system_user_id"], json!(sys_b.user_id));
    let replica_id = asked["pairing_id"].as_str().unwrap().to_owned();
    let again = ask(&http_b, &friend_b, sys_b.user_id).await;
    let again = again.expect_json(200);
    assert_eq!(again["pairing_id"], json!(replica_id));
    let listed = pairings(&http_b, &sys_b).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let replica = &listed[0];
    assert_ne!(replica["pairing_id"], json!(pairing_a));
    assert_eq!(replica["pairing_id"], json!(replica_id));
    assert_eq!(replica["status"], "pending");
    assert_eq!(replica["system_user_id"], json!(sys_b.user_id));
    assert_eq!(replica["friend_user_id"], json!(friend_b.user_id));
    assert!(
        replica["code"].is_null() && replica["proof"].is_null(),
        "{replica}"
    );
    assert_eq!(replica["peer"]["user_id"], json!(friend_b.user_id));
    let seen_by_friend = pairings(&http_b, &friend_b).await;
    assert_eq!(seen_by_friend.len(), 1);
    assert_eq!(seen_by_friend[0]["status"], "pending");
    let shared = format!("/api/v2/shared/{}", sys_b.user_id);
    let friend_get =
        async |path: &str| call(&http_b, Method::GET, path, &friend_b.token, None).await;
    friend_get(&format!("{shared}/grant"))
        .await
        .expect_error(403, "forbidden");

    // On a requested pairing the grant must name the friend's keys, and verify: 403, still
    // pending.
    let wrong_keys = grant_body(
        &sys_keys,
        &sys_keys,
        friend_b.user_id,
        &stranger_keys,
        1,
        &[("meta", 1, &meta)],
    );
    put_b(&grant_path, &wrong_keys).await.expect_error_message(
        403,
        "forbidden",
        FINGERPRINT_MISMATCH,
    );
    let foreign = grant_body(
        &sys_keys,
        &stranger_keys,
        friend_b.user_id,
        &friend_keys,
        1,
        &[("meta", 1, &meta)],
    );
    put_b(&grant_path, &foreign).await.expect_error_message(
        403,
        "forbidden",
        "Invalid grant signature",
    );
    let mut forged = grant.clone();
    forged["signature"] = json!(b64::encode(&[7u8; 64]));
    put_b(&grant_path, &forged)
        .await
        .expect_error(403, "forbidden");
    assert_eq!(pairings(&http_b, &sys_b).await[0]["status"], "pending");

    // The very grant bytes relay A holds activate it.
    assert_eq!(
        put_b(&grant_path, &grant).await.expect_json(200)["sequence"],
        1
    );
    let listed = pairings(&http_b, &friend_b).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["pairing_id"], json!(replica_id));
    assert_eq!(listed[0]["status"], "active");
    // From now on it is an ordinary pairing: the same grant again is stale, asking again
    // names it, the stranger still has nothing.
    assert_eq!(
        put_b(&grant_path, &grant)
            .await
            .expect_error(409, "conflict")["current_sequence"],
        1
    );
    assert_eq!(
        ask(&http_b, &friend_b, sys_b.user_id)
            .await
            .expect_json(200)["pairing_id"],
        json!(replica_id)
    );
    assert!(pairings(&http_b, &stranger_b).await.is_empty());

    // The same volume bytes on relay B; the friend reads the grant and the volume there.
    put_b("/api/v2/volumes/meta", &volume)
        .await
        .expect_json(200);
    let served = friend_get(&format!("{shared}/grant")).await;
    assert_eq!(served.expect_json(200)["grant"], grant["grant"]);
    let listing = friend_get(&format!("{shared}/volumes")).await;
    assert_eq!(listing.expect_json(200)["volumes"][0]["volume"], "meta");
    let got = friend_get(&format!("{shared}/volumes/meta")).await;
    assert_eq!(got.expect_json(200)["header"], volume["header"]);

    // The friend unpairs: the grant goes with it, and the system's next grant (a rotation, a
    // repair) does not pair them again: the unpair sticks.
    call(
        &http_b,
        Method::DELETE,
        &format!("/api/v2/pairings/{replica_id}"),
        &friend_b.token,
        None,
    )
    .await
    .expect_status(204);
    friend_get(&format!("{shared}/grant"))
        .await
        .expect_error(403, "forbidden");
    let newer = grant_body(
        &sys_keys,
        &sys_keys,
        friend_b.user_id,
        &friend_keys,
        2,
        &[("meta", 1, &meta)],
    );
    put_b(&grant_path, &newer)
        .await
        .expect_error_message(404, "not_found", NO_PAIRING);
    assert!(pairings(&http_b, &sys_b).await.is_empty());
    assert!(pairings(&http_b, &friend_b).await.is_empty());
    // Relay A is untouched.
    let on_a = call(
        &http_a,
        Method::GET,
        &format!("/api/v2/shared/{}/grant", sys_a.user_id),
        &friend_a.token,
        None,
    )
    .await;
    assert_eq!(on_a.expect_json(200)["grant"], grant["grant"]);

    // Only the friend asking again pairs them again; deleting the system's account ends that
    // pairing too.
    ask(&http_b, &friend_b, sys_b.user_id)
        .await
        .expect_json(201);
    put_b(&grant_path, &newer).await.expect_json(200);
    assert_eq!(pairings(&http_b, &friend_b).await[0]["status"], "active");
    call(
        &http_b,
        Method::DELETE,
        "/api/v2/users/me",
        &sys_b.token,
        None,
    )
    .await
    .expect_status(204);
    assert!(pairings(&http_b, &friend_b).await.is_empty());
}

/// A friend has at most 64 pending replica requests open; asking for a pairing that exists
/// still answers, and an unpair frees a place.
#[tokio::test]
async fn pending_replica_requests_are_capped() {
    let relay = RelayProcess::start().await;
    let http = relay.http();
    let friend_keys = Keys::generate();
    let friend = sign_up(&http, &friend_keys, "friend").await;
    let mut systems = Vec::new();
    for _ in 0..65 {
        let keys = Keys::generate();
        register_raw(&http, &keys, "system", None)
            .await
            .expect_json(201);
        systems.push(keys.user_id());
    }
    let mut first = None;
    for system in &systems[..64] {
        let asked = ask(&http, &friend, *system).await;
        let asked = asked.expect_json(201);
        first.get_or_insert(asked["pairing_id"].as_str().unwrap().to_owned());
    }
    let refused = ask(&http, &friend, systems[64]).await;
    let refused = refused.expect_json(403);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("Too many pending replica pairing requests (64)"),
        "{refused}"
    );
    assert_eq!(pairings(&http, &friend).await.len(), 64);
    // Idempotent at the cap: the existing request is named.
    assert_eq!(
        ask(&http, &friend, systems[0]).await.expect_json(200)["pairing_id"],
        json!(first.clone().unwrap())
    );
    // An unpair frees a place.
    call(
        &http,
        Method::DELETE,
        &format!("/api/v2/pairings/{}", first.unwrap()),
        &friend.token,
        None,
    )
    .await
    .expect_status(204);
    ask(&http, &friend, systems[64]).await.expect_json(201);
}

/// At the user cap, the keys of an existing account still hear "already registered" (log in),
/// not "user cap reached": the existing id is checked before the gate.
#[tokio::test]
async fn already_registered_comes_before_the_user_cap() {
    let relay = RelayProcess::builder()
        .env("COFFER_MAX_USERS", "1")
        .start()
        .await;
    let http = relay.http();
    let keys = Keys::generate();
    sign_up(&http, &keys, "system").await;
    register_raw(&http, &Keys::generate(), "system", None)
        .await
        .expect_error(403, "user_cap_reached");
    register_raw(&http, &keys, "system", None)
        .await
        .expect_error_message(409, "already_registered", ALREADY_REGISTERED);
}
