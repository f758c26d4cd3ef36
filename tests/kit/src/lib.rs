//! The test kit: what every test, the bench, the admin tests, the fuzz harness and the API fuzz
//! fixtures need to talk to a relay, written once.
//!
//! - [`V1Account`] / [`V2Account`]: keys, the registration body, "register, sign the challenge,
//!   get a token" (v1: the nonce text signed; v2: the origin-bound login transcript), signed
//!   upload bodies. Over any transport that implements [`Api`]: an async reqwest client, the
//!   bench's hyper client, or the fuzz harness's in-process service (a synchronous transport
//!   answers with ready futures and drives the flows with [`block_ready`]).
//! - [`relay`]: where the relay binary is, the environment a test relay starts with, and its
//!   start-up banner (`url:`, `pin:`, `data:`, `admin:`).
//! - [`PinnedApi`] (feature `http`): a reqwest client trusting the relay by its SPKI pin only.
//!
//! It depends on `coffer-wire` and Ed25519 only (no client-core, no relay), so the relay's own
//! examples and the fuzz crate can use it without a dependency cycle or volume cryptography.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use coffer_wire::b64;
use coffer_wire::v1::ControlHeader;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};

pub mod relay;

#[cfg(feature = "http")]
mod pinned;
#[cfg(feature = "http")]
pub use pinned::PinnedApi;

/// A fixture step that did not get the answer it needs: the request and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitError(pub String);

impl std::fmt::Display for KitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KitError {}

/// One JSON exchange with a relay; what the account flows need from a transport.
pub trait Api {
    /// Sends `method path` with `token` as bearer and `body` as JSON (no body when `None`);
    /// answers the status and the JSON body (`Null` when the body is not JSON).
    fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> impl Future<Output = Result<(u16, Value), KitError>>;

    /// The origin a v2 login signs: the relay's URL as the client dialled it.
    fn origin(&self) -> String;
}

/// Calls `api` and insists on `want`; the JSON answer.
pub async fn expect<A: Api>(
    api: &mut A,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    want: u16,
) -> Result<Value, KitError> {
    let (status, answer) = api.call(method, path, token, body).await?;
    if status == want {
        Ok(answer)
    } else {
        Err(KitError(format!(
            "{method} {path}: {status} instead of {want}: {answer}"
        )))
    }
}

/// Runs a future made only of ready futures (a synchronous [`Api`]) to its end.
///
/// # Panics
/// If the future waits for anything: it was not built on a synchronous transport.
pub fn block_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("block_ready: the transport is not synchronous"),
    }
}

/// `POST /api/v<version>/register` with `body` (201); the new user id and the whole answer.
async fn register_at<A: Api>(
    api: &mut A,
    version: u8,
    body: &Value,
) -> Result<(String, Value), KitError> {
    let path = format!("/api/v{version}/register");
    let answer = expect(api, "POST", &path, None, Some(body), 201).await?;
    Ok((text(&answer, "user_id", "register")?, answer))
}

/// `POST /api/v<version>/auth/challenge` for `id`, then `/auth/token` with the body `answer`
/// makes of the nonce text; the session token and the token answer.
async fn log_in_at<A: Api>(
    api: &mut A,
    version: u8,
    id: &str,
    answer: impl FnOnce(&A, &str) -> Result<Value, KitError>,
) -> Result<(String, Value), KitError> {
    let challenge = json!({ "user_id": id });
    let path = format!("/api/v{version}/auth/challenge");
    let challenged = expect(api, "POST", &path, None, Some(&challenge), 200).await?;
    let body = answer(&*api, &text(&challenged, "nonce", "challenge")?)?;
    let path = format!("/api/v{version}/auth/token");
    let answer = expect(api, "POST", &path, None, Some(&body), 200).await?;
    Ok((text(&answer, "token", "token")?, answer))
}

/// A string field of an answer.
fn text(answer: &Value, field: &str, what: &str) -> Result<String, KitError> {
    answer[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| KitError(format!("{what} answer without {field}: {answer}")))
}

/// System (data owner) or Friend (reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `client_type: "system"`.
    System,
    /// `client_type: "friend"`.
    Friend,
}

impl Kind {
    /// The wire value of `client_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::System => "system",
            Kind::Friend => "friend",
        }
    }
}

/// The `X-Feature-Set` header the v1 template sends on every call (v1 §1.1, this order), also
/// its registration `feature_set`.
pub const V1_FEATURES: &str =
    "members:1,fronts:1,journal:1,chat:1,polls:1,analytics:1,meta:1,vault:1";

