//! Floods from one address are refused cheaply: login challenges and registrations past their
//! burst get 429 with `Retry-After` and store nothing, while another address keeps its own
//! budget; bodies over the limit get 413 from the declared length alone (the body is never
//! sent) or after at most the limit of a chunked body.
//!
//! What a refusal costs the relay is measured by `coffer-abuse-cost` (docs/abuse.md), not here.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use coffer_tests::abuse::{LOCALHOST, OTHER_HOST, RawConn, metric, reqwest_from};
use coffer_tests::http::raw_exchange;
use coffer_tests::{Admin, Kind, RelayProcess, V1Client};
use reqwest::Method;
use serde_json::{Value, json};

/// Requests of a flood and the connections they come over.
const FLOOD: usize = 160;
const FLOOD_CONNECTIONS: usize = 8;

/// Sends `FLOOD` POSTs of `body_for(i)` to `path` over `FLOOD_CONNECTIONS` concurrent
/// connections; returns the answers and how long the flood took.
async fn flood(
    relay: &RelayProcess,
    path: &'static str,
    body_for: impl Fn(usize) -> Value,
) -> (Vec<(u16, Option<String>, Value)>, Duration) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    let per = FLOOD / FLOOD_CONNECTIONS;
    for k in 0..FLOOD_CONNECTIONS {
        let http = relay.http();
        let bodies: Vec<Value> = (0..per).map(|j| body_for(k * per + j)).collect();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for body in bodies {
                let r = http
                    .send(
                        http.request(Method::POST, path)
                            .header("Content-Type", "application/json")
                            .header("X-Protocol-Version", "1")
                            .body(body.to_string()),
                    )
                    .await;
                let retry = r.header("retry-after").map(str::to_owned);
                let json = if r.status == 429 {
                    r.expect_error(429, "rate_limited").clone()
                } else {
                    r.json().clone()
                };
                out.push((r.status, retry, json));
            }
            out
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.extend(t.await.expect("flood task"));
    }
    (answers, started.elapsed())
}

/// Answers by status.
fn by_status(answers: &[(u16, Option<String>, Value)]) -> BTreeMap<u16, usize> {
    let mut m = BTreeMap::new();
    for (status, _, _) in answers {
        *m.entry(*status).or_insert(0) += 1;
    }
    m
}

/// How many requests a bucket of `per_minute` lets through in `elapsed`: the burst plus the
/// tokens refilled meanwhile (so a slow machine cannot make the check fail).
fn allowed(per_minute: u32, elapsed: Duration) -> usize {
    let refill = elapsed.as_secs_f64() * f64::from(per_minute) / 60.0;
    per_minute as usize + refill.floor() as usize
}

/// Every 429 names a wait of at least a second and at most one token's refill time.
fn check_retry_after(answers: &[(u16, Option<String>, Value)], per_minute: u32) {
    let max = 60u64.div_ceil(u64::from(per_minute));
    for (status, retry, _) in answers.iter().filter(|a| a.0 == 429) {
        let secs: u64 = retry
            .as_deref()
            .unwrap_or_else(|| panic!("429 without Retry-After ({status})"))
            .parse()
            .expect("Retry-After in whole seconds");
        assert!(
            (1..=max).contains(&secs),
            "Retry-After {secs} outside 1..={max}"
        );
    }
}

async fn metrics_text(admin: &Admin) -> String {
    let r = admin.call(Method::GET, "/metrics").await;
    r.expect_status(200);
    String::from_utf8(r.body.clone()).expect("metrics are text")
}

