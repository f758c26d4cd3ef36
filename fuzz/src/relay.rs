//! The whole relay in process for `relay_requests`: the real `App` (route table
//! `coffer_relay::api::configure` behind the `edge` middleware) over an `AppState` on a temporary
//! data directory, built once per fuzzing process, with pre-registered accounts and sessions so
//! that authenticated handlers are reached past their extractors.
//!
//! Fixtures (names usable as placeholders in inputs, see [`crate::request`]):
//! - `sys1`, `fr1`: a v1 system and friend, logged in, sharing accepted (`share1`);
//! - `sys2`, `fr2`: a v2 system and friend, logged in, paired (`pair2`), with a v2 `meta`
//!   volume and a grant for it;
//! - `{tok:NAME}`: the session token of NAME; `{admin}`: the admin token.
//!
//! A request that may have destroyed fixtures (a successful `DELETE`, `expire-all`) makes the
//! harness register a fresh set before the next input.

use std::cell::Cell;
use std::future::Future;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::{BoxBody, to_bytes};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, Uri};
use actix_web::middleware::from_fn;
use actix_web::{App, test, web};
use arbitrary::{Arbitrary, Unstructured};
use coffer_client_core::identity::Identity;
use coffer_client_core::legacy::v1 as legacy_v1;
use coffer_client_core::v2::{InviteSecret, pairing_proof};
use coffer_relay::api;
use coffer_relay::config::{AdminToken, Config, IpPolicy, TlsMode};
use coffer_relay::ip_policy::IpLabels;
use coffer_relay::state::{AppState, Pins};
use coffer_relay::store::Db;
use coffer_relay::store::port::SqliteStore;
use coffer_relay::store::blobs::BlobStore;
use coffer_test_kit::{Api, Kind, KitError, V1Account, V2Account, block_ready};
use coffer_wire::b64;
use coffer_wire::v1::ControlHeader;
use coffer_wire::v2::api::{ClientType, Handle};
use coffer_wire::v2::{self, Grant, GrantEntry, Header, Label, labelled};
use ed25519_dalek::Signer as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub use crate::answer::{Outcome, check};
use crate::request::{self, Body, Directive};
pub use crate::specs::{RegisterSpec, TokenSpec, V1UploadSpec, V2GrantSpec, V2UploadSpec};

/// The admin token of the in-process relay.
pub const ADMIN_TOKEN: &str = "fuzz-admin-token-0123456789";
/// The one origin v2 logins may sign.
pub const ORIGIN: &str = "https://relay.fuzz.test:8443";
/// The client address every request comes from (a trusted proxy, so `X-Forwarded-For` is read).
const PEER: &str = "127.0.0.1:40000";

type Call = Pin<Box<dyn Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>>>;

/// The initialised actix service behind a nameable type.
trait DynApp {
    fn call(&self, req: actix_http::Request) -> Call;
}

impl<S> DynApp for S
where
    S: Service<actix_http::Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
    S::Future: 'static,
{
    fn call(&self, req: actix_http::Request) -> Call {
        Box::pin(Service::call(self, req))
    }
}

/// One pre-registered account.
struct Account {
    id: String,
    token: String,
    seed: [u8; 32],
    identity: Identity,
}

impl Account {
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        ed25519_dalek::SigningKey::from_bytes(&self.seed)
            .sign(message)
            .to_bytes()
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Fixtures {
    sys1: Account,
    fr1: Account,
    sys2: Account,
    fr2: Account,
    share1: String,
    pair2: String,
}

/// The relay, its runtime and its fixtures.
pub struct Harness {
    runner: actix_web::rt::SystemRunner,
    app: Box<dyn DynApp>,
    fixtures: Option<Fixtures>,
    /// Bumped for every set of fixtures and fresh key: handles and keys stay unique.
    generation: Cell<u64>,
    /// Versions and sequences handed out as "fresh" by directives.
    counter: Cell<u64>,
    /// Random per process, in fixture handles, so no input can take a fixture's handle first.
    salt: String,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("fixtures", &self.fixtures)
            .finish_non_exhaustive()
    }
}

/// The test kit's [`Api`] straight into the app (answers are ready at once).
impl Api for &Harness {
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), KitError> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|e| KitError(format!("method {method:?}: {e}")))?;
        let out = self.json_call(method, path, token, body.unwrap_or(&Value::Null));
        Ok((out.status.as_u16(), out.json()))
    }

    fn origin(&self) -> String {
        ORIGIN.to_owned()
    }
}