/// Random secret bytes.
pub fn random32() -> [u8; 32] {
    rand::random()
}

/// The current Unix time in seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The current hour as a Unix time (what a v1 `modified_at` or a v2 `hour` carries).
pub fn hour_now() -> i64 {
    let now = now_unix();
    now - now % 3600
}

/// A v1 account: its Ed25519 key, the exchange key it registers, its id and session.
///
/// The exchange key is only registered and handed to friends; the relay cannot tell it from
/// any 32 bytes, so fixtures that never unwrap may register random bytes.
#[derive(Debug, Clone)]
pub struct V1Account {
    /// System or friend.
    pub kind: Kind,
    key: SigningKey,
    /// `public_exchange_key` as registered.
    pub exchange_public: [u8; 32],
    /// The handle sent at registration (`null` when `None`).
    pub handle: Option<String>,
    /// The registration `feature_set`.
    pub feature_set: Vec<String>,
    /// The user id, once registered.
    pub id: String,
    /// The session token, once logged in.
    pub token: String,
}

impl V1Account {
    /// A new account with fresh keys, not yet registered.
    pub fn new(kind: Kind) -> V1Account {
        V1Account::from_secrets(kind, &random32(), random32())
    }

    /// An account with the given signing seed and registered exchange key.
    pub fn from_secrets(kind: Kind, seed: &[u8; 32], exchange_public: [u8; 32]) -> V1Account {
        V1Account {
            kind,
            key: SigningKey::from_bytes(seed),
            exchange_public,
            handle: None,
            feature_set: V1_FEATURES.split(',').map(str::to_owned).collect(),
            id: String::new(),
            token: String::new(),
        }
    }

    /// Sets the handle sent at registration.
    pub fn with_handle(mut self, handle: Option<&str>) -> V1Account {
        self.handle = handle.map(str::to_owned);
        self
    }

