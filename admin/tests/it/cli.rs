//! End to end: the real `coffer-relay` binary on 127.0.0.1 over real TLS, driven by the built
//! `coffer-admin` binary, checking output and exit codes.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use coffer_certs::SpkiPin;
use coffer_test_kit::PinnedApi;
use coffer_test_kit::relay::{self, Banner};
use serde_json::{Value, json};

const TOKEN: &str = "integration-admin-token-3b9f";
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A well-formed pin that no relay has (32 zero bytes).
const WRONG_PIN: &str = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
/// Valid Ed25519 public keys (RFC 8032 §7.1 tests 1 and 2) and X25519 public keys
/// (RFC 7748 §6.1), base64.
const SIGNING_KEYS: [&str; 2] = [
    "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=",
];
const EXCHANGE_KEYS: [&str; 2] = [
    "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
    "3p7bfXt9wbQ7gKepsLKqZvSloPDH4sCsHR7B0a0tn5w=",
];

/// A running relay, killed when dropped (also when a test panics).
struct Relay {
    child: Child,
    url: String,
    pin: String,
    dir: tempfile::TempDir,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Relay {
    /// Starts a relay with the admin token and `env` (the relay's own default rate limits).
    /// Panics (saying how to build it) when there is no relay binary.
    fn start(env: &[(&str, &str)]) -> Relay {
        let bin = relay::relay_binary();
        let dir = tempfile::tempdir().expect("temp dir");
        let stderr = std::fs::File::create(dir.path().join("relay-stderr.log")).expect("log file");
        let mut cmd = Command::new(&bin);
        cmd.arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        crate::support::scrub(&mut cmd);
        cmd.env("COFFER_ADMIN_TOKEN", TOKEN);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn coffer-relay");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut relay = Relay {
            child,
            url: String::new(),
            pin: String::new(),
            dir,
        };
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        let mut banner = Banner::default();
        while banner.url.is_none() || banner.pin.is_none() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "relay did not print url:/pin: in time; stderr:\n{}",
                    relay.stderr()
                )
            });
            banner.feed(&line);
        }
        relay.url = banner.url.unwrap_or_default();
        relay.pin = banner.pin.unwrap_or_default();
        relay
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("relay-stderr.log")).unwrap_or_default()
    }

    /// `coffer-admin ARGS` against this relay (URL and pin from the environment), with `token`
    /// in `COFFER_ADMIN_TOKEN` and stdin closed.
    fn admin<I, S>(&self, token: Option<&str>, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = admin_command();
        cmd.env("COFFER_ADMIN_URL", &self.url)
            .env("COFFER_ADMIN_PIN", &self.pin)
            .args(args);
        if let Some(token) = token {
            cmd.env("COFFER_ADMIN_TOKEN", token);
        }
        Run::of(cmd)
    }

    /// `coffer-admin --json ARGS` with the right token; must succeed; the parsed JSON.
    fn json(&self, args: &[&str]) -> Value {
        let run = self.admin(
            Some(TOKEN),
            std::iter::once("--json").chain(args.iter().copied()),
        );
        run.assert_code(0);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {run:?}"))
    }

    /// Registers a user through the public API (as an app would).
    fn register(
        &self,
        i: usize,
        client_type: &str,
        handle: Option<&str>,
        features: Value,
    ) -> String {
        let pin: SpkiPin = self.pin.parse().expect("relay pin");
        let body = json!({
            "public_signing_key": SIGNING_KEYS[i],
            "public_exchange_key": EXCHANGE_KEYS[i],
            "handle": handle,
            "client_type": client_type,
            "protocol_version": 1,
            "feature_set": features,
        });
        let (status, v) = PinnedApi::blocking(&self.url, pin)
            .call_blocking("POST", "/api/v1/register", None, Some(&body))
            .expect("register");
        assert_eq!(status, 201, "register: {v}");
        v["user_id"].as_str().expect("user_id").to_owned()
    }
}

