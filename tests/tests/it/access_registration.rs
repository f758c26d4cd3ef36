//! Closed registration (docs/adr/0024-registration-and-operator-access.md) against the real
//! relay: `closed` refuses v1 and v2 while existing users keep logging in; `invite-only` takes a
//! single-use operator code or, for a friend, a System's open invite code, once; the user cap
//! holds, also against concurrent registrations.

use coffer_test_kit::V2Account;
use coffer_tests::Resp;
use coffer_tests::client::{Admin, Kind, V1Client};
use coffer_tests::relay::RelayProcess;
use reqwest::Method;
use serde_json::{Value, json};

/// `POST /api/v{version}/register` with `body`, and `X-Registration-Code` when given.
async fn register_raw(relay: &RelayProcess, version: u8, body: &Value, code: Option<&str>) -> Resp {
    let http = relay.http();
    let mut rb = http
        .request(Method::POST, &format!("/api/v{version}/register"))
        .json(body);
    if let Some(code) = code {
        rb = rb.header("X-Registration-Code", code);
    }
    http.send(rb).await
}

/// A fresh v1 app's registration with `code`; answers the response (and keeps the id on 201).
async fn v1_register(relay: &RelayProcess, client: &mut V1Client, code: Option<&str>) -> Resp {
    let resp = register_raw(relay, 1, &client.register_body(), code).await;
    if resp.status == 201 {
        client.set_user_id(resp.json()["user_id"].as_str().unwrap());
    }
    resp
}

async fn v2_register(relay: &RelayProcess, kind: Kind, code: Option<&str>) -> Resp {
    register_raw(
        relay,
        2,
        &V2Account::new(kind).register_body(relay.url()),
        code,
    )
    .await
}

