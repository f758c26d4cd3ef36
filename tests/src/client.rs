//! A v1 client that behaves like the PluralLog System app (the public template) and a Friend
//! app (v1.md §1.4/§1.5): the template's headers on every call, registration with both public
//! keys, challenge/response login, sealed uploads, invites, sharing requests, acceptance with a
//! wrapped VEK, and the friend's unwrap → list → download → verify → decrypt path.
//!
//! Every crypto step goes through `coffer_client_core::legacy::v1` (checked against
//! `docs/vectors/v1.json` by `tests/it/v1_vectors.rs`). The only crypto of its own is
//! [`V1Client::sign_raw`], an Ed25519 signature over arbitrary bytes with the same key, used
//! only to build deliberately malformed uploads that still carry a valid signature.

use coffer_client_core::identity::Identity;
use coffer_client_core::legacy::v1::{self as crypto, SealedVolume, Vek};
use coffer_wire::b64;
use coffer_wire::v1::{ControlHeader, VolumeName};
use ed25519_dalek::Signer as _;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::http::{Http, Resp};
use crate::relay::RelayProcess;

use coffer_test_kit::{Api, KitError, V1Account};
pub use coffer_test_kit::{Kind, V1_FEATURES as FEATURE_SET_HEADER};

/// The template's registration `feature_set` (v1.md §5.2, the same order as the header).
pub fn all_features() -> Vec<String> {
    FEATURE_SET_HEADER.split(',').map(str::to_owned).collect()
}

/// The order in which the template's "Sync Now" uploads (v1.md §1.5).
pub const SYNC_ORDER: [VolumeName; 7] = [
    VolumeName::Meta,
    VolumeName::Members,
    VolumeName::Fronts,
    VolumeName::Journal,
    VolumeName::Chat,
    VolumeName::Polls,
    VolumeName::Vault,
];

/// The permissions the template sends on accept (v1.md §1.3 #15, §5.3).
pub fn default_permissions() -> Value {
    json!({
        "share_front_status": true,
        "share_members": true,
        "share_front_history": false,
        "share_journal": false,
        "share_mood_trends": false,
        "share_polls": false,
        "share_vault": false,
    })
}

/// The current Unix time in seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
        .try_into()
        .expect("seconds fit in i64")
}

/// The test kit's [`Api`] over an [`Http`] with the template's headers (what the app sends).
#[derive(Debug)]
struct Template<'a>(&'a Http);

impl Api for Template<'_> {
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), KitError> {
        let method: Method = method
            .parse()
            .map_err(|e| KitError(format!("method {method:?}: {e}")))?;
        let mut rb = self
            .0
            .request(method, path)
            .header("Content-Type", "application/json")
            .header("X-Protocol-Version", "1")
            .header("X-Feature-Set", FEATURE_SET_HEADER);
        if let Some(token) = token {
            rb = rb.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            rb = rb.body(body.to_string());
        }
        let resp = self.0.send(rb).await;
        let json = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        Ok((resp.status, json))
    }

    fn origin(&self) -> String {
        self.0.base().to_owned()
    }
}

/// One v1 app instance: its keys, its VEK (systems), its account and its session.
#[derive(Debug)]
pub struct V1Client {
    http: Http,
    /// The account (the test kit's: keys, handle, feature set, id, session).
    pub account: V1Account,
    identity: Identity,
    /// The volume key (used by systems; friends get theirs by unwrapping).
    pub vek: Vek,
}

impl V1Client {
    /// A new app with fresh keys and a fresh VEK, not yet registered.
    pub fn new(relay: &RelayProcess, kind: Kind) -> V1Client {
        let seed: [u8; 32] = rand::random();
        let exchange: [u8; 32] = rand::random();
        V1Client::from_secrets(relay.http(), kind, &seed, &exchange)
    }

    /// A new app with fresh keys and a fresh VEK talking to `http` (a cluster's instance or
    /// front door), not yet registered.
    pub fn at(http: Http, kind: Kind) -> V1Client {
        V1Client::from_secrets(http, kind, &rand::random(), &rand::random())
    }

    /// Points the client at another relay (a cluster's other instance): same account, same
    /// session token.
    pub fn use_http(&mut self, http: Http) {
        self.http = http;
    }

