//! A relay at home (issue 12), over the real binary: Ctrl-C stops it gracefully like SIGTERM
//! (a request whose body is still arriving gets its whole answer), one relay per data directory
//! (a second one exits with an error naming the first), and — inside a network namespace the
//! test makes — a relay listening on 0.0.0.0 accepts v2 logins signed for its LAN address and
//! prints a pairing string a phone can dial.

use std::process::Stdio;
use std::time::Duration;

use coffer_certs::RelayPairing;
use coffer_tests::abuse::{LOCALHOST, RawConn};
use coffer_tests::client::{Kind, V1Client};
use coffer_tests::relay::{RelayProcess, relay_binary};
use coffer_tests::v2::{config_for, friend, pair, plaintext, system, vol};
use tokio::io::{AsyncBufReadExt as _, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_mid_body_still_answers_the_request_and_exits_zero() {
    let mut relay = RelayProcess::start().await;
    let app = V1Client::new(&relay, Kind::System).with_handle(Some("slow-sender"));
    let body = serde_json::to_vec(&app.register_body()).unwrap();
    let mut conn = RawConn::open(&relay, LOCALHOST).await;
    let head = format!(
        "POST /api/v1/register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        conn.host(),
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    conn.write(head.as_bytes()).await.unwrap();
    conn.write(first).await.unwrap();
    // The relay has the head and half the body when Ctrl-C arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.signal("INT");
    tokio::time::sleep(Duration::from_millis(700)).await;
    conn.write(rest)
        .await
        .expect("the relay still reads the body after SIGINT");
    let resp = conn
        .response(Duration::from_secs(20))
        .await
        .expect("a complete answer after SIGINT");
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
    let answer: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert!(answer["user_id"].is_string(), "{answer}");

    // The relay is already stopping: it ignores this SIGTERM (only a second SIGINT forces), and
    // a relay that already exited is a zombie until reaped, so the signal still lands.
    let status = relay.stop_with("TERM").await;
    assert!(
        status.success(),
        "relay exit after SIGINT: {status}\n{}",
        relay.diagnostics()
    );
    let log = relay.stderr_log();
    assert!(log.contains("SIGINT: stopping gracefully"), "{log}");
    assert!(!log.contains("forcing the stop"), "{log}");
}

/// An impatient second Ctrl-C while a request holds the graceful stop ends the relay at once,
/// with 130 (128 + SIGINT) as a shell reports an interrupted job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigint_ends_a_graceful_stop_at_once() {
    let mut relay = RelayProcess::start().await;
    let mut conn = RawConn::open(&relay, LOCALHOST).await;
    let head = format!(
        "POST /api/v1/register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{",
        conn.host()
    );
    conn.write(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.signal("INT");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        relay.is_running(),
        "the body still in flight holds the graceful stop"
    );
    relay.signal("INT");
    // A relay that already exited is a zombie until reaped: this SIGTERM still lands.
    let status = relay.stop_with("TERM").await;
    assert_eq!(status.code(), Some(130), "{}", relay.diagnostics());
    assert!(relay.stderr_log().contains("SIGINT again: stopping now"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_relay_on_the_same_data_directory_exits_with_a_clear_error() {
    let relay = RelayProcess::start().await;
    let second = tokio::process::Command::new(relay_binary())
        .env_clear()
        .arg("--data-dir")
        .arg(relay.data_dir())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .stdin(std::process::Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("the second relay exits by itself")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "second relay: {:?}\n{stderr}",
        out.status
    );
    let expected = format!(
        "data directory {} is in use by another coffer-relay (pid {})",
        relay.data_dir().display(),
        relay.pid()
    );
    assert!(
        stderr.contains(&expected),
        "expected {expected:?} in:\n{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "no banner from the refused relay"
    );
    // The first relay keeps serving.
    relay
        .http()
        .send(relay.http().request(reqwest::Method::GET, "/api/v1/health"))
        .await
        .expect_status(200);
}

/// Set in the re-executed test process that runs inside the namespace.
const IN_NAMESPACE: &str = "COFFER_TEST_IN_NETNS";
/// The namespace's "LAN" address, on its own loopback (this kernel has no dummy interfaces).
/// Nothing leaves the namespace: it has no other interface.
const LAN_ADDRESS: &str = "192.168.77.10";
const NAMESPACE_TEST: &str =
    "a_wildcard_relay_is_reached_at_its_lan_address_in_a_network_namespace";

/// A relay on `0.0.0.0` in a fresh network namespace whose only "LAN" address is
/// 192.168.77.10: the banner lists `https://192.168.77.10:PORT` (never 0.0.0.0), its pairing
/// string names that address, and a v2 system and friend dialling it with the pin from the
/// pairing string register, publish, pair and fetch (the login origin is the LAN address).
///
/// Ignored by a plain `cargo test` because it needs root (`unshare -n`); `.ci/run` runs it with
/// `--ignored`. Asked for explicitly where no namespace can be made, it fails saying why: a
/// test that was asked for and could not run must not count as passed (in a plain run it is
/// counted as ignored).
#[test]
#[ignore = "needs root for a network namespace; .ci/run runs it with --ignored"]
fn a_wildcard_relay_is_reached_at_its_lan_address_in_a_network_namespace() {
    if std::env::var_os(IN_NAMESPACE).is_some() {
        inside_the_namespace();
        return;
    }
    match std::process::Command::new("unshare")
        .args(["--net", "true"])
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            panic!(
                "NOT RUN: cannot create a network namespace (unshare --net: {}; {}); this test \
                 needs root and util-linux's unshare",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Err(err) => {
            panic!("NOT RUN: cannot create a network namespace (no unshare: {err})");
        }
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(&exe)
        .args([
            &namespace_test_path(),
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(IN_NAMESPACE, "1")
        .env("COFFER_RELAY_BIN", relay_binary())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("---- inside the namespace ----\n{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "the namespace run failed: {}",
        out.status
    );
    // The inner harness really ran the test (not a filter that matched nothing).
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// The test's name as the harness lists it: its module path without the crate, so the filter
/// still matches when this file becomes a module of a larger test binary.
fn namespace_test_path() -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::{NAMESPACE_TEST}"),
        None => NAMESPACE_TEST.to_owned(),
    }
}

fn run(cmd: &str, args: &[&str]) {
    let status = std::process::Command::new(cmd).args(args).status().unwrap();
    assert!(status.success(), "{cmd} {args:?}: {status}");
}

fn inside_the_namespace() {
    run("ip", &["link", "set", "lo", "up"]);
    run(
        "ip",
        &["addr", "add", &format!("{LAN_ADDRESS}/32"), "dev", "lo"],
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(wildcard_relay_story());
}

async fn wildcard_relay_story() {
    let work = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(relay_binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("COFFER_") || key.starts_with("PLURALLOG_") {
            cmd.env_remove(key);
        }
    }
    let mut relay = cmd
        .arg("--data-dir")
        .arg(work.path().join("data"))
        .args(["--listen", "0.0.0.0:0"])
        .env("COFFER_RATE_AUTH", "100000")
        .env("COFFER_RATE_REGISTER", "100000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(relay.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("a banner within 60 s")
            .unwrap()
            .expect("the relay printed its whole banner");
        println!("banner: {line}");
        let done = line.trim_start().starts_with("data:");
        banner.push(line);
        if done {
            break;
        }
    }
    let field = |name: &str| -> Vec<String> {
        banner
            .iter()
            .filter_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
            .collect()
    };
    assert!(
        !banner.iter().any(|l| l.contains("0.0.0.0")),
        "the banner shows the wildcard: {banner:#?}"
    );
    let url = &field("url:")[0];
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let port = url.rsplit(':').next().unwrap();
    let lan = format!("https://{LAN_ADDRESS}:{port}");
    assert!(field("also:").contains(&lan), "{banner:#?}");
    let pairing: RelayPairing = field("pair:")[0]
        .parse()
        .expect("the banner's pairing string");
    assert_eq!(
        pairing.origin(),
        lan,
        "the pairing string names the LAN address"
    );

    // A phone that scanned the pairing string: dials the LAN address, pins the key.
    let config = config_for(pairing.origin(), pairing.pin());
    let (alice, _) = system(&config).await;
    let (bob, _) = friend(&config).await;
    let notes = vol("org.example.notes");
    alice
        .publish(&notes, b"{\"text\":\"from the LAN\"}")
        .await
        .unwrap();
    pair(&alice, &bob, std::slice::from_ref(&notes)).await;
    let (_, _, text) = plaintext(bob.fetch(alice.user_id(), &notes).await);
    assert_eq!(text, b"{\"text\":\"from the LAN\"}");

    // An address added after start-up reaches the listener but is not one of the relay's
    // origins (the set is fixed at start). A registration signed for it is refused (the
    // registration names the relay it is meant for), and so is a login signed for it by an
    // account that registered at the LAN address.
    run("ip", &["addr", "add", "192.168.77.11/32", "dev", "lo"]);
    let elsewhere = config_for(&format!("https://192.168.77.11:{port}"), pairing.pin());
    let err = coffer_client_core::client::SystemClient::register(
        elsewhere.clone(),
        coffer_tests::v2::memory_store(),
        None,
    )
    .await
    .expect_err("a registration for an origin the relay did not start with");
    assert!(
        format!("{err} {err:?}").contains("origin"),
        "registration refused for its origin, not something else: {err} / {err:?}"
    );
    let (_, alice_store) = system(&config).await;
    // Opening logs in at once (it refreshes the account's state), so the refusal comes there.
    let err = coffer_client_core::client::SystemClient::open(elsewhere, alice_store)
        .await
        .expect_err("a login for an origin the relay did not start with");
    assert!(
        format!("{err} {err:?}").contains("origin"),
        "login refused for its origin, not something else: {err} / {err:?}"
    );

    let _ = relay.start_kill();
    let _ = relay.wait().await;
}

/// One household's pairing, counted: a system phone and a friend phone (behind one NAT, so one
/// address to the relay) register, the system publishes, they pair, the friend reads. The
/// counts are what docs/adr/0003-rate-limits.md argues the defaults from; the relay runs with
/// its own default limits, and none of it may be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_household_pairing_fits_the_default_limits() {
    let mut builder = RelayProcess::builder();
    for var in [
        "COFFER_RATE_REGISTER",
        "COFFER_RATE_AUTH",
        "COFFER_RATE_UPLOAD",
        "COFFER_RATE_GENERAL",
        "COFFER_RATE_DISCOVERY",
    ] {
        builder = builder.without(var);
    }
    let relay = builder.start().await;
    let config = config_for(relay.url(), relay.pin());
    let (alice, _) = system(&config).await;
    let (bob, _) = friend(&config).await;
    let notes = vol("org.example.notes");
    alice.publish(&notes, b"{\"text\":\"hi\"}").await.unwrap();
    pair(&alice, &bob, std::slice::from_ref(&notes)).await;
    let (_, _, text) = plaintext(bob.fetch(alice.user_id(), &notes).await);
    assert_eq!(text, b"{\"text\":\"hi\"}");

    let log = relay.stderr_log();
    let count = |route: &str| {
        log.lines()
            .filter(|l| l.contains(&format!("route={route} ")))
            .count()
    };
    let register = count("/api/v2/register");
    let auth = count("/api/v2/auth/challenge") + count("/api/v2/auth/token");
    println!("one pairing from one address: {register} registrations, {auth} auth requests");
    assert!(!log.contains("status=429"), "{log}");
    // Two phones: one registration and one login (challenge + token) each.
    assert_eq!(register, 2);
    assert_eq!(auth, 4);
}

/// A 429 names the limit that was hit and the setting that raises it (header), while v1's body
/// stays word for word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_names_the_limit_and_the_setting_that_raises_it() {
    let relay = RelayProcess::builder()
        .env("COFFER_RATE_AUTH", "2")
        .start()
        .await;
    let http = relay.http();
    let challenge = || {
        http.request(reqwest::Method::POST, "/api/v1/auth/challenge")
            .json(&serde_json::json!({ "user_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301" }))
    };
    for _ in 0..2 {
        let resp = http.send(challenge()).await;
        assert_ne!(resp.status, 429, "{}", resp.describe());
    }
    let resp = http.send(challenge()).await;
    resp.expect_error_message(
        429,
        "rate_limited",
        "Too many requests. Please wait and try again.",
    );
    assert_eq!(
        resp.header("coffer-rate-limit"),
        Some("auth; limit=2/min; per=address; setting=rate.auth; env=COFFER_RATE_AUTH"),
        "{}",
        resp.describe()
    );
    assert!(resp.header("retry-after").is_some());
}
