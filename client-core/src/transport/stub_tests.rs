//! [`RelayHttp`] against a tiny in-process HTTPS stub (rustls, one thread, one scripted answer
//! per connection): pin checks, session renewal, conditional GETs, limits and error mapping as
//! they happen over a real TLS connection. A real relay comes with the end-to-end tests.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_certs::SpkiPin;
use coffer_wire::b64::{self, PublicKey32, Signature64};
use coffer_wire::v2::VolumeName;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/tests/data");
/// Pin of `ec-sec1.crt`, the stub's certificate.
const STUB_PIN: &str = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=";
/// Pin of `rsa-pkcs1.crt`: a valid pin of some other key.
const OTHER_PIN: &str = "sha256/G8GBPaBpmF7AJ/WiG+hKLR0iTiJeMihFAYSlDaL0GJM=";

/// One scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Send `Content-Length` (otherwise the body ends when the connection closes).
    content_length: bool,
    /// Wait this long before answering.
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: serde_json::to_vec(body).expect("json"),
            content_length: true,
            delay: Duration::ZERO,
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            content_length: true,
            delay: Duration::ZERO,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// What the stub received.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

struct Stub {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Stub {
    /// Serves `replies` in order, one per connection (then 500s), on a detached thread.
    fn start(replies: Vec<Reply>) -> Stub {
        let material = coffer_certs::load_pem(
            &Path::new(DATA).join("ec-sec1.crt"),
            &Path::new(DATA).join("ec-sec1.key"),
        )
        .expect("test certificate");
        let config = Arc::new(coffer_certs::server_config(&material).expect("server config"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        std::thread::spawn(move || {
            let mut next = 0;
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let conn = rustls::ServerConnection::new(Arc::clone(&config)).expect("conn");
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // A handshake the client aborts (pin mismatch) ends here.
                let Some(request) = read_request(&mut tls) else {
                    continue;
                };
                recorded.lock().expect("lock").push(request);
                let reply = replies
                    .get(next)
                    .cloned()
                    .unwrap_or_else(|| Reply::empty(500));
                next += 1;
                std::thread::sleep(reply.delay);
                let _ = write_reply(&mut tls, &reply);
            }
        });
        Stub { addr, requests }
    }

    fn origin(&self) -> RelayOrigin {
        RelayOrigin::parse(&format!("https://127.0.0.1:{}", self.addr.port())).expect("origin")
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

fn read_request(
    tls: &mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = tls.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap_or(0));
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = tls.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

fn write_reply(
    tls: &mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    reply: &Reply,
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {} Stub\r\nConnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if reply.content_length {
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    out.push_str("\r\n");
    tls.write_all(out.as_bytes())?;
    tls.write_all(&reply.body)?;
    tls.conn.send_close_notify();
    tls.flush()?;
    tls.sock.shutdown(std::net::Shutdown::Write)
}

/// An authenticator that hands out `tok-1`, `tok-2`, … without any network traffic.
#[derive(Default)]
struct CountingAuth {
    logins: AtomicUsize,
}

impl Authenticator for CountingAuth {
    fn login<'a>(&'a self, _http: &'a RelayHttp) -> BoxFuture<'a, Result<Session, TransportError>> {
        Box::pin(async move {
            let n = self.logins.fetch_add(1, Ordering::SeqCst) + 1;
            let token = SessionToken::new(Zeroizing::new(format!("tok-{n}")))?;
            Ok(Session::new(token, None))
        })
    }
}

fn config() -> RelayHttpConfig {
    RelayHttpConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        proxy_from_env: false,
        ..RelayHttpConfig::default()
    }
}

fn pinned(stub: &Stub, auth: &Arc<CountingAuth>) -> RelayHttp {
    pinned_with(stub, auth, config())
}

fn pinned_with(stub: &Stub, auth: &Arc<CountingAuth>, config: RelayHttpConfig) -> RelayHttp {
    let pin: SpkiPin = STUB_PIN.parse().expect("pin");
    RelayHttp::new(stub.origin(), &Trust::Pinned(pin), config)
        .expect("client")
        .with_authenticator(Arc::clone(auth) as Arc<dyn Authenticator>)
}

fn user_id() -> UserId {
    "6f1c2a3b-4d5e-4f60-8172-839405a6b7c8"
        .parse()
        .expect("uuid")
}

fn user_json() -> Value {
    json!({
        "user_id": user_id().to_string(),
        "handle": "alice",
        "client_type": "system",
        "public_signing_key": b64::encode(&[1; 32]),
        "public_exchange_key": b64::encode(&[2; 32]),
        "key_binding_signature": b64::encode(&[3; 64]),
    })
}

fn volumes_json() -> Value {
    json!({"volumes": [{
        "volume": "meta", "epoch": 1, "version": 3,
        "header": b64::encode(&[9; 110]), "signature": b64::encode(&[4; 64]),
    }]})
}

#[tokio::test]
async fn pinned_call_sends_the_token_and_parses_the_answer() {
    let stub = Stub::start(vec![Reply::json(200, &user_json())]);
    let auth = Arc::new(CountingAuth::default());
    let relay = pinned(&stub, &auth);
    let user = relay.user_by_id(user_id()).await.expect("user");
    assert_eq!(user.public_signing_key.as_bytes(), &[1; 32]);
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/api/v2/users/6f1c2a3b-4d5e-4f60-8172-839405a6b7c8")
    );
    assert_eq!(r.header("authorization"), Some("Bearer tok-1"));
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("if-none-match"), None);
    assert_eq!(auth.logins.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn pin_mismatch_is_recognised() {
    let stub = Stub::start(vec![Reply::json(200, &user_json())]);
    let pin: SpkiPin = OTHER_PIN.parse().expect("pin");
    let relay = RelayHttp::new(stub.origin(), &Trust::Pinned(pin), config()).expect("client");
    let err = relay
        .challenge(&ChallengeRequest { user_id: user_id() })
        .await
        .expect_err("wrong pin");
    assert!(
        matches!(
            err,
            TransportError::Tls {
                pin_mismatch: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "tls_pin_mismatch");
    // The message names both keys, so the user can compare them with the relay's banner.
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "expected {OTHER_PIN}, the relay presented {STUB_PIN}"
        )),
        "{message}"
    );
    assert!(
        stub.requests().is_empty(),
        "nothing was sent to the impostor"
    );
}

#[tokio::test]
async fn webpki_failure_is_not_a_pin_mismatch() {
    let stub = Stub::start(vec![Reply::json(200, &user_json())]);
    let roots = std::fs::read(Path::new(DATA).join("rsa-pkcs1.crt")).expect("read");
    let trust = Trust::webpki_from_pem(&roots).expect("roots");
    let relay = RelayHttp::new(stub.origin(), &trust, config()).expect("client");
    let err = relay
        .challenge(&ChallengeRequest { user_id: user_id() })
        .await
        .expect_err("untrusted issuer");
    let TransportError::Tls {
        pin_mismatch,
        detail,
    } = &err
    else {
        panic!("expected a TLS error, got {err:?}");
    };
    assert!(!pin_mismatch);
    assert!(detail.contains("certificate"), "{detail}");
}

#[tokio::test]
async fn refused_connection_is_a_network_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let origin = RelayOrigin::parse(&format!("https://127.0.0.1:{port}")).expect("origin");
    let relay = RelayHttp::new(
        origin,
        &Trust::Pinned(STUB_PIN.parse().expect("pin")),
        config(),
    )
    .expect("client");
    let err = relay
        .challenge(&ChallengeRequest { user_id: user_id() })
        .await
        .expect_err("nothing listens");
    let TransportError::Network { kind, detail } = &err else {
        panic!("a network error expected: {err:?}");
    };
    assert_eq!(*kind, NetworkErrorKind::Refused);
    assert!(detail.contains("refused"), "{detail}");
    assert!(err.to_string().contains("is the relay running"), "{err}");
}

#[tokio::test]
async fn slow_relay_times_out() {
    let mut slow = Reply::json(200, &volumes_json());
    slow.delay = Duration::from_secs(3);
    let stub = Stub::start(vec![slow]);
    let auth = Arc::new(CountingAuth::default());
    let mut config = config();
    config.request_timeout = Duration::from_millis(500);
    let err = pinned_with(&stub, &auth, config)
        .list_volumes()
        .await
        .expect_err("too slow");
    assert!(
        matches!(
            err,
            TransportError::Network {
                kind: NetworkErrorKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn expired_session_logs_in_once_and_retries() {
    let stub = Stub::start(vec![
        Reply::json(200, &volumes_json()),
        Reply::json(401, &json!({"error": "unauthorized", "message": "expired"})),
        Reply::json(200, &volumes_json()),
    ]);
    let auth = Arc::new(CountingAuth::default());
    let relay = pinned(&stub, &auth);
    relay.list_volumes().await.expect("first call");
    let volumes = relay.list_volumes().await.expect("after a fresh login");
    assert_eq!(volumes[0].version, 3);
    assert_eq!(auth.logins.load(Ordering::SeqCst), 2);
    let tokens: Vec<_> = stub
        .requests()
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        tokens,
        [
            Some("Bearer tok-1".to_owned()),
            Some("Bearer tok-1".to_owned()),
            Some("Bearer tok-2".to_owned())
        ]
    );
}

#[tokio::test]
async fn second_refusal_is_unauthorized() {
    let stub = Stub::start(vec![
        Reply::empty(401),
        Reply::empty(401),
        Reply::empty(200),
    ]);
    let auth = Arc::new(CountingAuth::default());
    let relay = pinned(&stub, &auth);
    let err = relay.list_pairings().await.expect_err("refused twice");
    assert_eq!(err, TransportError::Unauthorized);
    assert_eq!(auth.logins.load(Ordering::SeqCst), 2);
    assert_eq!(stub.requests().len(), 2, "exactly one retry");
}

#[tokio::test]
async fn without_authenticator_nothing_is_sent() {
    let stub = Stub::start(vec![Reply::json(200, &volumes_json())]);
    let relay = RelayHttp::new(
        stub.origin(),
        &Trust::Pinned(STUB_PIN.parse().expect("pin")),
        config(),
    )
    .expect("client");
    assert_eq!(
        relay.list_volumes().await.expect_err("no way to log in"),
        TransportError::NoAuthenticator
    );
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn conditional_get() {
    let stub = Stub::start(vec![
        Reply::empty(304),
        Reply::json(
            200,
            &json!({
                "header": b64::encode(&[1; 110]), "signature": b64::encode(&[2; 64]),
                "payload": b64::encode(&[3; 1052]), "wrapped_key": b64::encode(&[4; 60]),
            }),
        ),
        Reply::empty(304),
    ]);
    let auth = Arc::new(CountingAuth::default());
    let relay = pinned(&stub, &auth);
    let meta = VolumeName::new("meta").expect("name");
    let owner = user_id();
    assert_eq!(
        relay
            .shared_volume(owner, &meta, Some(5))
            .await
            .expect("304"),
        Fetched::NotModified
    );
    let Fetched::Modified(volume) = relay.shared_volume(owner, &meta, None).await.expect("200")
    else {
        panic!("expected a volume");
    };
    assert_eq!(volume.payload.len(), 1052);
    // A 304 nobody asked for is the relay's fault.
    assert!(matches!(
        relay.list_volumes().await,
        Err(TransportError::Protocol(_))
    ));
    let requests = stub.requests();
    assert_eq!(
        requests[0].path,
        "/api/v2/shared/6f1c2a3b-4d5e-4f60-8172-839405a6b7c8/volumes/meta"
    );
    assert_eq!(requests[0].header("if-none-match"), Some("5"));
    assert_eq!(requests[1].header("if-none-match"), None);
}

#[tokio::test]
async fn answers_above_the_limit_are_refused() {
    let big = json!({"volumes": [], "padding": "x".repeat(4000)});
    let mut streamed = Reply::json(200, &big);
    streamed.content_length = false;
    let stub = Stub::start(vec![
        Reply::json(200, &big),
        streamed,
        Reply::json(200, &volumes_json()),
    ]);
    let auth = Arc::new(CountingAuth::default());
    let mut config = config();
    config.max_response_bytes = 1024;
    let relay = pinned_with(&stub, &auth, config);
    for what in ["declared length", "undeclared length"] {
        let err = relay.list_volumes().await.expect_err(what);
        assert!(
            matches!(err, TransportError::Protocol(m) if m.contains("larger")),
            "{what}: {err:?}"
        );
    }
    assert_eq!(relay.list_volumes().await.expect("small answer").len(), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let stub = Stub::start(vec![
        Reply::empty(302).header("Location", "https://127.0.0.1:1/api/v2/volumes"),
        Reply::json(200, &volumes_json()),
    ]);
    let auth = Arc::new(CountingAuth::default());
    let err = pinned(&stub, &auth)
        .list_volumes()
        .await
        .expect_err("redirect");
    assert!(matches!(err, TransportError::Protocol(_)), "{err:?}");
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn relay_errors_map_through_one_place() {
    let stub = Stub::start(vec![
        Reply::json(
            409,
            &json!({"error": "conflict", "message": "stale", "current_version": 9, "current_epoch": 2}),
        ),
        Reply::json(429, &json!({"error": "rate_limited"})).header("Retry-After", "5"),
        Reply::json(
            403,
            &json!({"error": "forbidden", "message": "Invalid volume signature"}),
        ),
        Reply {
            headers: vec![("Content-Type", "text/html".into())],
            body: b"<html>oops</html>".to_vec(),
            ..Reply::empty(502)
        },
        Reply::json(200, &json!({"volumes": [{"volume": "meta"}]})),
    ]);
    let auth = Arc::new(CountingAuth::default());
    let relay = pinned(&stub, &auth);
    let meta = VolumeName::new("meta").expect("name");
    let volume = SignedVolume {
        header: vec![1; 110],
        signature: Signature64::from_bytes([2; 64]),
        payload: vec![3; 1052],
    };
    assert_eq!(
        relay.put_volume(&meta, &volume).await,
        Err(TransportError::Conflict {
            current_version: Some(9),
            current_epoch: Some(2)
        })
    );
    assert_eq!(
        relay.put_volume(&meta, &volume).await,
        Err(TransportError::RateLimited {
            retry_after: Duration::from_secs(5)
        })
    );
    assert_eq!(
        relay.put_volume(&meta, &volume).await,
        Err(TransportError::Forbidden {
            message: "Invalid volume signature".into()
        })
    );
    assert_eq!(
        relay.list_volumes().await,
        Err(TransportError::Server { status: 502 })
    );
    assert!(matches!(
        relay.list_volumes().await,
        Err(TransportError::Protocol(m)) if m.contains("GET /volumes")
    ));
    // The upload went out as the v2 JSON shape.
    let put = &stub.requests()[0];
    assert_eq!(
        (put.method.as_str(), put.path.as_str()),
        ("PUT", "/api/v2/volumes/meta")
    );
    assert_eq!(put.header("content-type"), Some("application/json"));
    assert_eq!(put.json()["payload"], json!(b64::encode(&[3; 1052])));
}

/// Signs with a fixed signature and records what it was asked to sign.
#[derive(Default)]
struct FakeSigner {
    seen: Mutex<Vec<(String, UserId, [u8; 32])>>,
}

impl LoginSigner for FakeSigner {
    fn sign_login(
        &self,
        origin: &RelayOrigin,
        user_id: &UserId,
        nonce: &[u8; 32],
    ) -> Option<Signature64> {
        self.seen
            .lock()
            .expect("lock")
            .push((origin.to_string(), *user_id, *nonce));
        Some(Signature64::from_bytes([7; 64]))
    }
}

#[tokio::test]
async fn signed_login_runs_challenge_and_token() {
    let stub = Stub::start(vec![
        Reply::json(
            200,
            &json!({"nonce": b64::encode(&[5; 32]), "expires_at": "2026-03-27T16:57:46+00:00"}),
        ),
        Reply::json(
            200,
            &json!({"token": "s3cr3t-token", "expires_at": "2026-03-27T17:57:46+00:00"}),
        ),
        Reply::json(
            201,
            &json!({"code": "ABCDEFGH2345", "expires_at": 1_774_900_000}),
        ),
    ]);
    let signer = FakeSigner::default();
    let pin: SpkiPin = STUB_PIN.parse().expect("pin");
    let relay = RelayHttp::new(stub.origin(), &Trust::Pinned(pin), config())
        .expect("client")
        .with_authenticator(Arc::new(SignedLogin::new(user_id(), signer)));
    let invite = relay.create_invite().await.expect("invite after login");
    assert_eq!(invite.code.as_str(), "ABCDEFGH2345");

    let requests = stub.requests();
    assert_eq!(requests[0].path, "/api/v2/auth/challenge");
    assert_eq!(
        requests[0].json(),
        json!({"user_id": user_id().to_string()})
    );
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(requests[1].path, "/api/v2/auth/token");
    assert_eq!(
        requests[1].json(),
        json!({
            "user_id": user_id().to_string(),
            "nonce": b64::encode(&[5; 32]),
            "origin": stub.origin().to_string(),
            "signature": b64::encode(&[7; 64]),
        })
    );
    assert_eq!(requests[2].path, "/api/v2/invites");
    assert_eq!(
        requests[2].header("authorization"),
        Some("Bearer s3cr3t-token")
    );
    assert_eq!(requests[2].json(), json!({}));
}

#[tokio::test]
async fn lookups_must_answer_the_question_asked() {
    let mut other = user_json();
    other["user_id"] = json!("00000000-0000-4000-8000-000000000009");
    let mut renamed = user_json();
    renamed["handle"] = json!("mallory");
    let stub = Stub::start(vec![
        Reply::json(200, &other),
        Reply::json(200, &renamed),
        Reply::json(200, &user_json()),
    ]);
    let auth = Arc::new(CountingAuth::default());
    let relay = pinned(&stub, &auth);
    assert!(matches!(
        relay.user_by_id(user_id()).await,
        Err(TransportError::Protocol(_))
    ));
    let alice = Handle::new("ALICE").expect("handle");
    assert!(matches!(
        relay.user_by_handle(&alice).await,
        Err(TransportError::Protocol(_))
    ));
    let user = relay
        .user_by_handle(&alice)
        .await
        .expect("case-insensitive match");
    assert_eq!(user.user_id, user_id());
    assert_eq!(stub.requests()[2].path, "/api/v2/users/by-handle/ALICE");
}

#[tokio::test]
async fn every_endpoint_uses_its_v2_path() {
    let owner = user_id();
    let meta = VolumeName::new("meta").expect("name");
    let grant = GrantEnvelope {
        grant: vec![1; 100],
        signature: Signature64::from_bytes([2; 64]),
        wrapped_keys: Vec::new(),
    };
    let empty = Reply::json(200, &json!({}));
    let stub = Stub::start(vec![
        Reply::json(201, &json!({"user_id": owner.to_string()})),
        Reply::json(
            201,
            &json!({"pairing_id": owner.to_string(), "system_user_id": owner.to_string()}),
        ),
        Reply::json(200, &json!({"pairings": []})),
        Reply::empty(204),
        empty.clone(),
        Reply::json(200, &serde_json::to_value(&grant).expect("json")),
        Reply::json(200, &json!({"volumes": []})),
        Reply::empty(304),
    ]);
    let auth = Arc::new(CountingAuth::default());
    let relay = pinned(&stub, &auth);
    let registered = relay
        .register(&RegisterRequest {
            client_type: ClientType::Friend,
            handle: Some(Handle::new("bob").expect("handle")),
            public_signing_key: PublicKey32::from_bytes([1; 32]),
            public_exchange_key: PublicKey32::from_bytes([2; 32]),
            key_binding_signature: Signature64::from_bytes([3; 64]),
            origin: "https://relay.example.org".into(),
            registration_signature: Signature64::from_bytes([4; 64]),
        })
        .await
        .expect("register");
    assert_eq!(registered.user_id, owner);
    relay
        .redeem_invite(&RedeemRequest {
            code: InviteCode::new("ABCDEFGH2345").expect("code"),
            proof: [8; 32],
        })
        .await
        .expect("redeem");
    assert!(relay.list_pairings().await.expect("pairings").is_empty());
    relay
        .delete_pairing(PairingId::from_bytes([0x11; 16]))
        .await
        .expect("delete");
    relay.put_grant(owner, &grant).await.expect("grant");
    assert_eq!(
        relay.shared_grant(owner).await.expect("shared grant"),
        grant
    );
    assert!(
        relay
            .shared_volumes(owner)
            .await
            .expect("shared list")
            .is_empty()
    );
    assert_eq!(
        relay.get_volume(&meta, Some(3)).await.expect("own volume"),
        Fetched::NotModified
    );
    let seen: Vec<(String, String)> = stub
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    let o = owner.to_string();
    let expected = [
        ("POST", "/api/v2/register".to_owned()),
        ("POST", "/api/v2/invites/redeem".to_owned()),
        ("GET", "/api/v2/pairings".to_owned()),
        (
            "DELETE",
            "/api/v2/pairings/11111111-1111-1111-1111-111111111111".to_owned(),
        ),
        ("PUT", format!("/api/v2/grants/{o}")),
        ("GET", format!("/api/v2/shared/{o}/grant")),
        ("GET", format!("/api/v2/shared/{o}/volumes")),
        ("GET", "/api/v2/volumes/meta".to_owned()),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p))
        .collect();
    assert_eq!(seen, expected);
    let register = &stub.requests()[0];
    assert_eq!(
        register.header("authorization"),
        None,
        "register is unauthenticated"
    );
    assert_eq!(register.json()["handle"], json!("bob"));
}

#[tokio::test]
async fn concurrent_calls_share_one_login() {
    let stub = Stub::start(vec![
        Reply::json(200, &volumes_json()),
        Reply::json(200, &volumes_json()),
        Reply::json(200, &volumes_json()),
    ]);
    let auth = Arc::new(CountingAuth::default());
    let relay = Arc::new(pinned(&stub, &auth));
    let (a, b, c) = tokio::join!(
        relay.list_volumes(),
        relay.list_volumes(),
        relay.list_volumes()
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    assert_eq!(auth.logins.load(Ordering::SeqCst), 1);
}

/// The state machines run these on multi-threaded runtimes and behind FFI.
#[test]
fn relay_http_and_its_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let relay = RelayHttp::new(
        RelayOrigin::parse("https://relay.example.org").expect("origin"),
        &Trust::Pinned(STUB_PIN.parse().expect("pin")),
        config(),
    )
    .expect("client");
    send_sync(&relay);
    send(&relay.list_volumes());
    send(&relay.shared_volume(user_id(), &VolumeName::new("meta").expect("name"), None));
    send(&relay.login_with(user_id(), &FakeSigner::default()));
}
