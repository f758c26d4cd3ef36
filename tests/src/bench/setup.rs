//! The benchmark's accounts: N pairs of a system and a friend, registered, logged in, paired
//! and sharing, on any relay that speaks v1 (and v2 for the v2 workloads), the way the apps do
//! it. v1 goes through `coffer_client_core::legacy::v1` and this crate's request shapes
//! (`crate::client`); v2 through client-core's own `SystemClient` / `FriendClient` over its
//! `RelayHttp` transport. Afterwards every account has a session token for the load
//! generator's own lean connections.
//!
//! Each setup ends with one verified read (pair 0: the friend unwraps its key, fetches,
//! verifies the signature and decrypts), so a benchmark never measures a relay that serves the
//! wrong thing fast.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, anyhow, bail, ensure};
use base64::Engine as _;
use bytes::Bytes;
use coffer_client_core::client::{ClientConfig, Fetched, FriendClient, SystemClient};
use coffer_client_core::identity::{Identity, IdentitySecret};
use coffer_client_core::legacy::v1::{self as crypto, Vek};
use coffer_client_core::storage::{KeyStore, MemoryKeyStore};
use coffer_client_core::transport::{Fetched as Served, RelayHttpConfig, Trust};
use coffer_wire::b64;
use coffer_wire::v1::VolumeName as V1Name;
use coffer_wire::v2::{Header, Label, VolumeName as V2Name, labelled};
use ed25519_dalek::Signer as _;
use http::Method;
use http::header::{AUTHORIZATION, HeaderName};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::conn::{Client, Req, Target, TrustSpec};
use crate::client::FEATURE_SET_HEADER;
use coffer_test_kit::{Api, Kind, KitError, V1Account, V2Account};

/// Which protocol a world (and a workload) speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// `/api/v1`, the PluralLog apps' protocol.
    V1,
    /// `/api/v2`, Coffer's own.
    V2,
}

/// The volume names, in the order publish workloads hand them to workers sharing a system.
pub const NAMES: [&str; 8] = [
    "journal",
    "polls",
    "vault",
    "analytics",
    "meta",
    "chat",
    "fronts",
    "members",
];

/// Index of a name in [`NAMES`].
pub fn name_index(name: &str) -> usize {
    NAMES.iter().position(|n| *n == name).unwrap_or(0)
}

/// How many pairs are set up at once.
const SETUP_PARALLEL: usize = 8;

