//! [`RelayHttp`]: the HTTPS connection to one relay — TLS trust, timeouts, size limits, the
//! session, and the single request path every endpoint goes through.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, IF_NONE_MATCH, RETRY_AFTER,
};
use reqwest::{Method, Url, redirect};
use zeroize::Zeroizing;

use super::error::{from_reqwest, from_status};
use super::session::{Authenticator, Session, SessionToken};
use super::{RelayOrigin, TransportError, Trust};

/// Default limit on a success answer's body (a 48 MiB payload as base64 plus JSON).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;
/// How much of an error answer's body is read (enough for `{"error","message",...}`).
const MAX_ERROR_BODY_BYTES: usize = 16 << 10;

/// Timeouts and limits of a [`RelayHttp`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayHttpConfig {
    /// Limit on establishing a connection, TLS included (default 10 s).
    pub connect_timeout: Duration,
    /// Limit on a whole request, from connecting to the last byte of the answer (default 30 s;
    /// raise it for large volumes on slow links).
    pub request_timeout: Duration,
    /// Largest success body read; a longer answer is `TransportError::Protocol`
    /// (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub max_response_bytes: usize,
    /// Use an HTTPS proxy from `HTTPS_PROXY`/`ALL_PROXY` (and honour `NO_PROXY`), as curl
    /// does (default true). TLS is end-to-end through the proxy, so a proxy sees only what
    /// any network attacker sees.
    pub proxy_from_env: bool,
    /// The device label sent with every login (`docs/protocol-v2.md` §11), shown in the
    /// account's session list (default none).
    pub device_label: Option<super::types::DeviceLabel>,
}

impl Default for RelayHttpConfig {
    fn default() -> RelayHttpConfig {
        RelayHttpConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            proxy_from_env: true,
            device_label: None,
        }
    }
}

/// The HTTP client could not be set up (e.g. a malformed proxy variable).
#[derive(Debug, thiserror::Error)]
#[error("could not set up the HTTPS client: {detail}")]
pub struct ClientBuildError {
    /// reqwest's description (no secrets: nothing secret is configured here).
    pub detail: String,
}

/// An HTTPS client for one relay's v2 API.
///
/// - Trusts exactly what its [`Trust`] says (a pin or Web PKI roots); no accept-any mode.
/// - HTTPS only, no redirects (a 3xx is `TransportError::Protocol`), connect and request
///   timeouts, and a bound on every answer read.
/// - Authenticated calls carry the current session's bearer token. Before the first one, and
///   once more when the relay answers 401, it asks its [`Authenticator`] for a fresh session
///   and retries the call once; a second 401 is `TransportError::Unauthorized`. Concurrent
///   calls share one login. Clocks are never compared: the relay's 401 is the only expiry
///   signal.
/// - Cheap to share: put it in an `Arc`.
pub struct RelayHttp {
    client: reqwest::Client,
    origin: RelayOrigin,
    /// The pin verifier under pinned trust (it names the key a refused relay presented).
    verifier: Option<Arc<coffer_certs::PinnedServerVerifier>>,
    config: RelayHttpConfig,
    authenticator: Option<Arc<dyn Authenticator>>,
    session: tokio::sync::Mutex<SessionSlot>,
    /// Set when the relay said this connection's session was revoked (from another device,
    /// or by [`RelayHttp::end_session`]): authenticated calls then fail with
    /// `TransportError::Unauthorized` without logging in again, until [`RelayHttp::login`].
    signed_out: std::sync::atomic::AtomicBool,
}

/// The current session and a counter of logins, so a call that saw a token refused does not
/// log in again if another call already replaced that token.
#[derive(Default)]
struct SessionSlot {
    generation: u64,
    session: Option<Arc<Session>>,
}

/// One request, kept so it can be sent again after a fresh login.
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    pub body: Option<Vec<u8>>,
    pub if_none_match: Option<u64>,
    pub authenticated: bool,
    /// `"GET /volumes/{name}"`, for logs.
    pub what: &'static str,
}

/// A success answer.
pub(crate) enum Answer {
    /// 2xx with its (bounded) body.
    Body(Vec<u8>),
    /// 304 to a conditional request.
    NotModified,
}

