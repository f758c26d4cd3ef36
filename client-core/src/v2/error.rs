//! The error type of the v2 crypto core (backups have their own, [`super::BackupError`]).

use coffer_wire::v2::{GrantError, HeaderError, VolumeName};

/// Why a v2 operation failed.
///
/// Every message names the failed check and what it means; none contains key bytes, plaintext,
/// ciphertext or secrets, so they are safe to log. Variants that point at a hostile or broken
/// relay say so: the right reaction to those is to stop trusting what this relay served, not to
/// retry with weaker checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V2Error {
    /// An Ed25519 signature (header, grant, key binding, restore) does not verify under the key
    /// it must come from: the relay altered or substituted the signed bytes, or the key is not
    /// the one that signed them.
    #[error("signature does not verify under the expected key")]
    BadSignature,
    /// A public signing key does not decode to a usable Ed25519 point.
    #[error("public signing key is not a valid Ed25519 key")]
    InvalidSigningKey,
    /// The peer's X25519 key is a low-order point (all-zero shared secret): the derived key
    /// would be public knowledge. The peer's keys are hostile or corrupted.
    #[error("peer exchange key is low-order (all-zero shared secret)")]
    LowOrderExchangeKey,
    /// Validly signed header bytes that are not a canonical v2 header (the owner's client is
    /// broken; a relay cannot produce these).
    #[error("volume header is malformed: {0}")]
    MalformedHeader(HeaderError),
    /// Validly signed grant bytes that are not a canonical v2 grant.
    #[error("grant is malformed: {0}")]
    MalformedGrant(GrantError),
    /// A correctly signed header names another owner than the one requested: the relay served
    /// someone else's volume.
    #[error("volume belongs to another owner than the one requested")]
    WrongOwner,
    /// A correctly signed header names another volume than the one requested: the relay served
    /// one volume under another name.
    #[error("volume header names another volume than the one requested")]
    WrongVolume,
    /// The payload's length or SHA-256 differs from what the signed header declares: the relay
    /// served altered bytes or another version's payload.
    #[error("payload does not match its signed header (length or hash)")]
    PayloadMismatch,
    /// No volume key is known for the header's epoch (not granted yet, or revoked). Fetch the
    /// grant again; if it still lacks the epoch, access was withdrawn.
    #[error("no volume key for epoch {epoch}")]
    NoKeyForEpoch {
        /// The epoch the header names.
        epoch: u32,
    },
    /// AES-GCM refused the payload: the bytes were altered, or the volume key is not the one
    /// the owner used for this epoch.
    #[error("volume failed authentication (altered data or wrong key)")]
    Tampered,
    /// A volume older than one already seen: the relay is rolling the volume back. Only an
    /// owner-signed restore statement lowers the mark.
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
    /// A correctly signed grant for another owner, friend, or friend fingerprint than this
    /// reader: the relay served someone else's grant.
    #[error("grant is not addressed to this reader (owner, friend or fingerprint differ)")]
    GrantNotForMe,
    /// The grant's expiry time has passed; the owner has to issue a new grant.
    #[error("grant expired at {expires_at} (Unix seconds)")]
    GrantExpired {
        /// When it expired, Unix seconds.
        expires_at: u64,
    },
    /// A grant older than one already seen: the relay is replaying a superseded grant.
    #[error("grant rollback: seen sequence {seen}, got {got}")]
    GrantRollback {
        /// Highest sequence seen before.
        seen: u64,
        /// Sequence just served.
        got: u64,
    },
    /// A restore statement that is not newer than the last one applied for the volume: a replay
    /// of an old statement to roll the volume back again.
    #[error("restore statement is not newer than the last one applied for this volume")]
    StaleRestore,
    /// The peer's keys do not match the fingerprint pinned at pairing. Never accept this as a
    /// warning: either the peer re-installed (pair again, out of band) or the relay substitutes
    /// keys.
    #[error("peer keys do not match the pinned fingerprint")]
    KeyChanged,
    /// A wrapped volume key is not exactly 60 bytes.
    #[error("wrapped volume key is {len} bytes, expected 60")]
    WrappedKeyLength {
        /// Length given.
        len: usize,
    },
    /// AES-GCM refused a wrapped volume key: altered, wrapped for another pair, volume or
    /// epoch, or derived from other keys.
    #[error("wrapped volume key failed authentication")]
    UnwrapFailed,
    /// An invite link that is not a valid v2 pairing link; the reason says which part.
    #[error("invalid pairing link: {0}")]
    InvalidLink(&'static str),
    /// Bytes or text that do not have the expected shape; the reason says which.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// A caller-supplied value the protocol cannot carry (a bug in the caller, not an attack).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

impl From<HeaderError> for V2Error {
    fn from(e: HeaderError) -> Self {
        Self::MalformedHeader(e)
    }
}

impl From<GrantError> for V2Error {
    fn from(e: GrantError) -> Self {
        Self::MalformedGrant(e)
    }
}