async fn pending_challenges(admin: &Admin) -> f64 {
    let text = metrics_text(admin).await;
    metric(&text, "coffer_pending_challenges")
        .unwrap_or_else(|| panic!("no coffer_pending_challenges in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_challenge_flood_is_refused_and_stores_nothing() {
    const RATE: u32 = 5;
    let relay = RelayProcess::builder()
        .env("COFFER_RATE_AUTH", &RATE.to_string())
        .start()
        .await;
    let admin = Admin::new(&relay);
    let mut user = V1Client::new(&relay, Kind::System).with_handle(Some("flooded"));
    user.register_ok().await;
    let user_id = user.user_id().to_owned();
    assert_eq!(pending_challenges(&admin).await, 0.0);

    let (answers, took) = flood(
        &relay,
        "/api/v1/auth/challenge",
        |_| json!({ "user_id": user_id }),
    )
    .await;
    let counts = by_status(&answers);
    let ok = counts.get(&200).copied().unwrap_or(0);
    eprintln!("challenge flood: {counts:?} in {took:?}");
    assert!(
        ok >= RATE as usize && ok <= allowed(RATE, took),
        "{ok} challenges issued by a bucket of {RATE}/min in {took:?}: {counts:?}"
    );
    assert_eq!(
        counts.get(&429).copied().unwrap_or(0),
        FLOOD - ok,
        "every other request is refused with 429: {counts:?}"
    );
    check_retry_after(&answers, RATE);
    // Only the issued challenges were stored.
    assert_eq!(pending_challenges(&admin).await, ok as f64);

    // v2 logins draw from the same bucket.
    let http = relay.http();
    let r = http
        .send(
            http.request(Method::POST, "/api/v2/auth/challenge")
                .header("Content-Type", "application/json")
                .body(json!({ "user_id": user.user_id() }).to_string()),
        )
        .await;
    r.expect_error(429, "rate_limited");

    // Another address has its own bucket.
    let other = reqwest_from(relay.pin(), OTHER_HOST);
    let r = other
        .post(format!("{}/api/v1/auth/challenge", relay.url()))
        .header("Content-Type", "application/json")
        .header("X-Protocol-Version", "1")
        .body(json!({ "user_id": user.user_id() }).to_string())
        .send()
        .await
        .expect("challenge from another address");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(pending_challenges(&admin).await, ok as f64 + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registration_flood_is_refused_and_stores_nothing() {
    const RATE: u32 = 4;
    let relay = RelayProcess::builder()
        .env("COFFER_RATE_REGISTER", &RATE.to_string())
        .start()
        .await;
    let admin = Admin::new(&relay);
    let bodies: Vec<Value> = (0..FLOOD)
        .map(|_| V1Client::new(&relay, Kind::Friend).register_body())
        .collect();
    let (answers, took) = flood(&relay, "/api/v1/register", |i| bodies[i].clone()).await;
    let counts = by_status(&answers);
    let created = counts.get(&201).copied().unwrap_or(0);
    eprintln!("registration flood: {counts:?} in {took:?}");
    assert!(
        created >= RATE as usize && created <= allowed(RATE, took),
        "{created} registrations let through by a bucket of {RATE}/min in {took:?}: {counts:?}"
    );
    assert_eq!(counts.get(&429).copied().unwrap_or(0), FLOOD - created);
    check_retry_after(&answers, RATE);
    assert_eq!(admin.user_count().await, created as i64);
    let metrics = metrics_text(&admin).await;
    eprintln!(
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("429"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Another address registers.
    let other = reqwest_from(relay.pin(), OTHER_HOST);
    let r = other
        .post(format!("{}/api/v1/register", relay.url()))
        .header("Content-Type", "application/json")
        .header("X-Protocol-Version", "1")
        .body(
            V1Client::new(&relay, Kind::System)
                .register_body()
                .to_string(),
        )
        .send()
        .await
        .expect("registration from another address");
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(admin.user_count().await, created as i64 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_bodies_are_refused_without_reading_them() {
    let relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);
    let sys = V1Client::system(&relay, "big-sender").await;
    let token = sys.token().expect("logged in").to_owned();
    let users = admin.user_count().await;
    let host = relay.url().trim_start_matches("https://").to_owned();

    // A declared 10 MiB (+1) and not one byte of body: the answer comes from the head alone.
    // (An upload body may be a 10 MiB volume in base64, so uploads are sent 20 MiB.)
    let declared = 10 * 1024 * 1024 + 1;
    for (method, path, auth, declared) in [
        ("POST", "/api/v1/register", false, declared),
        ("POST", "/api/v1/auth/challenge", false, declared),
        ("POST", "/api/v1/auth/token", false, declared),
        ("POST", "/api/v2/register", false, declared),
        ("POST", "/api/v2/auth/token", false, declared),
        ("POST", "/api/v1/sharing/invite", true, declared),
        ("PATCH", "/api/v1/users/me", true, declared),
        ("PUT", "/api/v1/volumes/meta", true, 2 * declared),
    ] {
        let auth = if auth {
            format!("Authorization: Bearer {token}\r\n")
        } else {
            String::new()
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             X-Protocol-Version: 1\r\n{auth}Content-Length: {declared}\r\n\r\n"
        );
        raw_exchange(relay.url(), relay.pin(), &head, Vec::new())
            .await
            .into_resp(&format!(
                "{method} {path} (Content-Length {declared}, no body)"
            ))
            .expect_error(413, "payload_too_large");
    }

    // The relay then closes such a connection instead of waiting for the 10 MiB.
    let mut c = RawConn::open(&relay, LOCALHOST).await;
    let head = format!(
        "POST /api/v1/register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {declared}\r\n\r\n"
    );
    c.write(head.as_bytes()).await.expect("write head");
    let r = c.response(Duration::from_secs(30)).await.expect("413");
    assert_eq!(r.status, 413);
    assert!(c.wait_closed(Duration::from_secs(45)).await.is_closed());

    // Chunked (no length to check): refused once the 64 KiB limit is passed, without the end
    // of the body ever being sent.
    let limit = 64 * 1024;
    let mut chunked = String::new();
    let piece = "x".repeat(4096);
    while chunked.len() <= limit + 16 * 1024 {
        chunked.push_str(&format!("1000\r\n{piece}\r\n"));
    }
    let sent_payload = chunked.len() / (4096 + 8) * 4096;
    assert!(sent_payload > limit && sent_payload < 2 * limit);
    let head = format!(
        "POST /api/v1/register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         X-Protocol-Version: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    raw_exchange(relay.url(), relay.pin(), &head, chunked.into_bytes())
        .await
        .into_resp("POST /api/v1/register (chunked, over 64 KiB, unterminated)")
        .expect_error(413, "payload_too_large");

    // Nothing was stored by any of it.
    assert_eq!(admin.user_count().await, users);
    assert_eq!(admin.stats().await["total_volumes"], 0);
}
