//! The owner reads its own data back (`docs/protocol-v2.md` §12): [`SystemClient`]'s
//! `list_volumes`, `fetch`, `friends`, `restore_volumes` and `process_expiries`, with the
//! records they return.

use std::fmt;
use std::sync::Arc;

use coffer_client_core::client as core;

use crate::error::CofferError;
use crate::progress::{CancellationToken, ForeignProgress, ProgressListener, cancel_of};
use crate::records::{self, FetchResult, GrantView, RotationReport};
use crate::runtime::run;
use crate::system::SystemClient;

/// One of the owner's volumes on the relay, from its verified header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OwnVolume {
    /// The volume name.
    pub volume: String,
    /// Its current key epoch.
    pub epoch: u32,
    /// Its current version.
    pub version: u64,
    /// When it was sealed (Unix seconds, rounded down to the hour).
    pub hour: u64,
    /// Its padded, encrypted size on the relay (bytes).
    pub size: u64,
    /// Whether this device holds the key of `epoch` (else `fetch` throws `NoKeyForEpoch`).
    pub key_present: bool,
}

impl From<core::OwnVolume> for OwnVolume {
    fn from(v: core::OwnVolume) -> Self {
        OwnVolume {
            volume: v.volume.as_str().to_owned(),
            epoch: v.epoch,
            version: v.version,
            hour: v.hour,
            size: v.size,
            key_present: v.key_present,
        }
    }
}

/// What `restore_volumes` got for one volume.
#[derive(uniffi::Enum)]
pub enum RestoredVolume {
    /// Verified and decrypted. Keep the plaintext in memory; never write it to disk.
    Volume {
        /// The volume name.
        volume: String,
        /// Its key epoch.
        epoch: u32,
        /// Its version.
        version: u64,
        /// The decrypted content.
        plaintext: Vec<u8>,
    },
    /// Stored under a key epoch this device has no key for (re-keyed or first published
    /// after the backup): not corruption. Readable once the key reaches this device.
    KeyMissing {
        /// The volume name.
        volume: String,
        /// The epoch whose key is missing.
        epoch: u32,
        /// Its version.
        version: u64,
    },
}

impl fmt::Debug for RestoredVolume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoredVolume::Volume {
                volume,
                epoch,
                version,
                ..
            } => f
                .debug_struct("Volume")
                .field("volume", volume)
                .field("epoch", epoch)
                .field("version", version)
                .field("plaintext", &"<redacted>")
                .finish(),
            RestoredVolume::KeyMissing {
                volume,
                epoch,
                version,
            } => f
                .debug_struct("KeyMissing")
                .field("volume", volume)
                .field("epoch", epoch)
                .field("version", version)
                .finish(),
        }
    }
}

impl From<core::Restored> for RestoredVolume {
    fn from(r: core::Restored) -> Self {
        match r {
            // The copy handed across cannot be wiped; client-core's buffer is.
            core::Restored::Volume {
                volume,
                epoch,
                version,
                plaintext,
            } => RestoredVolume::Volume {
                volume: volume.as_str().to_owned(),
                epoch,
                version,
                plaintext: plaintext.to_vec(),
            },
            core::Restored::KeyMissing {
                volume,
                epoch,
                version,
            } => RestoredVolume::KeyMissing {
                volume: volume.as_str().to_owned(),
                epoch,
                version,
            },
        }
    }
}

/// The state of a friend's pairing on the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FriendStatus {
    /// Approved here, no grant stored on the relay yet.
    Pending,
    /// A grant is stored.
    Active,
    /// The relay shows no pairing (the friend unpaired).
    Unpaired,
}

/// A friend's grant as the relay holds it, verified by this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FriendGrant {
    /// No grant stored.
    NoGrant,
    /// The stored grant, signed by this account for this friend's pinned keys.
    Current {
        /// What it grants.
        view: GrantView,
        /// Whether it has expired (run `process_expiries` to re-key its volumes).
        expired: bool,
    },
    /// The relay serves an older grant than this device uploaded (a rollback): grant again or
    /// revoke.
    RolledBack {
        /// The sequence served.
        served_sequence: u64,
        /// The sequence this device uploaded last.
        recorded_sequence: u64,
    },
}