/// One account: its keys and a session token.
pub struct Account {
    /// The test kit's v1 and v2 views of the same keys (logins and their bodies).
    v1: V1Account,
    v2: V2Account,
    /// Hyphenated UUID.
    pub user_id: String,
    /// The identity (for v1 login signatures, v2 transcripts, key exchange).
    pub identity: Identity,
    /// The same Ed25519 key as `identity`, to sign what the protocol modules do not offer:
    /// a v1 upload re-signed under a new version, a v2 header of a new version.
    pub signer: ed25519_dalek::SigningKey,
    /// `Bearer` value.
    pub token: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl Account {
    fn new(user_id: String, seed: [u8; 32], exchange: [u8; 32]) -> Account {
        let identity = Identity::from_secret_bytes(&seed, &exchange);
        let exchange_public =
            b64::decode_exact::<32>(&identity.public_exchange_key_b64()).unwrap_or_default();
        let mut v1 = V1Account::from_secrets(Kind::System, &seed, exchange_public);
        let mut v2 = V2Account::from_secrets(Kind::System, &seed, exchange_public);
        user_id.clone_into(&mut v1.id);
        user_id.clone_into(&mut v2.id);
        Account {
            v1,
            v2,
            user_id,
            identity,
            signer: ed25519_dalek::SigningKey::from_bytes(&seed),
            token: String::new(),
        }
    }

    /// `Authorization: Bearer <token>`.
    pub fn auth(&self) -> (HeaderName, String) {
        (AUTHORIZATION, format!("Bearer {}", self.token))
    }
}

/// A v2 volume as last stored, for publishing further versions of it: the parsed header (the
/// version is replaced) and the payload as base64. The payload stays the same across versions:
/// the relay checks its hash against the header, not that it decrypts.
#[derive(Debug, Clone)]
pub struct V2Template {
    /// The stored header.
    pub header: Header,
    /// `payload` field text.
    pub payload_b64: Arc<str>,
}

/// A v1 volume as last stored: header fields and the blob as base64.
#[derive(Debug, Clone)]
pub struct V1Template {
    /// The header of the stored version.
    pub header: coffer_wire::v1::ControlHeader,
    /// The blob.
    pub blob: Arc<Vec<u8>>,
    /// `encrypted_payload` field text.
    pub blob_b64: Arc<str>,
}

/// A system, its friend, and (v1) the system's VEK.
#[derive(Debug)]
pub struct Pair {
    /// The data owner.
    pub system: Account,
    /// Its reader.
    pub friend: Account,
    /// v1 only: the system's volume key.
    pub vek: Option<Vek>,
}

/// Everything the workers of one protocol share.
pub struct World {
    /// Protocol.
    pub proto: Proto,
    /// The relay.
    pub target: Arc<Target>,
    /// The pairs.
    pub pairs: Vec<Pair>,
    /// Current version of each (pair, name): index `pair * 8 + name_index`.
    pub versions: Vec<AtomicU64>,
    /// Last stored v1 volume per (pair, name index).
    pub v1_templates: std::sync::Mutex<HashMap<(usize, usize), V1Template>>,
    /// Last stored v2 volume per (pair, name index).
    pub v2_templates: std::sync::Mutex<HashMap<(usize, usize), V2Template>>,
    /// v2: the clients of each pair, for publishing real volumes and the verified read.
    v2_clients: Vec<(SystemClient, FriendClient)>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("proto", &self.proto)
            .field("pairs", &self.pairs.len())
            .finish_non_exhaustive()
    }
}

/// A v1 request with the headers the PluralLog template sends on every call (no token).
pub fn v1_request(
    method: Method,
    path: impl Into<String>,
    body: impl Into<Bytes>,
) -> anyhow::Result<Req> {
    Req::new(method, path, body)
        .header(HeaderName::from_static("x-protocol-version"), "1")?
        .header(HeaderName::from_static("x-feature-set"), FEATURE_SET_HEADER)
}

/// A v1 request with the account's token.
pub fn v1_authed(
    account: &Account,
    method: Method,
    path: impl Into<String>,
    body: impl Into<Bytes>,
) -> anyhow::Result<Req> {
    let (name, value) = account.auth();
    v1_request(method, path, body)?.header(name, &value)
}

/// A v2 request with the account's token.
pub fn v2_authed(
    account: &Account,
    method: Method,
    path: impl Into<String>,
    body: impl Into<Bytes>,
) -> anyhow::Result<Req> {
    let (name, value) = account.auth();
    Req::new(method, path, body).header(name, &value)
}

fn json_body(value: &Value) -> Bytes {
    Bytes::from(value.to_string())
}

/// The permissions every friend gets: everything v1 can share (chat never is).
fn all_permissions() -> Value {
    json!({
        "share_front_status": true,
        "share_members": true,
        "share_front_history": true,
        "share_journal": true,
        "share_mood_trends": true,
        "share_polls": true,
        "share_vault": true,
    })
}

/// v1 `challenge` request body.
pub fn v1_challenge_body(user_id: &str) -> Bytes {
    json_body(&json!({ "user_id": user_id }))
}

/// v1 `token` request body for a challenge answer.
pub fn v1_token_body(account: &Account, challenge: &Value) -> anyhow::Result<Bytes> {
    let nonce = challenge["nonce"]
        .as_str()
        .ok_or_else(|| anyhow!("challenge answer without nonce"))?;
    Ok(json_body(&account.v1.token_body(nonce)))
}

