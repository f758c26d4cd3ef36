//! Logging in as the stored identity: the v2 challenge/token exchange, signed by a
//! [`GuardedSigner`] that refuses to sign one challenge nonce twice.
//!
//! Why the guard: challenges are single-use random nonces, so an honest relay never presents
//! the same one twice. A relay (or a man in the middle of a broken TLS setup) that does wants a
//! second signature of a transcript it already holds a signature of, e.g. to replay a login
//! elsewhere. The signer remembers the last [`REMEMBERED_NONCES`] nonces it signed (in memory,
//! per process) and refuses a repeat; the client reports [`super::ClientError::ChallengeReplayed`].

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use coffer_wire::b64::Signature64;
use uuid::Uuid;

use crate::identity::Identity;
use crate::transport::{
    Authenticator, BoxFuture, ChallengeRequest, LoginSigner, RelayHttp, RelayOrigin, Session,
    TokenRequest, TransportError, UserId,
};

/// How many signed nonces a signer remembers.
pub const REMEMBERED_NONCES: usize = 1024;

/// The transport error our authenticator returns for a replayed challenge; converted to
/// [`super::ClientError::ChallengeReplayed`] in `error.rs` (no relay answer produces this text).
pub(crate) const CHALLENGE_REPLAYED: &str =
    "the relay presented a login challenge this client already signed";

/// Why a [`GuardedSigner`] refused to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignRefused {
    /// This nonce was signed before: the challenge is a replay.
    #[error("login challenge nonce already signed (replayed challenge)")]
    Replayed,
    /// The transcript cannot be built for this origin (cannot happen for a [`RelayOrigin`]).
    #[error("login transcript cannot be built for this origin")]
    BadOrigin,
}

/// Signs v2 login transcripts with the identity's key, at most once per nonce.
pub struct GuardedSigner {
    identity: Arc<Identity>,
    signed: Mutex<VecDeque<[u8; 32]>>,
}

impl GuardedSigner {
    /// A signer for `identity` that has signed nothing yet.
    #[must_use]
    pub fn new(identity: Arc<Identity>) -> GuardedSigner {
        GuardedSigner {
            identity,
            signed: Mutex::new(VecDeque::with_capacity(16)),
        }
    }

    /// Signs the login transcript for (`origin`, `user_id`, `nonce`) unless this nonce was
    /// signed before.
    ///
    /// # Errors
    /// [`SignRefused::Replayed`] for a nonce already signed; [`SignRefused::BadOrigin`] if
    /// the transcript cannot be built.
    pub fn sign_once(
        &self,
        origin: &RelayOrigin,
        user_id: Uuid,
        nonce: &[u8; 32],
    ) -> Result<Signature64, SignRefused> {
        // A poisoned lock only means another thread panicked between two plain list operations.
        let mut signed = self.signed.lock().unwrap_or_else(PoisonError::into_inner);
        if signed.iter().any(|n| n == nonce) {
            tracing::warn!("refused to sign a replayed login challenge");
            return Err(SignRefused::Replayed);
        }
        let signature = self
            .identity
            .sign_login_v2(origin.as_str(), user_id, nonce)
            .map_err(|_| SignRefused::BadOrigin)?;
        if signed.len() == REMEMBERED_NONCES {
            signed.pop_front();
        }
        signed.push_back(*nonce);
        Ok(Signature64::from_bytes(signature))
    }
}

impl fmt::Debug for GuardedSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedSigner").finish_non_exhaustive()
    }
}

/// For use with [`crate::transport::SignedLogin`]: a refusal becomes `None` (the transport then
/// reports a protocol error). The clients use [`IdentityLogin`], which reports the replay as
/// such.
impl LoginSigner for GuardedSigner {
    fn sign_login(
        &self,
        origin: &RelayOrigin,
        user_id: &UserId,
        nonce: &[u8; 32],
    ) -> Option<Signature64> {
        self.sign_once(origin, *user_id.as_uuid(), nonce).ok()
    }
}

/// The [`Authenticator`] of a client: `POST /auth/challenge`, a [`GuardedSigner`] signature
/// over the transcript for the origin dialled, `POST /auth/token`.
#[derive(Debug)]
pub struct IdentityLogin {
    user_id: UserId,
    signer: GuardedSigner,
}

impl IdentityLogin {
    /// Logs in as `user_id` with `identity`.
    #[must_use]
    pub fn new(user_id: Uuid, identity: Arc<Identity>) -> IdentityLogin {
        IdentityLogin {
            user_id: UserId::from_uuid(user_id),
            signer: GuardedSigner::new(identity),
        }
    }
}

impl Authenticator for IdentityLogin {
    fn login<'a>(&'a self, http: &'a RelayHttp) -> BoxFuture<'a, Result<Session, TransportError>> {
        Box::pin(async move {
            let challenge = http
                .challenge(&ChallengeRequest {
                    user_id: self.user_id,
                })
                .await?;
            let signature = self
                .signer
                .sign_once(http.origin(), *self.user_id.as_uuid(), &challenge.nonce)
                .map_err(|e| match e {
                    SignRefused::Replayed => TransportError::Protocol(CHALLENGE_REPLAYED),
                    SignRefused::BadOrigin => TransportError::Protocol(
                        "the login transcript could not be built for this origin",
                    ),
                })?;
            http.token(&TokenRequest {
                user_id: self.user_id,
                nonce: challenge.nonce,
                origin: http.origin().to_string(),
                signature,
                device_label: http.config().device_label.clone(),
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_signed_once() {
        let signer = GuardedSigner::new(Arc::new(Identity::generate()));
        let origin: RelayOrigin = "https://relay.example:8443".parse().expect("origin");
        let user = Uuid::from_bytes([7; 16]);
        assert!(signer.sign_once(&origin, user, &[1; 32]).is_ok());
        assert!(signer.sign_once(&origin, user, &[2; 32]).is_ok());
        assert_eq!(
            signer.sign_once(&origin, user, &[1; 32]),
            Err(SignRefused::Replayed)
        );
        // Another origin or user does not make a replayed nonce acceptable.
        let other: RelayOrigin = "https://other.example".parse().expect("origin");
        assert_eq!(
            signer.sign_once(&other, Uuid::from_bytes([8; 16]), &[2; 32]),
            Err(SignRefused::Replayed)
        );
        assert!(
            signer
                .sign_login(&origin, &UserId::from_uuid(user), &[1; 32])
                .is_none()
        );
    }

    #[test]
    fn memory_is_bounded() {
        let signer = GuardedSigner::new(Arc::new(Identity::generate()));
        let origin: RelayOrigin = "https://relay.example".parse().expect("origin");
        let user = Uuid::from_bytes([7; 16]);
        let nonce = |i: usize| {
            let mut n = [0u8; 32];
            n[..8].copy_from_slice(&(i as u64).to_be_bytes());
            n
        };
        for i in 0..=REMEMBERED_NONCES {
            assert!(signer.sign_once(&origin, user, &nonce(i)).is_ok());
        }
        // The oldest one was forgotten, the newest are remembered.
        assert!(signer.sign_once(&origin, user, &nonce(0)).is_ok());
        assert_eq!(
            signer.sign_once(&origin, user, &nonce(REMEMBERED_NONCES)),
            Err(SignRefused::Replayed)
        );
    }
}
