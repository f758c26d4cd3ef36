//! A malicious relay at the HTTP level: a TLS server holding the relay's own certificate and key
//! (the operator has them) that forwards every request to the real relay and can lie about the
//! login exchange.
//!
//! Why it exists next to [`crate::malicious::MaliciousRelay`]: clients log in inside the
//! transport (`RelayHttp`'s `Authenticator` asks for a challenge and signs it), below the
//! `RelayApi` trait a decorator can wrap. To serve a client the same challenge nonce twice —
//! asking it for a second signature over a transcript the relay already holds a signature of —
//! the lie has to be told on the wire.
//!
//! The real relay is started with `public_origins = ["https://127.0.0.1:<proxy port>"]`, so the
//! logins clients sign for the origin they dial (the proxy) are the ones the relay accepts; the
//! proxy is, to the client, simply the relay. One request per connection (`Connection: close`).

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use coffer_certs::SpkiPin;
use coffer_wire::b64;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::relay::RelayProcess;

/// Largest request the proxy reads (clients send small JSON and volumes far below this).
const MAX_REQUEST: usize = 64 << 20;
/// Per-connection ceiling.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

const CHALLENGE_PATH: &str = "/api/v2/auth/challenge";
const TOKEN_PATH: &str = "/api/v2/auth/token";

#[derive(Debug, Default)]
struct MitmState {
    /// Serve every challenge after the first with the first one's nonce.
    replay_challenges: bool,
    /// Answer the next authenticated request with 401 (so the client logs in again).
    refuse_next_authenticated: bool,
    /// Nonces (base64) served in challenge answers, after any lie.
    served_nonces: Vec<String>,
    /// Nonces (base64) the client presented signed in token requests.
    signed_nonces: Vec<String>,
    /// How many answers were changed.
    fired: usize,
}

/// The proxy (see the module documentation). Stops when dropped.
#[derive(Debug)]
pub struct MitmRelay {
    url: String,
    pin: SpkiPin,
    state: Arc<Mutex<MitmState>>,
    task: tokio::task::JoinHandle<()>,
    _config: tempfile::TempDir,
}

impl Drop for MitmRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MitmRelay {
    /// Starts a real relay that accepts logins signed for the proxy's origin, and the proxy in
    /// front of it, serving the relay's own certificate (so the relay's pin is the proxy's).
    pub async fn start() -> (RelayProcess, MitmRelay) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy listener");
        let port = listener.local_addr().expect("proxy address").port();
        let url = format!("https://127.0.0.1:{port}");
        let config = tempfile::Builder::new()
            .prefix("coffer-mitm-")
            .tempdir()
            .expect("temporary directory for the relay config");
        let config_file = config.path().join("relay.toml");
        std::fs::write(&config_file, format!("public_origins = [\"{url}\"]\n"))
            .expect("write the relay config");
        let relay = RelayProcess::builder()
            .env(
                "COFFER_CONFIG",
                config_file.to_str().expect("temporary paths are UTF-8"),
            )
            .start()
            .await;

        let tls_dir = relay.data_dir().join("tls");
        let material = coffer_certs::load_pem(&tls_dir.join("cert.pem"), &tls_dir.join("key.pem"))
            .expect("load the relay's certificate and key");
        assert_eq!(
            material.pin,
            relay.pin(),
            "the proxy serves the relay's key"
        );
        let server = coffer_certs::server_config(&material).expect("proxy TLS configuration");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let upstream = reqwest::Client::builder()
            .use_preconfigured_tls(coffer_certs::client_config_pinned(relay.pin()))
            .timeout(CONNECTION_TIMEOUT)
            .http1_only()
            .build()
            .expect("upstream client");
        let state = Arc::new(Mutex::new(MitmState::default()));
        let forward = Forward {
            upstream,
            base: relay.url().to_owned(),
            state: Arc::clone(&state),
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, forward) = (acceptor.clone(), forward.clone());
                tokio::spawn(async move {
                    let served = tokio::time::timeout(CONNECTION_TIMEOUT, async {
                        let tls = acceptor.accept(tcp).await?;
                        forward.serve(tls).await
                    })
                    .await;
                    if let Ok(Err(e)) = served {
                        eprintln!("mitm relay: connection failed: {e}");
                    }
                });
            }
        });
        let mitm = MitmRelay {
            url,
            pin: relay.pin(),
            state,
            task,
            _config: config,
        };
        (relay, mitm)
    }

    fn state(&self) -> MutexGuard<'_, MitmState> {
        self.state.lock().expect("mitm state lock")
    }

    /// `https://127.0.0.1:<proxy port>`: what clients dial.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The pin clients trust (the relay's own).
    pub fn pin(&self) -> SpkiPin {
        self.pin
    }

    /// From now on, every challenge carries the nonce of the first challenge served.
    pub fn replay_challenges(&self, on: bool) {
        self.state().replay_challenges = on;
    }

    /// Answers the next authenticated request with 401, as if the session had expired, so the
    /// client logs in again.
    pub fn refuse_next_authenticated(&self) {
        self.state().refuse_next_authenticated = true;
    }

    /// The nonces served in challenge answers (base64), after any lie.
    pub fn served_nonces(&self) -> Vec<String> {
        self.state().served_nonces.clone()
    }

    /// The nonces clients signed and presented at `POST /auth/token` (base64).
    pub fn signed_nonces(&self) -> Vec<String> {
        self.state().signed_nonces.clone()
    }

    /// How many answers the proxy changed.
    pub fn fired(&self) -> usize {
        self.state().fired
    }
}