/// v2 `token` request body for a challenge answer (`origin` as dialled).
pub fn v2_token_body(account: &Account, origin: &str, challenge: &Value) -> anyhow::Result<Bytes> {
    let nonce = challenge["nonce"]
        .as_str()
        .ok_or_else(|| anyhow!("challenge answer without nonce"))?;
    Ok(json_body(&account.v2.token_body(origin, nonce)?))
}

/// The test kit's [`Api`] over a bench [`Client`] (the v1 template's headers on `/api/v1`).
struct KitApi<'a>(&'a mut Client);

impl Api for KitApi<'_> {
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), KitError> {
        let err = |e: anyhow::Error| KitError(format!("{method} {path}: {e:#}"));
        let method: Method = method
            .parse()
            .map_err(|e| KitError(format!("method {method:?}: {e}")))?;
        let body = body.map_or_else(Bytes::new, json_body);
        let mut req = if path.starts_with("/api/v1/") {
            v1_request(method, path, body).map_err(err)?
        } else {
            Req::new(method, path, body)
        };
        if let Some(token) = token {
            req = req
                .header(AUTHORIZATION, &format!("Bearer {token}"))
                .map_err(err)?;
        }
        let reply = self.0.send(&req).await.map_err(err)?;
        Ok((
            reply.status,
            serde_json::from_slice(&reply.body).unwrap_or(Value::Null),
        ))
    }

    fn origin(&self) -> String {
        self.0.target().origin.clone()
    }
}

async fn v1_login(client: &mut Client, account: &mut Account) -> anyhow::Result<()> {
    account.v1.login(&mut KitApi(client)).await?;
    account.v1.token.clone_into(&mut account.token);
    Ok(())
}

async fn v2_login(client: &mut Client, account: &mut Account) -> anyhow::Result<()> {
    account.v2.login(&mut KitApi(client)).await?;
    account.v2.token.clone_into(&mut account.token);
    Ok(())
}

async fn v1_register(client: &mut Client, kind: Kind) -> anyhow::Result<Account> {
    let seed: [u8; 32] = rand::random();
    let exchange: [u8; 32] = rand::random();
    let mut account = Account::new(String::new(), seed, exchange);
    account.v1.kind = kind;
    account.v1.register(&mut KitApi(client)).await?;
    account.v1.id.clone_into(&mut account.user_id);
    account.v1.id.clone_into(&mut account.v2.id);
    v1_login(client, &mut account).await?;
    Ok(account)
}

/// One v1 pair: register and log in both, invite, redeem, accept with the wrapped VEK.
async fn v1_pair(target: Arc<Target>) -> anyhow::Result<Pair> {
    let mut client = Client::new(target);
    let system = v1_register(&mut client, Kind::System).await?;
    let friend = v1_register(&mut client, Kind::Friend).await?;
    let vek = Vek::generate();
    let invite = client
        .send(&v1_authed(
            &system,
            Method::POST,
            "/api/v1/sharing/invite",
            Bytes::new(),
        )?)
        .await?
        .expect(201)?;
    let code = invite["code"]
        .as_str()
        .ok_or_else(|| anyhow!("invite without code"))?;
    client
        .send(&v1_authed(
            &friend,
            Method::POST,
            "/api/v1/sharing/redeem",
            json_body(&json!({ "code": code })),
        )?)
        .await?
        .expect(201)?;
    let pending = client
        .send(&v1_authed(
            &system,
            Method::GET,
            "/api/v1/sharing/requests",
            Bytes::new(),
        )?)
        .await?
        .expect(200)?;
    let entry = pending["requests"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|r| r["friend_user_id"].as_str() == Some(friend.user_id.as_str()))
        })
        .ok_or_else(|| anyhow!("the friend's request is not pending"))?;
    let friend_key = b64::decode_exact::<32>(
        entry["friend_exchange_public_key"]
            .as_str()
            .unwrap_or_default(),
    )
    .map_err(|e| anyhow!("friend exchange key: {e}"))?;
    let fkek = crypto::fkek(&system.identity, &friend_key).map_err(|e| anyhow!("FKEK: {e}"))?;
    let wrapped = b64::encode(&crypto::wrap_vek(&fkek, &vek));
    client
        .send(&v1_authed(
            &system,
            Method::POST,
            "/api/v1/sharing/respond",
            json_body(&json!({
                "request_id": entry["id"],
                "accepted": true,
                "encrypted_vek_blob": wrapped,
                "permissions": all_permissions(),
            })),
        )?)
        .await?
        .expect(200)?;
    Ok(Pair {
        system,
        friend,
        vek: Some(vek),
    })
}

