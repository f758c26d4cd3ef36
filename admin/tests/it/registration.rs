//! `coffer-admin registration-code create|status` against the real relay in
//! `registration.mode = "invite-only"` (docs/adr/0024-registration-and-operator-access.md): the
//! code it prints registers one account, once.

use coffer_test_kit::{Kind, PinnedApi, V1Account};

use crate::support::{Relay, TOKEN};

#[test]
fn a_created_code_registers_one_account() {
    let work = tempfile::tempdir().unwrap();
    let relay = Relay::start(
        &work.path().join("data"),
        &[
            ("COFFER_REGISTRATION", "invite-only"),
            ("COFFER_MAX_USERS", "10"),
        ],
    );
    let created = relay.json(&["registration-code", "create", "--hours", "3"]);
    let code = created["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 22, "{created}");
    assert_eq!(created["mode"], "invite-only");
    assert!(
        created["expires_at"].as_str().unwrap().ends_with("+00:00"),
        "{created}"
    );
    let status = relay.json(&["registration-code", "status"]);
    assert_eq!(status["open_codes"], 1, "{status}");
    assert_eq!(status["max_users"], 10, "{status}");

    let register = |code: Option<&str>| {
        let mut api = PinnedApi::blocking(&relay.url, relay.pin.parse().unwrap());
        if let Some(code) = code {
            api = api.with_header("X-Registration-Code", code);
        }
        let body = V1Account::new(Kind::System).register_body();
        api.call_blocking("POST", "/api/v1/register", None, Some(&body))
            .unwrap()
    };
    let (status, body) = register(None);
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("registration_closed"))
    );
    let (status, body) = register(Some(&code));
    assert_eq!(status, 201, "{body}");
    let (status, body) = register(Some(&code));
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("registration_closed"))
    );

    // The human output: the code first, then how to use it; the status counts.
    let run = relay.admin(Some(TOKEN), ["registration-code", "create"]);
    run.assert_code(0);
    assert!(run.stdout.contains("X-Registration-Code"), "{run:?}");
    let run = relay.admin(Some(TOKEN), ["registration-code", "status"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("invite-only") && run.stdout.contains("1 (at most 10)"),
        "{run:?}"
    );
    // Without the token: refused like every admin command.
    assert_ne!(
        relay.admin(None, ["registration-code", "create"]).code,
        Some(0)
    );
}
