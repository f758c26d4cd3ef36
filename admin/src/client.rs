//! The HTTPS client of the admin API.
//!
//! One rustls configuration per client: exactly one pinned relay key, or the Web PKI (Mozilla's
//! roots, compiled in). This module must never offer a way to skip certificate verification, never
//! speak plain HTTP, and never follow a redirect (the admin token would go wherever it points).
//! The token travels only in a sensitive `X-Admin-Token` header and never in an error.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::str::FromStr;
use std::time::Duration;

use coffer_certs::{SpkiPin, client_config_pinned, client_config_webpki};
use reqwest::header::{ACCEPT, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use rustls::{CertificateError, RootCertStore};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{AdminError, ConnectFailure};
use crate::listing::Query;
use crate::model::{
    AnomalyReport, Deleted, ExpireReport, ExpiredSessions, Health, MaintenanceReport, OrphanPage,
    SessionStats, ShareList, Stats, UserDetail, UserId, UserList, VolumeList,
};
use crate::output::clean;
use crate::token::AdminToken;

/// Largest answer read from the relay. A user list of a big relay is a few MiB; this only stops
/// a wrong URL from streaming forever.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Longest relay error message shown (relay messages are short; this bounds a proxy's HTML page).
const MAX_MESSAGE_CHARS: usize = 300;

/// The relay's base URL: `https` only, no credentials, query or fragment. A path prefix is kept
/// (for a relay behind a reverse proxy under `/coffer/`).
///
/// ```
/// use coffer_admin::client::RelayUrl;
///
/// let url: RelayUrl = "https://relay.example:8443".parse()?;
/// assert_eq!(url.endpoint("api/v1/health").as_str(), "https://relay.example:8443/api/v1/health");
/// assert!("http://relay.example".parse::<RelayUrl>().is_err());
/// # Ok::<(), coffer_admin::client::InvalidUrl>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayUrl(Url);

/// Why a `--url` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUrl {
    /// Not a URL at all.
    #[error("not a URL ({0}); expected e.g. https://relay.example:8443")]
    Parse(String),
    /// Not `https`.
    #[error(
        "only https:// URLs are accepted: the admin token must never cross the network in clear \
         (the relay serves HTTPS by default)"
    )]
    NotHttps,
    /// No host.
    #[error("the URL has no host")]
    NoHost,
    /// `user:password@` in the URL.
    #[error(
        "the URL must not contain a user name or password; the token comes from --token-file or COFFER_ADMIN_TOKEN"
    )]
    Credentials,
    /// `?query` or `#fragment`.
    #[error("the URL must not have a query or fragment")]
    QueryOrFragment,
}

impl FromStr for RelayUrl {
    type Err = InvalidUrl;

    fn from_str(s: &str) -> Result<RelayUrl, InvalidUrl> {
        let mut url = Url::parse(s).map_err(|e| InvalidUrl::Parse(e.to_string()))?;
        if url.scheme() != "https" {
            return Err(InvalidUrl::NotHttps);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(InvalidUrl::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidUrl::Credentials);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(InvalidUrl::QueryOrFragment);
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(RelayUrl(url))
    }
}

impl fmt::Display for RelayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl RelayUrl {
    /// The web origin (`https://host[:port]`, default port omitted, host in lower case): what a
    /// pairing string names.
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    /// The URL of `path` (relative, e.g. `api/v1/health`) under this base.
    pub fn endpoint(&self, path: &str) -> Url {
        let mut url = self.0.clone();
        // The base path ends in '/', and `path` is one of this module's constants.
        let joined = format!("{}{}", url.path(), path.trim_start_matches('/'));
        url.set_path(&joined);
        url
    }
}

/// How the relay's certificate is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Exactly this SPKI pin (the relay's self-signed key); names and dates are not checked
    /// (see the coffer-certs README).
    Pinned(SpkiPin),
    /// The Web PKI: a chain to one of Mozilla's roots, the host name, validity dates.
    WebPki,
}

impl Trust {
    /// The pin, or the Web PKI when `pin` is `None`.
    pub fn from_pin(pin: Option<SpkiPin>) -> Trust {
        pin.map_or(Trust::WebPki, Trust::Pinned)
    }