    /// An app with given secrets (for known-answer tests).
    pub fn from_secrets(http: Http, kind: Kind, seed: &[u8; 32], exchange: &[u8; 32]) -> V1Client {
        let identity = Identity::from_secret_bytes(seed, exchange);
        let exchange_public = b64::decode_exact::<32>(&identity.public_exchange_key_b64())
            .expect("the identity's exchange key is 32 bytes");
        V1Client {
            http,
            account: V1Account::from_secrets(kind, seed, exchange_public),
            identity,
            vek: Vek::generate(),
        }
    }

    /// Registers (201) and logs in a system with `handle`.
    pub async fn system(relay: &RelayProcess, handle: &str) -> V1Client {
        let mut c = V1Client::new(relay, Kind::System).with_handle(Some(handle));
        c.register_ok().await;
        c.login().await;
        c
    }

    /// Registers (201) and logs in a friend with `handle`.
    pub async fn friend(relay: &RelayProcess, handle: &str) -> V1Client {
        let mut c = V1Client::new(relay, Kind::Friend).with_handle(Some(handle));
        c.register_ok().await;
        c.login().await;
        c
    }

    /// Sets the handle sent at registration.
    pub fn with_handle(mut self, handle: Option<&str>) -> V1Client {
        self.account = self.account.with_handle(handle);
        self
    }

    /// Sets the registration feature set.
    pub fn with_features(mut self, features: &[&str]) -> V1Client {
        self.account = self.account.with_features(features);
        self
    }

    /// Points the client at a restarted relay (new port, same pin).
    pub fn rebind(&mut self, relay: &RelayProcess) {
        self.http = relay.http();
    }

    /// The HTTP client.
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// The keys.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The user id from registration.
    pub fn user_id(&self) -> &str {
        assert!(!self.account.id.is_empty(), "the client has registered");
        &self.account.id
    }

    /// Sets the user id (for tests that register by hand).
    pub fn set_user_id(&mut self, id: &str) {
        id.clone_into(&mut self.account.id);
    }

    /// The session token, if logged in.
    pub fn token(&self) -> Option<&str> {
        self.account.session()
    }

    /// Replaces the session token (e.g. to replay an old one).
    pub fn set_token(&mut self, token: Option<String>) {
        self.account.token = token.unwrap_or_default();
    }

    /// `public_signing_key` as registered.
    pub fn signing_key_b64(&self) -> String {
        self.identity.public_signing_key_b64()
    }

    /// `public_exchange_key` as registered.
    pub fn exchange_key_b64(&self) -> String {
        self.identity.public_exchange_key_b64()
    }

    // ---- requests -------------------------------------------------------------------------