#[derive(Debug, Clone)]
struct Forward {
    upstream: reqwest::Client,
    base: String,
    state: Arc<Mutex<MitmState>>,
}

/// One parsed request.
struct Request {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(invalid("connection closed before a request head"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST {
            return Err(invalid("request too large"));
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| invalid("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().ok_or_else(|| invalid("no request line"))?;
    let mut parts = request_line.split(' ');
    let method = parts
        .next()
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or_else(|| invalid("bad method"))?;
    let path = parts.next().ok_or_else(|| invalid("no path"))?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| {
            v.parse::<usize>()
                .map_err(|_| invalid("bad content-length"))
        })
        .transpose()?
        .unwrap_or(0);
    if length > MAX_REQUEST {
        return Err(invalid("body too large"));
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(invalid("connection closed inside the body"));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}

impl Forward {
    fn state(&self) -> MutexGuard<'_, MitmState> {
        self.state.lock().expect("mitm state lock")
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut s: S) -> io::Result<()> {
        let request = read_request(&mut s).await?;
        let (status, content_type, retry_after, body) = self.answer(&request).await?;
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|c| c.canonical_reason())
            .unwrap_or("Status");
        let mut head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if let Some(t) = content_type {
            head.push_str(&format!("Content-Type: {t}\r\n"));
        }
        if let Some(r) = retry_after {
            head.push_str(&format!("Retry-After: {r}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await?;
        s.write_all(&body).await?;
        s.flush().await?;
        let _ = s.shutdown().await;
        Ok(())
    }

    /// The answer to `request`: the real relay's, or a lie.
    async fn answer(
        &self,
        request: &Request,
    ) -> io::Result<(u16, Option<String>, Option<String>, Vec<u8>)> {
        if request.header("authorization").is_some() {
            let refuse = std::mem::take(&mut self.state().refuse_next_authenticated);
            if refuse {
                self.state().fired += 1;
                let body = br#"{"error":"unauthorized","message":"Session expired"}"#.to_vec();
                return Ok((401, Some("application/json".to_owned()), None, body));
            }
        }
        if request.path == TOKEN_PATH
            && let Ok(json) = serde_json::from_slice::<Value>(&request.body)
            && let Some(nonce) = json["nonce"].as_str()
        {
            self.state().signed_nonces.push(nonce.to_owned());
        }

        let mut upstream = self.upstream.request(
            request.method.clone(),
            format!("{}{}", self.base, request.path),
        );
        for name in ["authorization", "if-none-match", "content-type", "accept"] {
            if let Some(value) = request.header(name) {
                upstream = upstream.header(name, value);
            }
        }
        if !request.body.is_empty() {
            upstream = upstream.body(request.body.clone());
        }
        let response = upstream.send().await.map_err(io::Error::other)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (content_type, retry_after) = (header("content-type"), header("retry-after"));
        let mut body = response.bytes().await.map_err(io::Error::other)?.to_vec();

        if request.path == CHALLENGE_PATH
            && status == 200
            && let Ok(mut json) = serde_json::from_slice::<Value>(&body)
            && let Some(fresh) = json["nonce"].as_str().map(str::to_owned)
        {
            let mut state = self.state();
            let first = state.served_nonces.first().cloned();
            let served = match first {
                Some(first) if state.replay_challenges && first != fresh => {
                    state.fired += 1;
                    json["nonce"] = Value::String(first.clone());
                    body = serde_json::to_vec(&json).map_err(io::Error::other)?;
                    first
                }
                _ => fresh,
            };
            debug_assert!(b64::decode_exact::<32>(&served).is_ok());
            state.served_nonces.push(served);
        }
        Ok((status, content_type, retry_after, body))
    }
}