    fn rustls_config(self) -> rustls::ClientConfig {
        match self {
            Trust::Pinned(pin) => client_config_pinned(pin),
            Trust::WebPki => client_config_webpki(RootCertStore::from_iter(
                webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
            )),
        }
    }
}

/// A relay answer: the JSON object as received (for `--json`) and the type it should have.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    request: String,
    raw: Value,
    shape: PhantomData<T>,
}

impl<T: DeserializeOwned> Reply<T> {
    /// The relay's JSON object as received: every field and value it sent, nothing added or
    /// dropped (object keys come out sorted, which is how the relay sends them).
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The typed answer, or [`AdminError::InvalidResponse`] if fields are missing or mistyped.
    pub fn parse(&self) -> Result<T, AdminError> {
        T::deserialize(&self.raw).map_err(|e| AdminError::InvalidResponse {
            request: self.request.clone(),
            detail: clean(&e.to_string()).into_owned(),
        })
    }
}

/// A client of one relay's admin API.
#[derive(Debug)]
pub struct AdminClient {
    http: reqwest::Client,
    base: RelayUrl,
    trust: Trust,
    timeout: Duration,
    token: Option<AdminToken>,
}

impl AdminClient {
    /// A client for `base`. `token` may be `None` for [`AdminClient::health`]; every other call
    /// then fails with [`AdminError::NoToken`].
    pub fn new(
        base: RelayUrl,
        trust: Trust,
        timeout: Duration,
        token: Option<AdminToken>,
    ) -> Result<AdminClient, AdminError> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(trust.rustls_config())
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("coffer-admin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AdminError::ClientSetup(error_chain(&e)))?;
        Ok(AdminClient {
            http,
            base,
            trust,
            timeout,
            token,
        })
    }

    /// `GET /api/v1/health` (sent without the token).
    pub async fn health(&self) -> Result<Reply<Health>, AdminError> {
        self.call(Method::GET, "api/v1/health", false).await
    }

    /// `GET /api/v1/admin/stats`.
    pub async fn stats(&self) -> Result<Reply<Stats>, AdminError> {
        self.call(Method::GET, "api/v1/admin/stats", true).await
    }

    /// `GET /api/v1/admin/users` with the flags' query (none: every user).
    pub async fn users(&self, args: &impl Query) -> Result<Reply<UserList>, AdminError> {
        self.list("api/v1/admin/users", args).await
    }

    /// `GET` of an admin list with the query of `args`.
    async fn list<T>(&self, path: &str, args: &impl Query) -> Result<Reply<T>, AdminError>
    where
        T: DeserializeOwned,
    {
        let mut url = self.base.endpoint(path);
        let pairs = args.query();
        if !pairs.is_empty() {
            let mut query = url.query_pairs_mut();
            for (name, value) in &pairs {
                query.append_pair(name, value);
            }
        }
        self.send(Method::GET, url, path, true).await
    }

    /// `GET /api/v1/admin/users/{id}`.
    pub async fn user(&self, id: &UserId) -> Result<Reply<UserDetail>, AdminError> {
        let path = format!("api/v1/admin/users/{id}");
        self.call(Method::GET, &path, true).await
    }

    /// `DELETE /api/v1/admin/users/{id}`: the user, their volumes, sharing and sessions.
    pub async fn delete_user(&self, id: &UserId) -> Result<Reply<Deleted>, AdminError> {
        let path = format!("api/v1/admin/users/{id}");
        self.call(Method::DELETE, &path, true).await
    }

    /// `GET /api/v1/admin/volumes` with the flags' query (none: every volume).
    pub async fn volumes(&self, args: &impl Query) -> Result<Reply<VolumeList>, AdminError> {
        self.list("api/v1/admin/volumes", args).await
    }

    /// `GET /api/v1/admin/sharing` with the flags' query (none: every relationship).
    pub async fn sharing(&self, args: &impl Query) -> Result<Reply<ShareList>, AdminError> {
        self.list("api/v1/admin/sharing", args).await
    }

