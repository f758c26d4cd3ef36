//! Operating a v1 relay: TLS, the pin and restarts, and no secret on disk or in the logs.

use coffer_tests::client::{V1Client, default_permissions, open_volume, upload_body_with_header};
use coffer_tests::docs;
use coffer_tests::relay::{RelayProcess, files_under};
use coffer_wire::b64;
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_pin_and_restart() {
    let mut relay = RelayProcess::start().await;
    let mut sys = V1Client::system(&relay, "tls-sys").await;
    sys.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;

    // A client pinned to another key refuses the relay.
    let wrong_pin = format!("sha256/{}", b64::encode(&[7u8; 32]))
        .parse()
        .unwrap();
    let wrong = coffer_tests::Http::new(relay.url(), wrong_pin);
    let err = coffer_tests::Http::try_send(wrong.request(Method::GET, "/api/v1/health")).await;
    assert!(err.is_err(), "a wrong pin must fail the handshake");

    // TLS 1.2 only → no handshake (the relay serves TLS 1.3 only).
    let tls12 = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(coffer_certs::PinnedServerVerifier::new(relay.pin()))
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls12)
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/api/v1/health", relay.url()))
        .send()
        .await;
    assert!(r.is_err(), "TLS 1.2 handshake succeeded: {r:?}");

    // Plain HTTP is not served.
    let plain = reqwest::Client::builder()
        .use_preconfigured_tls(coffer_certs::client_config_pinned(relay.pin()))
        .build()
        .unwrap();
    let url = relay.url().replacen("https://", "http://", 1);
    if let Ok(r) = plain.get(format!("{url}/api/v1/health")).send().await {
        assert!(
            !r.status().is_success(),
            "plain HTTP got {} from the relay",
            r.status()
        );
    }

    // SIGTERM → clean exit; restart on the same data dir keeps the pin and the data.
    let status = relay.terminate().await;
    assert!(status.success(), "relay exited with {status} after SIGTERM");
    relay.restart().await;
    sys.rebind(&relay);
    sys.login().await;
    let listed = sys.list_volumes().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["version"], 1);
    let own = sys.download_own("meta", None).await;
    open_volume(
        own.expect_json(200),
        "meta",
        &sys.vek,
        &sys.signing_key_b64(),
    );

    // SIGINT is graceful too.
    let status = relay.stop_with("INT").await;
    assert!(status.success(), "relay exited with {status} after SIGINT");
}

/// What a curious operator can read: the data directory at rest holds no usable session token
/// (stored hashed, W22; design.md §1 "thief of a relay DB backup") and no admin token; the
/// relay's log (at debug level) holds no token, wrapped key, signature, ciphertext or client
/// IP address (design.md §8, STYLE "Errors").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_and_logs_hold_no_secrets() {
    let mut relay = RelayProcess::builder()
        .env("COFFER_LOG", "debug")
        .env("COFFER_TRUSTED_PROXIES", "127.0.0.1")
        .start()
        .await;
    let client_ip = "198.51.100.77";
    let mut sys = V1Client::system(&relay, "quiet-sys").await;
    let mut friend = V1Client::friend(&relay, "quiet-friend").await;
    let mut secrets: Vec<(&str, Vec<u8>)> = Vec::new();
    let used = sys
        .send(
            sys.req(Method::POST, "/api/v1/auth/challenge")
                .header("X-Forwarded-For", client_ip)
                .body(json!({"user_id": sys.user_id()}).to_string()),
        )
        .await;
    let used_nonce = used.expect_json(200)["nonce"].as_str().unwrap().to_owned();
    let second = sys
        .token_request(sys.user_id(), &used_nonce, &sys.sign_login_b64(&used_nonce))
        .await;
    let second = second.expect_json(200)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sealed = sys
        .upload_ok(VolumeName::Members, 1, &docs::members())
        .await;
    friend.redeem(&sys.invite().await).await.expect_json(201);
    let entry = sys.requests_list(None).await.remove(0);
    sys.accept(&entry, &default_permissions())
        .await
        .expect_json(200);
    let active = friend.requests_list(Some("active")).await;
    let wrapped = active[0]["encrypted_vek_blob"].as_str().unwrap().to_owned();
    friend
        .shared_get(sys.user_id(), "members", None)
        .await
        .expect_json(200);
    // A refused login with a wrong signature, and an upload with a forged signature.
    let n = friend.challenge_nonce().await;
    let bad_sig = b64::encode(&friend.sign_raw(b"nope"));
    friend
        .token_request(friend.user_id(), &n, &bad_sig)
        .await
        .expect_error(403, "forbidden");
    let s2 = sys.seal(VolumeName::Members, 2, &docs::members());
    let forged = b64::encode(&friend.sign_raw(b"forged"));
    sys.put_volume_raw(
        "members",
        upload_body_with_header(&s2.header.canonical_json(), &b64::encode(&s2.blob), &forged),
    )
    .await
    .expect_error(403, "forbidden");

    for (what, token) in [
        ("system token", sys.token().unwrap().to_owned()),
        ("second system token", second),
        ("friend token", friend.token().unwrap().to_owned()),
    ] {
        if let Ok(raw) =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &token)
        {
            secrets.push((what, raw));
        }
        secrets.push((what, token.into_bytes()));
    }
    secrets.push(("admin token", relay.admin_token().as_bytes().to_vec()));
    // The relay must keep these on disk (it serves them), but has no reason to log them.
    let mut log_only: Vec<(&str, Vec<u8>)> = vec![
        ("wrapped VEK", wrapped.clone().into_bytes()),
        ("refused signature", bad_sig.into_bytes()),
        ("forged signature", forged.into_bytes()),
        (
            "upload signature",
            b64::encode(&sealed.signature).into_bytes(),
        ),
        (
            "ciphertext",
            b64::encode(&sealed.blob).as_bytes()[100..160].to_vec(),
        ),
        ("client IP", client_ip.as_bytes().to_vec()),
    ];
    log_only.extend(secrets.iter().cloned());

    // The log.
    let log = relay.stderr_log();
    assert!(
        log.len() > 200,
        "the relay logged (almost) nothing at debug level"
    );
    for (what, needle) in &log_only {
        assert!(
            !contains(log.as_bytes(), needle),
            "the relay log contains the {what}"
        );
    }
    // At rest, also after a crash (WAL not checkpointed).
    relay.kill().await;
    for path in files_under(relay.data_dir()) {
        let bytes = std::fs::read(&path).unwrap();
        for (what, needle) in &secrets {
            assert!(
                !contains(&bytes, needle),
                "{} contains the {what}",
                path.display()
            );
        }
    }
    // Tokens survive as hashes only: after a restart, the same tokens still work or are
    // uniformly refused — never readable.
    relay.restart().await;
    sys.rebind(&relay);
    friend.rebind(&relay);
    sys.login().await;
    friend.login().await;
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