/// A paired friend as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FriendInfo {
    /// The friend's user id.
    pub friend_id: String,
    /// Its handle as pinned at approval (unauthenticated text).
    pub handle: Option<String>,
    /// Its pinned fingerprint, compact form.
    pub fingerprint: String,
    /// Its safety number.
    pub safety_number: String,
    /// The pairing's state on the relay.
    pub status: FriendStatus,
    /// Its grant as the relay holds it.
    pub grant: FriendGrant,
}

impl From<core::FriendInfo> for FriendInfo {
    fn from(f: core::FriendInfo) -> Self {
        FriendInfo {
            friend_id: f.friend_id.hyphenated().to_string(),
            handle: f.handle,
            fingerprint: f.fingerprint.compact(),
            safety_number: f.safety_number,
            status: match f.status {
                core::FriendStatus::Pending => FriendStatus::Pending,
                core::FriendStatus::Active => FriendStatus::Active,
                core::FriendStatus::Unpaired => FriendStatus::Unpaired,
            },
            grant: match f.grant {
                core::FriendGrant::NoGrant => FriendGrant::NoGrant,
                core::FriendGrant::Current { view, expired } => FriendGrant::Current {
                    view: view.into(),
                    expired,
                },
                core::FriendGrant::RolledBack {
                    served_sequence,
                    recorded_sequence,
                } => FriendGrant::RolledBack {
                    served_sequence,
                    recorded_sequence,
                },
            },
        }
    }
}

#[uniffi::export]
impl SystemClient {
    /// The own volumes on the relay, each header verified under the own key and against the
    /// rollback marks.
    ///
    /// Throws `BadSignature`, `WrongOwner`, `WrongVolume`, `Rollback`, relay and storage errors.
    pub async fn list_volumes(self: Arc<Self>) -> Result<Vec<OwnVolume>, CofferError> {
        run(async move {
            let listed = self.core().await?.list_volumes().await?;
            Ok(listed.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Downloads and decrypts one own volume, verified as a friend's fetch is (signature,
    /// owner, name, rollback mark, AEAD). Always `Updated`.
    ///
    /// Throws `NotFound`, `NoKeyForEpoch` (re-keyed after this device's backup), `Rollback`,
    /// `BadSignature`, `Tampered`, relay and storage errors.
    pub async fn fetch(self: Arc<Self>, volume: String) -> Result<FetchResult, CofferError> {
        let volume = records::volume(&volume)?;
        run(async move { Ok(self.core().await?.fetch(&volume).await?.into()) }).await
    }

    /// Every approved friend with its pairing state and its grant as the relay holds it,
    /// verified (an older grant than this device uploaded is `RolledBack`).
    ///
    /// Throws `BadSignature`, `GrantNotForMe` (a forged or moved grant), relay and storage
    /// errors.
    pub async fn friends(self: Arc<Self>) -> Result<Vec<FriendInfo>, CofferError> {
        run(async move {
            let friends = self.core().await?.friends().await?;
            Ok(friends.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Reads every own volume back (a new phone after `restore_backup`), verified and
    /// decrypted with the keys on this device; volumes whose key is missing are `KeyMissing`.
    ///
    /// `listener` receives `list`, `fetch:<volume>` per volume, `done`; `cancel` stops at the
    /// next volume with `Cancelled` (nothing to resume: call it again).
    #[uniffi::method(default(listener = None, cancel = None))]
    pub async fn restore_volumes(
        self: Arc<Self>,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<Vec<RestoredVolume>, CofferError> {
        run(async move {
            let (progress, cancel) = (ForeignProgress::new(listener), cancel_of(cancel));
            let core = self.core().await?;
            let restored = core.restore_volumes(&progress, &cancel).await?;
            Ok(restored.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Re-keys the volumes of every grant that has lapsed, as a revocation does (the lapsed
    /// friend's keys open nothing published later); `null`/`nil`/`None` when none lapsed.
    /// Every operation that changes key state does this first; call it when the app wakes.
    /// Progress and cancellation as for `revoke` (`expire`, `rotate:<volume>`, `regrant`).
    #[uniffi::method(default(listener = None, cancel = None))]
    pub async fn process_expiries(
        self: Arc<Self>,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<Option<RotationReport>, CofferError> {
        run(async move {
            let (progress, cancel) = (ForeignProgress::new(listener), cancel_of(cancel));
            let core = self.core().await?;
            let report = core.process_expiries_with(&progress, &cancel).await?;
            Ok(report.map(Into::into))
        })
        .await
    }
}
