//! The load generator's HTTPS client: one HTTP/1.1 keep-alive connection per simulated client,
//! straight on hyper and rustls, so that the client spends as little of the machine's CPU as
//! possible (the relay and the load generator share the same cores) and every request's cost
//! is visible: no pool, no redirects, no retries besides one reconnect.
//!
//! Trust is the project's own: a SHA-256 SPKI pin (`coffer_certs::client_config_pinned`) or
//! Web PKI roots from a PEM file (`coffer_certs::client_config_webpki`). There is no
//! accept-any mode here either. Plain `http://` exists only for `--compare-url`, the other
//! relay a run is compared with (the PluralLog reference relay serves plain HTTP); a Coffer
//! relay is always dialled over pinned TLS.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use coffer_certs::SpkiPin;
use http::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use http::{Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Ceiling on connecting (TCP + TLS) and on one whole exchange; nothing should come close.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where to send requests and how to check the server's certificate.
#[derive(Clone)]
pub struct Target {
    /// `https://host:port`, no trailing slash.
    pub origin: String,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    /// `None`: plain HTTP ([`Target::plain`]).
    tls: Option<TlsConnector>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// How the server's certificate is checked.
#[derive(Debug, Clone)]
pub enum TrustSpec {
    /// Exactly this SPKI pin.
    Pinned(SpkiPin),
    /// Web PKI with the roots of this PEM bundle.
    WebPkiPem(Vec<u8>),
}

impl Target {
    /// A target for `url` (`https://host:port`).
    pub fn new(url: &str, trust: &TrustSpec) -> anyhow::Result<Target> {
        let (host, port, bare, server_name) = split_origin(url, "https", 443)?;
        let config = match trust {
            TrustSpec::Pinned(pin) => coffer_certs::client_config_pinned(*pin),
            TrustSpec::WebPkiPem(pem) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    roots
                        .add(cert.context("a certificate of the CA bundle")?)
                        .context("a root of the CA bundle")?;
                }
                if roots.is_empty() {
                    bail!("the CA bundle holds no certificate");
                }
                coffer_certs::client_config_webpki(roots)
            }
        };
        Ok(Target {
            origin: format!("https://{host}:{port}"),
            host: bare,
            port,
            server_name,
            tls: Some(TlsConnector::from(Arc::new(config))),
        })
    }

    /// A plain-HTTP target for `url` (`http://host:port`): only for the relay a run is
    /// compared with (`--compare-url`), never for the Coffer relay under test.
    pub fn plain(url: &str) -> anyhow::Result<Target> {
        let (host, port, bare, server_name) = split_origin(url, "http", 80)?;
        Ok(Target {
            origin: format!("http://{host}:{port}"),
            host: bare,
            port,
            server_name,
            tls: None,
        })
    }

    /// Whether requests go over plain HTTP.
    pub fn is_plain(&self) -> bool {
        self.tls.is_none()
    }

    /// Whether the host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Opens a new TLS connection and completes the HTTP/1.1 handshake.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        let connect = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .with_context(|| format!("connect to {}", self.origin))?;
            tcp.set_nodelay(true)?;
            let Some(connector) = &self.tls else {
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
                tokio::spawn(async move {
                    // Ends when the connection closes; errors surface on the next request.
                    let _ = connection.await;
                });
                return anyhow::Ok(sender);
            };
            let tls = connector
                .connect(self.server_name.clone(), tcp)
                .await
                .with_context(|| format!("TLS handshake with {}", self.origin))?;
            let (sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
            tokio::spawn(async move {
                // Ends when the connection closes; errors surface on the next request.
                let _ = connection.await;
            });
            anyhow::Ok(sender)
        };
        let sender = tokio::time::timeout(TIMEOUT, connect)
            .await
            .map_err(|_| anyhow!("connecting to {} timed out", self.origin))??;
        Ok(Conn {
            sender,
            authority: HeaderValue::from_str(&format!("{}:{}", self.host, self.port))?,
        })
    }
}

/// `scheme://host[:port]` split into the origin's host (as written), port, bare host and TLS
/// server name; no path allowed.
fn split_origin(
    url: &str,
    scheme: &str,
    default_port: u16,
) -> anyhow::Result<(String, u16, String, ServerName<'static>)> {
    let rest = url
        .trim_end_matches('/')
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or_else(|| anyhow!("the URL must start with {scheme}://"))?;
    if rest.is_empty() || rest.contains('/') {
        bail!("the URL must be an origin ({scheme}://host:port), without a path");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h.to_owned(), p.parse().context("the URL's port")?)
        }
        _ => (rest.to_owned(), default_port),
    };
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let server_name = ServerName::try_from(bare.clone()).context("the URL's host")?;
    Ok((host, port, bare, server_name))
}

/// One request, ready to be sent any number of times.
#[derive(Debug, Clone)]
pub struct Req {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Extra headers (`Content-Type: application/json` is always sent).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body (empty for none).
    pub body: Bytes,
}

impl Req {
    /// A request without extra headers.
    pub fn new(method: Method, path: impl Into<String>, body: impl Into<Bytes>) -> Req {
        Req {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: &str) -> anyhow::Result<Req> {
        self.headers.push((name, HeaderValue::from_str(value)?));
        Ok(self)
    }
}

/// An answer: status and whole body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            anyhow!(
                "answer (HTTP {}) is not JSON: {e}: {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    /// The body as JSON, requiring `status`.
    pub fn expect(&self, status: u16) -> anyhow::Result<serde_json::Value> {
        if self.status != status {
            bail!(
                "expected HTTP {status}, got {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            );
        }
        self.json()
    }
}

/// An open HTTP/1.1 connection.
#[derive(Debug)]
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    authority: HeaderValue,
}

impl Conn {
    /// Sends `req` and reads the whole answer.
    pub async fn send(&mut self, req: &Req) -> anyhow::Result<Reply> {
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(req.path.as_str())
            .header(HOST, self.authority.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        let request = builder.body(Full::new(req.body.clone()))?;
        let exchange = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok(Reply { status, body })
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow!("request timed out after {TIMEOUT:?}"))?
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// A simulated client: a lazily opened connection, reopened when the server closed it.
#[derive(Debug)]
pub struct Client {
    target: Arc<Target>,
    conn: Option<Conn>,
    /// Connections opened so far.
    pub connects: u64,
}

impl Client {
    /// A client of `target` (connects on the first request).
    pub fn new(target: Arc<Target>) -> Client {
        Client {
            target,
            conn: None,
            connects: 0,
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Sends `req`. A kept-alive connection the server has meanwhile closed gets one retry
    /// on a fresh connection; a fresh connection's failure is returned.
    pub async fn send(&mut self, req: &Req) -> anyhow::Result<Reply> {
        if let Some(mut conn) = self.conn.take().filter(|c| !c.is_closed())
            && let Ok(reply) = conn.send(req).await
        {
            self.conn = Some(conn);
            return Ok(reply);
        }
        let mut conn = self.target.connect().await?;
        self.connects += 1;
        let reply = conn.send(req).await?;
        self.conn = Some(conn);
        Ok(reply)
    }
}
