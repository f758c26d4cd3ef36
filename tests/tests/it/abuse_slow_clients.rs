//! Slow clients cannot hold the relay: request heads trickled byte by byte (slowloris, on a
//! fresh and on a kept-alive connection) and bodies trickled after quick headers are cut off
//! by the relay's timeouts, and the connection slots they held serve others again.
//!
//! Each relay gets a handful of connection slots, so the attackers take all of them: a normal
//! client is then served only because the relay closes the slow ones. What is asserted is the
//! outcome (closed, answered, served), never how fast; the times are printed.

use std::time::{Duration, Instant};

use coffer_tests::abuse::{Ending, LOCALHOST, RawConn};
use coffer_tests::{Kind, RelayProcess, V1Client};
use reqwest::Method;

/// How long any one wait may last before the test calls the relay stuck. Far above every
/// configured timeout, so only a connection the relay never closes reaches it.
const STUCK: Duration = Duration::from_secs(45);

/// A relay with `slots` connections in all and short timeouts.
async fn relay_with_slots(slots: usize, extra: &[(&str, &str)]) -> RelayProcess {
    let mut builder = RelayProcess::builder()
        .env("COFFER_WORKERS", "2")
        .env("COFFER_MAX_CONNECTIONS", &slots.to_string())
        .env("COFFER_MAX_CONNECTIONS_PER_IP", "0")
        .env("COFFER_REQUEST_HEAD_TIMEOUT", "2")
        .env("COFFER_KEEP_ALIVE", "2")
        .env("COFFER_DISCONNECT_TIMEOUT", "1");
    for (k, v) in extra {
        builder = builder.env(k, v);
    }
    builder.start().await
}

/// A normal client on a new connection: `GET /api/v1/health` must succeed (waiting, if need
/// be, for a slot). Returns how long it took.
async fn normal_client_is_served(relay: &RelayProcess) -> Duration {
    let started = Instant::now();
    let http = relay.http();
    http.send(http.request(Method::GET, "/api/v1/health"))
        .await
        .expect_json(200);
    started.elapsed()
}

/// Asserts every ending is a close, and prints when they happened.
fn all_closed(what: &str, endings: &[Ending]) {
    for (i, ending) in endings.iter().enumerate() {
        assert!(
            ending.is_closed(),
            "{what}: connection {i} was still open after {STUCK:?} of trickling: {endings:?}"
        );
    }
    eprintln!("{what}: {endings:?}");
}

/// Trickles a request head on each of `conns` (250 ms per byte, never finished) while every
/// slot is taken, checks that a normal client is still served (the relay frees slots), and that
/// every trickling connection was closed.
async fn slow_heads_are_cut_off(relay: &RelayProcess, conns: Vec<RawConn>, label: &str) {
    let trickle = vec![b'a'; 400];
    let attackers: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let trickle = trickle.clone();
            tokio::spawn(async move {
                let head = format!(
                    "GET /api/v1/health HTTP/1.1\r\nHost: {}\r\nX-Slow: ",
                    c.host()
                );
                c.trickle(head.as_bytes(), &trickle, Duration::from_millis(250), STUCK)
                    .await
            })
        })
        .collect();
    // Every slot is taken: this client waits until the relay frees one.
    let waited = normal_client_is_served(relay).await;
    let mut endings = Vec::new();
    for a in attackers {
        endings.push(a.await.expect("attacker task"));
    }
    all_closed(label, &endings);
    eprintln!("{label}: a normal client was served after {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slowloris_heads_are_cut_off_and_the_slots_serve_others() {
    const SLOTS: usize = 6;
    let relay = relay_with_slots(SLOTS, &[]).await;
    // 1. The first request's head, trickled: 250 ms per byte, never finished.
    let mut conns = Vec::new();
    for _ in 0..SLOTS {
        conns.push(RawConn::open(&relay, LOCALHOST).await);
    }
    slow_heads_are_cut_off(&relay, conns, "first-request slowloris").await;

    // 2. The same on kept-alive connections: one quick request, then the next head trickled.
    //    (actix's own head timeout covers only the first request of a connection.)
    let mut conns = Vec::new();
    for _ in 0..SLOTS {
        let mut c = RawConn::open(&relay, LOCALHOST).await;
        assert_eq!(c.health().await.expect("first request"), 200);
        conns.push(c);
    }
    slow_heads_are_cut_off(&relay, conns, "kept-alive slowloris").await;

    // The relay is healthy afterwards.
    normal_client_is_served(&relay).await;
    assert!(relay.stderr_log().contains("listening"));
}