impl RelayHttp {
    /// A client for `origin`, trusting `trust`. Builds no connection yet.
    pub fn new(
        origin: RelayOrigin,
        trust: &Trust,
        config: RelayHttpConfig,
    ) -> Result<RelayHttp, ClientBuildError> {
        let (tls, verifier) = trust.client_config();
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .redirect(redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("coffer-client-core/", env!("CARGO_PKG_VERSION")));
        if !config.proxy_from_env {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| ClientBuildError {
            detail: e.to_string(),
        })?;
        Ok(RelayHttp {
            client,
            origin,
            verifier,
            config,
            authenticator: None,
            session: tokio::sync::Mutex::new(SessionSlot::default()),
            signed_out: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The same client, logging in through `authenticator` for authenticated calls. Without
    /// one, authenticated calls fail with `TransportError::NoAuthenticator` (only `register`,
    /// `challenge`, `token` and `login_with` work).
    #[must_use]
    pub fn with_authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> RelayHttp {
        self.authenticator = Some(authenticator);
        self
    }

    /// The relay's origin (what the login transcript signs).
    pub fn origin(&self) -> &RelayOrigin {
        &self.origin
    }

    /// The relay pins this connection trusts (empty under Web PKI).
    pub fn trusted_pins(&self) -> &[coffer_certs::SpkiPin] {
        self.verifier.as_deref().map_or(&[], |v| v.pins())
    }

    /// The timeouts and limits in force.
    pub fn config(&self) -> &RelayHttpConfig {
        &self.config
    }

    /// Logs in now (replacing any session), e.g. to check an account right after setup.
    ///
    /// This is also how a connection whose session was revoked signs in again (see
    /// [`RelayHttp::is_signed_out`]).
    pub async fn login(&self) -> Result<(), TransportError> {
        let mut slot = self.session.lock().await;
        self.signed_out.store(false, Ordering::SeqCst);
        self.login_locked(&mut slot).await.map(|_| ())
    }

    /// Whether the relay revoked this connection's session (or [`RelayHttp::end_session`]
    /// ended it): authenticated calls fail with `TransportError::Unauthorized` and do not log in
    /// again until [`RelayHttp::login`] is called.
    pub fn is_signed_out(&self) -> bool {
        self.signed_out.load(Ordering::SeqCst)
    }

    /// Forgets the session and stays signed out until [`RelayHttp::login`].
    pub(crate) async fn sign_out(&self) {
        let mut slot = self.session.lock().await;
        self.signed_out.store(true, Ordering::SeqCst);
        slot.session = None;
    }

    /// Whether a session is held now (no login is made to find out).
    pub(crate) async fn has_session(&self) -> bool {
        self.session.lock().await.session.is_some()
    }

    /// Forgets the current session (its token is zeroized once no call uses it). The next
    /// authenticated call logs in again.
    pub async fn logout(&self) {
        self.session.lock().await.session = None;
    }

    /// Sends `call`, logging in first or again as needed (see the type documentation).
    pub(crate) async fn execute(&self, call: &Call) -> Result<Answer, TransportError> {
        let request = self.build(call)?;
        if !call.authenticated {
            return self.send(call, &request, None).await;
        }
        if self.is_signed_out() {
            return Err(TransportError::Unauthorized);
        }
        let (generation, session) = self.session(None).await?;
        match self.send(call, &request, Some(&session.token)).await {
            Err(TransportError::Unauthorized) if self.is_signed_out() => {
                tracing::debug!(call = call.what, "session revoked; signed out");
                drop(session);
                self.session.lock().await.session = None;
                Err(TransportError::Unauthorized)
            }
            Err(TransportError::Unauthorized) => {
                tracing::debug!(call = call.what, "session refused; logging in again");
                drop(session);
                let (_, session) = self.session(Some(generation)).await?;
                self.send(call, &request, Some(&session.token)).await
            }
            other => other,
        }
    }

    /// The current session, or a fresh one if there is none or if `refused` names the login
    /// generation whose token the relay just refused.
    async fn session(&self, refused: Option<u64>) -> Result<(u64, Arc<Session>), TransportError> {
        let mut slot = self.session.lock().await;
        if let Some(current) = &slot.session
            && refused != Some(slot.generation)
        {
            return Ok((slot.generation, Arc::clone(current)));
        }
        self.login_locked(&mut slot).await
    }

    async fn login_locked(
        &self,
        slot: &mut SessionSlot,
    ) -> Result<(u64, Arc<Session>), TransportError> {
        let authenticator = self
            .authenticator
            .as_ref()
            .ok_or(TransportError::NoAuthenticator)?;
        slot.session = None;
        let session = Arc::new(authenticator.login(self).await?);
        slot.generation += 1;
        slot.session = Some(Arc::clone(&session));
        Ok((slot.generation, session))
    }

    fn build(&self, call: &Call) -> Result<reqwest::Request, TransportError> {
        let mut builder = self
            .client
            .request(call.method.clone(), call.url.clone())
            .header(ACCEPT, "application/json");
        if let Some(version) = call.if_none_match {
            builder = builder.header(IF_NONE_MATCH, version);
        }
        if let Some(body) = &call.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        builder
            .build()
            .map_err(|e| from_reqwest(&e, self.verifier.as_deref()))
    }

    /// One attempt: `request` (cloned, its body shared) with `token`, answer mapped.
    async fn send(
        &self,
        call: &Call,
        request: &reqwest::Request,
        token: Option<&SessionToken>,
    ) -> Result<Answer, TransportError> {
        let mut request = request
            .try_clone()
            .expect("request bodies are in-memory bytes, never streams, so they clone");
        if let Some(token) = token {
            // The header value itself is http's type and is not zeroized; `set_sensitive` keeps
            // it out of Debug output and HPACK tables, and it lives only for this request.
            let bearer = Zeroizing::new(format!("Bearer {}", token.expose_secret()));
            let mut value = HeaderValue::from_str(&bearer)
                .expect("session tokens are checked to be visible ASCII");
            value.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(|e| from_reqwest(&e, self.verifier.as_deref()))?;
        let status = response.status().as_u16();
        tracing::debug!(call = call.what, status, "relay answered");
        match status {
            200..=299 => {
                let limit = self.config.max_response_bytes;
                Ok(Answer::Body(self.read_body(&mut response, limit).await?))
            }
            304 if call.if_none_match.is_some() => Ok(Answer::NotModified),
            304 => Err(TransportError::Protocol(
                "304 Not Modified to a request that was not conditional",
            )),
            _ => {
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .map(|v| v.as_bytes().to_vec());
                // The status alone decides the variant; an unreadable or oversized error body
                // only loses the relay's message.
                let body = self
                    .read_body(&mut response, MAX_ERROR_BODY_BYTES)
                    .await
                    .unwrap_or_default();
                if status == 401 && token.is_some() && is_revoked(&body) {
                    self.signed_out.store(true, Ordering::SeqCst);
                }
                Err(from_status(status, retry_after.as_deref(), &body))
            }
        }
    }

    async fn read_body(
        &self,
        response: &mut reqwest::Response,
        max: usize,
    ) -> Result<Vec<u8>, TransportError> {
        let mut body = BodyLimit::new(max, response.content_length())?;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| from_reqwest(&e, self.verifier.as_deref()))?
        {
            body.push(&chunk)?;
        }
        Ok(body.into_inner())
    }
}

/// Whether a 401's body says the session was revoked (`"error": "session_revoked"`), rather than
/// unknown or expired (after which logging in again is right).
fn is_revoked(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Code<'a> {
        #[serde(borrow)]
        error: Option<&'a str>,
    }
    serde_json::from_slice::<Code<'_>>(body).is_ok_and(|c| c.error == Some("session_revoked"))
}

impl fmt::Debug for RelayHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayHttp")
            .field("origin", &self.origin)
            .field("pinned", &self.verifier.is_some())
            .field("config", &self.config)
            .field("authenticator", &self.authenticator.is_some())
            .finish_non_exhaustive()
    }
}

