//! [`ClientError`], the error of the System and Friend clients, and **the one place** that
//! converts the lower layers' errors ([`TransportError`], [`V2Error`], [`StorageError`]) into it.

use std::time::Duration;

use coffer_wire::v2::VolumeName;

use super::login::CHALLENGE_REPLAYED;
use crate::storage::StorageError;
use crate::transport::{ClientBuildError, TransportError};
use crate::v2::{BackupError, V2Error};

/// Why a client operation failed. Each variant says what the app should do; [`Self::code`]
/// gives a stable machine-readable name (for bindings and logs).
///
/// Messages never contain keys, tokens, plaintext or ciphertext. Variants that point at a
/// hostile relay (signatures, rollbacks, substituted keys) must not be retried with weaker
/// checks: show them to the user and stop trusting what this relay serves.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The relay cannot be reached (DNS, connection, timeout). Retry later; nothing was lost:
    /// every step that was under way (a rotation, a publish) can simply be repeated.
    #[error(
        "cannot reach the relay ({cause}); check the network and the relay address, then retry"
    )]
    Network {
        /// What failed, e.g. "the relay's host name does not resolve: …" or "connection
        /// refused: …" (addresses only; never a token or a body).
        cause: String,
    },
    /// The TLS handshake failed. With `pin_mismatch` the relay presented another key than the
    /// pinned one: the connection may be intercepted. Do not continue; confirm the new pin with
    /// the relay's operator before re-pairing.
    #[error("TLS handshake with the relay failed (pin mismatch: {pin_mismatch}): {detail}")]
    Tls {
        /// The relay's key is not the pinned one.
        pin_mismatch: bool,
        /// What failed: for a pin mismatch the pins expected and the one presented (pins are
        /// public), otherwise the TLS library's description.
        detail: String,
    },
    /// The relay refused the login: the account was deleted, or this device's key is not the
    /// registered one. Register again or restore the right identity.
    #[error("the relay refused the login; the account may no longer exist")]
    Unauthorized,
    /// The relay does not allow this (no pairing or live grant, wrong account type, or a login
    /// signature it refuses: this device's key is not the account's). For a friend this
    /// usually means access was revoked or has not been granted yet.
    #[error("the relay does not allow this: {message}")]
    Forbidden {
        /// The relay's explanation (untrusted text, bounded).
        message: String,
    },
    /// No such user, volume, invite or pairing on the relay.
    #[error("not found on the relay")]
    NotFound,
    /// Rate limited: wait `retry_after` before trying again.
    #[error("rate limited by the relay; retry in {} s", retry_after.as_secs())]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// The relay holds newer state (a version or grant sequence this client did not know,
    /// e.g. written by another device). The relay's claims are unverified hints. Retrying
    /// the operation usually succeeds, since the client learns from them.
    #[error(
        "conflicts with the relay's state (version {current_version:?}, epoch {current_epoch:?})"
    )]
    Conflict {
        /// The relay's current version, if it said.
        current_version: Option<u64>,
        /// The relay's current epoch, if it said.
        current_epoch: Option<u32>,
    },
    /// The relay refused the request as malformed (400): a client bug or a relay rule such as
    /// a handle it does not allow; the message says which.
    #[error("the relay refused the request: {message}")]
    BadRequest {
        /// The relay's explanation (untrusted text, bounded).
        message: String,
    },
    /// The invite was already used or has expired: ask the system for a new link.
    #[error("this invite was already used or has expired; ask for a new one")]
    InviteGone,
    /// The upload is larger than the relay accepts, or the account's quota is used up.
    #[error("the relay refused the upload as too large or over quota: {limit}")]
    TooLarge {
        /// The relay's explanation, naming its limit (untrusted text, bounded).
        limit: String,
    },
    /// The relay failed (5xx) or is not a Coffer v2 relay. Retry later or contact its operator.
    #[error("the relay failed (HTTP {status})")]
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// A signature (volume header, grant, key binding) does not verify under the pinned key:
    /// the relay altered or substituted data. Do not use it.
    #[error("signature does not verify: the relay served altered data")]
    BadSignature,
    /// A volume or wrapped key failed authentication (altered bytes, or a payload that is not
    /// the one its signed header names). Do not use it.
    #[error("data failed authentication: the relay served altered data")]
    Tampered,
    /// The relay served a (correctly signed) volume under another name.
    #[error("the relay served another volume than the one requested")]
    WrongVolume,
    /// The relay served a (correctly signed) volume of another owner.
    #[error("the relay served another owner's volume")]
    WrongOwner,
    /// A volume older than one already seen: the relay is rolling it back. Keep showing the
    /// newer data; only an owner-signed restore lowers the mark.
    #[error(
        "rollback of volume {volume}: seen epoch {seen_epoch} version {seen_version}, got epoch {got_epoch} version {got_version}"
    )]
    Rollback {
        /// The volume.
        volume: VolumeName,
        /// Highest epoch seen before.
        seen_epoch: u32,
        /// Highest version seen before.
        seen_version: u64,
        /// Epoch just served.
        got_epoch: u32,
        /// Version just served.
        got_version: u64,
    },
    /// The relay served a correctly signed grant addressed to someone else.
    #[error("the grant is not addressed to this device")]
    GrantNotForMe,
    /// The grant has expired: the system has to grant access again.
    #[error("the grant has expired")]
    GrantExpired,
    /// The relay served an older grant than one already seen (replay of a superseded grant).
    #[error("the relay served an older grant than one already seen")]
    GrantRollback,
    /// The peer's keys differ from the fingerprint pinned at pairing (or from the one in the
    /// invite link). Never accept this as a warning: either the peer re-installed (pair again,
    /// out of band) or the relay substitutes keys.
    #[error("the peer's keys do not match the pinned fingerprint")]
    KeyChanged,
    /// The friend's pairing proof does not match the keys the relay presents (or the invite's
    /// secret is not on this device): the relay may be substituting keys. Do not approve; make
    /// a new invite and compare safety numbers.
    #[error("the pairing proof does not match the friend's keys; do not approve")]
    PairingProofInvalid,
    /// The relay presented a login challenge this device already signed: it is trying to get
    /// a second signature of one nonce. Stop using this relay and report it.
    #[error("the relay replayed a login challenge")]
    ChallengeReplayed,
    /// No pairing with this peer on this device (never paired, revoked, or not redeemed yet).
    #[error("not paired with this peer")]
    NotPaired,
    /// No volume key for the epoch the relay serves: access to this volume was withdrawn, or
    /// the grant has not caught up with a rotation yet. Fetch the grant again later.
    #[error("no volume key for the epoch served")]
    NoKeyForEpoch,
    /// The key store failed (locked, full, corrupted). See the inner error; nothing partial was
    /// written.
    #[error("key store: {0}")]
    Storage(#[source] StorageError),
    /// The relay's answer, or a validly signed object, is malformed. A correct relay and client
    /// never produce this; treat the relay as broken or hostile.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// An argument the caller gave cannot be used (bad handle, wrong relay, store of another
    /// account type, ...). The reason says which; fix the call.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// The operation was cancelled through its [`Cancel`](super::Cancel) token. Nothing is
    /// lost: a cancelled rotation keeps its stored plan and is finished by
    /// [`SystemClient::resume_rotation`](super::SystemClient::resume_rotation) or the next
    /// operation that changes key state; a cancelled publish can simply be repeated.
    #[error("the operation was cancelled")]
    Cancelled,
    /// An identity backup could not be written or read; the inner error says why (wrong
    /// passphrase, corrupted file, unsupported version, ...).
    #[error("identity backup: {0}")]
    Backup(#[source] BackupError),
    /// The relay served an owner state (the key state shared by this system's devices) older
    /// than one this device already saw, or a different one under a version it saw: a replay.
    /// Stop trusting what this relay serves.
    #[error("the relay served an older owner state than one already seen (replay)")]
    OwnerStateRollback,
    /// The owner state holds no key slot for this device: it was unlinked from the system.
    /// Link it again from a device that is still linked (or restore a backup made later).
    #[error("this device was unlinked from the system: the owner state holds no key for it")]
    DeviceUnlinked,
    /// A device link failed its check: the joining device's proof does not match the key the
    /// relay presents, or the package does not open or names another identity than the QR
    /// code. The relay (or someone without the code's secret) substituted it: do not link;
    /// start a new link.
    #[error("the device link does not verify: {0}; do not link, start a new link")]
    DeviceLinkInvalid(&'static str),
    /// Another device of this system changed the shared key state at the same moment, each
    /// time this operation tried (it retries on top of the newer state a few times). Retry.
    #[error("another device changed the shared key state meanwhile; retry")]
    StateChanged,
    /// The device link expired, or the other device did not complete it in time: start a
    /// new link.
    #[error("the device link expired or was not completed in time; start a new link")]
    DeviceLinkExpired,
}

impl ClientError {
    /// A stable name of the variant, for bindings and logs.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Network { .. } => "network",
            ClientError::Tls {
                pin_mismatch: true, ..
            } => "tls_pin_mismatch",
            ClientError::Tls { .. } => "tls",
            ClientError::Unauthorized => "unauthorized",
            ClientError::Forbidden { .. } => "forbidden",
            ClientError::NotFound => "not_found",
            ClientError::RateLimited { .. } => "rate_limited",
            ClientError::Conflict { .. } => "conflict",
            ClientError::BadRequest { .. } => "bad_request",
            ClientError::InviteGone => "invite_gone",
            ClientError::TooLarge { .. } => "too_large",
            ClientError::Server { .. } => "server",
            ClientError::BadSignature => "bad_signature",
            ClientError::Tampered => "tampered",
            ClientError::WrongVolume => "wrong_volume",
            ClientError::WrongOwner => "wrong_owner",
            ClientError::Rollback { .. } => "rollback",
            ClientError::GrantNotForMe => "grant_not_for_me",
            ClientError::GrantExpired => "grant_expired",
            ClientError::GrantRollback => "grant_rollback",
            ClientError::KeyChanged => "key_changed",
            ClientError::PairingProofInvalid => "pairing_proof_invalid",
            ClientError::ChallengeReplayed => "challenge_replayed",
            ClientError::NotPaired => "not_paired",
            ClientError::NoKeyForEpoch => "no_key_for_epoch",
            ClientError::Storage(_) => "storage",
            ClientError::Protocol(_) => "protocol",
            ClientError::InvalidInput(_) => "invalid_input",
            ClientError::Cancelled => "cancelled",
            ClientError::Backup(_) => "backup",
            ClientError::OwnerStateRollback => "owner_state_rollback",
            ClientError::DeviceUnlinked => "device_unlinked",
            ClientError::DeviceLinkInvalid(_) => "device_link_invalid",
            ClientError::StateChanged => "state_changed",
            ClientError::DeviceLinkExpired => "device_link_expired",
        }
    }
}

