//! The operator surface of the real binary over real TLS: `/metrics` access control (the admin
//! token even from loopback, the opt-in `metrics.public`, the admin listener, a non-loopback
//! admin listener only with a hashed token), `process_*` metrics, the Argon2id admin-token
//! hash with its cache, the anomaly report (20 failed logins are reported; addresses only as
//! `ip_policy` allows), and the announced pins.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_certs::{SpkiPin, client_config_pinned};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

const TOKEN: &str = "operator-test-admin-token";

struct Relay {
    child: Child,
    url: String,
    pin: SpkiPin,
    banner: Vec<String>,
    admin_url: Option<String>,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("relay stderr:\n{}", self.log());
        }
    }
}

impl Relay {
    fn start(env: &[(&str, &str)]) -> Relay {
        Self::start_in(tempfile::tempdir().unwrap(), env)
    }

    fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Relay {
        let log = std::fs::File::create(dir.path().join("relay.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer-relay"));
        for (key, _) in std::env::vars() {
            if ["COFFER_", "PLURALLOG_", "POLYLOG_"]
                .iter()
                .any(|p| key.starts_with(p))
            {
                cmd.env_remove(key);
            }
        }
        cmd.arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .env("COFFER_RATE_AUTH", "100000")
            .env("COFFER_RATE_REGISTER", "100000")
            .env("COFFER_RATE_ADMIN", "100000")
            .env("COFFER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut banner = Vec::new();
        while !banner
            .iter()
            .any(|l: &String| l.trim_start().starts_with("data:"))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            banner.push(rx.recv_timeout(left).expect("relay banner"));
        }
        // The admin line follows the data line when there is an admin listener.
        if env.iter().any(|(k, _)| *k == "COFFER_ADMIN_LISTEN") {
            banner.push(
                rx.recv_timeout(Duration::from_secs(10))
                    .expect("admin line"),
            );
        }
        let field = |name: &str| {
            banner
                .iter()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let url = field("url:").unwrap();
        let pin: SpkiPin = field("pin:").unwrap().parse().unwrap();
        let admin_url = field("admin:");
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(client_config_pinned(pin))
            .build()
            .unwrap();
        Relay {
            child,
            url,
            pin,
            banner,
            admin_url,
            dir,
            http,
        }
    }

    /// Stops the relay and hands over its directory (for a restart on the same data).
    fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("relay.log")).unwrap_or_default()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: String,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, String) {
        let mut rb = self.http.request(method, url);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(body) = body {
            rb = rb.json(&body);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        self.send(
            reqwest::Method::GET,
            format!("{}{path}", self.url),
            headers,
            None,
        )
        .await
    }

    async fn admin_get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let base = self.admin_url.as_ref().unwrap();
        self.send(reqwest::Method::GET, format!("{base}{path}"), headers, None)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, text) = self
            .send(
                reqwest::Method::POST,
                format!("{}{path}", self.url),
                &[],
                Some(body),
            )
            .await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Registers a v1 system user with a real Ed25519 key; returns its id.
    async fn register(&self, seed: u8) -> String {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let (status, body) = self
            .post(
                "/api/v1/register",
                json!({
                    "public_signing_key": STANDARD.encode(key.verifying_key().as_bytes()),
                    "public_exchange_key": STANDARD.encode([seed; 32]),
                    "client_type": "system",
                    "protocol_version": 1,
                    "feature_set": ["members:1"],
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["user_id"].as_str().unwrap().to_owned()
    }

    /// `n` refused logins for `user` (a nonce that was never issued, a zero signature).
    async fn fail_logins(&self, user: &str, n: usize) {
        for i in 0..n {
            let (status, body) = self
                .post(
                    "/api/v1/auth/token",
                    json!({
                        "user_id": user,
                        "nonce": STANDARD.encode([i as u8; 32]),
                        "signature": STANDARD.encode([0u8; 64]),
                    }),
                )
                .await;
            assert_eq!(status, 403, "{body}");
        }
    }
}

fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_admin_token_even_from_loopback() {
    let relay = Relay::start(&[("COFFER_ADMIN_TOKEN", TOKEN)]);
    relay.get("/api/v1/health", &[]).await;
    let token = [("x-admin-token", TOKEN)];

    // Directly from loopback, without the token: refused (issue 15: behind a TLS-passthrough
    // proxy on this host, every internet client looks local).
    let (status, body) = relay.get("/metrics", &[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\":\"unauthorized\""), "{body}");
    assert!(body.contains("admin token"), "{body}");
    assert_eq!(
        relay.get("/metrics", &[("x-admin-token", "wrong")]).await.0,
        401
    );
    let forwarded = [("x-forwarded-for", "203.0.113.9")];
    assert_eq!(relay.get("/metrics", &forwarded).await.0, 401);

    // With the token: served, in the Prometheus text format.
    let (status, text) = relay.get("/metrics", &token).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("# TYPE coffer_http_request_duration_seconds histogram"));
    assert!(
        text.contains("coffer_http_requests_total{class=\"health\",status=\"2xx\"} 1"),
        "{text}"
    );
    for name in [
        "coffer_storage_bytes",
        "coffer_active_sessions",
        "coffer_rate_limited_total{class=\"auth\"}",
    ] {
        assert!(sample(&text, name).is_some(), "{name} missing:\n{text}");
    }
    // Prometheus's standard process families, read from /proc/self.
    assert!(
        sample(&text, "process_resident_memory_bytes").is_some_and(|v| v > 0.0),
        "{text}"
    );
    // A relay that has just started may not have used one clock tick (10 ms) of CPU yet: the
    // counter is there, and may read 0 (a fast machine's clean-clone CI did).
    assert!(
        sample(&text, "process_cpu_seconds_total").is_some_and(|v| v >= 0.0),
        "process_cpu_seconds_total:\n{text}"
    );
    for name in [
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "process_threads",
    ] {
        assert!(
            sample(&text, name).is_some_and(|v| v > 0.0),
            "{name}:\n{text}"
        );
    }
    assert!(
        text.contains("# TYPE process_cpu_seconds_total counter"),
        "{text}"
    );
    let (status, text) = relay
        .get("/metrics", &[forwarded[0], ("x-admin-token", TOKEN)])
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("coffer_http_requests_total{class=\"metrics\",status=\"4xx\"}"),
        "{text}"
    );
    // The admin API and rate limits are counted per class; no label carries an id or address.
    assert!(!text.contains("203.0.113.9") && !text.contains("127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_metrics_are_an_explicit_opt_in() {
    let relay = Relay::start(&[("COFFER_METRICS_PUBLIC", "true")]);
    let (status, text) = relay
        .get("/metrics", &[("x-forwarded-for", "203.0.113.9")])
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(sample(&text, "coffer_storage_bytes").is_some(), "{text}");
    // No admin token configured: the admin API stays shut.
    assert_eq!(relay.get("/api/v1/admin/stats", &[]).await.0, 401);
}

/// A non-loopback admin listener (a dashboard in its own container): refused at start with a
/// plain token or none; accepted with a hashed token, with a warning naming the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_admin_listener_needs_a_hashed_token() {
    for plain in [Some(TOKEN), None] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer-relay"));
        for (key, _) in std::env::vars() {
            if ["COFFER_", "PLURALLOG_", "POLYLOG_"]
                .iter()
                .any(|p| key.starts_with(p))
            {
                cmd.env_remove(key);
            }
        }
        cmd.arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .env("COFFER_ADMIN_LISTEN", "0.0.0.0:0");
        if let Some(token) = plain {
            cmd.env("COFFER_ADMIN_TOKEN", token);
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(!out.status.success(), "started with {plain:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("admin.listen") && err.contains("token_hash"),
            "{err}"
        );
    }

    let hash = coffer_relay::config::admin::hash_token(TOKEN.as_bytes()).unwrap();
    let relay = Relay::start(&[
        ("COFFER_ADMIN_TOKEN_HASH", &hash),
        ("COFFER_ADMIN_LISTEN", "0.0.0.0:0"),
    ]);
    let admin_url = relay.admin_url.clone().expect("admin line in the banner");
    let port = admin_url.rsplit(':').next().unwrap().trim_end_matches('/');
    assert!(admin_url.starts_with("https://0.0.0.0:"), "{admin_url}");
    let log = relay.log();
    assert!(
        log.contains("WARN")
            && log.contains(&format!("admin listener 0.0.0.0:{port} is NOT on loopback")),
        "{log}"
    );
    // Reached through a non-loopback path the way a container would: here through 127.0.0.1
    // on the wildcard address (same certificate and pin).
    let base = format!("https://127.0.0.1:{port}");
    let (status, body) = relay
        .send(
            reqwest::Method::GET,
            format!("{base}/api/v1/admin/stats"),
            &[("x-admin-token", TOKEN)],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = relay
        .send(
            reqwest::Method::GET,
            format!("{base}/api/v1/admin/stats"),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, text) = relay
        .send(reqwest::Method::GET, format!("{base}/metrics"), &[], None)
        .await;
    assert_eq!(status, 200, "{text}");
    // The main listener serves neither.
    assert_eq!(
        relay.get("/metrics", &[("x-admin-token", TOKEN)]).await.0,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_is_the_only_door_when_configured() {
    let relay = Relay::start(&[
        ("COFFER_ADMIN_TOKEN", TOKEN),
        ("COFFER_ADMIN_LISTEN", "127.0.0.1:0"),
    ]);
    let admin_url = relay.admin_url.clone().expect("admin line in the banner");
    assert!(admin_url.starts_with("https://127.0.0.1:"), "{admin_url}");
    assert_ne!(admin_url, relay.url);
    let token = [("x-admin-token", TOKEN)];

    // Main listener: the admin API and /metrics are refused even with the right token.
    let (status, body) = relay.get("/api/v1/admin/stats", &token).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("admin listener"), "{body}");
    assert_eq!(relay.get("/metrics", &token).await.0, 403);
    // ...while the app API still works there.
    assert_eq!(relay.get("/api/v1/health", &[]).await.0, 200);

    // Admin listener (same certificate and pin): the admin API with the token, metrics without.
    let (status, body) = relay.admin_get("/api/v1/admin/stats", &token).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"system_users\":0"), "{body}");
    assert_eq!(relay.admin_get("/api/v1/admin/stats", &[]).await.0, 401);
    assert_eq!(
        relay
            .admin_get("/api/v1/admin/stats", &[("x-admin-token", "nope")])
            .await
            .0,
        401
    );
    let (status, text) = relay.admin_get("/metrics", &[]).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("coffer_http_requests_total{class=\"admin\",status=\"4xx\"}"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hashed_admin_token_is_verified_and_cached() {
    let hash = coffer_relay::config::admin::hash_token(TOKEN.as_bytes()).unwrap();
    let relay = Relay::start(&[("COFFER_ADMIN_TOKEN_HASH", &hash)]);
    let good = [("x-admin-token", TOKEN)];
    for _ in 0..5 {
        let (status, body) = relay.get("/api/v1/admin/sessions", &good).await;
        assert_eq!(status, 200, "{body}");
    }
    for _ in 0..5 {
        let (status, _) = relay
            .get("/api/v1/admin/sessions", &[("x-admin-token", "wrong")])
            .await;
        assert_eq!(status, 401);
    }
    // Ten checks, two distinct tokens: two Argon2 runs, the rest from the cache (reading the
    // metrics with the good token is one more check, from the cache too).
    let (_, text) = relay.get("/metrics", &good).await;
    assert_eq!(
        sample(&text, "coffer_admin_token_verifications_total"),
        Some(2.0),
        "{text}"
    );
    // The hash never reaches the log.
    assert!(!relay.log().contains("argon2id"), "{}", relay.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_failed_logins_are_reported_with_addresses_only_by_policy() {
    for (policy, shown) in [("off", None), ("full", Some("127.0.0.1"))] {
        let relay = Relay::start(&[("COFFER_ADMIN_TOKEN", TOKEN), ("COFFER_IP_POLICY", policy)]);
        let user = relay.register(7).await;
        let other = relay.register(8).await;
        relay.fail_logins(&user, 20).await;
        relay.fail_logins(&other, 3).await;
        let (status, body) = relay
            .get("/api/v1/admin/anomalies", &[("x-admin-token", TOKEN)])
            .await;
        assert_eq!(status, 200, "{body}");
        let report: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(report["ip_policy"], policy);
        assert_eq!(report["totals"]["failed_logins"], 23);
        let rows = report["anomalies"].as_array().unwrap();
        let by_user: Vec<&Value> = rows
            .iter()
            .filter(|r| r["kind"] == "failed_logins" && r["scope"] == "user")
            .collect();
        assert_eq!(by_user.len(), 1, "{report:#}");
        assert_eq!(by_user[0]["user_id"], user.as_str());
        assert_eq!(by_user[0]["value"], 20);
        assert_eq!(by_user[0]["threshold"], 10);
        let by_source: Vec<&Value> = rows
            .iter()
            .filter(|r| r["kind"] == "failed_logins" && r["scope"] == "source")
            .collect();
        assert_eq!(by_source.len(), 1, "{report:#}");
        assert_eq!(by_source[0]["value"], 23);
        assert_eq!(by_source[0]["source"].as_str(), shown, "{report:#}");
        let (_, metrics) = relay.get("/metrics", &[("x-admin-token", TOKEN)]).await;
        assert_eq!(sample(&metrics, "coffer_failed_logins_total"), Some(23.0));

        // The request log carries the address only when the policy allows it.
        let log = relay.log();
        assert_eq!(log.contains("client=127.0.0.1"), shown.is_some(), "{log}");
        assert!(!log.contains(&user), "user ids are never logged");
        // Nothing about addresses reaches the database (main file or write-ahead log).
        for file in ["data/coffer.db", "data/coffer.db-wal"] {
            let bytes = std::fs::read(relay.dir.path().join(file)).unwrap_or_default();
            assert!(!bytes.windows(9).any(|w| w == b"127.0.0.1"), "{file}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_hash_labels_are_stable_and_the_secret_stays_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let key_path: PathBuf = dir.path().join("data/ip-hash.key");
    let relay = Relay::start_in(
        dir,
        &[
            ("COFFER_ADMIN_TOKEN", TOKEN),
            ("COFFER_IP_POLICY", "keyed-hash"),
        ],
    );
    let user = relay.register(9).await;
    relay.fail_logins(&user, 10).await;
    let (_, body) = relay
        .get("/api/v1/admin/anomalies", &[("x-admin-token", TOKEN)])
        .await;
    let report: Value = serde_json::from_str(&body).unwrap();
    let source = report["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scope"] == "source")
        .and_then(|r| r["source"].as_str())
        .unwrap()
        .to_owned();
    assert!(source.starts_with("h:") && source.len() == 18, "{source}");
    assert!(relay.log().contains(&format!("client={source}")));
    assert!(!relay.log().contains("client=127.0.0.1"), "{}", relay.log());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_path).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_are_announced_current_and_next() {
    let relay = Relay::start(&[]);
    let (status, body) = relay.get("/api/v2/pins", &[]).await;
    assert_eq!(status, 200);
    let pins: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pins["current"], relay.pin.to_string());
    assert_eq!(pins["next"], Value::Null);
    let pairing = relay
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("pair:"))
        .expect("pairing line")
        .trim()
        .to_owned();
    let parsed: coffer_certs::RelayPairing = pairing.parse().unwrap();
    assert_eq!(parsed.pin(), relay.pin);
    assert_eq!(parsed.origin(), relay.url);

    // Prepare the next key in the data directory, restart: announced in the banner and API.
    let tls: &Path = &relay.dir.path().join("data/tls");
    let next =
        coffer_certs::rotation::generate_next(tls, &["localhost".to_owned()], false).unwrap();
    let relay = Relay::start_in(relay.stop(), &[]);
    assert!(
        relay
            .banner
            .iter()
            .any(|l| l.trim() == format!("next pin: {next}")),
        "{:?}",
        relay.banner
    );
    let (_, body) = relay.get("/api/v2/pins", &[]).await;
    let pins: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pins["next"], next.to_string());
    assert_ne!(pins["current"], pins["next"]);
}
