//! Test support: the real `coffer-relay` binary on 127.0.0.1 over real TLS, the built
//! `coffer-admin` binary, and a small v1 client (real Ed25519 logins and signed uploads; the
//! payloads are opaque random bytes on the v1 grid, which is all the relay ever sees).
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_certs::{SpkiPin, client_config_pinned};
use coffer_wire::v1::ControlHeader;
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::Method;
use serde_json::{Value, json};

pub const TOKEN: &str = "integration-admin-token-3b9f";

/// `$COFFER_RELAY_BIN`, else `coffer-relay` next to the `deps/` directory of this test.
pub fn relay_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("COFFER_RELAY_BIN") {
        return PathBuf::from(bin);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("coffer-relay")))
        .unwrap_or_else(|| PathBuf::from("coffer-relay"))
}

/// Removes everything from the environment that could change what a child does.
pub fn scrub(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let upper = key.to_ascii_uppercase();
        if upper.starts_with("COFFER_")
            || upper.starts_with("PLURALLOG_")
            || upper.starts_with("POLYLOG_")
            || upper.ends_with("_PROXY")
        {
            cmd.env_remove(key.as_ref());
        }
    }
}

/// A finished `coffer-admin` run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "{self:?}");
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// `coffer-admin ARGS` with `env`, stdin closed, nothing inherited from COFFER_*.
pub fn admin<I, S>(env: &[(&str, &str)], args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer-admin"));
    scrub(&mut cmd);
    cmd.stdin(Stdio::null()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run coffer-admin");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort_unstable();
    k
}

/// A running relay, killed when dropped.
pub struct Relay {
    child: Option<Child>,
    pub url: String,
    pub pin: String,
    pub admin_url: Option<String>,
    pub banner: Vec<String>,
    pub data: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "relay log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl Relay {
    /// A relay on `data` (created if needed) with the admin token and high rate limits, or
    /// `None` (with a message) when the relay binary has not been built.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> Option<Relay> {
        let bin = relay_binary();
        if !bin.is_file() {
            eprintln!(
                "SKIPPED: no relay binary at {}; run `cargo build -p coffer-relay` or set \
                 COFFER_RELAY_BIN",
                bin.display()
            );
            return None;
        }
        let mut all: Vec<(String, String)> = [
            ("COFFER_ADMIN_TOKEN", TOKEN),
            ("COFFER_RATE_ADMIN", "100000"),
            ("COFFER_RATE_REGISTER", "100000"),
            ("COFFER_RATE_AUTH", "100000"),
            ("COFFER_RATE_UPLOAD", "100000"),
            ("COFFER_RATE_GENERAL", "100000"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in env {
            all.retain(|(key, _)| key != k);
            if !v.is_empty() {
                all.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        let log = data.with_extension("log");
        let mut relay = Relay {
            child: None,
            url: String::new(),
            pin: String::new(),
            admin_url: None,
            banner: Vec::new(),
            data: data.to_owned(),
            env: all,
            log,
        };
        relay.spawn();
        Some(relay)
    }

    fn spawn(&mut self) {
        let stderr = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(relay_binary());
        scrub(&mut cmd);
        cmd.arg("--data-dir")
            .arg(&self.data)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn coffer-relay");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let want_admin = self.env.iter().any(|(k, _)| k == "COFFER_ADMIN_LISTEN");
        self.banner.clear();
        loop {
            let field = |banner: &[String], name: &str| {
                banner
                    .iter()
                    .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            if let (Some(url), Some(pin), Some(_)) = (
                field(&self.banner, "url:"),
                field(&self.banner, "pin:"),
                field(&self.banner, "data:"),
            ) && (!want_admin || field(&self.banner, "admin:").is_some())
            {
                self.url = url;
                self.pin = pin;
                self.admin_url = field(&self.banner, "admin:");
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "relay printed no banner; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                )
            });
            self.banner.push(line);
        }
    }

    /// Kills the relay (the data directory stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `coffer-admin ARGS` against this relay (URL, pin and `token` from the environment).
    pub fn admin<I, S>(&self, token: Option<&str>, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut env = vec![
            ("COFFER_ADMIN_URL", self.url.as_str()),
            ("COFFER_ADMIN_PIN", self.pin.as_str()),
        ];
        if let Some(token) = token {
            env.push(("COFFER_ADMIN_TOKEN", token));
        }
        admin(&env, args)
    }

    /// `coffer-admin --json ARGS` with the right token; must succeed; the parsed JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let run = self.admin(
            Some(TOKEN),
            std::iter::once("--json").chain(args.iter().copied()),
        );
        run.assert_code(0);
        run.json()
    }

    /// An HTTP client for the app API.
    pub fn api(&self) -> Api {
        Api::new(&self.url, self.pin.parse().unwrap())
    }
}

/// A pinned HTTP client with its own runtime (the tests themselves are synchronous).
pub struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(base: &str, pin: SpkiPin) -> Api {
        Api {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::builder()
                .tls_backend_preconfigured(client_config_pinned(pin))
                .build()
                .unwrap(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// A request; the status and the JSON body (`Null` if none).
    pub fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Protocol-Version", "1");
        if let Some(token) = bearer {
            rb = rb.bearer_auth(token);
        }
        if let Some(body) = body {
            rb = rb.json(&body);
        }
        self.rt.block_on(async move {
            let resp = rb.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }
}

/// A v1 account: its keys, id and session.
pub struct User {
    pub id: String,
    key: SigningKey,
    exchange: [u8; 32],
    pub token: Option<String>,
}

impl User {
    /// Registers a v1 account (`seed` makes the keys).
    pub fn register(api: &Api, seed: u8, client_type: &str, handle: Option<&str>) -> User {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let exchange = [seed.wrapping_add(100); 32];
        let (status, body) = api.call(
            Method::POST,
            "/api/v1/register",
            None,
            Some(json!({
                "public_signing_key": STANDARD.encode(key.verifying_key().as_bytes()),
                "public_exchange_key": STANDARD.encode(exchange),
                "handle": handle,
                "client_type": client_type,
                "protocol_version": 1,
                "feature_set": ["members:1", "fronts:1", "journal:1", "vault:1"],
            })),
        );
        assert_eq!(status, 201, "{body}");
        User {
            id: body["user_id"].as_str().unwrap().to_owned(),
            key,
            exchange,
            token: None,
        }
    }

    /// The same account on another relay (a restored one): same keys, no session yet.
    pub fn again(&self) -> User {
        User {
            id: self.id.clone(),
            key: self.key.clone(),
            exchange: self.exchange,
            token: None,
        }
    }

    /// Challenge/response login (signs the nonce text, v1).
    pub fn login(&mut self, api: &Api) {
        let (status, body) = api.call(
            Method::POST,
            "/api/v1/auth/challenge",
            None,
            Some(json!({ "user_id": self.id })),
        );
        assert_eq!(status, 200, "{body}");
        let nonce = body["nonce"].as_str().unwrap().to_owned();
        let signature = self.key.sign(nonce.as_bytes());
        let (status, body) = api.call(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({
                "user_id": self.id,
                "nonce": nonce,
                "signature": STANDARD.encode(signature.to_bytes()),
            })),
        );
        assert_eq!(status, 200, "{body}");
        self.token = Some(body["token"].as_str().unwrap().to_owned());
    }

    /// Uploads `payload` (must be 28 + a multiple of 4096 bytes) as `name` version `version`.
    pub fn upload(&self, api: &Api, name: &str, version: u64, payload: &[u8]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let header = ControlHeader {
            volume_name: name.to_owned(),
            version,
            modified_at: now / 3600 * 3600,
            size_bytes: payload.len() as u64,
            event_tags: vec!["tag".to_owned()],
        };
        let signature = self.key.sign(&header.signature_input(payload));
        let (status, body) = api.call(
            Method::PUT,
            &format!("/api/v1/volumes/{name}"),
            self.token.as_deref(),
            Some(json!({
                "control_header": {
                    "volume_name": header.volume_name,
                    "version": header.version,
                    "modified_at": header.modified_at,
                    "size_bytes": header.size_bytes,
                    "event_tags": header.event_tags,
                },
                "encrypted_payload": STANDARD.encode(payload),
                "signature": STANDARD.encode(signature.to_bytes()),
            })),
        );
        assert_eq!(status, 200, "{body}");
    }

    /// `GET /api/v1/volumes/{name}/download` (own volume).
    pub fn download(&self, api: &Api, name: &str) -> (u16, Value) {
        api.call(
            Method::GET,
            &format!("/api/v1/volumes/{name}/download"),
            self.token.as_deref(),
            None,
        )
    }

    /// A v1 invite code (system).
    pub fn invite(&self, api: &Api) -> String {
        let (status, body) = api.call(
            Method::POST,
            "/api/v1/sharing/invite",
            self.token.as_deref(),
            Some(json!({})),
        );
        assert_eq!(status, 201, "{body}");
        body["code"].as_str().unwrap().to_owned()
    }

    /// Redeems an invite (friend): the pending relationship's id.
    pub fn redeem(&self, api: &Api, code: &str) -> String {
        let (status, body) = api.call(
            Method::POST,
            "/api/v1/sharing/redeem",
            self.token.as_deref(),
            Some(json!({ "code": code })),
        );
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Accepts a request (system) with an opaque 60-byte wrapped key and `share_members`.
    pub fn accept(&self, api: &Api, request_id: &str) {
        let (status, body) = api.call(
            Method::POST,
            "/api/v1/sharing/respond",
            self.token.as_deref(),
            Some(json!({
                "request_id": request_id,
                "accepted": true,
                "encrypted_vek_blob": STANDARD.encode([42u8; 60]),
                "permissions": { "share_members": true, "share_vault": false },
            })),
        );
        assert_eq!(status, 200, "{body}");
    }

    /// A shared volume (friend).
    pub fn shared(&self, api: &Api, system: &str, name: &str) -> (u16, Value) {
        api.call(
            Method::GET,
            &format!("/api/v1/shared/{system}/volumes/{name}"),
            self.token.as_deref(),
            None,
        )
    }
}

/// `len` pseudo-random bytes (payloads only need to be opaque and distinct).
pub fn payload(seed: u8, blocks: usize) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    (0..(blocks * 4096 + 28))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}
