#![allow(clippy::unwrap_used)]
//! A relay at home (issue 12), over the real binary: Ctrl-C stops it gracefully like SIGTERM
//! (a request whose body is still arriving gets its whole answer), one relay per data directory
//! (a second one exits with an error naming the first), and — inside a network namespace the
//! test makes — a relay listening on 0.0.0.0 accepts v2 logins signed for its LAN address and
//! prints a pairing string a phone can dial.

use std::time::Duration;

use coffer_tests::abuse::{LOCALHOST, RawConn};
use coffer_tests::client::{Kind, V1Client};
use coffer_tests::relay::{RelayProcess, relay_binary};

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