    /// A request with the template's headers (`Content-Type`, `X-Protocol-Version: 1`,
    /// `X-Feature-Set`) and, once a token is held, `Authorization: Bearer <token>`.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        let mut rb = self
            .http
            .request(method, path)
            .header("Content-Type", "application/json")
            .header("X-Protocol-Version", "1")
            .header("X-Feature-Set", FEATURE_SET_HEADER);
        if let Some(token) = self.account.session() {
            rb = rb.header("Authorization", format!("Bearer {token}"));
        }
        rb
    }

    /// Sends a request built with [`Self::req`].
    pub async fn send(&self, rb: RequestBuilder) -> Resp {
        self.http.send(rb).await
    }

    /// A call with an optional JSON body (no body at all when `None`, like the template's
    /// bodiless POST/DELETE).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let mut rb = self.req(method, path);
        if let Some(body) = body {
            rb = rb.body(serde_json::to_vec(body).expect("serialise the body"));
        }
        self.send(rb).await
    }

    /// A call with a raw body (for malformed JSON).
    pub async fn call_raw(&self, method: Method, path: &str, body: impl Into<Vec<u8>>) -> Resp {
        let rb = self.req(method, path).body(body.into());
        self.send(rb).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    // ---- account --------------------------------------------------------------------------

    /// The registration body exactly as the template builds it (all keys present).
    pub fn register_body(&self) -> Value {
        self.account.register_body()
    }

    /// `POST /api/v1/register`; remembers the user id on 201.
    pub async fn register(&mut self) -> Resp {
        let resp = self
            .call(
                Method::POST,
                "/api/v1/register",
                Some(&self.register_body()),
            )
            .await;
        if resp.status == 201
            && let Some(id) = resp.json()["user_id"].as_str()
        {
            id.clone_into(&mut self.account.id);
        }
        resp
    }

    /// Registers and asserts 201 with a UUID `user_id` and `server_min_version`.
    pub async fn register_ok(&mut self) -> &str {
        let resp = self.register().await;
        let body = resp.expect_json(201);
        let id = body["user_id"]
            .as_str()
            .unwrap_or_else(|| panic!("register answer without user_id: {}", resp.describe()));
        assert!(
            uuid::Uuid::parse_str(id).is_ok(),
            "user_id {id:?} is not a UUID"
        );
        assert!(
            body["server_min_version"].is_i64(),
            "register answer without integer server_min_version: {}",
            resp.describe()
        );
        self.user_id()
    }

    /// `POST /api/v1/auth/challenge` for this user.
    pub async fn challenge(&self) -> Resp {
        self.post(
            "/api/v1/auth/challenge",
            &json!({"user_id": self.user_id()}),
        )
        .await
    }

    /// Asks for a challenge and returns its nonce text (asserting 200 and its format).
    pub async fn challenge_nonce(&self) -> String {
        let resp = self.challenge().await;
        let body = resp.expect_json(200);
        let nonce = body["nonce"]
            .as_str()
            .unwrap_or_else(|| panic!("challenge without nonce: {}", resp.describe()))
            .to_owned();
        assert!(
            body["expires_at"].is_string(),
            "challenge without expires_at: {}",
            resp.describe()
        );
        nonce
    }

    /// The v1 login signature over the nonce text (v1.md §2.3), base64.
    pub fn sign_login_b64(&self, nonce: &str) -> String {
        b64::encode(&self.account.sign_login(nonce))
    }

    /// `POST /api/v1/auth/token` with the given fields.
    pub async fn token_request(&self, user_id: &str, nonce: &str, signature_b64: &str) -> Resp {
        self.post(
            "/api/v1/auth/token",
            &json!({"user_id": user_id, "nonce": nonce, "signature": signature_b64}),
        )
        .await
    }

    /// Challenge → sign the nonce text → token (the test kit's flow, with the template's
    /// headers); asserts success and keeps the token.
    pub async fn login(&mut self) {
        let V1Client { http, account, .. } = self;
        let answer = account
            .login(&mut Template(http))
            .await
            .unwrap_or_else(|e| panic!("v1 login: {e}"));
        assert!(
            answer["expires_at"].is_string(),
            "token answer without expires_at: {answer}"
        );
    }

    /// `DELETE /api/v1/users/me` (no body).
    pub async fn delete_me(&self) -> Resp {
        self.call(Method::DELETE, "/api/v1/users/me", None).await
    }

    /// Ed25519 with this client's signing key over arbitrary bytes — only for building
    /// malformed uploads whose signature is nevertheless valid.
    pub fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        self.account.signing_key().sign(msg).to_bytes()
    }

    // ---- volumes --------------------------------------------------------------------------

    /// Encrypts and signs `document` as volume `name` at `version`, `modified_at` = now
    /// (floored to the hour by client-core).
    pub fn seal(&self, name: VolumeName, version: u64, document: &Value) -> SealedVolume {
        self.seal_bytes(
            name,
            version,
            &serde_json::to_vec(document).expect("serialise"),
        )
    }

    /// Like [`Self::seal`] with a raw plaintext.
    pub fn seal_bytes(&self, name: VolumeName, version: u64, plaintext: &[u8]) -> SealedVolume {
        self.seal_at(name, version, now_unix(), plaintext)
    }

    /// Seals with an explicit `modified_at` (floored to the hour by client-core).
    pub fn seal_at(
        &self,
        name: VolumeName,
        version: u64,
        modified_at: i64,
        plaintext: &[u8],
    ) -> SealedVolume {
        crypto::seal_volume(
            &self.identity,
            &self.vek,
            name,
            version,
            modified_at,
            plaintext,
        )
    }

    /// `PUT /api/v1/volumes/{name}` with the template's body for `sealed`.
    pub async fn put_sealed(&self, sealed: &SealedVolume) -> Resp {
        self.put_volume_raw(&sealed.header.volume_name, upload_body_text(sealed))
            .await
    }

    /// `PUT /api/v1/volumes/{name}` with any body text.
    pub async fn put_volume_raw(&self, name: &str, body: String) -> Resp {
        self.call_raw(Method::PUT, &format!("/api/v1/volumes/{name}"), body)
            .await
    }

    /// Seals and uploads; returns the answer and what was sent.
    pub async fn upload(
        &self,
        name: VolumeName,
        version: u64,
        document: &Value,
    ) -> (Resp, SealedVolume) {
        let sealed = self.seal(name, version, document);
        (self.put_sealed(&sealed).await, sealed)
    }

    /// Seals and uploads, asserting `200 {"status":"stored","version":N}`.
    pub async fn upload_ok(
        &self,
        name: VolumeName,
        version: u64,
        document: &Value,
    ) -> SealedVolume {
        let (resp, sealed) = self.upload(name, version, document).await;
        let body = resp.expect_json(200);
        assert_eq!(body["status"], "stored", "{}", resp.describe());
        assert_eq!(body["version"], json!(version), "{}", resp.describe());
        sealed
    }

    /// `GET /api/v1/volumes`, asserting 200; returns name → control header.
    pub async fn list_volumes(&self) -> Vec<Value> {
        let resp = self.get("/api/v1/volumes").await;
        resp.expect_json(200)["volumes"]
            .as_array()
            .unwrap_or_else(|| panic!("no volumes list: {}", resp.describe()))
            .clone()
    }

    /// `GET /api/v1/volumes/{name}/download` with an optional `If-None-Match`.
    pub async fn download_own(&self, name: &str, if_none_match: Option<&str>) -> Resp {
        let mut rb = self.req(Method::GET, &format!("/api/v1/volumes/{name}/download"));
        if let Some(v) = if_none_match {
            rb = rb.header("If-None-Match", v);
        }
        self.send(rb).await
    }

    // ---- discovery and sharing ------------------------------------------------------------

    /// `GET /api/v1/discover?handle=<q>` (q is URL-encoded here).
    pub async fn discover(&self, q: &str) -> Resp {
        self.get(&format!("/api/v1/discover?handle={}", url_encode(q)))
            .await
    }

    /// `POST /api/v1/sharing/invite` with no body (as the template does); asserts 201 and
    /// returns the code.
    pub async fn invite(&self) -> String {
        let resp = self
            .call(Method::POST, "/api/v1/sharing/invite", None)
            .await;
        let body = resp.expect_json(201);
        let code = body["code"]
            .as_str()
            .unwrap_or_else(|| panic!("invite without code: {}", resp.describe()))
            .to_owned();
        assert!(body["expires_at"].is_string(), "{}", resp.describe());
        code
    }

    /// `POST /api/v1/sharing/redeem {code}`.
    pub async fn redeem(&self, code: &str) -> Resp {
        self.post("/api/v1/sharing/redeem", &json!({"code": code}))
            .await
    }

    /// `POST /api/v1/sharing/request` from this user to `to_user_id`.
    pub async fn request_share(&self, to_user_id: &str) -> Resp {
        self.post(
            "/api/v1/sharing/request",
            &json!({"from_user_id": self.user_id(), "to_user_id": to_user_id}),
        )
        .await
    }

    /// `GET /api/v1/sharing/requests[?status=…]`.
    pub async fn requests(&self, status: Option<&str>) -> Resp {
        match status {
            Some(s) => {
                self.get(&format!("/api/v1/sharing/requests?status={s}"))
                    .await
            }
            None => self.get("/api/v1/sharing/requests").await,
        }
    }

    /// The `requests` list, asserting 200.
    pub async fn requests_list(&self, status: Option<&str>) -> Vec<Value> {
        let resp = self.requests(status).await;
        resp.expect_json(200)["requests"]
            .as_array()
            .unwrap_or_else(|| panic!("no requests list: {}", resp.describe()))
            .clone()
    }

    /// The wrapped VEK for a friend's exchange key (base64 of the 60 bytes).
    pub fn wrap_vek_for(&self, friend_exchange_b64: &str) -> String {
        let peer = b64::decode_exact::<32>(friend_exchange_b64)
            .unwrap_or_else(|e| panic!("friend exchange key {friend_exchange_b64:?}: {e}"));
        let fkek = crypto::fkek(&self.identity, &peer).expect("a contributory exchange key");
        b64::encode(&crypto::wrap_vek(&fkek, &self.vek))
    }

    /// Accepts a pending request entry (from [`Self::requests_list`]) as the template does:
    /// wraps the VEK for the entry's `friend_exchange_public_key`.
    pub async fn accept(&self, entry: &Value, permissions: &Value) -> Resp {
        let friend_key = entry["friend_exchange_public_key"]
            .as_str()
            .unwrap_or_else(|| panic!("pending entry without friend_exchange_public_key: {entry}"));
        let blob = self.wrap_vek_for(friend_key);
        self.post(
            "/api/v1/sharing/respond",
            &json!({
                "request_id": entry["id"],
                "accepted": true,
                "encrypted_vek_blob": blob,
                "permissions": permissions,
            }),
        )
        .await
    }

    /// Rejects a request (`accepted: false`, nothing else).
    pub async fn reject(&self, request_id: &str) -> Resp {
        self.post(
            "/api/v1/sharing/respond",
            &json!({"request_id": request_id, "accepted": false}),
        )
        .await
    }

    /// `PATCH /api/v1/sharing/{id}/permissions`.
    pub async fn patch_permissions(&self, id: &str, permissions: &Value) -> Resp {
        self.call(
            Method::PATCH,
            &format!("/api/v1/sharing/{id}/permissions"),
            Some(&json!({"permissions": permissions})),
        )
        .await
    }

    /// `DELETE /api/v1/sharing/{id}`.
    pub async fn delete_sharing(&self, id: &str) -> Resp {
        self.call(Method::DELETE, &format!("/api/v1/sharing/{id}"), None)
            .await
    }

    /// Friend: unwraps the VEK of an active relationship entry (its
    /// `system_exchange_public_key` and `encrypted_vek_blob`).
    pub fn unwrap_vek(&self, entry: &Value) -> Vek {
        let system_key = entry["system_exchange_public_key"]
            .as_str()
            .unwrap_or_else(|| panic!("entry without system_exchange_public_key: {entry}"));
        let blob = entry["encrypted_vek_blob"]
            .as_str()
            .unwrap_or_else(|| panic!("entry without encrypted_vek_blob: {entry}"));
        self.unwrap_vek_parts(system_key, blob)
    }

    /// Friend: unwraps a wrapped VEK given the system's exchange key (both base64).
    pub fn unwrap_vek_parts(&self, system_exchange_b64: &str, blob_b64: &str) -> Vek {
        let peer = b64::decode_exact::<32>(system_exchange_b64)
            .unwrap_or_else(|e| panic!("system exchange key {system_exchange_b64:?}: {e}"));
        let blob = b64::decode_strict(blob_b64)
            .unwrap_or_else(|e| panic!("encrypted_vek_blob {blob_b64:?}: {e}"));
        let fkek = crypto::fkek(&self.identity, &peer).expect("a contributory exchange key");
        crypto::unwrap_vek(&fkek, &blob).expect("the wrapped VEK opens with our key pair")
    }

    /// Friend: `GET /api/v1/shared/{system}/volumes`.
    pub async fn shared_list(&self, system_user_id: &str) -> Resp {
        self.get(&format!("/api/v1/shared/{system_user_id}/volumes"))
            .await
    }

    /// Friend: `GET /api/v1/shared/{system}/volumes/{name}` with an optional `If-None-Match`.
    pub async fn shared_get(
        &self,
        system_user_id: &str,
        name: &str,
        if_none_match: Option<&str>,
    ) -> Resp {
        let mut rb = self.req(
            Method::GET,
            &format!("/api/v1/shared/{system_user_id}/volumes/{name}"),
        );
        if let Some(v) = if_none_match {
            rb = rb.header("If-None-Match", v);
        }
        self.send(rb).await
    }
}

