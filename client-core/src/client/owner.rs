//! The owner reads its own data back (`docs/protocol-v2.md` §12): the list of its volumes, a
//! verified fetch of one, the restore of every volume on a new device, and the re-keying of
//! volumes whose grants lapsed.
//!
//! The relay is treated exactly as for a friend: every header is verified under the own
//! signing key (owner and volume as asked), against the rollback marks (P7), and the payload
//! opens only under the key of its epoch with the header as associated data (P3). The checks
//! are the ones of [`crate::v2`] ([`verify_header`], [`HighWater::check_volume`](crate::v2::HighWater::check_volume),
//! [`v2::open`]) that `FriendClient::fetch` runs; only the key comes from the local key store
//! instead of a wrapped key.

use std::collections::BTreeSet;
use std::fmt;

use coffer_wire::v2::VolumeName;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::progress::{Cancel, NoProgress, Progress, Steps};
use super::system::SystemClient;
use super::{ClientError, Fetched, GrantView, RelayApi, RotationReport, now_unix};
use crate::transport::{Fetched as Served, PairingStatus};
use crate::v2::{self, Fingerprint, verify_grant, verify_header};

/// A paired friend as the owner sees it ([`SystemClient::friends`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendInfo {
    /// The friend's user id.
    pub friend_id: Uuid,
    /// Its handle as pinned at approval (relay-supplied then, unauthenticated text).
    pub handle: Option<String>,
    /// The fingerprint pinned at approval.
    pub fingerprint: Fingerprint,
    /// Its safety number.
    pub safety_number: String,
    /// The pairing's state on the relay.
    pub status: FriendStatus,
    /// The friend's grant as the relay holds it, verified.
    pub grant: FriendGrant,
}

/// The state of a pairing on the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendStatus {
    /// Redeemed and approved locally, no grant stored yet.
    Pending,
    /// A grant is stored.
    Active,
    /// The relay shows no pairing (the friend unpaired, or the relay dropped it).
    Unpaired,
}

/// A friend's grant as the relay holds it ([`FriendInfo::grant`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FriendGrant {
    /// The relay holds no grant for this friend.
    NoGrant,
    /// The stored grant: signed by this account, for this friend and its pinned fingerprint,
    /// and not older than the last grant this device uploaded.
    Current {
        /// What it grants.
        view: GrantView,
        /// Whether it has expired (the relay no longer serves it; its volumes are re-keyed by
        /// [`SystemClient::process_expiries`]).
        expired: bool,
    },
    /// The relay serves a validly signed grant older than the last one this device uploaded
    /// (P6/P7: a rollback). It is not what the friend is meant to hold: grant again
    /// (`set_grant`) or revoke.
    RolledBack {
        /// The sequence the relay serves.
        served_sequence: u64,
        /// The sequence this device last uploaded.
        recorded_sequence: u64,
    },
}

/// One of the owner's volumes as the relay lists it, from its verified header
/// ([`SystemClient::list_volumes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnVolume {
    /// The volume.
    pub volume: VolumeName,
    /// Its current key epoch.
    pub epoch: u32,
    /// Its current version.
    pub version: u64,
    /// When it was sealed (Unix seconds, rounded down to the hour).
    pub hour: u64,
    /// The payload's size on the relay (padded ciphertext, bytes).
    pub size: u64,
    /// Whether this device holds the key of `epoch` (else a fetch fails with
    /// [`ClientError::NoKeyForEpoch`]: the volume was re-keyed after this device's backup).
    pub key_present: bool,
}

/// What [`SystemClient::restore_volumes`] got for one volume.
pub enum Restored {
    /// Verified and decrypted.
    Volume {
        /// The volume.
        volume: VolumeName,
        /// Its key epoch.
        epoch: u32,
        /// Its version.
        version: u64,
        /// The plaintext, in memory only (wiped on drop).
        plaintext: Zeroizing<Vec<u8>>,
    },
    /// The relay holds the volume under a key epoch this device has no key for (it was
    /// published or rotated after the backup was made). Not corruption: once the key arrives
    /// (another device's key sync), [`SystemClient::fetch`] reads it.
    KeyMissing {
        /// The volume.
        volume: VolumeName,
        /// The epoch whose key is missing.
        epoch: u32,
        /// Its version.
        version: u64,
    },
}