    /// `GET /api/v1/admin/sessions`.
    pub async fn sessions(&self) -> Result<Reply<SessionStats>, AdminError> {
        self.call(Method::GET, "api/v1/admin/sessions", true).await
    }

    /// `POST /api/v1/admin/sessions/expire-all`: every client must log in again.
    pub async fn expire_all_sessions(&self) -> Result<Reply<ExpiredSessions>, AdminError> {
        self.call(Method::POST, "api/v1/admin/sessions/expire-all", true)
            .await
    }

    /// `POST /api/v1/admin/maintenance`.
    pub async fn maintenance(&self) -> Result<Reply<MaintenanceReport>, AdminError> {
        self.call(Method::POST, "api/v1/admin/maintenance", true)
            .await
    }

    /// `POST /api/v1/admin/maintenance/expire`: expired challenges, sessions and invites.
    pub async fn maintenance_expire(&self) -> Result<Reply<ExpireReport>, AdminError> {
        self.call(Method::POST, "api/v1/admin/maintenance/expire", true)
            .await
    }

    /// `POST /api/v1/admin/maintenance/orphans?after=…&limit=…`: one page of the orphan sweep.
    pub async fn maintenance_orphans(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Reply<OrphanPage>, AdminError> {
        let path = "api/v1/admin/maintenance/orphans";
        let mut url = self.base.endpoint(path);
        {
            let mut query = url.query_pairs_mut();
            if let Some(after) = after {
                query.append_pair("after", after);
            }
            query.append_pair("limit", &limit.to_string());
        }
        self.send(Method::POST, url, path, true).await
    }

    /// `GET /api/v1/admin/anomalies`.
    pub async fn anomalies(&self) -> Result<Reply<AnomalyReport>, AdminError> {
        self.call(Method::GET, "api/v1/admin/anomalies", true).await
    }

    /// `POST /api/v1/admin/registration-codes` `{expires_in_hours?}`: a single-use registration
    /// code (registration.mode = "invite-only"), shown once.
    pub async fn create_registration_code<T: DeserializeOwned>(
        &self,
        hours: Option<u32>,
    ) -> Result<Reply<T>, AdminError> {
        let path = "api/v1/admin/registration-codes";
        let body = match hours {
            Some(h) => serde_json::json!({ "expires_in_hours": h }),
            None => serde_json::json!({}),
        };
        let url = self.base.endpoint(path);
        self.send_body(Method::POST, url, path, true, Some(&body))
            .await
    }

    /// `GET /api/v1/admin/registration-codes`: the registration rules and open codes.
    pub async fn registration_status<T: DeserializeOwned>(&self) -> Result<Reply<T>, AdminError> {
        self.call(Method::GET, "api/v1/admin/registration-codes", true)
            .await
    }

    async fn call<T>(
        &self,
        method: Method,
        path: &str,
        admin: bool,
    ) -> Result<Reply<T>, AdminError> {
        let url = self.base.endpoint(path);
        self.send(method, url, path, admin).await
    }

    async fn send<T>(
        &self,
        method: Method,
        url: Url,
        path: &str,
        admin: bool,
    ) -> Result<Reply<T>, AdminError> {
        self.send_body(method, url, path, admin, None).await
    }

    async fn send_body<T>(
        &self,
        method: Method,
        url: Url,
        path: &str,
        admin: bool,
        body: Option<&Value>,
    ) -> Result<Reply<T>, AdminError> {
        let request = format!("{method} /{}", path.trim_start_matches('/'));
        let mut builder = self
            .http
            .request(method, url.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(body) = body {
            builder = builder.json(body);
        }
        if admin {
            let token = self.token.as_ref().ok_or(AdminError::NoToken)?;
            builder = builder.header("x-admin-token", token.header_value()?);
        }
        let unreachable = |e: &reqwest::Error| AdminError::Unreachable {
            url: url.to_string(),
            failure: self.classify(e),
        };
        let mut response = builder.send().await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(|v| clean(v).into_owned());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(&e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(AdminError::InvalidResponse {
                    request,
                    detail: format!("the answer is larger than {MAX_BODY_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(relay_error(status, retry_after, &body));
        }
        let raw: Value =
            serde_json::from_slice(&body).map_err(|e| AdminError::InvalidResponse {
                request: request.clone(),
                detail: format!(
                    "not JSON ({}); is {} really a Coffer relay?",
                    clean(&e.to_string()),
                    self.base
                ),
            })?;
        if !raw.is_object() {
            return Err(AdminError::InvalidResponse {
                request,
                detail: "not a JSON object".to_owned(),
            });
        }
        Ok(Reply {
            request,
            raw,
            shape: PhantomData,
        })
    }

    fn classify(&self, err: &reqwest::Error) -> ConnectFailure {
        if err.is_timeout() {
            return ConnectFailure::Timeout {
                secs: self.timeout.as_secs(),
            };
        }
        classify_transport_error(err, self.trust)
    }
}

/// Turns a transport error into what the operator needs to know, above all whether a pinned
/// relay presented another key.
pub fn classify_transport_error(err: &(dyn StdError + 'static), trust: Trust) -> ConnectFailure {
    match find_rustls_error(err) {
        Some(tls @ rustls::Error::InvalidCertificate(cert_err)) => match (trust, cert_err) {
            // The only way PinnedServerVerifier rejects a well-formed certificate.
            (Trust::Pinned(expected), CertificateError::ApplicationVerificationFailure) => {
                ConnectFailure::PinMismatch { expected }
            }
            (trust, _) => ConnectFailure::Certificate {
                detail: clean(&tls.to_string()).into_owned(),
                web_pki: trust == Trust::WebPki,
            },
        },
        Some(other) => ConnectFailure::Tls {
            detail: clean(&other.to_string()).into_owned(),
        },
        // The top-level reqwest error only repeats the URL, which the caller already shows.
        None => ConnectFailure::Network {
            detail: clean(&error_chain(err.source().unwrap_or(err))).into_owned(),
        },
    }
}

/// The rustls error somewhere in `err`'s source chain. `io::Error` hides the error it wraps from
/// `source()` (it returns the wrapped error's source instead), so it is unwrapped by hand.
fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref)
            && let Some(tls) = find_rustls_error(inner)
        {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

/// `err` and its sources, deepest last, without repeats (`a: b: c`).
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: Option<String>,
    message: Option<String>,
}

/// A non-2xx answer as an [`AdminError`]: the relay's `{"error", "message"}` body if it sent one,
/// else the start of whatever it sent.
fn relay_error(status: StatusCode, retry_after: Option<String>, body: &[u8]) -> AdminError {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|b| b.error.as_deref())
        .map(|c| clean(c).into_owned());
    let message = parsed
        .and_then(|b| b.message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let mut message: String = clean(&message).chars().take(MAX_MESSAGE_CHARS).collect();
    if message.is_empty() {
        message = status.canonical_reason().unwrap_or("no message").to_owned();
    }
    match status {
        StatusCode::UNAUTHORIZED => AdminError::Unauthorized { message },
        StatusCode::TOO_MANY_REQUESTS => AdminError::RateLimited {
            retry_after,
            message,
        },
        _ => AdminError::Relay {
            status: status.as_u16(),
            code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> SpkiPin {
        "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk="
            .parse()
            .expect("valid pin")
    }

    #[test]
    fn urls() {
        let url: RelayUrl = "https://127.0.0.1:8443".parse().expect("url");
        assert_eq!(
            url.endpoint("api/v1/admin/stats").as_str(),
            "https://127.0.0.1:8443/api/v1/admin/stats"
        );
        let prefixed: RelayUrl = "https://proxy.example/coffer".parse().expect("url");
        assert_eq!(
            prefixed.endpoint("api/v1/health").as_str(),
            "https://proxy.example/coffer/api/v1/health"
        );
        let user = UserId::from_str("3f2504e0-4f89-41d3-9a0c-0305e82c3301").expect("id");
        assert_eq!(
            url.endpoint(&format!("api/v1/admin/users/{user}")).path(),
            "/api/v1/admin/users/3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        );
        for (bad, expected) in [
            ("http://127.0.0.1:8443", InvalidUrl::NotHttps),
            ("ftp://x", InvalidUrl::NotHttps),
            ("https://u:p@relay.example", InvalidUrl::Credentials),
            ("https://u@relay.example", InvalidUrl::Credentials),
            ("https://relay.example/?a=1", InvalidUrl::QueryOrFragment),
            ("https://relay.example/#x", InvalidUrl::QueryOrFragment),
        ] {
            assert_eq!(bad.parse::<RelayUrl>(), Err(expected), "{bad}");
        }
        assert!(matches!(
            "relay.example:8443".parse::<RelayUrl>(),
            Err(InvalidUrl::Parse(_) | InvalidUrl::NotHttps)
        ));
    }

    #[test]
    fn pin_mismatch_is_recognised_through_io_wrappers() {
        let tls =
            rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, tls);
        assert_eq!(
            classify_transport_error(&wrapped, Trust::Pinned(pin())),
            ConnectFailure::PinMismatch { expected: pin() }
        );
        // The same rustls error without a pin is a certificate problem, not a pin mismatch.
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, tls);
        assert!(matches!(
            classify_transport_error(&wrapped, Trust::WebPki),
            ConnectFailure::Certificate { web_pki: true, .. }
        ));
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        assert!(matches!(
            classify_transport_error(&refused, Trust::WebPki),
            ConnectFailure::Network { detail } if detail.contains("refused")
        ));
        let other = rustls::Error::NoCertificatesPresented;
        assert!(matches!(
            classify_transport_error(&other, Trust::Pinned(pin())),
            ConnectFailure::Tls { .. }
        ));
    }

    #[test]
    fn error_bodies() {
        let err = relay_error(
            StatusCode::UNAUTHORIZED,
            None,
            br#"{"error":"unauthorized","message":"Missing or invalid admin token"}"#,
        );
        assert!(
            matches!(&err, AdminError::Unauthorized { message } if message == "Missing or invalid admin token")
        );
        assert_eq!(err.exit().code(), 4);

        let err = relay_error(
            StatusCode::TOO_MANY_REQUESTS,
            Some("60".into()),
            br#"{"error":"rate_limited","message":"Too many requests."}"#,
        );
        assert!(matches!(&err, AdminError::RateLimited { retry_after: Some(s), .. } if s == "60"));
        assert_eq!(err.exit().code(), 5);

        let err = relay_error(
            StatusCode::NOT_FOUND,
            None,
            br#"{"error":"not_found","message":"User not found"}"#,
        );
        assert_eq!(
            err.to_string(),
            "the relay answered 404 (not_found): User not found"
        );
        assert_eq!(err.exit().code(), 1);

        // A proxy's HTML page: shortened and cleaned.
        let page = format!("<html>\u{1b}[2J{}</html>", "x".repeat(1000));
        let err = relay_error(StatusCode::BAD_GATEWAY, None, page.as_bytes());
        match err {
            AdminError::Relay {
                status: 502,
                code: None,
                message,
            } => {
                assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
                assert!(!message.contains('\u{1b}'));
            }
            other => panic!("{other:?}"),
        }
        let err = relay_error(StatusCode::SERVICE_UNAVAILABLE, None, b"");
        assert!(err.to_string().ends_with("Service Unavailable"), "{err}");
    }

    #[test]
    fn reply_parse_errors_are_invalid_responses() {
        let reply: Reply<SessionStats> = Reply {
            request: "GET /api/v1/admin/sessions".into(),
            raw: serde_json::json!({"active_sessions": "many"}),
            shape: PhantomData,
        };
        let err = reply.parse().expect_err("mistyped");
        assert!(matches!(err, AdminError::InvalidResponse { .. }));
        assert_eq!(err.exit().code(), 1);
    }

    #[test]
    fn clients_build_for_both_trust_modes() {
        let url: RelayUrl = "https://127.0.0.1:8443".parse().expect("url");
        for trust in [Trust::Pinned(pin()), Trust::WebPki] {
            AdminClient::new(url.clone(), trust, Duration::from_secs(1), None).expect("client");
        }
    }
}
