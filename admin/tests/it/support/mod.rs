//! Test support: the real `coffer-relay` binary on 127.0.0.1 over real TLS, the built
//! `coffer-admin` binary, and a small v1 client (real Ed25519 logins and signed uploads; the
//! payloads are opaque random bytes on the v1 grid, which is all the relay ever sees).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use coffer_certs::SpkiPin;
use coffer_test_kit::relay::{self, Banner};
use coffer_test_kit::{Kind, KitError, PinnedApi, V1Account};
use coffer_wire::b64;
use reqwest::Method;
use serde_json::{Value, json};

pub const TOKEN: &str = "integration-admin-token-3b9f";

/// Removes everything from the environment that could change what a child does.
pub fn scrub(cmd: &mut Command) {
    for key in relay::scrubbed_vars() {
        cmd.env_remove(key);
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
    /// A relay on `data` (created if needed) with the admin token and the test kit's high
    /// rate limits. Panics (saying how to build it) when there is no relay binary.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> Relay {
        let mut all: Vec<(String, String)> = [("COFFER_ADMIN_TOKEN", TOKEN)]
            .iter()
            .chain(relay::TEST_ENV)
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
        relay
    }

    fn spawn(&mut self) {
        let stderr = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(relay::relay_binary());
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
        let mut banner = Banner::default();
        loop {
            if banner.is_complete(want_admin) {
                self.url = banner.url.unwrap_or_default();
                self.pin = banner.pin.unwrap_or_default();
                self.admin_url = banner.admin;
                self.banner = banner.lines;
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "relay printed no banner; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                )
            });
            banner.feed(&line);
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

/// The test kit's pinned client, blocking (the tests themselves are synchronous), sending
/// `X-Protocol-Version: 1` like the apps.
pub struct Api(PinnedApi);

impl Api {
    pub fn new(base: &str, pin: SpkiPin) -> Api {
        Api(PinnedApi::blocking(base, pin).with_header("X-Protocol-Version", "1"))
    }

    /// A request; the status and the JSON body (`Null` if none).
    pub fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.0
            .call_blocking(method.as_str(), path, bearer, body.as_ref())
            .unwrap()
    }

    /// Runs a test-kit account flow on this client.
    fn flow<'a, T, F: Future<Output = Result<T, KitError>>>(
        &'a self,
        flow: impl FnOnce(&'a PinnedApi) -> F,
    ) -> T {
        self.0.run(flow(&self.0)).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A v1 account (the test kit's): keys, id and session.
pub struct User {
    pub id: String,
    account: V1Account,
}

impl User {
    /// Registers a v1 account (`seed` makes the keys).
    pub fn register(api: &Api, seed: u8, client_type: &str, handle: Option<&str>) -> User {
        let kind = if client_type == "system" {
            Kind::System
        } else {
            Kind::Friend
        };
        let mut account = V1Account::from_secrets(kind, &[seed; 32], [seed.wrapping_add(100); 32])
            .with_handle(handle)
            .with_features(&["members:1", "fronts:1", "journal:1", "vault:1"]);
        let account =
            api.flow(|mut http| async move { account.register(&mut http).await.map(|_| account) });
        User {
            id: account.id.clone(),
            account,
        }
    }

    /// The same account on another relay (a restored one): same keys, no session yet.
    pub fn again(&self) -> User {
        User {
            id: self.id.clone(),
            account: self.account.again(),
        }
    }

    /// The session token, once logged in.
    pub fn token(&self) -> Option<&str> {
        self.account.session()
    }

    /// Challenge/response login (signs the nonce text, v1).
    pub fn login(&mut self, api: &Api) {
        let account = &mut self.account;
        api.flow(|mut http| async move { account.login(&mut http).await });
    }

    /// Uploads `payload` (must be 28 + a multiple of 4096 bytes) as `name` version `version`.
    pub fn upload(&self, api: &Api, name: &str, version: u64, payload: &[u8]) {
        let header = V1Account::header(name, version, payload, &["tag"]);
        let (status, body) = api.call(
            Method::PUT,
            &format!("/api/v1/volumes/{name}"),
            self.token(),
            Some(self.account.upload_body(&header, payload)),
        );
        assert_eq!(status, 200, "{body}");
    }

    /// `GET /api/v1/volumes/{name}/download` (own volume).
    pub fn download(&self, api: &Api, name: &str) -> (u16, Value) {
        api.call(
            Method::GET,
            &format!("/api/v1/volumes/{name}/download"),
            self.token(),
            None,
        )
    }

    /// A v1 invite code (system).
    pub fn invite(&self, api: &Api) -> String {
        let (status, body) = api.call(
            Method::POST,
            "/api/v1/sharing/invite",
            self.token(),
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
            self.token(),
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
            self.token(),
            Some(json!({
                "request_id": request_id,
                "accepted": true,
                "encrypted_vek_blob": b64::encode(&[42u8; 60]),
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
            self.token(),
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
