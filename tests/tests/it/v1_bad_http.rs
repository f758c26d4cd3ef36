//! The HTTP edge under hostile input: CORS and the protocol-version gate, rate limits and
//! trusted proxies, and the v1 setting names kept as aliases.

use coffer_tests::Resp;
use coffer_tests::client::{Admin, Kind, V1Client};
use coffer_tests::docs;
use coffer_tests::relay::RelayProcess;
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_and_protocol_gate() {
    let relay = RelayProcess::start().await;
    let sys = V1Client::system(&relay, "gate-sys").await;
    let http = relay.http();

    // CORS on every response, OPTIONS → 204 anywhere.
    let check_cors = |r: &Resp| {
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "{}",
            r.describe()
        );
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("Content-Type, Authorization, X-Protocol-Version, X-Feature-Set, If-None-Match"),
            "{}",
            r.describe()
        );
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            "{}",
            r.describe()
        );
    };
    check_cors(&sys.get("/api/v1/volumes").await);
    check_cors(&sys.get("/api/v1/nope").await);
    check_cors(
        &http
            .send(http.request(Method::GET, "/api/v1/volumes"))
            .await,
    );
    for path in [
        "/api/v1/volumes/meta",
        "/api/v1/register",
        "/api/v1/admin/stats",
        "/whatever",
    ] {
        let r = http
            .send(
                http.request(Method::OPTIONS, path)
                    .header("Origin", "https://app.example")
                    .header("Access-Control-Request-Method", "PUT")
                    .header("X-Protocol-Version", "0"),
            )
            .await;
        r.expect_status(204);
        check_cors(&r);
    }

    // X-Protocol-Version below the minimum → 426 on app routes; not on health or admin.
    let gate = "This server requires protocol version 1 or higher. Please update your app.";
    // A bare request: the template client would also send "X-Protocol-Version: 1".
    let bearer = format!("Bearer {}", sys.token().unwrap());
    let volumes = |v: &str| {
        http.request(Method::GET, "/api/v1/volumes")
            .header("Authorization", &bearer)
            .header("X-Protocol-Version", v)
    };
    let challenge = |v: &str| {
        http.request(Method::POST, "/api/v1/auth/challenge")
            .header("X-Protocol-Version", v)
            .body(json!({"user_id": sys.user_id()}).to_string())
    };
    for (v, below_the_minimum) in [
        ("0", true),
        ("-5", true),
        ("1.0", false),
        ("abc", false),
        ("", false),
        ("1", false),
    ] {
        let r = http.send(volumes(v)).await;
        if below_the_minimum {
            r.expect_error_message(426, "upgrade_required", gate);
            let r = http.send(challenge(v)).await;
            r.expect_error_message(426, "upgrade_required", gate);
        } else {
            r.expect_json(200);
        }
    }
    let r = http
        .send(
            http.request(Method::GET, "/api/v1/health")
                .header("X-Protocol-Version", "0"),
        )
        .await;
    r.expect_json(200);
    let r = http
        .send(
            http.request(Method::GET, "/api/v1/admin/stats")
                .header("X-Protocol-Version", "0")
                .header("X-Admin-Token", relay.admin_token()),
        )
        .await;
    r.expect_json(200);

    // A relay that requires protocol 2 turns the template away — and says so in health.
    let strict = RelayProcess::builder()
        .env("COFFER_MIN_PROTOCOL_VERSION", "2")
        .start()
        .await;
    let mut app = V1Client::new(&strict, Kind::System).with_handle(Some("old-app"));
    // The template's header (X-Protocol-Version: 1) is refused first, with the gate's message.
    app.register().await.expect_error_message(
        426,
        "upgrade_required",
        "This server requires protocol version 2 or higher. Please update your app.",
    );
    let http2 = strict.http();
    // Without the header, the body's protocol_version is checked, with the register message.
    http2
        .send(
            http2
                .request(Method::POST, "/api/v1/register")
                .header("Content-Type", "application/json")
                .body(app.register_body().to_string()),
        )
        .await
        .expect_error_message(
            426,
            "upgrade_required",
            "This server requires protocol version 2+",
        );
    let mut body = app.register_body();
    body["protocol_version"] = json!(2);
    http2
        .send(
            http2
                .request(Method::POST, "/api/v1/register")
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
        .await
        .expect_json(201);
    let r = http2
        .send(
            http2
                .request(Method::GET, "/api/v1/discover?handle=xx")
                .header("X-Protocol-Version", "1"),
        )
        .await;
    r.expect_error_message(
        426,
        "upgrade_required",
        "This server requires protocol version 2 or higher. Please update your app.",
    );
    let h = http2
        .send(http2.request(Method::GET, "/api/v1/health"))
        .await;
    assert_eq!(h.expect_json(200)["min_protocol_version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_proxies() {
    // auth: 3 per minute per IP, challenge and token share the bucket.
    let relay = RelayProcess::builder()
        .env("COFFER_RATE_AUTH", "3")
        .env("COFFER_RATE_REGISTER", "3")
        .start()
        .await;
    let admin = Admin::new(&relay);
    let mut users = Vec::new();
    for i in 0..3 {
        let mut c = V1Client::new(&relay, Kind::System).with_handle(Some(&format!("rl-{i}")));
        c.register_ok().await;
        users.push(c);
    }
    let mut fourth = V1Client::new(&relay, Kind::System).with_handle(Some("rl-3"));
    let r = fourth.register().await;
    check_429(&r);
    assert_eq!(
        admin.user_count().await,
        3,
        "the refused registration was stored"
    );

    let a = &users[0];
    let nonce = a.challenge_nonce().await;
    a.challenge().await.expect_json(200);
    a.token_request(a.user_id(), &nonce, &a.sign_login_b64(&nonce))
        .await
        .expect_json(200);
    check_429(&a.challenge().await);
    check_429(
        &a.token_request(a.user_id(), &nonce, &a.sign_login_b64(&nonce))
            .await,
    );
    // X-Forwarded-For from an untrusted peer does not buy a fresh bucket.
    for ip in ["10.0.0.1", "203.0.113.9", "10.0.0.2, 10.0.0.3"] {
        let r = a
            .send(
                a.req(Method::POST, "/api/v1/auth/challenge")
                    .header("X-Forwarded-For", ip)
                    .header("X-Real-IP", ip)
                    .body(json!({"user_id": a.user_id()}).to_string()),
            )
            .await;
        check_429(&r);
    }
    // Maintenance does not reset the limiter (the reference's did, observed §4).
    admin
        .call(Method::POST, "/api/v1/admin/maintenance")
        .await
        .expect_json(200);
    admin
        .call(Method::POST, "/api/v1/_maintenance")
        .await
        .expect_json(200);
    check_429(&a.challenge().await);
    // Health is not rate-limited by the auth bucket.
    let http = relay.http();
    http.send(http.request(Method::GET, "/api/v1/health"))
        .await
        .expect_json(200);

    // With 127.0.0.1 as a trusted proxy, X-Forwarded-For names the client.
    let proxied = RelayProcess::builder()
        .env("COFFER_RATE_AUTH", "3")
        .env("COFFER_TRUSTED_PROXIES", "127.0.0.1")
        .start()
        .await;
    let mut p = V1Client::new(&proxied, Kind::Friend).with_handle(Some("behind-proxy"));
    p.register_ok().await;
    let challenge_from = |ip: &'static str| {
        p.req(Method::POST, "/api/v1/auth/challenge")
            .header("X-Forwarded-For", ip)
            .body(json!({"user_id": p.user_id()}).to_string())
    };
    for _ in 0..3 {
        p.send(challenge_from("198.51.100.1"))
            .await
            .expect_json(200);
    }
    check_429(&p.send(challenge_from("198.51.100.1")).await);
    p.send(challenge_from("198.51.100.2"))
        .await
        .expect_json(200);
    p.challenge().await.expect_json(200);

    // Per-user upload limit and per-user discovery limit.
    let uploads = RelayProcess::builder()
        .env("COFFER_RATE_UPLOAD", "2")
        .env("COFFER_RATE_DISCOVERY", "2")
        .start()
        .await;
    let s1 = V1Client::system(&uploads, "up-1").await;
    let s2 = V1Client::system(&uploads, "up-2").await;
    s1.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;
    s1.upload_ok(VolumeName::Meta, 2, &docs::meta()).await;
    check_429(&s1.upload(VolumeName::Meta, 3, &docs::meta()).await.0);
    s2.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;
    let listed = s1.list_volumes().await;
    assert_eq!(listed[0]["version"], 2, "the refused upload was stored");
    s1.discover("up").await.expect_json(200);
    s1.discover("up").await.expect_json(200);
    check_429(&s1.discover("up").await);
    s2.discover("up").await.expect_json(200);
    // Other routes of the same user are not in those buckets.
    s1.get("/api/v1/volumes").await.expect_json(200);

    // general: per user; admin: per IP.
    let general = RelayProcess::builder()
        .env("COFFER_RATE_GENERAL", "3")
        .env("COFFER_RATE_ADMIN", "2")
        .start()
        .await;
    let g1 = V1Client::system(&general, "gen-1").await;
    let g2 = V1Client::system(&general, "gen-2").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(g1.get("/api/v1/volumes").await);
    }
    assert!(
        statuses[..3].iter().all(|r| r.status == 200),
        "{:?}",
        statuses[0].describe()
    );
    check_429(&statuses[3]);
    g2.get("/api/v1/volumes").await.expect_json(200);
    // DELETE /users/me is not rate-limited (v1.md §1.1): the user can always leave.
    g1.delete_me().await.expect_status(204);
    let ga = Admin::new(&general);
    ga.call(Method::GET, "/api/v1/admin/stats")
        .await
        .expect_json(200);
    ga.call(Method::GET, "/api/v1/admin/users")
        .await
        .expect_json(200);
    check_429(&ga.call(Method::GET, "/api/v1/admin/stats").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_setting_names_are_aliases() {
    // PLURALLOG_* alone takes effect …
    let relay = RelayProcess::builder()
        .without("COFFER_RATE_AUTH")
        .without("COFFER_ADMIN_TOKEN")
        .env("PLURALLOG_RATE_AUTH", "2")
        .env("PLURALLOG_ADMIN_TOKEN", "v1-admin-token")
        .env("PLURALLOG_MIN_PROTOCOL_VERSION", "1")
        .env("PLURALLOG_LATEST_CLIENT_VERSION", "9.9.9")
        .start()
        .await;
    let mut c = V1Client::new(&relay, Kind::Friend).with_handle(Some("alias"));
    c.register_ok().await;
    c.challenge().await.expect_json(200);
    c.challenge().await.expect_json(200);
    let r = c.challenge().await;
    check_429(&r);
    // The upgrade hint rides on every response, errors included.
    for resp in [&r, &c.get("/api/v1/nope").await] {
        assert_eq!(
            resp.header("x-upgrade-available"),
            Some("A newer client version (9.9.9) is available."),
            "{}",
            resp.describe()
        );
    }
    assert_eq!(Admin::new(&relay).user_count().await, 1);
    Admin::with_token(&relay, "wrong")
        .call(Method::GET, "/api/v1/admin/stats")
        .await
        .expect_error(401, "unauthorized");

    // … and COFFER_* wins over it.
    let relay = RelayProcess::builder()
        .env("PLURALLOG_RATE_AUTH", "2")
        .env("COFFER_RATE_AUTH", "100")
        .env("PLURALLOG_MIN_PROTOCOL_VERSION", "3")
        .env("COFFER_MIN_PROTOCOL_VERSION", "1")
        .start()
        .await;
    let mut c = V1Client::new(&relay, Kind::Friend).with_handle(Some("alias2"));
    c.register_ok().await;
    for _ in 0..4 {
        c.challenge().await.expect_json(200);
    }
    let http = relay.http();
    let h = http.send(http.request(Method::GET, "/api/v1/health")).await;
    assert_eq!(h.expect_json(200)["min_protocol_version"], 1);
    assert!(h.header("x-upgrade-available").is_none());
}

#[track_caller]
fn check_429(r: &Resp) {
    r.expect_error_message(
        429,
        "rate_limited",
        "Too many requests. Please wait and try again.",
    );
    let retry = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {}", r.describe()));
    let secs: u64 = retry
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {retry:?} is not integer seconds"));
    assert!((1..=60).contains(&secs), "Retry-After {secs} out of range");
}