fn config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        data_dir: dir.to_owned(),
        port: 8443,
        public_origins: vec![ORIGIN.to_owned()],
        trusted_proxies: vec![IpAddr::from([127, 0, 0, 1])],
        ip_policy: IpPolicy::Full,
        ..Config::default()
    };
    config.tls.mode = TlsMode::Off;
    config.admin.token = AdminToken::from_text(ADMIN_TOKEN);
    // Small volumes keep each upload cheap; quotas stay reachable.
    config.limits.max_volume_size = 256 * 1024;
    config.limits.max_user_storage = 2 * 1024 * 1024;
    config.protocol.latest_client_version = Some("9.9.9".to_owned());
    let many = NonZeroU32::new(1_000_000).unwrap_or(NonZeroU32::MIN);
    config.rate.register = many;
    config.rate.auth = many;
    config.rate.upload = many;
    config.rate.general = many;
    config.rate.discovery = many;
    config.rate.admin = many;
    config
}

impl Harness {
    /// Builds the relay on a temporary data directory and registers the fixtures.
    ///
    /// # Panics
    /// If the relay cannot start or the fixtures cannot be registered: the harness is broken,
    /// not the input.
    #[must_use]
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let config = config(dir.path());
        config
            .validate()
            .expect("the harness configuration is valid");
        let runner = actix_web::rt::System::new();
        let db = Db::open(&config.database_path()).expect("the database opens");
        let blobs = BlobStore::open(&config.blob_path()).expect("the blob store opens");
        let labels = IpLabels::open(config.ip_policy, &config.ip_hash_key_path())
            .expect("IP labels without a key file");
        let pin = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk="
            .parse()
            .expect("a valid pin literal");
        let pins = Pins {
            current: Some(pin),
            next: None,
        };
        let state = web::Data::new(AppState::new(
            config,
            Arc::new(SqliteStore::new(Arc::clone(&db))),
            Arc::new(blobs),
            labels,
            pins,
        ));
        let _ = state.origins.set(vec![ORIGIN.to_owned()]);
        let app_state = state.clone();
        let app = runner.block_on(async move {
            let service = test::init_service(
                App::new()
                    .app_data(app_state)
                    .wrap(from_fn(api::edge))
                    .configure(api::configure),
            )
            .await;
            Box::new(service) as Box<dyn DynApp>
        });
        let mut harness = Harness {
            runner,
            app,
            fixtures: None,
            generation: Cell::new(0),
            counter: Cell::new(0),
            salt: uuid::Uuid::new_v4().simple().to_string()[..10].to_owned(),
            _dir: dir,
        };
        harness.refresh_fixtures();
        harness
    }

    fn next_generation(&self) -> u64 {
        let n = self.generation.get() + 1;
        self.generation.set(n);
        n
    }

    fn fresh(&self) -> u64 {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        n
    }

    /// A fresh, deterministic key pair.
    fn keys(&self, who: &str) -> ([u8; 32], Identity) {
        let generation = self.next_generation();
        let seed: [u8; 32] = Sha256::digest(format!("{who}/sign/{generation}")).into();
        let exchange: [u8; 32] = Sha256::digest(format!("{who}/xchg/{generation}")).into();
        (seed, Identity::from_secret_bytes(&seed, &exchange))
    }

    /// Sends one request through the app (the same path a TLS connection's request takes after
    /// the HTTP codec).
    fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Vec<u8>,
    ) -> Outcome {
        let mut req = test::TestRequest::default()
            .method(method)
            .uri(path)
            .peer_addr(PEER.parse().expect("a valid socket address literal"))
            .set_payload(body);
        for (name, value) in headers {
            req = req.insert_header((name.clone(), value.clone()));
        }
        let call = self.app.call(req.to_request());
        self.runner.block_on(async move {
            let response = match call.await {
                Ok(response) => response,
                Err(err) => {
                    ServiceResponse::from_err(err, test::TestRequest::default().to_http_request())
                }
            };
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = to_bytes(response.into_body())
                .await
                .map(|b| b.to_vec())
                .unwrap_or_else(|_| b"<body error>".to_vec());
            Outcome {
                status,
                content_type,
                body,
            }
        })
    }

    fn json_call(&self, method: Method, path: &str, token: Option<&str>, body: &Value) -> Outcome {
        let mut headers = vec![(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/json"),
        )];
        if let Some(token) = token
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            headers.push((HeaderName::from_static("authorization"), value));
        }
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).expect("a JSON value serialises")
        };
        self.send(method, path, &headers, body)
    }

    /// `json_call` that must succeed with `expected` (fixtures only).
    fn must(
        &self,
        expected: u16,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Value {
        let out = self.json_call(method, path, token, body);
        assert_eq!(
            out.status.as_u16(),
            expected,
            "fixture call {path} failed: {}",
            String::from_utf8_lossy(&out.body)
        );
        out.json()
    }

    /// The test kit's account flow on a fresh fixture key pair (the relay in process answers
    /// synchronously, so the flow completes in one poll).
    fn kit_account<T>(
        &self,
        who: &str,
        flow: impl AsyncFnOnce(&mut &Harness, [u8; 32], [u8; 32]) -> Result<T, KitError>,
    ) -> (T, [u8; 32], Identity) {
        let (seed, identity) = self.keys(who);
        let exchange = b64::decode_exact::<32>(&identity.public_exchange_key_b64())
            .expect("an identity's exchange key is 32 bytes");
        let mut api = self;
        let account = block_ready(flow(&mut api, seed, exchange))
            .unwrap_or_else(|e| panic!("fixture account {who}: {e}"));
        (account, seed, identity)
    }

    fn handle(&self, who: &str) -> String {
        format!("{who}-{}-{}", self.generation.get(), self.salt)
    }

    fn register_v1(&self, who: &str, kind: Kind) -> Account {
        let (account, seed, identity) = self.kit_account(who, async |api, seed, exchange| {
            let mut account = V1Account::from_secrets(kind, &seed, exchange)
                .with_handle(Some(&self.handle(who)))
                .with_features(&["members:1", "fronts:1", "meta:1", "vault:1"]);
            account.register(api).await?;
            account.login(api).await?;
            Ok(account)
        });
        Account {
            id: account.id,
            token: account.token,
            seed,
            identity,
        }
    }

    fn register_v2(&self, who: &str, kind: Kind) -> Account {
        let (account, seed, identity) = self.kit_account(who, async |api, seed, exchange| {
            let mut account =
                V2Account::from_secrets(kind, &seed, exchange).with_handle(Some(&self.handle(who)));
            account.register(api).await?;
            account.login(api).await?;
            Ok(account)
        });
        Account {
            id: account.id,
            token: account.token,
            seed,
            identity,
        }
    }

    /// Registers a fresh set of fixtures (see the module docs).
    fn refresh_fixtures(&mut self) {
        let sys1 = self.register_v1("sys1", Kind::System);
        let fr1 = self.register_v1("fr1", Kind::Friend);
        self.must(
            201,
            Method::POST,
            "/api/v1/sharing/request",
            Some(&fr1.token),
            &json!({ "from_user_id": fr1.id, "to_user_id": sys1.id }),
        );
        let requests = self.must(
            200,
            Method::GET,
            "/api/v1/sharing/requests",
            Some(&sys1.token),
            &Value::Null,
        );
        let share1 = requests["requests"][0]["id"]
            .as_str()
            .expect("the pending request")
            .to_owned();
        self.must(
            200,
            Method::POST,
            "/api/v1/sharing/respond",
            Some(&sys1.token),
            &json!({
                "request_id": share1,
                "accepted": true,
                "encrypted_vek_blob": b64::encode(&[7u8; 60]),
                // Everything shared, so the friend's routes (analytics too) pass authorisation.
                "permissions": {
                    "share_front_status": true, "share_members": true,
                    "share_front_history": true, "share_journal": true,
                    "share_mood_trends": true, "share_polls": true, "share_vault": true,
                },
            }),
        );

        let sys2 = self.register_v2("sys2", Kind::System);
        let fr2 = self.register_v2("fr2", Kind::Friend);
        let code = self.must(
            201,
            Method::POST,
            "/api/v2/invites",
            Some(&sys2.token),
            &Value::Null,
        )["code"]
            .as_str()
            .expect("an invite code")
            .to_owned();
        let secret = InviteSecret::from_bytes([9; 32]);
        let fr2_uuid = uuid::Uuid::parse_str(&fr2.id).expect("user ids are UUIDs");
        let proof = pairing_proof(&secret, &code, fr2_uuid, &fr2.identity.public_identity())
            .expect("a valid code");
        let pair2 = self.must(
            201,
            Method::POST,
            "/api/v2/invites/redeem",
            Some(&fr2.token),
            &json!({ "code": code, "proof": b64::encode(&proof) }),
        )["pairing_id"]
            .as_str()
            .expect("a pairing id")
            .to_owned();
        let fixtures = Fixtures {
            sys1,
            fr1,
            sys2,
            fr2,
            share1,
            pair2,
        };
        // A v2 volume and a grant for it, so the friend's shared routes have something to serve.
        let upload = self.v2_upload_body(&fixtures, &V2UploadSpec::default());
        self.must(
            200,
            Method::PUT,
            "/api/v2/volumes/meta",
            Some(&fixtures.sys2.token),
            &upload,
        );
        let grant = self.v2_grant_body(&fixtures, &V2GrantSpec::default());
        let path = format!("/api/v2/grants/{}", fixtures.fr2.id);
        self.must(200, Method::PUT, &path, Some(&fixtures.sys2.token), &grant);
        // A v1 volume for the v1 download and shared routes.
        let members = V1UploadSpec {
            volume: 1,
            ..V1UploadSpec::default()
        };
        let upload = self.v1_upload_body(&fixtures, &members);
        self.must(
            200,
            Method::PUT,
            "/api/v1/volumes/members",
            Some(&fixtures.sys1.token),
            &upload,
        );
        self.fixtures = Some(fixtures);
    }

    fn substitute(&self, text: &[u8]) -> Vec<u8> {
        let Some(f) = &self.fixtures else {
            return text.to_vec();
        };
        if !text.contains(&b'{') {
            return text.to_vec();
        }
        let pairs: [(&str, &str); 12] = [
            ("{sys1}", &f.sys1.id),
            ("{fr1}", &f.fr1.id),
            ("{sys2}", &f.sys2.id),
            ("{fr2}", &f.fr2.id),
            ("{tok:sys1}", &f.sys1.token),
            ("{tok:fr1}", &f.fr1.token),
            ("{tok:sys2}", &f.sys2.token),
            ("{tok:fr2}", &f.fr2.token),
            ("{admin}", ADMIN_TOKEN),
            ("{share1}", &f.share1),
            ("{pair2}", &f.pair2),
            ("{origin}", ORIGIN),
        ];
        let mut out = text.to_vec();
        for (from, to) in pairs {
            out = replace(&out, from.as_bytes(), to.as_bytes());
        }
        out
    }

    /// Runs one fuzz input. `None` when the input is not a request an HTTP/1.1 codec would
    /// hand to the app (a method or target `http` refuses).
    pub fn run(&mut self, data: &[u8]) -> Option<Outcome> {
        if self.fixtures.is_none() {
            self.refresh_fixtures();
        }
        let input = request::parse(data);
        let (method, path) = match self.route(input.method, input.path) {
            Some(route) => route,
            None => (
                Method::from_bytes(input.method).ok()?,
                String::from_utf8(self.substitute(input.path)).ok()?,
            ),
        };
        let uri = Uri::try_from(path.as_str()).ok()?;
        if !path.starts_with('/') || uri.path().is_empty() {
            return None;
        }
        let headers: Vec<(HeaderName, HeaderValue)> = input
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((
                    HeaderName::from_bytes(name).ok()?,
                    HeaderValue::from_bytes(&self.substitute(value)).ok()?,
                ))
            })
            .collect();
        let body = match input.body {
            Body::Raw(bytes) => self.substitute(bytes),
            Body::Built(directive, bytes) => self.build(directive, bytes),
        };
        let destructive = method == Method::DELETE || path.contains("expire");
        let trace = std::env::var_os("COFFER_FUZZ_TRACE").is_some();
        let shown = trace.then(|| format!("{method} {path}"));
        let outcome = self.send(method, &path, &headers, body);
        if let Some(shown) = shown {
            let body = String::from_utf8_lossy(&outcome.body);
            eprintln!(
                "{shown} -> {} {}",
                outcome.status.as_u16(),
                body.chars().take(160).collect::<String>()
            );
        }
        if destructive && outcome.status.is_success() {
            self.fixtures = None;
        }
        Some(outcome)
    }

    /// A path of the form `@N[/seg…][?query]`: route `N` (mod their number) of the relay's own
    /// route table, `coffer_relay::api::ROUTES`, its `{param}` segments filled in order from
    /// the given segments or, where none is given, with a fixture that fits the parameter. A
    /// method of `@` is the route's own method.
    fn route(&self, method: &[u8], path: &[u8]) -> Option<(Method, String)> {
        let spec = String::from_utf8(self.substitute(path.strip_prefix(b"@")?)).ok()?;
        let (spec, query) = match spec.split_once('?') {
            Some((spec, query)) => (spec, Some(query)),
            None => (spec.as_str(), None),
        };
        let mut parts = spec.split('/');
        let index: usize = parts.next()?.parse().ok()?;
        let route = api::ROUTES.get(index % api::ROUTES.len())?;
        let method = if method == b"@" {
            route.verb.method()
        } else {
            Method::from_bytes(method).ok()?
        };
        let v2 = route.path.starts_with("/api/v2/");
        let mut out = String::new();
        for segment in route.path.split('/').skip(1) {
            out.push('/');
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => match parts.next() {
                    Some(given) => out.push_str(given),
                    None => out.push_str(&self.default_param(route.path, param, v2)),
                },
                None => out.push_str(segment),
            }
        }
        if let Some(query) = query {
            out.push('?');
            out.push_str(query);
        }
        Some((method, out))
    }

    /// A value for a path parameter that names something the fixtures own.
    fn default_param(&self, path: &str, param: &str, v2: bool) -> String {
        let Some(f) = &self.fixtures else {
            return String::new();
        };
        let id = |a: &Account| a.id.clone();
        match (param, v2) {
            ("name", _) => if v2 { "meta" } else { "members" }.to_owned(),
            ("handle", _) => "fuzz".to_owned(),
            ("friend_id", _) => id(&f.fr2),
            ("system_user_id" | "owner", true) => id(&f.sys2),
            ("system_user_id" | "owner", false) => id(&f.sys1),
            ("id", true) if path.contains("/pairings/") => f.pair2.clone(),
            ("id", true) => id(&f.sys2),
            ("id", false) if path.contains("/sharing/") => f.share1.clone(),
            ("id", false) => id(&f.sys1),
            _ => "x".to_owned(),
        }
    }

    fn build(&self, directive: Directive, bytes: &[u8]) -> Vec<u8> {
        let Some(f) = &self.fixtures else {
            return Vec::new();
        };
        let mut u = Unstructured::new(bytes);
        let body = match directive {
            Directive::V1Upload => {
                V1UploadSpec::arbitrary(&mut u).map(|spec| self.v1_upload_body(f, &spec))
            }
            Directive::V2Upload => {
                V2UploadSpec::arbitrary(&mut u).map(|spec| self.v2_upload_body(f, &spec))
            }
            Directive::V2Grant => {
                V2GrantSpec::arbitrary(&mut u).map(|spec| self.v2_grant_body(f, &spec))
            }
            Directive::V2Register => {
                RegisterSpec::arbitrary(&mut u).map(|spec| self.v2_register_body(&spec))
            }
            Directive::V1Token => {
                TokenSpec::arbitrary(&mut u).map(|spec| self.v1_token_body(f, &spec))
            }
            Directive::V2Token => {
                TokenSpec::arbitrary(&mut u).map(|spec| self.v2_token_body(f, &spec))
            }
        };
        body.map(|v| serde_json::to_vec(&v).expect("a JSON value serialises"))
            .unwrap_or_default()
    }

    /// `raw`, or (by default) a fresh number above everything stored so far.
    fn version(&self, use_raw: bool, raw: u64) -> u64 {
        if use_raw { raw } else { 1000 + self.fresh() }
    }

    fn v1_upload_body(&self, f: &Fixtures, spec: &V1UploadSpec) -> Value {
        let name = match spec.volume {
            i @ 0..200 => coffer_wire::v1::VolumeName::ALL[usize::from(i) % 8]
                .as_str()
                .to_owned(),
            _ => spec.name_text.clone(),
        };
        let len = if spec.off_grid {
            usize::from(spec.payload_len)
        } else {
            4096 * (usize::from(spec.payload_len) % 3 + 1) + 28
        };
        let blob = vec![0xa5u8; len];
        let size = (len as i64).saturating_add(i64::from(spec.size_delta));
        let header = ControlHeader {
            volume_name: name,
            version: self.version(spec.raw_version, spec.version),
            modified_at: {
                let t = HOUR.wrapping_add(spec.modified_at_offset);
                if spec.unaligned {
                    t
                } else {
                    legacy_v1::floor_to_hour(t)
                }
            },
            size_bytes: u64::try_from(size).unwrap_or(0),
            event_tags: spec.tags.clone().unwrap_or_default(),
        };
        let signature = if spec.bad_signature {
            [3u8; 64]
        } else {
            f.sys1.sign(&header.signature_input(&blob))
        };
        let mut header_json = serde_json::to_value(&header).expect("a header serialises");
        if spec.tags.is_none()
            && let Some(obj) = header_json.as_object_mut()
        {
            obj.remove("event_tags");
        }
        json!({
            "control_header": header_json,
            "encrypted_payload": b64::encode(&blob),
            "signature": b64::encode(&signature),
        })
    }

    fn v2_upload_body(&self, f: &Fixtures, spec: &V2UploadSpec) -> Value {
        let volume = v2_volume(spec.volume, &spec.name_text);
        let len = if spec.off_grid {
            usize::from(spec.frame_len)
        } else {
            let padded = v2::padded_len(u64::from(spec.frame_len) + 4);
            usize::try_from(padded + v2::AEAD_OVERHEAD).unwrap_or(0)
        };
        let payload = vec![0x5au8; len];
        let owner = if spec.foreign_owner {
            [0x42; 16]
        } else {
            *uuid::Uuid::parse_str(&f.sys2.id)
                .expect("user ids are UUIDs")
                .as_bytes()
        };
        let header = Header {
            owner,
            volume,
            epoch: spec.epoch_delta.wrapping_add(1),
            version: self.version(spec.raw_version, spec.version),
            hour: {
                let t = HOUR.unsigned_abs().wrapping_add(spec.hour_offset);
                if spec.unaligned { t } else { t - t % 3600 }
            },
            payload_len: (len as u64).wrapping_add_signed(i64::from(spec.len_delta)),
            payload_hash: if spec.bad_hash {
                [0; 32]
            } else {
                v2::volume_payload_hash(&payload)
            },
        };
        let mut bytes = header.to_bytes();
        bytes.extend_from_slice(&spec.header_tail);
        let signature = if spec.bad_signature {
            [4u8; 64]
        } else {
            let mut message = labelled(Label::VolumeHeader);
            message.extend_from_slice(&bytes);
            f.sys2.sign(&message)
        };
        json!({
            "header": b64::encode(&bytes),
            "signature": b64::encode(&signature),
            "payload": b64::encode(&payload),
        })
    }

    fn v2_grant_body(&self, f: &Fixtures, spec: &V2GrantSpec) -> Value {
        let uuid = |id: &str| {
            *uuid::Uuid::parse_str(id)
                .expect("user ids are UUIDs")
                .as_bytes()
        };
        let wanted: &[(u8, u32)] = if spec.entries.is_empty() {
            &[(0, 0)]
        } else {
            &spec.entries
        };
        let entries: Vec<GrantEntry> = wanted
            .iter()
            .take(8)
            .map(|(i, epoch)| GrantEntry {
                volume: v2_volume(*i % 200, ""),
                epoch: epoch.wrapping_add(1),
            })
            .collect();
        let grant = Grant {
            owner: uuid(&f.sys2.id),
            friend: if spec.other_friend {
                uuid(&f.fr1.id)
            } else {
                uuid(&f.fr2.id)
            },
            friend_fingerprint: if spec.bad_fingerprint {
                [1; 32]
            } else {
                *f.fr2.identity.fingerprint().as_bytes()
            },
            sequence: self.version(spec.raw_sequence, spec.sequence),
            expires_at: spec.expires_at,
            entries: entries.clone(),
        };
        let bytes = grant.to_bytes();
        let signature = if spec.bad_signature {
            [5u8; 64]
        } else {
            let mut message = labelled(Label::Grant);
            message.extend_from_slice(&bytes);
            f.sys2.sign(&message)
        };
        let keys: Vec<Value> = if !spec.keys_mismatch {
            entries
                .iter()
                .map(|e| json!({ "volume": e.volume.as_str(), "epoch": e.epoch, "wrapped_key": b64::encode(&[6u8; 60]) }))
                .collect()
        } else {
            spec.extra_keys
                .iter()
                .take(8)
                .map(|(i, epoch, len)| {
                    json!({ "volume": v2_volume(*i % 200, "").as_str(), "epoch": epoch,
                            "wrapped_key": b64::encode(&vec![6u8; usize::from(*len)]) })
                })
                .collect()
        };
        json!({
            "grant": b64::encode(&bytes),
            "signature": b64::encode(&signature),
            "wrapped_keys": keys,
        })
    }

    fn v2_register_body(&self, spec: &RegisterSpec) -> Value {
        let (_, identity) = self.keys("v2-register");
        let binding = if spec.bad_binding {
            [8u8; 64]
        } else {
            identity.key_binding_signature()
        };
        let (signing, exchange) = if spec.swap_keys {
            (
                identity.public_exchange_key_b64(),
                identity.public_signing_key_b64(),
            )
        } else {
            (
                identity.public_signing_key_b64(),
                identity.public_exchange_key_b64(),
            )
        };
        let client_type = match spec.client_type {
            0 => "system".to_owned(),
            1 => "friend".to_owned(),
            _ => spec.client_type_text.clone(),
        };
        let origin = spec.origin.as_deref().unwrap_or(ORIGIN);
        // Signed as the relay reads it (a type or handle it refuses is signed as system / none:
        // the relay refuses those before it looks at the signature).
        let signed_type = if spec.client_type == 1 {
            ClientType::Friend
        } else {
            ClientType::System
        };
        let handle = spec.handle.as_deref().and_then(|h| Handle::new(h).ok());
        let registration = match (
            spec.bad_registration,
            identity.sign_registration_v2(origin, signed_type, handle.as_ref()),
        ) {
            (false, Ok(signature)) => signature,
            _ => [9u8; 64],
        };
        json!({
            "client_type": client_type,
            "handle": spec.handle,
            "public_signing_key": signing,
            "public_exchange_key": exchange,
            "key_binding_signature": b64::encode(&binding),
            "origin": origin,
            "registration_signature": b64::encode(&registration),
        })
    }

    fn challenge(&self, version: u8, id: &str) -> String {
        let out = self.json_call(
            Method::POST,
            &format!("/api/v{version}/auth/challenge"),
            None,
            &json!({ "user_id": id }),
        );
        out.json()["nonce"].as_str().unwrap_or_default().to_owned()
    }

    fn v1_token_body(&self, f: &Fixtures, spec: &TokenSpec) -> Value {
        let nonce = if spec.bad_nonce {
            spec.text.clone()
        } else {
            self.challenge(1, &f.sys1.id)
        };
        let signature = if spec.bad_signature {
            [2u8; 64]
        } else {
            // A text that is not a nonce is not signed (any signature is as good: the relay
            // refuses the nonce first).
            legacy_v1::sign_login(&f.sys1.identity, &nonce).unwrap_or([2u8; 64])
        };
        json!({ "user_id": f.sys1.id, "nonce": nonce, "signature": b64::encode(&signature) })
    }

    fn v2_token_body(&self, f: &Fixtures, spec: &TokenSpec) -> Value {
        let nonce_text = if spec.bad_nonce {
            spec.text.clone()
        } else {
            self.challenge(2, &f.sys2.id)
        };
        let origin = if spec.bad_origin {
            spec.text.as_str()
        } else {
            ORIGIN
        };
        let nonce = b64::decode_exact::<32>(&nonce_text).unwrap_or([0; 32]);
        let uuid = uuid::Uuid::parse_str(&f.sys2.id).expect("user ids are UUIDs");
        let signature = match (
            spec.bad_signature,
            f.sys2.identity.sign_login_v2(origin, uuid, &nonce),
        ) {
            (false, Ok(signature)) => signature,
            _ => [2u8; 64],
        };
        json!({ "user_id": f.sys2.id, "nonce": nonce_text, "origin": origin,
                "signature": b64::encode(&signature) })
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

/// Index 0–7: the v1 names (0 is `meta`); 8–199: custom names; 200 and above: `text`.
fn v2_volume(index: u8, text: &str) -> v2::VolumeName {
    const CUSTOM: [&str; 3] = ["org.example.notes", "io.fuzz.a", "a.b"];
    let name = match index {
        i @ 0..8 => coffer_wire::v1::VolumeName::ALL[usize::from(i)].as_str(),
        i @ 8..200 => CUSTOM[usize::from(i) % CUSTOM.len()],
        _ => text,
    };
    v2::VolumeName::new(name)
        .or_else(|_| v2::VolumeName::new("meta"))
        .expect("meta is a valid name")
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// The hour the fixtures' volumes are stamped with.
const HOUR: i64 = 1_774_609_200;