impl From<TransportError> for ClientError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Network { kind, detail } => {
                tracing::debug!(%kind, %detail, "relay unreachable");
                ClientError::Network {
                    cause: format!("{kind}: {detail}"),
                }
            }
            TransportError::Tls {
                pin_mismatch,
                detail,
            } => ClientError::Tls {
                pin_mismatch,
                detail,
            },
            TransportError::Unauthorized => ClientError::Unauthorized,
            TransportError::NoAuthenticator => ClientError::InvalidInput(
                "the relay connection cannot log in: build it with client::relay_for",
            ),
            TransportError::BadRequest { message } => ClientError::BadRequest { message },
            TransportError::Forbidden { message } => ClientError::Forbidden { message },
            TransportError::NotFound => ClientError::NotFound,
            TransportError::Conflict {
                current_version,
                current_epoch,
            } => ClientError::Conflict {
                current_version,
                current_epoch,
            },
            TransportError::RateLimited { retry_after } => ClientError::RateLimited { retry_after },
            TransportError::PayloadTooLarge { message } => ClientError::TooLarge { limit: message },
            TransportError::Gone => ClientError::InviteGone,
            // Where a deletion is expected (fetch, own reads) it is verified before this;
            // elsewhere it is the relay's unverified claim: the volume is not there.
            TransportError::Deleted { .. } => ClientError::NotFound,
            TransportError::Server { status } => ClientError::Server { status },
            // Our own authenticator's refusal travels through the transport as this message.
            TransportError::Protocol(m) if m == CHALLENGE_REPLAYED => {
                ClientError::ChallengeReplayed
            }
            TransportError::Protocol(m) => ClientError::Protocol(m),
        }
    }
}

