//! The one error type every binding function throws, and the only place where errors of
//! `coffer-client-core` and `coffer-certs` are converted into it.
//!
//! Variants say what the calling app can do, not which internal check failed. Their names are
//! the stable codes (Kotlin/Swift/Python match on them); their messages are for logs and never
//! contain key bytes, plaintext or ciphertext — only lengths and fixed descriptions. Text that
//! comes from the relay (`Forbidden`, `BadRequest`) is untrusted and bounded by client-core:
//! log it, do not render it as markup.

use coffer_certs::CertError;
use coffer_client_core::client::ClientError;
use coffer_client_core::legacy::v1::V1Error;
use coffer_client_core::storage::StorageError;
use coffer_client_core::transport::{OriginError, TrustError};
use coffer_client_core::v2::{BackupError, V2Error};

/// Why a Coffer call failed. Kotlin: `CofferException` (a sealed class with one subclass per
/// variant); Swift: `CofferError`; Python: `CofferError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum CofferError {
    /// An argument does not have the shape the call needs: a key, seed, signature or wrapped
    /// key of the wrong length, a blob too short to be a volume, or a plaintext too large to
    /// encrypt. Retrying with the same bytes fails again. If the bytes came from the relay,
    /// treat them as corrupt and do not use them; otherwise this is a bug in the calling code.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong (lengths and fixed text only, never the bytes themselves).
        reason: String,
    },
    /// The data failed authentication: it was altered (by the relay or in transit), or it was
    /// encrypted for another key — another VEK for a volume, another key pair for a wrapped
    /// VEK. Do not use it; fetch it again, and if it keeps failing, check that the right VEK or
    /// the right peer's public key is used.
    #[error("the data was altered or was not encrypted for this key")]
    TamperedOrWrongKey,
    /// The blob is a volume of another name or version than the one asked for: the relay served
    /// a different volume (or an older version) under this name. Do not use it.
    #[error("the blob belongs to another volume name or version than the one expected")]
    WrongVolume,
    /// The upload signature does not verify under the given public signing key: the header or
    /// blob was changed after signing, or someone else signed it. Do not trust the volume.
    #[error("the signature does not verify under the given public key")]
    BadSignature,
    /// A peer's public key cannot be used: a signing key that is not a valid Ed25519 key, or
    /// an exchange key of low order (it would make the shared key public). Refuse this peer's
    /// key; ask for it again through a channel you trust.
    #[error("unusable public key: {reason}")]
    InvalidPublicKey {
        /// Which key and why (fixed text).
        reason: String,
    },
    /// A server pin is not of the form `sha256/` followed by 44 characters of standard base64
    /// with padding. Ask the user to copy or scan the pin again.
    #[error("invalid server pin: {reason}")]
    InvalidPin {
        /// What exactly is wrong with the string and what is expected.
        reason: String,
    },

    /// The text given to `ClientConfig.fromPairing` is not a relay pairing string
    /// (`coffer://relay?v=2&relay=…&pin=…`). With `is_invite_link`, it is an invite link
    /// (`coffer://pair?…`, shown by a system device): parse it with `InviteLink.parse` and use
    /// `ClientConfig.fromInvite` instead. Otherwise ask the user to scan the relay's QR code
    /// (its banner, or `coffer-admin cert pair --url`) again.
    #[error("{reason}")]
    NotAPairingString {
        /// What is wrong and which API takes the text instead.
        reason: String,
        /// The text is an invite link.
        is_invite_link: bool,
    },

    // ---- The System and Friend clients (relay, pairing, grants, rotation, backups) ----
    /// The relay cannot be reached. `reason` names the cause — the host name does not resolve,
    /// the connection was refused (the relay is not running on that port), a timeout — with
    /// the system's own words. Retry later; nothing was lost, and an interrupted rotation or
    /// publish can simply be repeated.
    #[error("cannot reach the relay: {reason}")]
    Network {
        /// What failed (addresses and system messages only; never a token).
        reason: String,
    },
    /// The TLS handshake failed for another reason than the pin (not a TLS server, no common
    /// protocol version, an untrusted certificate under Web PKI). Check the relay address.
    #[error("the TLS handshake with the relay failed: {reason}")]
    Tls {
        /// The TLS library's description.
        reason: String,
    },
    /// The relay presented another key than the pinned one: the connection may be intercepted.
    /// Do not continue; confirm the new pin with the relay's operator before pairing again.
    #[error("the relay's key does not match the pinned one: {reason}")]
    TlsPinMismatch {
        /// The pins expected and the pin the relay presented (`expected sha256/… , the relay
        /// presented sha256/…`), to compare with the relay's banner. Pins are public.
        reason: String,
    },
    /// The relay refused the login: the account was deleted, or this device's key is not the
    /// registered one. Register again or restore the right backup.
    #[error("the relay refused the login; the account may no longer exist")]
    Unauthorized,
    /// The relay does not allow this: for a friend usually "access was revoked or not granted
    /// yet"; for a system a wrong account type.
    #[error("the relay does not allow this: {reason}")]
    Forbidden {
        /// The relay's explanation (untrusted text). Named `reason`, not `message`, because
        /// Kotlin exceptions already have a `message`.
        reason: String,
    },
    /// No such user, volume, invite or pairing on the relay.
    #[error("not found on the relay")]
    NotFound,
    /// Rate limited by the relay: wait `retry_after_seconds` before trying again.
    #[error("rate limited by the relay; retry in {retry_after_seconds} s")]
    RateLimited {
        /// How long to wait, in seconds.
        retry_after_seconds: u64,
    },
    /// The relay holds newer state (another device published or granted meanwhile). Retrying
    /// usually succeeds: the client learns from the relay's signed state.
    #[error("conflicts with the relay's state")]
    Conflict {
        /// The relay's current version, if it said (an unverified hint).
        current_version: Option<u64>,
        /// The relay's current epoch, if it said (an unverified hint).
        current_epoch: Option<u32>,
    },
    /// The relay refused the request as malformed (e.g. a handle it does not allow).
    #[error("the relay refused the request: {reason}")]
    BadRequest {
        /// The relay's explanation (untrusted text).
        reason: String,
    },
    /// The invite was already used or has expired: ask the system for a new link.
    #[error("this invite was already used or has expired")]
    InviteGone,
    /// The upload is larger than the relay accepts, or the account's quota is used up.
    #[error("the relay refused the upload as too large or over quota: {reason}")]
    TooLarge {
        /// The relay's explanation, naming its limit (untrusted text).
        reason: String,
    },
    /// The relay failed (HTTP 5xx) or is not a Coffer v2 relay. Retry later.
    #[error("the relay failed (HTTP {status})")]
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// A volume or wrapped key failed authentication: the relay (or its storage) altered it.
    /// Do not use it; keep showing what was read before, and tell the user.
    #[error("data failed authentication: the relay served altered data")]
    Tampered,
    /// The relay served a correctly signed volume of another owner. Do not use it.
    #[error("the relay served another owner's volume")]
    WrongOwner,
    /// The relay served an older version of a volume than one already seen (a rollback). Keep
    /// showing the newer data.
    #[error(
        "rollback of volume {volume}: seen {seen_epoch}/{seen_version}, got {got_epoch}/{got_version}"
    )]
    Rollback {
        /// The volume.
        volume: String,
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
    /// The relay served an older grant than one already seen (a replayed grant).
    #[error("the relay served an older grant than one already seen")]
    GrantRollback,
    /// The peer's keys differ from the fingerprint pinned at pairing (or the one in the link).
    /// Never accept this as a warning: pair again, comparing safety numbers out of band.
    #[error("the peer's keys do not match the pinned fingerprint")]
    KeyChanged,
    /// The friend's pairing proof does not match the keys the relay presents: do not approve;
    /// make a new invite and compare safety numbers.
    #[error("the pairing proof does not match the friend's keys; do not approve")]
    PairingProofInvalid,
    /// The relay presented a login challenge this device already signed. Stop using this
    /// relay and report it.
    #[error("the relay replayed a login challenge")]
    ChallengeReplayed,
    /// The relay served an older owner state (the key state this system's devices share) than
    /// one already seen: a replay. Stop trusting what this relay serves.
    #[error("the relay served an older owner state than one already seen (replay)")]
    OwnerStateRollback,
    /// This device was unlinked from the system (the owner state holds no key for it). Link it
    /// again from a linked device.
    #[error("this device was unlinked from the system")]
    DeviceUnlinked,
    /// A device link failed its check (the joining device's proof, or the package): the relay
    /// or someone without the QR code substituted it. Do not link; start a new link.
    #[error("the device link does not verify: {reason}; start a new link")]
    DeviceLinkInvalid {
        /// What failed.
        reason: String,
    },
    /// The device link expired, or the other device did not complete it in time: start a new
    /// link.
    #[error("the device link expired or was not completed in time")]
    DeviceLinkExpired,
    /// Another device of this system kept changing the shared key state while this operation
    /// ran (it retried several times). Retry.
    #[error("another device changed the shared key state meanwhile; retry")]
    StateChanged,
    /// Not paired with this peer on this device (never paired, revoked, or not redeemed yet).
    #[error("not paired with this peer")]
    NotPaired,
    /// No volume key for the epoch the relay serves: access was withdrawn, or the grant has not
    /// caught up with a rotation yet. Fetch again later.
    #[error("no volume key for the epoch served")]
    NoKeyForEpoch,
    /// The app's key storage is locked (e.g. an iOS device before its first unlock). Retry once
    /// the device is unlocked; nothing was changed.
    #[error("the key storage is locked or unavailable")]
    KeyStoreLocked,
    /// A stored value cannot be read back (its protection key is gone, or it was altered).
    /// The state under this key is lost: restore from a backup.
    #[error("the stored value under {key} is corrupted")]
    KeyStoreCorrupt {
        /// The storage key (names are not secret).
        key: String,
    },
    /// The app's key storage failed otherwise (disk full, I/O error, an exception thrown by the
    /// `KeyStorage` implementation).
    #[error("key storage: {reason}")]
    KeyStore {
        /// What failed (never a stored value).
        reason: String,
    },
    /// The relay's answer, or a validly signed object, is malformed: treat the relay as
    /// broken or hostile.
    #[error("protocol violation: {reason}")]
    Protocol {
        /// Fixed text naming the violation.
        reason: String,
    },
    /// The operation was cancelled through its `CancellationToken`. A rotation resumes with
    /// `resumeRotation()` or before the next operation that changes key state.
    #[error("the operation was cancelled")]
    Cancelled,
    /// The backup is intact but does not open with this passphrase.
    #[error("wrong passphrase for this backup")]
    WrongPassphrase,
    /// The file is not an intact Coffer backup. Another passphrase will not help; find an
    /// intact copy.
    #[error("the backup is corrupted or not a Coffer backup")]
    BackupCorrupted,
    /// The backup is of a format or strength this version does not accept: update the app.
    #[error("the backup's format or parameters are not supported by this version")]
    BackupUnsupported,
    /// The backup's key derivation failed on this device (usually not enough memory).
    #[error("backup key derivation failed (out of memory?)")]
    BackupFailed,
    /// This client object was closed by `deleteAccount()`: open a new one.
    #[error("this client is closed")]
    Closed,
    /// A failure inside the library that no caller can fix (a panic caught at the boundary,
    /// worker threads that could not start, an error this binding does not know). A bug:
    /// please report it with the reason.
    #[error("internal error: {reason}")]
    Internal {
        /// What happened (fixed text).
        reason: String,
    },
}