/// A new operator code (`POST /api/v1/admin/registration-codes`).
async fn operator_code(relay: &RelayProcess, admin: &Admin) -> String {
    let rb = admin
        .req(Method::POST, "/api/v1/admin/registration-codes")
        .json(&json!({ "expires_in_hours": 2 }));
    let resp = relay.http().send(rb).await;
    let body = resp.expect_json(201);
    assert_eq!(body["mode"], "invite-only", "{body}");
    body["code"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_registration_refuses_v1_and_v2_and_keeps_existing_users() {
    let mut relay = RelayProcess::start().await;
    let mut system = V1Client::system(&relay, "early-sys").await;
    let http = relay.http();
    let mut api = &http;
    let mut early_v2 = V2Account::new(Kind::Friend).with_handle(Some("early-v2"));
    early_v2.register(&mut api).await.unwrap();

    relay.set_env("COFFER_REGISTRATION", Some("closed"));
    relay.restart().await;
    system.rebind(&relay);
    for kind in [Kind::System, Kind::Friend] {
        let mut fresh = V1Client::new(&relay, kind);
        let resp = v1_register(&relay, &mut fresh, None).await;
        resp.expect_error_message(
            403,
            "registration_closed",
            "Registration is closed on this relay",
        );
        // A code does not open a closed relay.
        v1_register(&relay, &mut fresh, Some("anything"))
            .await
            .expect_error(403, "registration_closed");
        v2_register(&relay, kind, None).await.expect_error_message(
            403,
            "registration_closed",
            "Registration is closed on this relay",
        );
    }
    // Refused before the body is read: even a malformed body gets the same answer.
    let http = relay.http();
    http.send(
        http.request(Method::POST, "/api/v1/register")
            .body("{not json"),
    )
    .await
    .expect_error(403, "registration_closed");
    // Existing users log in as before (v1 and v2).
    system.login().await;
    let http = relay.http();
    let mut api = &http;
    early_v2.login(&mut api).await.unwrap();
    let admin = Admin::new(&relay);
    let status = admin.get_ok("/api/v1/admin/registration-codes").await;
    assert_eq!(status["mode"], "closed");
    assert_eq!(status["users"], 2);
    // PLURALLOG_REGISTRATION is the v1 deployments' alias.
    relay.set_env("COFFER_REGISTRATION", None);
    relay.set_env("PLURALLOG_REGISTRATION", Some("closed"));
    relay.restart().await;
    v2_register(&relay, Kind::System, None)
        .await
        .expect_error(403, "registration_closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_only_takes_a_single_use_code() {
    let mut relay = RelayProcess::builder()
        .env("COFFER_REGISTRATION", "invite-only")
        .start()
        .await;
    let admin = Admin::new(&relay);
    // Without a code, or with an unknown one: refused.
    let mut system = V1Client::new(&relay, Kind::System).with_handle(Some("invited-sys"));
    let resp = v1_register(&relay, &mut system, None).await;
    let body = resp.expect_error(403, "registration_closed");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("X-Registration-Code"),
        "{body}"
    );
    v1_register(&relay, &mut system, Some("not-a-code"))
        .await
        .expect_error(403, "registration_closed");

    // An operator code: accepted once, then refused (v1 and v2 share the codes).
    let code = operator_code(&relay, &admin).await;
    v1_register(&relay, &mut system, Some(&code))
        .await
        .expect_json(201);
    system.login().await;
    let mut again = V1Client::new(&relay, Kind::System);
    let reuse = v1_register(&relay, &mut again, Some(&code)).await;
    let body = reuse.expect_error(403, "registration_closed");
    assert!(body["message"].as_str().unwrap().contains("used"), "{body}");
    v2_register(&relay, Kind::System, Some(&code))
        .await
        .expect_error(403, "registration_closed");
    let v2_code = operator_code(&relay, &admin).await;
    v2_register(&relay, Kind::System, Some(&v2_code))
        .await
        .expect_json(201);

    // A friend may use the System's open invite code, once; a system may not.
    let invite = system.invite().await;
    let mut friend = V1Client::new(&relay, Kind::Friend).with_handle(Some("invited-friend"));
    v2_register(&relay, Kind::System, Some(&invite))
        .await
        .expect_error(403, "registration_closed");
    v1_register(&relay, &mut friend, Some(&invite.to_lowercase()))
        .await
        .expect_json(201);
    friend.login().await;
    let mut second = V1Client::new(&relay, Kind::Friend);
    v1_register(&relay, &mut second, Some(&invite))
        .await
        .expect_error(403, "registration_closed");
    // ...and redeeming it afterwards works as always.
    let redeemed = friend.redeem(&invite).await;
    assert!(redeemed.status < 300, "{}", redeemed.describe());

    // The database holds only hashes of the codes.
    let status = admin.get_ok("/api/v1/admin/registration-codes").await;
    assert_eq!(
        (status["mode"].as_str(), status["open_codes"].as_u64()),
        (Some("invite-only"), Some(0))
    );
    relay.terminate().await;
    let conn = rusqlite::Connection::open(relay.database_path()).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM registration_codes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 3, "two operator codes and one invite code, used");
    drop(conn);
    for file in coffer_tests::relay::files_under(relay.data_dir()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for secret in [&code, &v2_code] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds a registration code",
                file.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_cap_holds_under_concurrent_registrations() {
    const CAP: u64 = 5;
    let relay = RelayProcess::builder()
        .env("COFFER_MAX_USERS", &CAP.to_string())
        .start()
        .await;
    // Up to the cap one by one: the N-th is accepted, the N+1-th refused.
    for i in 0..CAP - 2 {
        V1Client::system(&relay, &format!("capped-{i}")).await;
    }
    let mut v2 = V2Account::new(Kind::Friend);
    let http = relay.http();
    v2.register(&mut &http).await.unwrap();
    let mut last = V1Client::new(&relay, Kind::Friend);
    v1_register(&relay, &mut last, None).await.expect_json(201);
    let mut over = V1Client::new(&relay, Kind::System);
    v1_register(&relay, &mut over, None)
        .await
        .expect_error_message(
            403,
            "user_cap_reached",
            "This relay has reached its maximum number of users",
        );
    v2_register(&relay, Kind::System, None)
        .await
        .expect_error(403, "user_cap_reached");
    // Existing users are unaffected.
    last.login().await;

    // A second relay, empty, with 20 registrations at once (v1 and v2): exactly CAP succeed.
    let relay = RelayProcess::builder()
        .env("COFFER_MAX_USERS", &CAP.to_string())
        .start()
        .await;
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let body = if i % 2 == 0 {
            V1Client::new(&relay, Kind::System).register_body()
        } else {
            V2Account::new(Kind::Friend).register_body(relay.url())
        };
        let http = relay.http();
        let version = if i % 2 == 0 { 1 } else { 2 };
        tasks.push(tokio::spawn(async move {
            let rb = http
                .request(Method::POST, &format!("/api/v{version}/register"))
                .json(&body);
            http.send(rb).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let created = statuses.iter().filter(|s| **s == 201).count() as u64;
    let refused = statuses.iter().filter(|s| **s == 403).count() as u64;
    assert_eq!((created, refused), (CAP, 20 - CAP), "{statuses:?}");
    let status = Admin::new(&relay)
        .get_ok("/api/v1/admin/registration-codes")
        .await;
    assert_eq!(status["users"].as_u64(), Some(CAP));
    assert_eq!(status["max_users"].as_u64(), Some(CAP));
}