impl From<V2Error> for ClientError {
    fn from(e: V2Error) -> Self {
        match e {
            V2Error::BadSignature | V2Error::InvalidSigningKey => ClientError::BadSignature,
            V2Error::LowOrderExchangeKey => {
                ClientError::Protocol("the peer's exchange key is low-order (unusable)")
            }
            V2Error::MalformedHeader(_) => {
                ClientError::Protocol("a validly signed volume header is malformed")
            }
            V2Error::MalformedGrant(_) => {
                ClientError::Protocol("a validly signed grant is malformed")
            }
            V2Error::WrongOwner => ClientError::WrongOwner,
            V2Error::WrongVolume => ClientError::WrongVolume,
            V2Error::PayloadMismatch
            | V2Error::Tampered
            | V2Error::UnwrapFailed
            | V2Error::WrappedKeyLength { .. } => ClientError::Tampered,
            V2Error::NoKeyForEpoch { .. } => ClientError::NoKeyForEpoch,
            V2Error::Rollback {
                volume,
                seen_epoch,
                seen_version,
                got_epoch,
                got_version,
            } => ClientError::Rollback {
                volume,
                seen_epoch,
                seen_version,
                got_epoch,
                got_version,
            },
            V2Error::GrantNotForMe => ClientError::GrantNotForMe,
            V2Error::GrantExpired { .. } => ClientError::GrantExpired,
            V2Error::GrantRollback { .. } => ClientError::GrantRollback,
            V2Error::StaleRestore => {
                ClientError::Protocol("a stale restore statement was replayed")
            }
            V2Error::KeyChanged => ClientError::KeyChanged,
            V2Error::InvalidLink(reason) | V2Error::InvalidArgument(reason) => {
                ClientError::InvalidInput(reason)
            }
            V2Error::Malformed(reason) => ClientError::Protocol(reason),
        }
    }
}