impl From<ClientError> for CofferError {
    fn from(err: ClientError) -> Self {
        // ClientError's messages are free of secrets (its documentation).
        match err {
            ClientError::Network { cause } => CofferError::Network { reason: cause },
            ClientError::Tls {
                pin_mismatch: true,
                detail,
            } => CofferError::TlsPinMismatch { reason: detail },
            ClientError::Tls {
                pin_mismatch: false,
                detail,
            } => CofferError::Tls { reason: detail },
            ClientError::Unauthorized => CofferError::Unauthorized,
            ClientError::Forbidden { message } => CofferError::Forbidden { reason: message },
            ClientError::NotFound => CofferError::NotFound,
            ClientError::RateLimited { retry_after } => CofferError::RateLimited {
                // Round up: retrying before the relay's bucket refills only fails again.
                retry_after_seconds: retry_after
                    .as_secs()
                    .saturating_add(u64::from(retry_after.subsec_nanos() > 0)),
            },
            ClientError::Conflict {
                current_version,
                current_epoch,
            } => CofferError::Conflict {
                current_version,
                current_epoch,
            },
            ClientError::BadRequest { message } => CofferError::BadRequest { reason: message },
            ClientError::InviteGone => CofferError::InviteGone,
            ClientError::TooLarge { limit } => CofferError::TooLarge { reason: limit },
            ClientError::Server { status } => CofferError::Server { status },
            ClientError::BadSignature => CofferError::BadSignature,
            ClientError::Tampered => CofferError::Tampered,
            ClientError::WrongVolume => CofferError::WrongVolume,
            ClientError::WrongOwner => CofferError::WrongOwner,
            ClientError::Rollback {
                volume,
                seen_epoch,
                seen_version,
                got_epoch,
                got_version,
            } => CofferError::Rollback {
                volume: volume.as_str().to_owned(),
                seen_epoch,
                seen_version,
                got_epoch,
                got_version,
            },
            ClientError::GrantNotForMe => CofferError::GrantNotForMe,
            ClientError::GrantExpired => CofferError::GrantExpired,
            ClientError::GrantRollback => CofferError::GrantRollback,
            ClientError::KeyChanged => CofferError::KeyChanged,
            ClientError::PairingProofInvalid => CofferError::PairingProofInvalid,
            ClientError::ChallengeReplayed => CofferError::ChallengeReplayed,
            ClientError::OwnerStateRollback => CofferError::OwnerStateRollback,
            ClientError::DeviceUnlinked => CofferError::DeviceUnlinked,
            ClientError::DeviceLinkInvalid(reason) => CofferError::DeviceLinkInvalid {
                reason: reason.to_owned(),
            },
            ClientError::DeviceLinkExpired => CofferError::DeviceLinkExpired,
            ClientError::StateChanged => CofferError::StateChanged,
            ClientError::NotPaired => CofferError::NotPaired,
            ClientError::NoKeyForEpoch => CofferError::NoKeyForEpoch,
            ClientError::Storage(e) => e.into(),
            ClientError::Protocol(reason) => CofferError::Protocol {
                reason: reason.to_owned(),
            },
            ClientError::InvalidInput(reason) => CofferError::InvalidInput {
                reason: reason.to_owned(),
            },
            ClientError::Cancelled => CofferError::Cancelled,
            ClientError::Backup(e) => e.into(),
            // `ClientError` is non-exhaustive: a variant added to client-core after this
            // binding was written. The mapping test lists every known one.
            other => CofferError::Internal {
                reason: format!("unmapped client error `{}`", other.code()),
            },
        }
    }
}