    /// Sets the registration feature set.
    pub fn with_features(mut self, features: &[&str]) -> V1Account {
        self.feature_set = features.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    /// The same account (same keys and id) without a session, e.g. for a restored relay.
    pub fn again(&self) -> V1Account {
        V1Account {
            token: String::new(),
            ..self.clone()
        }
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// `public_signing_key` as registered.
    pub fn signing_key_b64(&self) -> String {
        b64::encode(self.key.verifying_key().as_bytes())
    }

    /// The session token, when logged in.
    pub fn session(&self) -> Option<&str> {
        (!self.token.is_empty()).then_some(self.token.as_str())
    }

    /// The body of `POST /api/v1/register`.
    pub fn register_body(&self) -> Value {
        json!({
            "public_signing_key": self.signing_key_b64(),
            "public_exchange_key": b64::encode(&self.exchange_public),
            "handle": self.handle,
            "client_type": self.kind.as_str(),
            "protocol_version": 1,
            "feature_set": self.feature_set,
        })
    }

    /// The v1 login signature: Ed25519 over the nonce text as sent (v1 §2.3).
    pub fn sign_login(&self, nonce_text: &str) -> [u8; 64] {
        self.key.sign(nonce_text.as_bytes()).to_bytes()
    }

    /// The body of `POST /api/v1/auth/token` answering the challenge `nonce_text`.
    pub fn token_body(&self, nonce_text: &str) -> Value {
        json!({
            "user_id": self.id,
            "nonce": nonce_text,
            "signature": b64::encode(&self.sign_login(nonce_text)),
        })
    }

    /// `POST /api/v1/register` (201); keeps the user id. The whole answer.
    pub async fn register<A: Api>(&mut self, api: &mut A) -> Result<Value, KitError> {
        let (id, answer) = register_at(api, 1, &self.register_body()).await?;
        self.id = id;
        Ok(answer)
    }

    /// Challenge, sign the nonce text, token; keeps the token. The token answer.
    pub async fn login<A: Api>(&mut self, api: &mut A) -> Result<Value, KitError> {
        let (token, answer) =
            log_in_at(api, 1, &self.id, |_, nonce| Ok(self.token_body(nonce))).await?;
        self.token = token;
        Ok(answer)
    }

    /// A new account, registered and logged in.
    pub async fn sign_up<A: Api>(
        api: &mut A,
        kind: Kind,
        handle: Option<&str>,
    ) -> Result<V1Account, KitError> {
        let mut account = V1Account::new(kind).with_handle(handle);
        account.register(api).await?;
        account.login(api).await?;
        Ok(account)
    }

    /// The body of `PUT /api/v1/volumes/<name>`: `header` (its `size_bytes` as given), the
    /// payload and this account's signature over both.
    pub fn upload_body(&self, header: &ControlHeader, payload: &[u8]) -> Value {
        json!({
            "control_header": header,
            "encrypted_payload": b64::encode(payload),
            "signature": b64::encode(&self.key.sign(&header.signature_input(payload)).to_bytes()),
        })
    }

    /// The header of an honest upload of `payload` as `name`, version `version`, this hour.
    pub fn header(name: &str, version: u64, payload: &[u8], tags: &[&str]) -> ControlHeader {
        ControlHeader {
            volume_name: name.to_owned(),
            version,
            modified_at: hour_now(),
            size_bytes: payload.len() as u64,
            event_tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    /// Uploads `payload` as `name` version `version` (200).
    pub async fn upload<A: Api>(
        &self,
        api: &mut A,
        name: &str,
        version: u64,
        payload: &[u8],
    ) -> Result<Value, KitError> {
        let body = self.upload_body(&V1Account::header(name, version, payload, &[name]), payload);
        let path = format!("/api/v1/volumes/{name}");
        expect(api, "PUT", &path, self.session(), Some(&body), 200).await
    }
}

/// A v2 account: its Ed25519 key, the exchange key it binds at registration, id and session.
#[derive(Debug, Clone)]
pub struct V2Account {
    /// System or friend.
    pub kind: Kind,
    key: SigningKey,
    /// `public_exchange_key` as registered (and bound by the key-binding signature).
    pub exchange_public: [u8; 32],
    /// The handle sent at registration.
    pub handle: Option<String>,
    /// The user id, once registered.
    pub id: String,
    /// The session token, once logged in.
    pub token: String,
}

impl V2Account {
    /// A new account with fresh keys, not yet registered.
    pub fn new(kind: Kind) -> V2Account {
        V2Account::from_secrets(kind, &random32(), random32())
    }

    /// An account with the given signing seed and registered exchange key.
    pub fn from_secrets(kind: Kind, seed: &[u8; 32], exchange_public: [u8; 32]) -> V2Account {
        V2Account {
            kind,
            key: SigningKey::from_bytes(seed),
            exchange_public,
            handle: None,
            id: String::new(),
            token: String::new(),
        }
    }

    /// Sets the handle sent at registration.
    pub fn with_handle(mut self, handle: Option<&str>) -> V2Account {
        self.handle = handle.map(str::to_owned);
        self
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The user id as the 16 bytes signed messages carry (zero when not a UUID).
    pub fn id_bytes(&self) -> [u8; 16] {
        uuid::Uuid::parse_str(&self.id).map_or([0; 16], |u| *u.as_bytes())
    }

    /// The body of `POST /api/v2/register` for the relay at `origin`, with the key-binding
    /// signature and the registration signature (bound to `origin`, the type and the handle).
    pub fn register_body(&self, origin: &str) -> Value {
        let signing = self.key.verifying_key().to_bytes();
        let binding = self.key.sign(&coffer_wire::v2::key_binding_message(
            &signing,
            &self.exchange_public,
        ));
        let client_type = match self.kind {
            Kind::System => coffer_wire::v2::api::ClientType::System,
            Kind::Friend => coffer_wire::v2::api::ClientType::Friend,
        };
        // A handle the wire type refuses is sent anyway (tests of the relay's checks), signed
        // as none: the relay refuses it before it looks at the signature.
        let handle = self
            .handle
            .as_deref()
            .and_then(|h| coffer_wire::v2::api::Handle::new(h).ok());
        let registration = coffer_wire::v2::register_message(
            origin,
            client_type,
            handle.as_ref(),
            &signing,
            &self.exchange_public,
        )
        .map(|message| b64::encode(&self.key.sign(&message).to_bytes()))
        .unwrap_or_default();
        let mut body = json!({
            "client_type": self.kind.as_str(),
            "public_signing_key": b64::encode(&signing),
            "public_exchange_key": b64::encode(&self.exchange_public),
            "key_binding_signature": b64::encode(&binding.to_bytes()),
            "origin": origin,
            "registration_signature": registration,
        });
        if let Some(handle) = &self.handle {
            body["handle"] = json!(handle);
        }
        body
    }

    /// The body of `POST /api/v2/auth/token` answering `nonce_text` for `origin` (the login
    /// transcript signed, v2 §3).
    pub fn token_body(&self, origin: &str, nonce_text: &str) -> Result<Value, KitError> {
        let nonce = b64::decode_exact::<32>(nonce_text)
            .map_err(|e| KitError(format!("challenge nonce {nonce_text:?}: {e}")))?;
        let transcript = coffer_wire::v2::login_transcript(origin, &self.id_bytes(), &nonce)
            .ok_or_else(|| KitError(format!("origin too long: {origin}")))?;
        Ok(json!({
            "user_id": self.id,
            "nonce": nonce_text,
            "origin": origin,
            "signature": b64::encode(&self.key.sign(&transcript).to_bytes()),
        }))
    }

    /// `POST /api/v2/register` (201); keeps the user id. The whole answer.
    pub async fn register<A: Api>(&mut self, api: &mut A) -> Result<Value, KitError> {
        let body = self.register_body(&api.origin());
        let (id, answer) = register_at(api, 2, &body).await?;
        self.id = id;
        Ok(answer)
    }

    /// Challenge, sign the login transcript for the transport's origin, token; keeps the token.
    pub async fn login<A: Api>(&mut self, api: &mut A) -> Result<Value, KitError> {
        let (token, answer) = log_in_at(api, 2, &self.id, |api, nonce| {
            self.token_body(&api.origin(), nonce)
        })
        .await?;
        self.token = token;
        Ok(answer)
    }

    /// A new account, registered and logged in.
    pub async fn sign_up<A: Api>(
        api: &mut A,
        kind: Kind,
        handle: Option<&str>,
    ) -> Result<V2Account, KitError> {
        let mut account = V2Account::new(kind).with_handle(handle);
        account.register(api).await?;
        account.login(api).await?;
        Ok(account)
    }

    /// `labelled(label) ‖ bytes` signed with this account's key, base64.
    pub fn sign_labelled(&self, label: coffer_wire::v2::Label, bytes: &[u8]) -> String {
        let mut signed = coffer_wire::v2::labelled(label);
        signed.extend_from_slice(bytes);
        b64::encode(&self.key.sign(&signed).to_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A transport that answers like a relay would, synchronously.
    struct Fake {
        calls: Vec<String>,
    }

    impl Api for Fake {
        async fn call(
            &mut self,
            method: &str,
            path: &str,
            _token: Option<&str>,
            body: Option<&Value>,
        ) -> Result<(u16, Value), KitError> {
            self.calls.push(format!("{method} {path}"));
            Ok(match path {
                "/api/v1/register" | "/api/v2/register" => (
                    201,
                    json!({"user_id": "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"}),
                ),
                "/api/v1/auth/challenge" => (200, json!({"nonce": "n0nce"})),
                "/api/v2/auth/challenge" => (200, json!({"nonce": b64::encode(&[7; 32])})),
                _ => {
                    let body = body.cloned().unwrap_or_default();
                    assert!(body["signature"].is_string(), "{body}");
                    (200, json!({"token": "t0ken"}))
                }
            })
        }

        fn origin(&self) -> String {
            "https://127.0.0.1:1".to_owned()
        }
    }

    #[test]
    fn sign_up_registers_signs_and_keeps_the_token() {
        let mut api = Fake { calls: Vec::new() };
        let v1 = block_ready(V1Account::sign_up(&mut api, Kind::System, Some("h"))).unwrap();
        let v2 = block_ready(V2Account::sign_up(&mut api, Kind::Friend, None)).unwrap();
        assert_eq!(v1.token, "t0ken");
        assert_eq!(v2.id, "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b");
        assert_eq!(api.calls.len(), 6, "{:?}", api.calls);
        let v1_sig =
            b64::decode_exact::<64>(v1.token_body("n0nce")["signature"].as_str().unwrap()).unwrap();
        v1.signing_key()
            .verifying_key()
            .verify_strict(b"n0nce", &ed25519_dalek::Signature::from_bytes(&v1_sig))
            .unwrap();
    }

    #[test]
    fn a_refusal_names_the_request_and_the_answer() {
        struct No;
        impl Api for No {
            async fn call(
                &mut self,
                _: &str,
                _: &str,
                _: Option<&str>,
                _: Option<&Value>,
            ) -> Result<(u16, Value), KitError> {
                Ok((429, json!({"error": "rate_limited"})))
            }
            fn origin(&self) -> String {
                String::new()
            }
        }
        let err = block_ready(V1Account::new(Kind::System).register(&mut No)).unwrap_err();
        assert_eq!(
            err.0,
            r#"POST /api/v1/register: 429 instead of 201: {"error":"rate_limited"}"#
        );
    }
}