/// The upload body exactly as the template serialises it: `control_header` in the canonical
/// key order (Dart map insertion order), then `encrypted_payload`, then `signature`.
pub fn upload_body_text(sealed: &SealedVolume) -> String {
    upload_body_with_header(
        &sealed.header.canonical_json(),
        &b64::encode(&sealed.blob),
        &b64::encode(&sealed.signature),
    )
}

/// An upload body from its three parts (header JSON text inserted verbatim).
pub fn upload_body_with_header(
    header_json: &str,
    payload_b64: &str,
    signature_b64: &str,
) -> String {
    format!(
        "{{\"control_header\":{header_json},\"encrypted_payload\":{},\"signature\":{}}}",
        Value::String(payload_b64.to_owned()),
        Value::String(signature_b64.to_owned())
    )
}

/// What a careful friend gets out of a volume answer (`/shared/…/{name}` or `/download`).
#[derive(Debug, Clone)]
pub struct OpenedVolume {
    /// The header as served, parsed.
    pub header: ControlHeader,
    /// The raw blob.
    pub blob: Vec<u8>,
    /// The decrypted document.
    pub document: Value,
}

/// Verifies and decrypts a volume answer: the signature with the system's public signing key
/// over the canonical header rebuilt from the served `control_header` ‖ blob; the header's
/// volume name; `size_bytes` = blob length; then decrypts under `name`/`version` (which also
/// checks the derived nonce) and parses the JSON document.
pub fn open_volume(
    answer: &Value,
    name: &str,
    vek: &Vek,
    system_signing_key_b64: &str,
) -> OpenedVolume {
    let header_obj = answer["control_header"]
        .as_object()
        .unwrap_or_else(|| panic!("answer without control_header object: {answer}"));
    let header = ControlHeader::from_json_object(header_obj)
        .unwrap_or_else(|e| panic!("served control_header does not parse: {e}: {answer}"));
    assert_eq!(
        header.volume_name, name,
        "served header names another volume"
    );
    let blob = b64::decode_strict(answer["encrypted_payload"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("encrypted_payload is not strict base64: {e}"));
    let signature = b64::decode_exact::<64>(answer["signature"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("signature is not 64 bytes of strict base64: {e}"));
    let key = b64::decode_exact::<32>(system_signing_key_b64).expect("a 32-byte signing key");
    crypto::verify_upload(&key, &header, &blob, &signature).unwrap_or_else(|e| {
        panic!(
            "served volume {name} v{} does not verify: {e}",
            header.version
        )
    });
    assert_eq!(
        header.size_bytes,
        blob.len() as u64,
        "size_bytes does not match the served blob"
    );
    let plaintext = crypto::decrypt_volume(vek, name, header.version, &blob).unwrap_or_else(|e| {
        panic!(
            "served volume {name} v{} does not decrypt: {e}",
            header.version
        )
    });
    let document = serde_json::from_slice(&plaintext)
        .unwrap_or_else(|e| panic!("decrypted volume {name} is not JSON: {e}"));
    OpenedVolume {
        header,
        blob,
        document,
    }
}

/// Minimal percent-encoding for query values.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The operator's view: the admin API with `X-Admin-Token` (and the dashboard's
/// `Content-Type: application/json`).
#[derive(Debug, Clone)]
pub struct Admin {
    http: Http,
    token: String,
}

impl Admin {
    /// An admin client for `relay`.
    pub fn new(relay: &RelayProcess) -> Admin {
        Admin {
            http: relay.http(),
            token: relay.admin_token().to_owned(),
        }
    }

    /// An admin client with another token (for refusal tests).
    pub fn with_token(relay: &RelayProcess, token: &str) -> Admin {
        Admin {
            http: relay.http(),
            token: token.to_owned(),
        }
    }

    /// Points at a restarted relay.
    pub fn rebind(&mut self, relay: &RelayProcess) {
        self.http = relay.http();
    }

    /// A request with the admin headers.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, path)
            .header("Content-Type", "application/json")
            .header("X-Admin-Token", &self.token)
    }

    /// Sends an admin call without a body.
    pub async fn call(&self, method: Method, path: &str) -> Resp {
        self.http.send(self.req(method, path)).await
    }

    /// `GET path`, asserting a 200 JSON object.
    pub async fn get_ok(&self, path: &str) -> Value {
        let resp = self.call(Method::GET, path).await;
        let v = resp.expect_json(200).clone();
        assert!(
            v.is_object(),
            "admin answer is not an object: {}",
            resp.describe()
        );
        v
    }

    /// `GET /api/v1/admin/stats`.
    pub async fn stats(&self) -> Value {
        self.get_ok("/api/v1/admin/stats").await
    }

    /// Number of users (system + friend) per the stats.
    pub async fn user_count(&self) -> i64 {
        let s = self.stats().await;
        s["system_users"].as_i64().expect("system_users")
            + s["friend_users"].as_i64().expect("friend_users")
    }
}