/// A client configuration of client-core for the target.
pub fn client_config(target: &Target, trust: &TrustSpec) -> anyhow::Result<ClientConfig> {
    let mut http = RelayHttpConfig::default();
    http.proxy_from_env = false;
    Ok(ClientConfig {
        relay: target.origin.parse().map_err(|e| anyhow!("origin: {e}"))?,
        trust: match trust {
            TrustSpec::Pinned(pin) => Trust::Pinned(*pin),
            TrustSpec::WebPkiPem(pem) => Trust::webpki_from_pem(pem)?,
        },
        http,
    })
}

fn stored_account(store: &Arc<dyn KeyStore>, user_id: String) -> anyhow::Result<Account> {
    let bytes = store
        .load("identity")?
        .ok_or_else(|| anyhow!("the key store holds no identity"))?;
    let secret = IdentitySecret::from_bytes(&bytes).map_err(|e| anyhow!("identity: {e}"))?;
    let raw = secret.to_bytes();
    let seed: [u8; 32] = raw[1..33].try_into()?;
    let exchange: [u8; 32] = raw[33..65].try_into()?;
    Ok(Account::new(user_id, seed, exchange))
}

/// One v2 pair through client-core: register both, invite link, redeem, approve all names.
async fn v2_pair(
    target: Arc<Target>,
    config: ClientConfig,
) -> anyhow::Result<(Pair, SystemClient, FriendClient)> {
    let system_store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let friend_store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let system_client =
        SystemClient::register(config.clone(), Arc::clone(&system_store), None).await?;
    let friend_client = FriendClient::register(config, Arc::clone(&friend_store), None).await?;
    let link = system_client.create_invite().await?;
    friend_client.redeem(&link).await?;
    let names: Vec<V2Name> = NAMES
        .iter()
        .map(|n| V2Name::new(n))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("volume name: {e}"))?;
    system_client
        .approve(friend_client.user_id(), &names, None)
        .await?;
    let mut client = Client::new(target);
    let mut system = stored_account(&system_store, system_client.user_id().to_string())?;
    let mut friend = stored_account(&friend_store, friend_client.user_id().to_string())?;
    v2_login(&mut client, &mut system).await?;
    v2_login(&mut client, &mut friend).await?;
    Ok((
        Pair {
            system,
            friend,
            vek: None,
        },
        system_client,
        friend_client,
    ))
}

/// Adds what to do to a set-up error that is a 429: set-up registers two accounts and logs both
/// in for every pair, all from this one address, which a relay's default `rate.register` and
/// `rate.auth` (per address) refuse past a few pairs.
fn rate_limit_hint(err: anyhow::Error, pairs: usize) -> anyhow::Error {
    let text = format!("{err:#}");
    if !(text.contains("429") || text.contains("rate limited") || text.contains("rate_limited")) {
        return err;
    }
    err.context(format!(
        "the relay rate-limited set-up (HTTP 429): {pairs} pairs need {} registrations and {} \
         auth requests (challenge + token) from this one address, beyond the relay's per-address \
         limits rate.register / rate.auth. For a benchmark, start the relay with higher ones, \
         e.g. COFFER_RATE_REGISTER=100000 COFFER_RATE_AUTH=100000 (and COFFER_RATE_UPLOAD, \
         COFFER_RATE_GENERAL for the run itself); the 429's Coffer-Rate-Limit header names the \
         limit that was hit",
        pairs * 2,
        pairs * 4
    ))
}