impl From<StorageError> for CofferError {
    fn from(err: StorageError) -> Self {
        // StorageError's messages name keys, never values (its documentation).
        match err {
            StorageError::Unavailable => CofferError::KeyStoreLocked,
            StorageError::Corrupt { key } => CofferError::KeyStoreCorrupt { key },
            other => CofferError::KeyStore {
                reason: other.to_string(),
            },
        }
    }
}

impl From<BackupError> for CofferError {
    fn from(err: BackupError) -> Self {
        match err {
            BackupError::WrongPassphrase => CofferError::WrongPassphrase,
            BackupError::Corrupted => CofferError::BackupCorrupted,
            BackupError::UnsupportedVersion | BackupError::ParametersOutOfRange => {
                CofferError::BackupUnsupported
            }
            BackupError::KeyDerivation => CofferError::BackupFailed,
            BackupError::EmptyPassphrase | BackupError::TooLarge => CofferError::InvalidInput {
                reason: err.to_string(),
            },
        }
    }
}

impl From<V2Error> for CofferError {
    fn from(err: V2Error) -> Self {
        // The clients' own conversion decides what a v2 failure means to an app.
        ClientError::from(err).into()
    }
}

impl From<OriginError> for CofferError {
    fn from(err: OriginError) -> Self {
        CofferError::InvalidInput {
            reason: err.to_string(),
        }
    }
}