impl From<StorageError> for ClientError {
    fn from(e: StorageError) -> Self {
        ClientError::Storage(e)
    }
}

impl From<BackupError> for ClientError {
    fn from(e: BackupError) -> Self {
        ClientError::Backup(e)
    }
}

impl From<ClientBuildError> for ClientError {
    fn from(e: ClientBuildError) -> Self {
        tracing::warn!(detail = %e.detail, "HTTPS client setup failed");
        ClientError::InvalidInput("the HTTPS client could not be set up (check proxy settings)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_challenge_is_recognised_and_nothing_else_is() {
        assert!(matches!(
            ClientError::from(TransportError::Protocol(CHALLENGE_REPLAYED)),
            ClientError::ChallengeReplayed
        ));
        assert!(matches!(
            ClientError::from(TransportError::Protocol("something else")),
            ClientError::Protocol("something else")
        ));
        assert_eq!(ClientError::ChallengeReplayed.code(), "challenge_replayed");
    }

    #[test]
    fn hostile_relay_errors_keep_their_meaning() {
        assert!(matches!(
            ClientError::from(V2Error::UnwrapFailed),
            ClientError::Tampered
        ));
        assert!(matches!(
            ClientError::from(V2Error::GrantRollback { seen: 2, got: 1 }),
            ClientError::GrantRollback
        ));
        assert!(matches!(
            ClientError::from(TransportError::Conflict {
                current_version: Some(4),
                current_epoch: Some(1)
            }),
            ClientError::Conflict {
                current_version: Some(4),
                current_epoch: Some(1)
            }
        ));
    }
}
