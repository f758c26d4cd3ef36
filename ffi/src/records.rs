//! Plain data the clients return, and the argument parsers shared by the client bindings.
//! Ids cross as hyphenated UUID text, volume names as text, fingerprints in compact form.

use std::fmt;

use coffer_client_core::client as core;
use coffer_wire::v2::VolumeName;
use uuid::Uuid;

use crate::error::CofferError;

/// Parses a user id argument.
pub(crate) fn user_id(text: &str) -> Result<Uuid, CofferError> {
    Uuid::try_parse(text).map_err(|_| CofferError::InvalidInput {
        reason: "a user id is a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)".to_owned(),
    })
}

/// Parses a volume name argument.
pub(crate) fn volume(name: &str) -> Result<VolumeName, CofferError> {
    VolumeName::new(name).map_err(|e| CofferError::InvalidInput {
        reason: e.to_string(),
    })
}

/// Parses a list of volume names.
pub(crate) fn volumes(names: &[String]) -> Result<Vec<VolumeName>, CofferError> {
    names.iter().map(|n| volume(n)).collect()
}

/// What a publish stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Published {
    /// The key epoch it was sealed under.
    pub epoch: u32,
    /// Its version.
    pub version: u64,
}

impl From<core::Published> for Published {
    fn from(p: core::Published) -> Self {
        Published {
            epoch: p.epoch,
            version: p.version,
        }
    }
}

/// A friend's redeemed invite waiting for the system's approval.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PairingRequest {
    /// The relay's id of the pairing.
    pub pairing_id: String,
    /// The friend's user id (pass it to `approve`).
    pub friend_id: String,
    /// The friend's public handle, if any (relay-supplied, unauthenticated text).
    pub handle: Option<String>,
    /// The fingerprint of the friend's keys, compact form.
    pub fingerprint: String,
    /// The friend's safety number, to compare with the friend's screen.
    pub safety_number: String,
    /// Whether the friend's pairing proof matches these keys. `false`: do not approve (the
    /// relay may be substituting keys); `approve` refuses it anyway.
    pub proof_valid: bool,
}

impl From<core::PairingRequest> for PairingRequest {
    fn from(r: core::PairingRequest) -> Self {
        PairingRequest {
            pairing_id: r.pairing_id.hyphenated().to_string(),
            friend_id: r.friend_id.hyphenated().to_string(),
            handle: r.handle,
            fingerprint: r.fingerprint.compact(),
            safety_number: r.safety_number,
            proof_valid: r.proof_valid,
        }
    }
}

/// A volume with one of its key epochs.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VolumeEpoch {
    /// The volume name.
    pub volume: String,
    /// The key epoch.
    pub epoch: u32,
}

fn volume_epochs(list: Vec<(VolumeName, u32)>) -> Vec<VolumeEpoch> {
    list.into_iter()
        .map(|(volume, epoch)| VolumeEpoch {
            volume: volume.as_str().to_owned(),
            epoch,
        })
        .collect()
}

/// What a revocation, narrowing or grant change did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RotationReport {
    /// Each rotated volume with its new key epoch.
    pub rotated: Vec<VolumeEpoch>,
    /// The friends that received a new grant.
    pub friends_regranted: Vec<String>,
    /// How long the run took, in milliseconds (a resumed rotation reports the resuming run).
    pub elapsed_ms: u64,
}

impl From<core::RotationReport> for RotationReport {
    fn from(r: core::RotationReport) -> Self {
        RotationReport {
            rotated: volume_epochs(r.rotated),
            friends_regranted: r
                .friends_regranted
                .iter()
                .map(|id| id.hyphenated().to_string())
                .collect(),
            elapsed_ms: u64::try_from(r.elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// The system a friend paired with.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PairedSystem {
    /// The system's user id.
    pub system_id: String,
    /// Its fingerprint (checked against the link, now pinned), compact form.
    pub fingerprint: String,
    /// Its safety number.
    pub safety_number: String,
}

impl From<core::PairedSystem> for PairedSystem {
    fn from(p: core::PairedSystem) -> Self {
        PairedSystem {
            system_id: p.system_id.hyphenated().to_string(),
            fingerprint: p.fingerprint.compact(),
            safety_number: p.safety_number,
        }
    }
}

/// A verified grant, as the friend sees it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GrantView {
    /// Granted volumes with their key epochs.
    pub volumes: Vec<VolumeEpoch>,
    /// When the grant expires (Unix seconds), if it does.
    pub expires_at: Option<u64>,
    /// The grant's sequence number.
    pub sequence: u64,
}

impl From<core::GrantView> for GrantView {
    fn from(g: core::GrantView) -> Self {
        GrantView {
            volumes: volume_epochs(g.volumes),
            expires_at: g.expires_at,
            sequence: g.sequence,
        }
    }
}

/// A shared volume in a listing, from its verified header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VolumeInfo {
    /// The volume name.
    pub volume: String,
    /// Its current key epoch.
    pub epoch: u32,
    /// Its current version.
    pub version: u64,
}

impl From<core::VolumeInfo> for VolumeInfo {
    fn from(v: core::VolumeInfo) -> Self {
        VolumeInfo {
            volume: v.volume.as_str().to_owned(),
            epoch: v.epoch,
            version: v.version,
        }
    }
}

/// The result of a friend's fetch.
#[derive(uniffi::Enum)]
pub enum FetchResult {
    /// A version newer than the last one this client returned, verified and decrypted. Keep
    /// the plaintext in memory; never write it to disk.
    Updated {
        /// The version.
        version: u64,
        /// Its key epoch.
        epoch: u32,
        /// The decrypted content.
        plaintext: Vec<u8>,
    },
    /// Nothing newer than the last version this client returned.
    NotModified,
    /// The owner deleted the volume: its signed tombstone verified under the owner's pinned
    /// key (a relay cannot fake it). A later publish by the owner is fetched as `Updated`.
    Deleted {
        /// The tombstone's version.
        version: u64,
        /// The deleted volume's key epoch.
        epoch: u32,
        /// When it was deleted: Unix seconds, a multiple of 3600 (the owner's clock).
        hour: u64,
    },
}

impl fmt::Debug for FetchResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchResult::Updated { version, epoch, .. } => f
                .debug_struct("Updated")
                .field("version", version)
                .field("epoch", epoch)
                .field("plaintext", &"<redacted>")
                .finish(),
            FetchResult::NotModified => f.write_str("NotModified"),
            FetchResult::Deleted {
                version,
                epoch,
                hour,
            } => f
                .debug_struct("Deleted")
                .field("version", version)
                .field("epoch", epoch)
                .field("hour", hour)
                .finish(),
        }
    }
}

impl From<core::Fetched> for FetchResult {
    fn from(f: core::Fetched) -> Self {
        match f {
            // The plaintext is what the caller asked for; client-core's buffer is wiped when
            // `plaintext` drops, the copy handed across cannot be.
            core::Fetched::Updated {
                version,
                epoch,
                plaintext,
            } => FetchResult::Updated {
                version,
                epoch,
                plaintext: plaintext.to_vec(),
            },
            core::Fetched::NotModified => FetchResult::NotModified,
            core::Fetched::Deleted {
                version,
                epoch,
                hour,
            } => FetchResult::Deleted {
                version,
                epoch,
                hour,
            },
        }
    }
}