/// A registration head with a body of `length` bytes (or chunked).
fn register_head(host: &str, length: Option<usize>) -> String {
    let framing = match length {
        Some(n) => format!("Content-Length: {n}"),
        None => "Transfer-Encoding: chunked".to_owned(),
    };
    format!(
        "POST /api/v1/register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         X-Protocol-Version: 1\r\n{framing}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trickled_bodies_get_408_and_their_slots_serve_others() {
    const SLOTS: usize = 4;
    // A body may take 2 s plus 1 s per 100 bytes; keep-alive is long, so every close below is
    // the body rule's doing.
    let relay = relay_with_slots(
        SLOTS,
        &[
            ("COFFER_TRANSFER_TIMEOUT", "2"),
            ("COFFER_MIN_TRANSFER_RATE", "100"),
            ("COFFER_KEEP_ALIVE", "30"),
        ],
    )
    .await;

    // The 408 itself: a JSON error, then the connection is closed, for a declared length and
    // for a chunked body (which actix would otherwise drain for as long as the client sends).
    let mut declared = RawConn::open(&relay, LOCALHOST).await;
    let head = register_head(declared.host(), Some(300));
    declared
        .write(format!("{head}{{").as_bytes())
        .await
        .expect("write");
    let resp = declared.response(STUCK).await.expect("an answer");
    resp.into_resp("POST /api/v1/register (1 of 300 bytes)")
        .expect_error(408, "request_timeout");
    assert!(declared.wait_closed(STUCK).await.is_closed());

    let mut chunked = RawConn::open(&relay, LOCALHOST).await;
    let head = register_head(chunked.host(), None);
    chunked
        .write(format!("{head}1\r\n{{\r\n").as_bytes())
        .await
        .expect("write");
    let resp = chunked.response(STUCK).await.expect("an answer");
    resp.into_resp("POST /api/v1/register (chunked, 1 byte)")
        .expect_error(408, "request_timeout");
    // Keeps sending chunks after the 408: the relay closes anyway.
    let more = b"1\r\n \r\n".repeat(200);
    let ending = chunked
        .trickle(b"", &more, Duration::from_millis(100), STUCK)
        .await;
    assert!(ending.is_closed(), "chunked body after its 408: {ending:?}");

    // Every slot trickling a body at 4 bytes/s (two declared, two chunked).
    let mut attackers = Vec::new();
    for i in 0..SLOTS {
        let mut c = RawConn::open(&relay, LOCALHOST).await;
        attackers.push(tokio::spawn(async move {
            let (head, body) = if i % 2 == 0 {
                (register_head(c.host(), Some(400)), vec![b' '; 400])
            } else {
                (register_head(c.host(), None), b"1\r\n \r\n".repeat(100))
            };
            c.trickle(head.as_bytes(), &body, Duration::from_millis(250), STUCK)
                .await
        }));
    }
    // A normal client gets a slot once the relay has cut them off, and registers.
    let started = Instant::now();
    let mut user = V1Client::new(&relay, Kind::System).with_handle(Some("patient"));
    user.register_ok().await;
    let waited = started.elapsed();
    let mut endings = Vec::new();
    for a in attackers {
        endings.push(a.await.expect("attacker task"));
    }
    all_closed("trickled bodies", &endings);
    for ending in &endings {
        if let Ending::Closed {
            status: Some(status),
            ..
        } = ending
        {
            assert_eq!(*status, 408, "{endings:?}");
        }
    }
    eprintln!("trickled bodies: a normal client registered after {waited:?}");

    // A slow body that keeps the minimum rate is fine, even past the 2 s base: 50 bytes every
    // 400 ms (125 bytes/s) for about 3 s.
    let body = serde_json::to_vec(
        &V1Client::new(&relay, Kind::Friend)
            .with_handle(Some("slow-but-steady"))
            .register_body(),
    )
    .expect("JSON");
    let pieces: Vec<&[u8]> = body.chunks(50).collect();
    assert!(
        pieces.len() >= 6,
        "the steady body must take longer than the 2 s base to prove the rate rule"
    );
    let mut steady = RawConn::open(&relay, LOCALHOST).await;
    let head = register_head(steady.host(), Some(body.len()));
    steady.write(head.as_bytes()).await.expect("write head");
    let started = Instant::now();
    for piece in pieces {
        tokio::time::sleep(Duration::from_millis(400)).await;
        steady.write(piece).await.expect("the relay keeps reading");
    }
    let took = started.elapsed();
    let resp = steady.response(STUCK).await.expect("an answer");
    let resp = resp.into_resp("POST /api/v1/register (steady, slow)");
    resp.expect_json(201);
    eprintln!("a {} byte body sent over {took:?} was accepted", body.len());

    // Refused bodies stored nothing: only the two real registrations happened. (Asked only
    // now: an admin connection kept alive earlier would have held one of the few slots.)
    let admin = coffer_tests::Admin::new(&relay);
    let stats = admin.call(Method::GET, "/api/v1/admin/stats").await;
    assert_eq!(stats.expect_json(200)["system_users"], 1);
    // A second request on that kept-alive connection once the first answer's transfer
    // allowance (2 s + 1 s per 100 bytes) is long over: it is a new request, not a late one.
    let allowance = 2 + stats.body.len() as u64 / 100;
    tokio::time::sleep(Duration::from_secs(allowance + 1)).await;
    assert_eq!(admin.user_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_reading_an_answer_too_slowly_is_disconnected() {
    // A response may take 2 s plus 1 s per 4 MB: plenty on loopback, far too little for a
    // client that stops reading.
    let relay = RelayProcess::builder()
        .env("COFFER_TRANSFER_TIMEOUT", "2")
        .env("COFFER_MIN_TRANSFER_RATE", "4000000")
        .env("COFFER_KEEP_ALIVE", "60")
        .start()
        .await;
    let sys = V1Client::system(&relay, "big-volume").await;
    let sealed = sys.seal_bytes(
        coffer_wire::v1::VolumeName::Journal,
        1,
        &vec![b'j'; 8 * 1024 * 1024],
    );
    sys.put_sealed(&sealed).await.expect_json(200);
    let token = sys.token().expect("logged in").to_owned();
    let request = |host: &str| {
        format!(
            "GET /api/v1/volumes/journal/download HTTP/1.1\r\nHost: {host}\r\n\
             X-Protocol-Version: 1\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
    };

    // Read at full speed: the whole answer (about 11 MB of JSON) arrives.
    let mut fast = RawConn::open(&relay, LOCALHOST).await;
    fast.write(request(fast.host()).as_bytes())
        .await
        .expect("write");
    let answer = fast.response(STUCK).await.expect("the whole download");
    assert_eq!(answer.status, 200);
    let full = answer.body.len();
    assert!(full > 10_000_000, "{full}");

    // Read the first bytes, then stop: the kernel's buffers cannot take the rest, so the
    // response stays in transit past its allowance and the relay closes the connection.
    let stream = coffer_tests::abuse::tls_small_window(&relay, 4096)
        .await
        .expect("TLS connection");
    let mut slow = RawConn::from_stream(stream, &relay);
    slow.write(request(slow.host()).as_bytes())
        .await
        .expect("write");
    let start = slow.read_some(4096, Duration::from_secs(30)).await;
    assert!(
        String::from_utf8_lossy(&start).starts_with("HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&start[..start.len().min(100)])
    );
    // The allowance is about 5 s from the handler's answer; the stall lasts twice that.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (rest, ended) = slow.read_to_end(STUCK).await;
    assert!(
        ended,
        "the relay kept a stalled download open for {STUCK:?}"
    );
    assert!(
        start.len() + rest < full,
        "the stalled client still got the whole answer ({} of {full} bytes)",
        start.len() + rest
    );
    eprintln!(
        "stalled reader got {} of {full} bytes before the relay closed",
        start.len() + rest
    );

    // The relay serves the same download to the next client.
    let mut again = RawConn::open(&relay, LOCALHOST).await;
    again
        .write(request(again.host()).as_bytes())
        .await
        .expect("write");
    assert_eq!(
        again.response(STUCK).await.expect("download").body.len(),
        full
    );
}