impl From<TrustError> for CofferError {
    fn from(err: TrustError) -> Self {
        CofferError::InvalidInput {
            reason: err.to_string(),
        }
    }
}

impl From<V1Error> for CofferError {
    fn from(err: V1Error) -> Self {
        // V1Error's messages are documented as free of secrets (lengths and fixed text only).
        match err {
            V1Error::VolumeTooShort { .. }
            | V1Error::WrappedVekLength { .. }
            | V1Error::NotANonce => CofferError::InvalidInput {
                reason: err.to_string(),
            },
            V1Error::VolumeNonceMismatch => CofferError::WrongVolume,
            V1Error::VolumeAuthentication | V1Error::VekUnwrap => CofferError::TamperedOrWrongKey,
            V1Error::LowOrderExchangeKey | V1Error::InvalidSigningKey => {
                CofferError::InvalidPublicKey {
                    reason: err.to_string(),
                }
            }
            V1Error::BadSignature => CofferError::BadSignature,
        }
    }
}

impl From<CertError> for CofferError {
    fn from(err: CertError) -> Self {
        // CertError's messages never carry key material (its module doc); the pin message says
        // what a valid pin looks like, which is what a user needs to see.
        match err {
            CertError::InvalidPin { .. } => CofferError::InvalidPin {
                reason: err.to_string(),
            },
            // Only pin parsing is bound today; anything else is still the caller's input.
            other => CofferError::InvalidInput {
                reason: other.to_string(),
            },
        }
    }
}