fn admin_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer-admin"));
    crate::support::scrub(&mut cmd);
    cmd.stdin(Stdio::null());
    cmd
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
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
    fn of(mut cmd: Command) -> Run {
        let out: Output = cmd.output().expect("run coffer-admin");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "{self:?}");
        if code != 0 {
            assert!(
                self.stderr.starts_with("coffer-admin: ") || self.stderr.starts_with("error: "),
                "{self:?}"
            );
        }
        self
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

#[test]
fn commands_against_a_real_relay() {
    let relay = Relay::start(&[
        ("COFFER_RATE_ADMIN", "100000"),
        ("COFFER_RATE_REGISTER", "100000"),
    ]);

    // health: no token needed or sent.
    let run = relay.admin(None, ["health"]);
    run.assert_code(0);
    assert!(run.stdout.contains("status                ok\n"), "{run:?}");
    let health = relay.json(&["health"]);
    assert_eq!(health["status"], "ok");
    assert!(health["uptime_seconds"].is_u64(), "{health}");
    assert!(health["min_protocol_version"].is_i64(), "{health}");

    // An empty relay.
    let stats = relay.json(&["stats"]);
    assert_eq!(
        keys(&stats),
        [
            "active_shares",
            "by_protocol",
            "friend_users",
            "pending_shares",
            "recent_registrations_30d",
            "system_users",
            "total_storage_bytes",
            "total_volumes",
            "volume_breakdown",
        ]
    );
    assert_eq!(stats["system_users"], 0);
    assert_eq!(stats["volume_breakdown"], json!([]));
    let run = relay.admin(Some(TOKEN), ["users", "list"]);
    run.assert_code(0);
    assert_eq!(run.stdout, "no users\n");

    // Two users; the friend's feature strings carry a terminal escape sequence.
    let alice = relay.register(0, "system", Some("alice"), json!(["members:1", "fronts:1"]));
    let friend = relay.register(
        1,
        "friend",
        None,
        json!(["members:1", "\u{1b}]0;pwned\u{7}"]),
    );

    let stats = relay.json(&["stats"]);
    assert_eq!(stats["system_users"], 1);
    assert_eq!(stats["friend_users"], 1);
    assert_eq!(stats["recent_registrations_30d"], 2);
    let run = relay.admin(Some(TOKEN), ["stats"]);
    run.assert_code(0);
    assert!(
        run.stdout
            .starts_with("users          2 (1 system, 1 friend)\n"),
        "{run:?}"
    );

    // users list: aligned table, totals, escapes neutralised.
    let run = relay.admin(Some(TOKEN), ["users", "list"]);
    run.assert_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0]
            .starts_with("ID                                    HANDLE  TYPE    PROTO  STORAGE"),
        "{run:?}"
    );
    let alice_line = lines
        .iter()
        .find(|l| l.starts_with(&alice))
        .expect("alice row");
    assert!(
        alice_line.contains("  alice   system      1      0 B  "),
        "{run:?}"
    );
    assert!(alice_line.ends_with("members:1, fronts:1"), "{run:?}");
    assert!(run.stdout.contains(&friend), "{run:?}");
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}'),
        "{run:?}"
    );
    assert!(run.stdout.contains("\\u{1b}]0;pwned\\u{7}"), "{run:?}");
    assert!(
        run.stdout
            .ends_with("\n2 users (1 system, 1 friend), 0 B stored\n"),
        "{run:?}"
    );
    let users = relay.json(&["users", "list"]);
    assert_eq!(users["users"].as_array().map(Vec::len), Some(2));
    assert!(
        users["users"][0]["feature_set"].is_string(),
        "v1: JSON text: {users}"
    );

    // users show, by id in capitals too.
    let run = relay.admin(Some(TOKEN), ["users", "show", &alice.to_uppercase()]);
    run.assert_code(0);
    assert!(run.stdout.contains("handle            alice\n"), "{run:?}");
    assert!(run.stdout.ends_with("no volumes\n"), "{run:?}");
    let shown = relay.json(&["users", "show", &alice]);
    assert_eq!(shown["id"], alice.as_str());
    assert_eq!(shown["volumes"], json!([]));

    // A user that does not exist: the relay's message, exit 1.
    let run = relay.admin(
        Some(TOKEN),
        ["users", "show", "3f2504e0-4f89-41d3-9a0c-0305e82c3301"],
    );
    run.assert_code(1);
    assert!(run.stderr.contains("User not found"), "{run:?}");

    for (args, expect) in [
        (&["volumes"][..], "no volumes\n"),
        (&["sharing"][..], "no sharing relationships\n"),
    ] {
        let run = relay.admin(Some(TOKEN), args);
        run.assert_code(0);
        assert_eq!(run.stdout, expect);
    }
    assert_eq!(
        relay.json(&["volumes"]),
        json!({"volumes": [], "total": 0, "next_offset": null})
    );
    assert_eq!(
        relay.json(&["sharing"]),
        json!({"sharing": [], "total": 0, "next_offset": null})
    );

    let sessions = relay.json(&["sessions"]);
    assert_eq!(
        keys(&sessions),
        [
            "active_invites",
            "active_sessions",
            "pending_challenges",
            "redeemed_invites"
        ]
    );
    let run = relay.admin(Some(TOKEN), ["sessions"]);
    run.assert_code(0);
    assert!(run.stdout.starts_with("active sessions     0\n"), "{run:?}");

    let run = relay.admin(Some(TOKEN), ["maintenance"]);
    run.assert_code(0);
    assert!(run.stdout.starts_with("maintenance done\n"), "{run:?}");
    assert!(
        run.stdout.contains("orphan blobs        0 (0 B)\n"),
        "{run:?}"
    );
    let report = relay.json(&["maintenance"]);
    assert_eq!(report["status"], "ok");
    assert!(report["expired_sessions"].is_u64(), "{report}");

    // Destructive commands without --yes and without a terminal: refused, nothing changed.
    let run = relay.admin(Some(TOKEN), ["users", "delete", &friend]);
    run.assert_code(2);
    assert!(run.stderr.contains("--yes"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let run = relay.admin(Some(TOKEN), ["sessions", "expire-all"]);
    run.assert_code(2);
    assert_eq!(relay.json(&["stats"])["friend_users"], 1);

    let run = relay.admin(Some(TOKEN), ["sessions", "expire-all", "--yes"]);
    run.assert_code(0);
    assert!(run.stdout.starts_with("expired 0 sessions"), "{run:?}");

    // With --yes (and the token from a file with a trailing newline).
    let token_file = relay.dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let run = relay.admin(
        None,
        [
            OsStr::new("--token-file"),
            token_file.as_os_str(),
            OsStr::new("users"),
            OsStr::new("delete"),
            OsStr::new(&friend),
            OsStr::new("--yes"),
        ],
    );
    run.assert_code(0);
    assert_eq!(
        run.stdout,
        format!("deleted user {friend}: volumes, sharing relationships and sessions removed\n")
    );
    let stats = relay.json(&["stats"]);
    assert_eq!(
        (
            stats["system_users"].as_u64(),
            stats["friend_users"].as_u64()
        ),
        (Some(1), Some(0))
    );
    let run = relay.admin(Some(TOKEN), ["users", "show", &friend]);
    run.assert_code(1);
}

#[test]
fn refusals_and_failures() {
    let relay = Relay::start(&[("COFFER_RATE_ADMIN", "100000")]);

    // Wrong token: 4, the relay's message, never the token.
    let run = relay.admin(Some("not-the-token"), ["stats"]);
    run.assert_code(4);
    assert!(
        run.stderr.contains("Missing or invalid admin token"),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("not-the-token") && !run.stdout.contains("not-the-token"),
        "{run:?}"
    );

    // No token at all: 2 before any request; health still works without one.
    let run = relay.admin(None, ["users", "list"]);
    run.assert_code(2);
    assert!(run.stderr.contains("COFFER_ADMIN_TOKEN"), "{run:?}");
    relay.admin(None, ["health"]).assert_code(0);

    // An empty token file: 2.
    let empty = relay.dir.path().join("empty-token");
    std::fs::write(&empty, "\n").expect("write");
    let run = relay.admin(
        Some(TOKEN),
        [
            OsStr::new("--token-file"),
            empty.as_os_str(),
            OsStr::new("stats"),
        ],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("empty"), "{run:?}");

    // Wrong pin: 3, and it says so.
    let run = relay.admin(Some(TOKEN), ["--pin", WRONG_PIN, "stats"]);
    run.assert_code(3);
    assert!(run.stderr.contains("PIN MISMATCH"), "{run:?}");
    assert!(run.stderr.contains(WRONG_PIN), "{run:?}");

    // No pin: the self-signed relay is not trusted by the Web PKI, with a hint.
    let mut cmd = admin_command();
    cmd.env("COFFER_ADMIN_TOKEN", TOKEN)
        .args(["--url", &relay.url, "health"]);
    let run = Run::of(cmd);
    run.assert_code(3);
    assert!(
        run.stderr.contains("--pin") && !run.stderr.contains("PIN MISMATCH"),
        "{run:?}"
    );

    // Flags instead of the environment work the same.
    let mut cmd = admin_command();
    cmd.env("COFFER_ADMIN_TOKEN", TOKEN)
        .args(["sessions", "--url", &relay.url, "--pin", &relay.pin]);
    Run::of(cmd).assert_code(0);

    // Malformed pin, plain http, bad id: usage errors (2), before any connection.
    relay
        .admin(Some(TOKEN), ["--pin", "sha256/nope", "stats"])
        .assert_code(2);
    let http_url = relay.url.replacen("https://", "http://", 1);
    relay
        .admin(Some(TOKEN), ["--url", http_url.as_str(), "stats"])
        .assert_code(2);
    relay
        .admin(Some(TOKEN), ["users", "show", "../stats"])
        .assert_code(2);

    // Nobody listening: 3.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let run = relay.admin(
        Some(TOKEN),
        ["--url", &format!("https://127.0.0.1:{closed}"), "stats"],
    );
    run.assert_code(3);
    assert!(!run.stderr.contains("PIN MISMATCH"), "{run:?}");
}