/// A body buffer that refuses to grow past its limit (checked against `Content-Length` before
/// reading and against every chunk while reading).
pub(crate) struct BodyLimit {
    buf: Vec<u8>,
    max: usize,
}

const TOO_LARGE: TransportError =
    TransportError::Protocol("the answer is larger than the configured response limit");

impl BodyLimit {
    pub(crate) fn new(max: usize, declared: Option<u64>) -> Result<BodyLimit, TransportError> {
        let declared = declared.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if declared.is_some_and(|n| n > max) {
            return Err(TOO_LARGE);
        }
        Ok(BodyLimit {
            buf: Vec::with_capacity(declared.unwrap_or(0)),
            max,
        })
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), TransportError> {
        if chunk.len() > self.max - self.buf.len() {
            return Err(TOO_LARGE);
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    pub(crate) fn into_inner(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_limit() {
        assert!(BodyLimit::new(10, Some(11)).is_err());
        assert!(BodyLimit::new(10, Some(u64::MAX)).is_err());
        let mut body = BodyLimit::new(10, Some(10)).expect("declared within the limit");
        body.push(b"12345").expect("fits");
        body.push(b"67890").expect("fits exactly");
        assert_eq!(body.push(b"!"), Err(TOO_LARGE));
        assert_eq!(body.into_inner(), b"1234567890");

        // Undeclared length: enforced chunk by chunk, whatever the chunk sizes.
        let mut body = BodyLimit::new(10, None).expect("no declared length");
        body.push(b"").expect("empty chunk");
        body.push(b"123456789").expect("fits");
        assert_eq!(body.push(b"ab"), Err(TOO_LARGE));
        let mut body = BodyLimit::new(0, None).expect("zero limit");
        assert!(body.push(b"x").is_err());
    }

    #[test]
    fn default_config() {
        let config = RelayHttpConfig::default();
        assert_eq!(config.connect_timeout, Duration::from_secs(10));
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert_eq!(config.max_response_bytes, 64 << 20);
    }
}