/// Copies `bytes` into an array of exactly `N` bytes, or names the argument whose length is
/// wrong. Callers wrap secret results in `Zeroizing`.
pub(crate) fn exact<const N: usize>(
    bytes: &[u8],
    what: &'static str,
) -> Result<[u8; N], CofferError> {
    <[u8; N]>::try_from(bytes).map_err(|_| CofferError::InvalidInput {
        reason: format!("{what} must be {N} bytes, got {}", bytes.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_v1_error_maps_to_an_actionable_variant() {
        let cases = [
            (
                V1Error::VolumeTooShort { len: 3 },
                "InvalidInput",
                Some("3 bytes"),
            ),
            (
                V1Error::WrappedVekLength { len: 59 },
                "InvalidInput",
                Some("59 bytes"),
            ),
            (V1Error::VolumeNonceMismatch, "WrongVolume", None),
            (V1Error::VolumeAuthentication, "TamperedOrWrongKey", None),
            (V1Error::VekUnwrap, "TamperedOrWrongKey", None),
            (
                V1Error::LowOrderExchangeKey,
                "InvalidPublicKey",
                Some("low-order"),
            ),
            (
                V1Error::InvalidSigningKey,
                "InvalidPublicKey",
                Some("Ed25519"),
            ),
            (V1Error::BadSignature, "BadSignature", None),
        ];
        for (v1, variant, detail) in cases {
            let err = CofferError::from(v1);
            let debug = format!("{err:?}");
            assert!(debug.starts_with(variant), "{v1:?} became {debug}");
            if let Some(detail) = detail {
                assert!(err.to_string().contains(detail), "{err}");
            }
        }
    }

    #[test]
    fn every_client_error_maps_to_its_own_variant() {
        use std::time::Duration;

        use coffer_wire::v2::VolumeName;

        let meta = VolumeName::new("meta").expect("valid");
        let cases: Vec<(ClientError, &str)> = vec![
            (
                ClientError::Network {
                    cause: "connection refused".into(),
                },
                "Network { reason: \"connection refused\" }",
            ),
            (
                ClientError::Tls {
                    pin_mismatch: true,
                    detail: "expected sha256/A, the relay presented sha256/B".into(),
                },
                "TlsPinMismatch { reason: \"expected sha256/A, the relay presented sha256/B\" }",
            ),
            (
                ClientError::Tls {
                    pin_mismatch: false,
                    detail: "peer is incompatible".into(),
                },
                "Tls { reason: \"peer is incompatible\" }",
            ),
            (ClientError::Unauthorized, "Unauthorized"),
            (
                ClientError::Forbidden {
                    message: "no grant".into(),
                },
                "Forbidden",
            ),
            (ClientError::NotFound, "NotFound"),
            (
                ClientError::RateLimited {
                    retry_after: Duration::from_millis(1500),
                },
                "RateLimited { retry_after_seconds: 2 }",
            ),
            (
                ClientError::Conflict {
                    current_version: Some(4),
                    current_epoch: None,
                },
                "Conflict { current_version: Some(4), current_epoch: None }",
            ),
            (
                ClientError::BadRequest {
                    message: "handle".into(),
                },
                "BadRequest",
            ),
            (ClientError::InviteGone, "InviteGone"),
            (
                ClientError::TooLarge {
                    limit: "Request body exceeds 1048576 bytes".into(),
                },
                "TooLarge { reason: \"Request body exceeds 1048576 bytes\" }",
            ),
            (
                ClientError::Server { status: 503 },
                "Server { status: 503 }",
            ),
            (ClientError::BadSignature, "BadSignature"),
            (ClientError::Tampered, "Tampered"),
            (ClientError::WrongVolume, "WrongVolume"),
            (ClientError::WrongOwner, "WrongOwner"),
            (
                ClientError::Rollback {
                    volume: meta,
                    seen_epoch: 2,
                    seen_version: 5,
                    got_epoch: 1,
                    got_version: 4,
                },
                "Rollback { volume: \"meta\", seen_epoch: 2, seen_version: 5",
            ),
            (ClientError::GrantNotForMe, "GrantNotForMe"),
            (ClientError::GrantExpired, "GrantExpired"),
            (ClientError::GrantRollback, "GrantRollback"),
            (ClientError::KeyChanged, "KeyChanged"),
            (ClientError::PairingProofInvalid, "PairingProofInvalid"),
            (ClientError::ChallengeReplayed, "ChallengeReplayed"),
            (ClientError::OwnerStateRollback, "OwnerStateRollback"),
            (ClientError::DeviceUnlinked, "DeviceUnlinked"),
            (
                ClientError::DeviceLinkInvalid("proof"),
                "DeviceLinkInvalid { reason: \"proof\" }",
            ),
            (ClientError::DeviceLinkExpired, "DeviceLinkExpired"),
            (ClientError::StateChanged, "StateChanged"),
            (ClientError::NotPaired, "NotPaired"),
            (ClientError::NoKeyForEpoch, "NoKeyForEpoch"),
            (
                ClientError::Storage(StorageError::Unavailable),
                "KeyStoreLocked",
            ),
            (
                ClientError::Storage(StorageError::Corrupt { key: "hwm".into() }),
                "KeyStoreCorrupt { key: \"hwm\" }",
            ),
            (
                ClientError::Storage(StorageError::TooLarge {
                    key: "hwm".into(),
                    max: 1,
                }),
                "KeyStore {",
            ),
            (
                ClientError::Protocol("bad answer"),
                "Protocol { reason: \"bad answer\" }",
            ),
            (
                ClientError::InvalidInput("bad handle"),
                "InvalidInput { reason: \"bad handle\" }",
            ),
            (ClientError::Cancelled, "Cancelled"),
            (
                ClientError::Backup(BackupError::WrongPassphrase),
                "WrongPassphrase",
            ),
            (
                ClientError::Backup(BackupError::Corrupted),
                "BackupCorrupted",
            ),
            (
                ClientError::Backup(BackupError::UnsupportedVersion),
                "BackupUnsupported",
            ),
            (
                ClientError::Backup(BackupError::ParametersOutOfRange),
                "BackupUnsupported",
            ),
            (
                ClientError::Backup(BackupError::KeyDerivation),
                "BackupFailed",
            ),
            (
                ClientError::Backup(BackupError::EmptyPassphrase),
                "InvalidInput",
            ),
        ];
        for (client, expected) in cases {
            let code = client.code();
            let debug = format!("{:?}", CofferError::from(client));
            // A unit variant must match exactly (`Tls` is not `TlsPinMismatch`).
            let matches = if expected.contains(' ') {
                debug.starts_with(expected)
            } else {
                debug == expected || debug.starts_with(&format!("{expected} {{"))
            };
            assert!(matches, "{code} became {debug}, expected {expected}");
            assert!(!debug.starts_with("Internal"), "{code} is unmapped");
        }
    }

    #[test]
    fn exact_names_the_argument_and_lengths_only() {
        assert_eq!(exact::<2>(&[7, 8], "x"), Ok([7, 8]));
        let err = exact::<32>(&[0xab; 31], "VEK").expect_err("31 bytes");
        assert_eq!(
            err,
            CofferError::InvalidInput {
                reason: "VEK must be 32 bytes, got 31".into()
            }
        );
        assert!(!err.to_string().contains("171"), "{err}");
    }
}