impl Restored {
    /// The volume this result is about.
    #[must_use]
    pub fn volume(&self) -> &VolumeName {
        match self {
            Restored::Volume { volume, .. } | Restored::KeyMissing { volume, .. } => volume,
        }
    }
}

impl fmt::Debug for Restored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Restored::Volume {
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
            Restored::KeyMissing {
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

impl<R: RelayApi> SystemClient<R> {
    /// The own volumes on the relay (`GET /api/v2/volumes`), each header verified under the
    /// own key (owner, name) and against the rollback marks.
    ///
    /// # Errors
    /// [`ClientError::BadSignature`], [`ClientError::WrongOwner`], [`ClientError::WrongVolume`],
    /// [`ClientError::Rollback`]; relay and storage errors.
    pub async fn list_volumes(&self) -> Result<Vec<OwnVolume>, ClientError> {
        let _ops = self.ops.lock().await;
        self.list_own().await
    }

    async fn list_own(&self) -> Result<Vec<OwnVolume>, ClientError> {
        let own_key = self.identity.public_signing_key();
        let state = self.state();
        let hwm = state.hwm()?;
        let entries = self.relay.list_volumes().await?;
        entries
            .iter()
            .map(|entry| {
                let verified = verify_header(
                    &own_key,
                    self.user_id,
                    &entry.volume,
                    &entry.header,
                    entry.signature.as_bytes(),
                )?;
                hwm.check_volume(
                    self.user_id,
                    &entry.volume,
                    verified.epoch(),
                    verified.version(),
                )?;
                let header = verified.header();
                Ok(OwnVolume {
                    volume: entry.volume.clone(),
                    epoch: header.epoch,
                    version: header.version,
                    hour: header.hour,
                    size: header.payload_len,
                    key_present: state.vek(&entry.volume, header.epoch)?.is_some(),
                })
            })
            .collect()
    }

    /// Every friend this device has pinned (approved), with its pairing state and its grant as
    /// the relay holds it (`GET /api/v2/pairings`, `GET /api/v2/grants`). Each stored grant is
    /// verified: the own signature over its bytes, owner = this account, friend = that friend,
    /// fingerprint = the pinned one; a grant older than the last one this device uploaded is
    /// [`FriendGrant::RolledBack`], never shown as current.
    ///
    /// # Errors
    /// [`ClientError::BadSignature`], [`ClientError::GrantNotForMe`] (a grant the relay
    /// forged or moved between friends), [`ClientError::Protocol`] (two grants for one
    /// friend); relay and storage errors.
    pub async fn friends(&self) -> Result<Vec<FriendInfo>, ClientError> {
        let _ops = self.ops.lock().await;
        let pairings = self.relay.list_pairings().await?;
        let grants = self.relay.own_grants().await?;
        let state = self.state();
        let own_key = self.identity.public_signing_key();
        let mut ids: BTreeSet<Uuid> = state.granted_friends()?.into_iter().collect();
        ids.extend(
            pairings
                .iter()
                .filter(|p| *p.system_user_id.as_uuid() == self.user_id)
                .map(|p| *p.friend_user_id.as_uuid()),
        );
        let mut friends = Vec::new();
        for friend_id in ids {
            let Some(pin) = state.pin(friend_id)? else {
                continue; // not approved: see pending_requests
            };
            let status = match pairings.iter().find(|p| {
                *p.friend_user_id.as_uuid() == friend_id
                    && *p.system_user_id.as_uuid() == self.user_id
            }) {
                Some(p) if p.status == PairingStatus::Active => FriendStatus::Active,
                Some(_) => FriendStatus::Pending,
                None => FriendStatus::Unpaired,
            };
            let mut served = grants
                .iter()
                .filter(|g| *g.friend_user_id.as_uuid() == friend_id);
            let grant = match (served.next(), served.next()) {
                (None, _) => FriendGrant::NoGrant,
                (Some(_), Some(_)) => {
                    return Err(ClientError::Protocol(
                        "the relay lists two grants for one friend",
                    ));
                }
                (Some(envelope), None) => {
                    // Expiry is the owner's to judge here: verified as of time 0.
                    let verified = verify_grant(
                        &own_key,
                        &envelope.grant,
                        envelope.signature.as_bytes(),
                        self.user_id,
                        friend_id,
                        &pin.fingerprint,
                        0,
                    )?;
                    let recorded = state.grant(friend_id)?.map_or(0, |r| r.sequence);
                    let g = verified.grant();
                    if g.sequence < recorded {
                        FriendGrant::RolledBack {
                            served_sequence: g.sequence,
                            recorded_sequence: recorded,
                        }
                    } else {
                        FriendGrant::Current {
                            view: GrantView {
                                volumes: g
                                    .entries
                                    .iter()
                                    .map(|e| (e.volume.clone(), e.epoch))
                                    .collect(),
                                expires_at: (g.expires_at != 0).then_some(g.expires_at),
                                sequence: g.sequence,
                            },
                            expired: g.expires_at != 0 && now_unix() >= g.expires_at,
                        }
                    }
                }
            };
            friends.push(FriendInfo {
                friend_id,
                handle: pin.handle.clone(),
                fingerprint: pin.fingerprint,
                safety_number: pin.fingerprint.safety_number(),
                status,
                grant,
            });
        }
        Ok(friends)
    }

    /// Downloads the own `volume` and verifies it as a friend's fetch does (signature under
    /// the own key, owner and name, not older than this device has seen, payload hash, AEAD
    /// with the header as associated data), with the key of its epoch from the key store.
    /// Raises the rollback mark. Always [`Fetched::Updated`] (the download is unconditional).
    ///
    /// # Errors
    /// [`ClientError::NotFound`] (never published); [`ClientError::NoKeyForEpoch`] (the key
    /// of the served epoch is not on this device); [`ClientError::Rollback`],
    /// [`ClientError::BadSignature`], [`ClientError::Tampered`], [`ClientError::WrongVolume`],
    /// [`ClientError::WrongOwner`]; relay and storage errors.
    pub async fn fetch(&self, volume: &VolumeName) -> Result<Fetched, ClientError> {
        let _ops = self.ops.lock().await;
        self.fetch_own(volume).await
    }

    async fn fetch_own(&self, volume: &VolumeName) -> Result<Fetched, ClientError> {
        let own_key = self.identity.public_signing_key();
        let served = match self.relay.get_volume(volume, None).await {
            Ok(Served::Modified(served)) => served,
            Ok(Served::NotModified) => {
                return Err(ClientError::Protocol(
                    "relay answered 304 to an unconditional request",
                ));
            }
            // Deleted (§12): only a tombstone signed by the own key counts.
            Err(crate::transport::TransportError::Deleted {
                tombstone,
                signature,
            }) => {
                return super::delete::accept_tombstone(
                    &self.state(),
                    &own_key,
                    self.user_id,
                    volume,
                    &tombstone,
                    &signature,
                );
            }
            Err(e) => return Err(e.into()),
        };
        let signature = *served.signature.as_bytes();
        let header = verify_header(&own_key, self.user_id, volume, &served.header, &signature)?;
        let (epoch, version) = (header.epoch(), header.version());
        let state = self.state();
        let mut hwm = state.hwm()?;
        hwm.check_volume(self.user_id, volume, epoch, version)?;
        let vek = state
            .vek(volume, epoch)?
            .ok_or(ClientError::NoKeyForEpoch)?;
        let opened = v2::open(
            &own_key,
            self.user_id,
            volume,
            &served.header,
            &signature,
            &served.payload,
            |e| (e == epoch).then_some(&vek),
        )?;
        drop(served);
        if hwm.volume_mark(self.user_id, volume) != Some((epoch, version)) {
            hwm.record(opened.header())?;
            state.store_hwm(&hwm)?;
        }
        let (_, plaintext) = opened.into_parts();
        Ok(Fetched::Updated {
            version,
            epoch,
            plaintext,
        })
    }

    /// Reads every own volume back (a new device after `restore_backup`): lists them, then
    /// fetches and verifies each ([`fetch`](Self::fetch)) with the keys in the local key
    /// store. A volume under an epoch whose key the store lacks is [`Restored::KeyMissing`],
    /// not an error. Progress: `list`, then `fetch:<volume>` per volume, then `done`;
    /// cancellation is checked before every step (nothing is changed by a cancelled run but
    /// raised rollback marks).
    ///
    /// Each plaintext is held once, in the returned list (wiped on drop).
    ///
    /// # Errors
    /// As [`list_volumes`](Self::list_volumes) and [`fetch`](Self::fetch) (a tampered or
    /// rolled-back volume fails the whole restore: it is an attack, not a missing key);
    /// [`ClientError::Cancelled`].
    pub async fn restore_volumes(
        &self,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<Vec<Restored>, ClientError> {
        let _ops = self.ops.lock().await;
        cancel.check()?;
        let mut steps = Steps::new(progress, 0, 1);
        steps.start("list");
        let listed = cancel.guard(self.list_own()).await?;
        steps.finish();
        let total = u64::try_from(listed.len())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut steps = Steps::new(progress, 1, total);
        let mut restored = Vec::with_capacity(listed.len());
        for entry in listed {
            cancel.check()?;
            steps.start(&format!("fetch:{}", entry.volume));
            if !entry.key_present {
                restored.push(Restored::KeyMissing {
                    volume: entry.volume,
                    epoch: entry.epoch,
                    version: entry.version,
                });
                steps.finish();
                continue;
            }
            match cancel.guard(self.fetch_own(&entry.volume)).await {
                Ok(Fetched::Updated {
                    version,
                    epoch,
                    plaintext,
                }) => restored.push(Restored::Volume {
                    volume: entry.volume,
                    epoch,
                    version,
                    plaintext,
                }),
                Ok(Fetched::NotModified) => {
                    return Err(ClientError::Protocol(
                        "relay answered 304 to an unconditional request",
                    ));
                }
                // Deleted (verified tombstone) between the listing and the download.
                Ok(Fetched::Deleted { .. }) => {}
                // Re-keyed between the listing and the download (another device).
                Err(ClientError::NoKeyForEpoch) => restored.push(Restored::KeyMissing {
                    volume: entry.volume,
                    epoch: entry.epoch,
                    version: entry.version,
                }),
                Err(e) => return Err(e),
            }
            steps.finish();
        }
        steps.done();
        Ok(restored)
    }

    /// Re-keys the volumes of every grant that has lapsed (`expires_at` ≤ now) exactly as a
    /// revocation does (P8): new epoch, latest version re-encrypted, the other friends
    /// re-granted; the lapsed grant's volumes are then cleared locally (approve the friend
    /// again to give access back). `None` when no grant lapsed. Every operation that changes
    /// key state runs this first; call it when the app wakes up, so that a lapsed friend's
    /// keys open nothing published later even if no other operation runs.
    ///
    /// # Errors
    /// Relay and storage errors (an interrupted re-keying resumes like a rotation).
    pub async fn process_expiries(&self) -> Result<Option<RotationReport>, ClientError> {
        self.process_expiries_with(&NoProgress, &Cancel::new())
            .await
    }

    /// [`process_expiries`](Self::process_expiries) with progress reports (`expire`,
    /// `rotate:<volume>`, `regrant`, `done`) and cancellation (see
    /// [`revoke_with`](Self::revoke_with)).
    ///
    /// # Errors
    /// As [`process_expiries`](Self::process_expiries); [`ClientError::Cancelled`].
    pub async fn process_expiries_with(
        &self,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<Option<RotationReport>, ClientError> {
        let mut ops = self.ops.lock().await;
        let resumed = self.prepare(&mut ops, progress, cancel).await?;
        Ok(resumed)
    }
}