#[test]
fn rate_limited() {
    // One admin request per minute per IP.
    let relay = Relay::start(&[("COFFER_RATE_ADMIN", "1")]);
    relay.admin(Some(TOKEN), ["stats"]).assert_code(0);
    let run = relay.admin(Some(TOKEN), ["stats"]);
    run.assert_code(5);
    assert!(run.stderr.contains("Retry-After: "), "{run:?}");
    let retry: u64 = run
        .stderr
        .split("Retry-After: ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("numeric Retry-After: {run:?}"));
    assert!((1..=60).contains(&retry), "{run:?}");
    // Health is not an admin call and is not limited by it.
    relay.admin(None, ["health"]).assert_code(0);
}

#[test]
fn help_and_version() {
    let mut cmd = admin_command();
    cmd.arg("--help");
    let run = Run::of(cmd);
    run.assert_code(0);
    assert!(run.stdout.contains("Exit codes:"), "{run:?}");
    for exit in coffer_admin::error::Exit::ALL {
        assert!(run.stdout.contains(exit.meaning()), "{run:?}");
    }
    let mut cmd = admin_command();
    cmd.arg("--version");
    Run::of(cmd).assert_code(0);
    let mut cmd = admin_command();
    cmd.arg("frobnicate");
    Run::of(cmd).assert_code(2);
}
