//! Sessions: the bearer token (a secret), and how a client logs in again when it expires.
//!
//! The transport never signs anything itself. The app (or the crypto module) supplies an
//! [`Authenticator`]; the usual one is [`SignedLogin`], which runs the v2 challenge/token
//! exchange and asks a [`LoginSigner`] — the holder of the identity key — to sign the labelled
//! login transcript for the origin this transport actually dialled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use coffer_wire::b64::Signature64;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::types::{ChallengeRequest, RelayTime, TokenRequest, UserId};
use super::{RelayHttp, RelayOrigin, TransportError};

/// Longest bearer token accepted from a relay.
const MAX_TOKEN_LEN: usize = 1024;

/// A boxed, `Send` future (what [`Authenticator::login`] returns, so the trait stays usable
/// as `dyn Authenticator`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A relay session's bearer token.
///
/// Secret: zeroized on drop, `Debug` prints `SessionToken(<redacted>)`, no `Display` or
/// `Serialize`, constant-time equality, and one explicit way to read it
/// ([`expose_secret`](Self::expose_secret)). Tokens are 1–1024 visible ASCII characters
/// (anything else could not be sent in a header and is refused as a protocol error).
#[derive(Clone)]
pub struct SessionToken(Zeroizing<String>);

impl SessionToken {
    /// Wraps a token, refusing values that cannot be a bearer token.
    pub fn new(token: Zeroizing<String>) -> Result<SessionToken, TransportError> {
        let ok = !token.is_empty()
            && token.len() <= MAX_TOKEN_LEN
            && token.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(SessionToken(token))
        } else {
            Err(TransportError::Protocol(
                "the session token is empty, too long or not visible ASCII",
            ))
        }
    }

    /// The token text, for the `Authorization` header and nothing else.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

impl PartialEq for SessionToken {
    fn eq(&self, other: &SessionToken) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SessionToken {}

/// A logged-in session: the token and the relay's stated expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The bearer token.
    pub token: SessionToken,
    /// When the relay says the session ends (informational: the transport re-logs in when the
    /// relay answers 401, never by comparing clocks).
    pub expires_at: Option<RelayTime>,
}

impl Session {
    /// A session from its parts.
    pub fn new(token: SessionToken, expires_at: Option<RelayTime>) -> Session {
        Session { token, expires_at }
    }
}

/// Obtains a fresh [`Session`]; called by [`RelayHttp`] before the first authenticated call
/// and again (once per call) when the relay answers 401.
///
/// An implementation may use only the unauthenticated calls of `http`
/// ([`RelayHttp::challenge`], [`RelayHttp::token`], [`RelayHttp::login_with`]): calling an
/// authenticated endpoint from inside `login` would wait for itself forever.
pub trait Authenticator: Send + Sync {
    /// Logs in and returns the new session.
    fn login<'a>(&'a self, http: &'a RelayHttp) -> BoxFuture<'a, Result<Session, TransportError>>;
}

/// Signs v2 login transcripts; implemented by whatever holds the identity's signing key.
///
/// The implementation builds the transcript itself —
/// `label("coffer-v2/login") ‖ str16(origin) ‖ user_id(16) ‖ nonce(32)`
/// (`coffer_wire::v2::login_transcript`) — so the signing key only ever signs labelled
/// messages (P9), and the origin is the one this transport dialled (W10).
pub trait LoginSigner: Send + Sync {
    /// The Ed25519 signature of the login transcript for these values, or `None` if the
    /// transcript cannot be built (an origin longer than a `u16` length; `RelayOrigin`
    /// guarantees it is not).
    fn sign_login(
        &self,
        origin: &RelayOrigin,
        user_id: &UserId,
        nonce: &[u8; 32],
    ) -> Option<Signature64>;
}

impl<T: LoginSigner + ?Sized> LoginSigner for std::sync::Arc<T> {
    fn sign_login(
        &self,
        origin: &RelayOrigin,
        user_id: &UserId,
        nonce: &[u8; 32],
    ) -> Option<Signature64> {
        (**self).sign_login(origin, user_id, nonce)
    }
}

/// The standard [`Authenticator`]: the v2 challenge/token exchange for one account, signed by
/// a [`LoginSigner`].
pub struct SignedLogin<S> {
    user_id: UserId,
    signer: S,
}

impl<S: LoginSigner> SignedLogin<S> {
    /// Logs in as `user_id`, signing with `signer`.
    pub fn new(user_id: UserId, signer: S) -> SignedLogin<S> {
        SignedLogin { user_id, signer }
    }
}

impl<S> fmt::Debug for SignedLogin<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedLogin")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl<S: LoginSigner> Authenticator for SignedLogin<S> {
    fn login<'a>(&'a self, http: &'a RelayHttp) -> BoxFuture<'a, Result<Session, TransportError>> {
        Box::pin(http.login_with(self.user_id, &self.signer))
    }
}

impl RelayHttp {
    /// Runs the v2 login exchange for `user_id`: `POST /auth/challenge`, the signer signs the
    /// transcript for [`origin`](RelayHttp::origin) and the nonce, `POST /auth/token`.
    pub async fn login_with(
        &self,
        user_id: UserId,
        signer: &(impl LoginSigner + ?Sized),
    ) -> Result<Session, TransportError> {
        let challenge = self.challenge(&ChallengeRequest { user_id }).await?;
        let signature = signer
            .sign_login(self.origin(), &user_id, &challenge.nonce)
            .ok_or(TransportError::Protocol(
                "the login transcript could not be built for this origin",
            ))?;
        self.token(&TokenRequest {
            user_id,
            nonce: challenge.nonce,
            origin: self.origin().to_string(),
            signature,
            device_label: self.config().device_label.clone(),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_redacted_and_checked() {
        let token =
            SessionToken::new(Zeroizing::new("tok_SECRET-abc123".to_owned())).expect("valid token");
        let debug = format!("{token:?}");
        assert_eq!(debug, "SessionToken(<redacted>)");
        let session = Session::new(token.clone(), None);
        assert!(!format!("{session:?}").contains("SECRET"));
        assert_eq!(token.expose_secret(), "tok_SECRET-abc123");
        assert_eq!(
            token,
            SessionToken::new(Zeroizing::new("tok_SECRET-abc123".to_owned())).expect("valid")
        );
        for bad in [
            String::new(),
            "has space".to_owned(),
            "line\nbreak".to_owned(),
            "é".to_owned(),
            "a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            let err = SessionToken::new(Zeroizing::new(bad.clone())).expect_err("refused");
            assert!(matches!(err, TransportError::Protocol(_)));
            if !bad.is_empty() && bad.len() < 50 {
                assert!(!err.to_string().contains(&bad));
            }
        }
    }
}
