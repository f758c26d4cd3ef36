//! The HTTPS transport to a relay's v2 API (`docs/protocol-v2.md`).
//!
//! Why it exists: every byte a client exchanges with a relay goes through [`RelayHttp`], so
//! trust (a pinned SPKI hash or Web PKI roots, never "accept any"), timeouts, size limits,
//! strict parsing of what the relay sends and re-login on expired sessions are decided in one
//! place.
//!
//! What it must never do:
//! - accept a certificate its [`Trust`] does not vouch for, follow a redirect, or speak plain
//!   HTTP;
//! - panic on, or allocate without bound for, anything the relay sends: malformed answers are
//!   [`TransportError::Protocol`];
//! - put a token, a request body or a response body in an error message or a log line;
//! - decide what is authentic. It parses shapes; signatures, grants, rollback and pins are
//!   checked by the crypto layer on the exact bytes this module hands over.
//!
//! Sessions: the transport signs nothing. The caller gives an [`Authenticator`] (normally
//! [`SignedLogin`] around a [`LoginSigner`] holding the identity); the transport logs in before
//! the first authenticated call and once more when the relay answers 401.
//!
//! ```no_run
//! use std::sync::Arc;
//! use coffer_client_core::transport::{
//!     LoginSigner, RelayHttp, RelayHttpConfig, RelayOrigin, SignedLogin, Trust, UserId,
//! };
//! # async fn demo(signer: impl LoginSigner + 'static, user_id: UserId) -> Result<(), Box<dyn std::error::Error>> {
//! let origin: RelayOrigin = "https://relay.example.org:8443".parse()?;
//! let pin = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=".parse()?;
//! let relay = RelayHttp::new(origin, &Trust::Pinned(pin), RelayHttpConfig::default())?
//!     .with_authenticator(Arc::new(SignedLogin::new(user_id, signer)));
//! let volumes = relay.list_volumes().await?; // logs in first
//! # let _ = volumes;
//! # Ok(())
//! # }
//! ```

mod delete;
mod endpoints;
mod error;
mod http;
mod origin;
mod receipts;
mod replica;
mod session;
mod trust;
mod types;

pub use error::{DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER, NetworkErrorKind, TransportError};
pub use http::{ClientBuildError, DEFAULT_MAX_RESPONSE_BYTES, RelayHttp, RelayHttpConfig};
pub use origin::{MAX_ORIGIN_LEN, OriginError, RelayOrigin};
pub use receipts::{ReceiptEnvelope, ReceiptList};
pub use replica::ReplicaPairingRequest;
pub use session::{Authenticator, BoxFuture, LoginSigner, Session, SessionToken, SignedLogin};
pub use trust::{Trust, TrustError};
pub use types::{
    Challenge, ChallengeRequest, ClientType, Fetched, GrantEnvelope, Handle, HandleError, Invite,
    InviteCode, InviteCodeError, MAX_GRANT_BYTES, MAX_HEADER_BYTES, MAX_LIST_ENTRIES,
    MAX_PAYLOAD_BYTES, OwnGrant, Pairing, PairingId, PairingStatus, RedeemRequest, Redeemed,
    RegisterRequest, Registered, RelayTime, SharedVolume, SignedVolume, TokenRequest, UserId,
    UserRecord, VolumeEntry, WrappedKeyEntry,
};
pub use types::{
    DeviceLabel, DeviceLabelError, SessionId, SessionInfo, SessionList, SessionProtocol,
    SessionsRevoked,
};

#[cfg(test)]
mod stub_tests;