/// One pair made during setup: its index, its accounts, and (v2) the clients that paired it.
type MadePair = (usize, Pair, Option<(SystemClient, FriendClient)>);

impl World {
    /// Registers and pairs `pairs` system/friend pairs on `target`.
    pub async fn create(
        proto: Proto,
        target: Arc<Target>,
        trust: &TrustSpec,
        pairs: usize,
    ) -> anyhow::Result<World> {
        let mut made: Vec<MadePair> = Vec::new();
        // client-core's configuration only for v2 (a v1 world may be a plain-HTTP compare target).
        let config = match proto {
            Proto::V1 => None,
            Proto::V2 => Some(client_config(&target, trust)?),
        };
        for chunk_start in (0..pairs).step_by(SETUP_PARALLEL) {
            let mut set = JoinSet::new();
            for i in chunk_start..(chunk_start + SETUP_PARALLEL).min(pairs) {
                let target = Arc::clone(&target);
                let config = config.clone();
                set.spawn(async move {
                    match proto {
                        Proto::V1 => v1_pair(target).await.map(|p| (i, p, None)),
                        Proto::V2 => match config {
                            Some(config) => v2_pair(target, config)
                                .await
                                .map(|(p, s, f)| (i, p, Some((s, f)))),
                            None => Err(anyhow!("no v2 client configuration")),
                        },
                    }
                });
            }
            while let Some(joined) = set.join_next().await {
                made.push(
                    joined
                        .context("setup task")?
                        .map_err(|e| rate_limit_hint(e, pairs))?,
                );
            }
        }
        made.sort_by_key(|(i, _, _)| *i);
        let mut list = Vec::with_capacity(pairs);
        let mut v2_clients = Vec::new();
        for (_, pair, clients) in made {
            list.push(pair);
            v2_clients.extend(clients);
        }
        Ok(World {
            proto,
            target,
            versions: (0..pairs * NAMES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            pairs: list,
            v1_templates: std::sync::Mutex::default(),
            v2_templates: std::sync::Mutex::default(),
            v2_clients,
        })
    }

    /// The version counter of (pair, name index).
    pub fn version(&self, pair: usize, name: usize) -> &AtomicU64 {
        &self.versions[pair * NAMES.len() + name]
    }

    /// Publishes a real volume (`size` plaintext bytes) for `name` of every pair, at a new
    /// version, and keeps it as that slot's template.
    pub async fn publish_all(&self, name: &str, size: usize) -> anyhow::Result<()> {
        let idx = name_index(name);
        let plaintext = Arc::new(filler(size));
        for chunk_start in (0..self.pairs.len()).step_by(SETUP_PARALLEL) {
            let end = (chunk_start + SETUP_PARALLEL).min(self.pairs.len());
            let results = futures_join(
                (chunk_start..end).map(|pair| self.publish_real(pair, idx, &plaintext)),
            )
            .await;
            for r in results {
                r?;
            }
        }
        Ok(())
    }

    async fn publish_real(&self, pair: usize, idx: usize, plaintext: &[u8]) -> anyhow::Result<()> {
        match self.proto {
            Proto::V1 => {
                let p = &self.pairs[pair];
                let vek = p
                    .vek
                    .as_ref()
                    .ok_or_else(|| anyhow!("v1 pair without VEK"))?;
                let name: V1Name = NAMES[idx]
                    .parse()
                    .map_err(|_| anyhow!("v1 volume name {}", NAMES[idx]))?;
                let version = self.version(pair, idx).fetch_add(1, Ordering::SeqCst) + 1;
                let sealed = crypto::seal_volume(
                    &p.system.identity,
                    vek,
                    name,
                    version,
                    now_unix(),
                    plaintext,
                );
                let blob_b64: Arc<str> = b64::encode(&sealed.blob).into();
                let body = v1_upload_body(
                    &sealed.header.canonical_json(),
                    &blob_b64,
                    &sealed.signature,
                );
                let mut client = Client::new(Arc::clone(&self.target));
                client
                    .send(&v1_authed(
                        &p.system,
                        Method::PUT,
                        format!("/api/v1/volumes/{}", NAMES[idx]),
                        body,
                    )?)
                    .await?
                    .expect(200)?;
                self.lock_v1().insert(
                    (pair, idx),
                    V1Template {
                        header: sealed.header,
                        blob: Arc::new(sealed.blob),
                        blob_b64,
                    },
                );
            }
            Proto::V2 => {
                let (system, _) = &self.v2_clients[pair];
                let name = V2Name::new(NAMES[idx]).map_err(|e| anyhow!("name: {e}"))?;
                system.publish(&name, plaintext).await?;
                let Served::Modified(stored) = system.relay().get_volume(&name, None).await? else {
                    bail!("304 to an unconditional read");
                };
                let header = Header::parse(&stored.header).map_err(|e| anyhow!("header: {e}"))?;
                self.version(pair, idx)
                    .store(header.version, Ordering::SeqCst);
                self.lock_v2().insert(
                    (pair, idx),
                    V2Template {
                        header,
                        payload_b64: b64::encode(&stored.payload).into(),
                    },
                );
            }
        }
        Ok(())
    }

    /// The v1 templates.
    pub fn lock_v1(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, usize), V1Template>> {
        self.v1_templates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The v2 templates.
    pub fn lock_v2(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, usize), V2Template>> {
        self.v2_templates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The verified read of pair 0's `name`: the friend's way to plaintext, compared with what
    /// was published (`size` bytes of [`filler`]).
    pub async fn verify_read(&self, name: &str, size: usize) -> anyhow::Result<()> {
        let expected = filler(size);
        let pair = self.pairs.first().ok_or_else(|| anyhow!("no pairs"))?;
        match self.proto {
            Proto::V1 => {
                let mut client = Client::new(Arc::clone(&self.target));
                let active = client
                    .send(&v1_authed(
                        &pair.friend,
                        Method::GET,
                        "/api/v1/sharing/requests?status=active",
                        Bytes::new(),
                    )?)
                    .await?
                    .expect(200)?;
                let entry = active["requests"]
                    .as_array()
                    .and_then(|l| l.first())
                    .ok_or_else(|| anyhow!("the friend has no active relationship"))?;
                let system_key = b64::decode_exact::<32>(
                    entry["system_exchange_public_key"]
                        .as_str()
                        .unwrap_or_default(),
                )
                .map_err(|e| anyhow!("system exchange key: {e}"))?;
                let wrapped =
                    b64::decode_strict(entry["encrypted_vek_blob"].as_str().unwrap_or_default())
                        .map_err(|e| anyhow!("wrapped VEK: {e}"))?;
                let fkek = crypto::fkek(&pair.friend.identity, &system_key)
                    .map_err(|e| anyhow!("FKEK: {e}"))?;
                let vek =
                    crypto::unwrap_vek(&fkek, &wrapped).map_err(|e| anyhow!("unwrap: {e}"))?;
                let answer = client
                    .send(&v1_authed(
                        &pair.friend,
                        Method::GET,
                        format!("/api/v1/shared/{}/volumes/{name}", pair.system.user_id),
                        Bytes::new(),
                    )?)
                    .await?
                    .expect(200)?;
                let header = coffer_wire::v1::ControlHeader::from_json_object(
                    answer["control_header"]
                        .as_object()
                        .ok_or_else(|| anyhow!("no control_header"))?,
                )
                .map_err(|e| anyhow!("control header: {e}"))?;
                let blob =
                    b64::decode_strict(answer["encrypted_payload"].as_str().unwrap_or_default())
                        .map_err(|e| anyhow!("payload: {e}"))?;
                let signature =
                    b64::decode_exact::<64>(answer["signature"].as_str().unwrap_or_default())
                        .map_err(|e| anyhow!("signature: {e}"))?;
                crypto::verify_upload(
                    &pair.system.identity.public_signing_key(),
                    &header,
                    &blob,
                    &signature,
                )
                .map_err(|e| anyhow!("served volume does not verify: {e}"))?;
                let plaintext = crypto::decrypt_volume(&vek, name, header.version, &blob)
                    .map_err(|e| anyhow!("served volume does not decrypt: {e}"))?;
                ensure!(
                    plaintext[..] == expected[..],
                    "served v1 volume decrypts to other content"
                );
            }
            Proto::V2 => {
                let (system, friend) = self
                    .v2_clients
                    .first()
                    .ok_or_else(|| anyhow!("no v2 clients"))?;
                let name = V2Name::new(name).map_err(|e| anyhow!("name: {e}"))?;
                match friend.fetch(system.user_id(), &name).await? {
                    Fetched::Updated { plaintext, .. } => ensure!(
                        plaintext[..] == expected[..],
                        "served v2 volume opens to other content"
                    ),
                    Fetched::NotModified => bail!("first fetch answered NotModified"),
                    Fetched::Deleted { .. } => bail!("first fetch answered Deleted"),
                }
            }
        }
        Ok(())
    }
}

/// Awaits all futures concurrently, in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    futures_util::future::join_all(futures).await
}

/// `size` bytes of printable plaintext (JSON-safe, never zero, deterministic).
pub fn filler(size: usize) -> Vec<u8> {
    let alphabet = base64::engine::general_purpose::STANDARD.encode(b"coffer-bench plaintext ");
    alphabet.bytes().cycle().take(size).collect()
}

/// The Unix time now.
pub fn now_unix() -> i64 {
    crate::client::now_unix()
}

/// A v1 upload body: header JSON verbatim, base64 payload (no JSON escaping needed), signature.
pub fn v1_upload_body(header_json: &str, blob_b64: &str, signature: &[u8; 64]) -> Bytes {
    Bytes::from(format!(
        "{{\"control_header\":{header_json},\"encrypted_payload\":\"{blob_b64}\",\"signature\":\"{}\"}}",
        b64::encode(signature)
    ))
}

/// A v1 upload of `template`'s blob under `version`: header with the new version, signed.
pub fn v1_resign(account: &Account, template: &V1Template, version: u64) -> (String, [u8; 64]) {
    let mut header = template.header.clone();
    header.version = version;
    let json = header.canonical_json();
    let signature = account
        .signer
        .sign(&header.signature_input(&template.blob))
        .to_bytes();
    (json, signature)
}

/// A v2 upload body of `template`'s payload under `version`, signed by `account`.
pub fn v2_upload_body(account: &Account, template: &V2Template, version: u64) -> Bytes {
    let mut header = template.header.clone();
    header.version = version;
    let bytes = header.to_bytes();
    let mut message = labelled(Label::VolumeHeader);
    message.extend_from_slice(&bytes);
    let signature = account.signer.sign(&message).to_bytes();
    Bytes::from(format!(
        "{{\"header\":\"{}\",\"signature\":\"{}\",\"payload\":\"{}\"}}",
        b64::encode(&bytes),
        b64::encode(&signature),
        template.payload_b64
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_is_printable_and_sized() {
        let f = filler(5000);
        assert_eq!(f.len(), 5000);
        assert!(f.iter().all(|b| b.is_ascii_graphic() || *b == b' '));
    }

    #[test]
    fn a_429_at_set_up_says_which_limits_to_raise() {
        let err = rate_limit_hint(
            anyhow!("expected HTTP 200, got 429: {{\"error\":\"rate_limited\"}}"),
            8,
        );
        let text = format!("{err:#}");
        assert!(
            text.contains("16 registrations and 32 auth requests")
                && text.contains("COFFER_RATE_AUTH")
                && text.contains("COFFER_RATE_REGISTER"),
            "{text}"
        );
        let other = rate_limit_hint(anyhow!("expected HTTP 200, got 500"), 8);
        assert_eq!(format!("{other:#}"), "expected HTTP 200, got 500");
    }
}
