//! Rollback detection (§7, P7): the highest (epoch, version) seen per volume and the highest
//! grant sequence seen per (owner, friend). A relay that serves anything older is caught; only
//! an owner-signed restore statement lowers a mark.
//!
//! The state is serialisable so the app can persist it next to its pins. It holds ids, volume
//! names and counters only — never a key, a payload or plaintext.

use std::collections::BTreeMap;

use coffer_wire::v2::{Label, VolumeName, labelled};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{V2Error, VerifiedGrant, VerifiedHeader, put_str8, verify_labelled};
use crate::identity::{Identity, SIGNATURE_LEN};

/// An owner's statement that a volume legitimately went back to (epoch, version), e.g. after
/// the relay lost data and was restored from a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreStatement {
    /// The owner.
    pub owner: Uuid,
    /// The volume.
    pub volume: VolumeName,
    /// The epoch it is restored to.
    pub epoch: u32,
    /// The version it is restored to.
    pub version: u64,
}

impl RestoreStatement {
    /// `label(restore) ‖ owner ‖ str8(volume) ‖ u32(epoch) ‖ u64(version)`: what is signed.
    #[must_use]
    pub fn message(&self) -> Vec<u8> {
        let mut msg = labelled(Label::Restore);
        msg.extend_from_slice(self.owner.as_bytes());
        put_str8(&mut msg, &self.volume);
        msg.extend_from_slice(&self.epoch.to_be_bytes());
        msg.extend_from_slice(&self.version.to_be_bytes());
        msg
    }
}

/// Signs a restore statement (the owner, after a relay restore).
#[must_use]
pub fn sign_restore(identity: &Identity, statement: &RestoreStatement) -> [u8; SIGNATURE_LEN] {
    identity.sign(&statement.message())
}

/// The mark of one volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    epoch: u32,
    version: u64,
    /// The last restore point applied, so that an old statement cannot be replayed.
    restored: Option<(u32, u64)>,
}

#[derive(Serialize, Deserialize)]
struct VolumeEntry {
    owner: Uuid,
    volume: VolumeName,
    epoch: u32,
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restored: Option<(u32, u64)>,
}

#[derive(Serialize, Deserialize)]
struct GrantEntry {
    owner: Uuid,
    friend: Uuid,
    sequence: u64,
}

/// The persisted form: lists, because JSON object keys cannot be tuples.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    volumes: Vec<VolumeEntry>,
    grants: Vec<GrantEntry>,
}

/// Highest (epoch, version) per (owner, volume) and highest grant sequence per (owner, friend).
///
/// Serialises as `{"volumes": [{owner, volume, epoch, version, restored?}], "grants": [{owner,
/// friend, sequence}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Repr", into = "Repr")]
pub struct HighWater {
    volumes: BTreeMap<(Uuid, VolumeName), Mark>,
    grants: BTreeMap<(Uuid, Uuid), u64>,
}

impl From<Repr> for HighWater {
    fn from(repr: Repr) -> Self {
        let mut out = HighWater::default();
        for e in repr.volumes {
            let mark = Mark {
                epoch: e.epoch,
                version: e.version,
                restored: e.restored,
            };
            out.volumes.insert((e.owner, e.volume), mark);
        }
        for g in repr.grants {
            let seen = out.grants.entry((g.owner, g.friend)).or_insert(0);
            *seen = (*seen).max(g.sequence);
        }
        out
    }
}

impl From<HighWater> for Repr {
    fn from(hw: HighWater) -> Self {
        Repr {
            volumes: hw
                .volumes
                .into_iter()
                .map(|((owner, volume), m)| VolumeEntry {
                    owner,
                    volume,
                    epoch: m.epoch,
                    version: m.version,
                    restored: m.restored,
                })
                .collect(),
            grants: hw
                .grants
                .into_iter()
                .map(|((owner, friend), sequence)| GrantEntry {
                    owner,
                    friend,
                    sequence,
                })
                .collect(),
        }
    }
}

impl HighWater {
    /// An empty state (nothing seen yet).
    #[must_use]
    pub fn new() -> HighWater {
        HighWater::default()
    }

    /// The highest (epoch, version) seen for a volume.
    #[must_use]
    pub fn volume_mark(&self, owner: Uuid, volume: &VolumeName) -> Option<(u32, u64)> {
        self.volumes
            .get(&(owner, volume.clone()))
            .map(|m| (m.epoch, m.version))
    }

    /// The highest grant sequence seen from `owner` for `friend`.
    #[must_use]
    pub fn grant_mark(&self, owner: Uuid, friend: Uuid) -> Option<u64> {
        self.grants.get(&(owner, friend)).copied()
    }

    /// Checks (epoch, version) against the mark (e.g. from a listing, before downloading).
    /// Equal is accepted (a re-fetch of the version already seen); lower in either component is
    /// not (versions increase across epochs, so a legitimate newer version is never lower in
    /// either).
    ///
    /// # Errors
    /// [`V2Error::Rollback`].
    pub fn check_volume(
        &self,
        owner: Uuid,
        volume: &VolumeName,
        epoch: u32,
        version: u64,
    ) -> Result<(), V2Error> {
        match self.volumes.get(&(owner, volume.clone())) {
            Some(m) if epoch < m.epoch || version < m.version => Err(V2Error::Rollback {
                volume: volume.clone(),
                seen_epoch: m.epoch,
                seen_version: m.version,
                got_epoch: epoch,
                got_version: version,
            }),
            _ => Ok(()),
        }
    }

    /// Checks a verified header against the mark and raises the mark to it. Only verified
    /// headers move a mark, so a relay cannot raise one to lock a reader out.
    ///
    /// # Errors
    /// [`V2Error::Rollback`] (the mark is left unchanged).
    pub fn record(&mut self, header: &VerifiedHeader) -> Result<(), V2Error> {
        let (owner, volume) = (header.owner(), header.volume());
        self.check_volume(owner, volume, header.epoch(), header.version())?;
        let mark = self.volumes.entry((owner, volume.clone())).or_insert(Mark {
            epoch: 0,
            version: 0,
            restored: None,
        });
        mark.epoch = header.epoch();
        mark.version = header.version();
        Ok(())
    }

    /// Checks a verified tombstone (§12) against the mark and raises the mark to it, like
    /// [`Self::record`]: a deletion is a version too, so nothing older is accepted after it.
    ///
    /// # Errors
    /// [`V2Error::Rollback`] (the mark is left unchanged).
    pub fn record_tombstone(
        &mut self,
        owner: Uuid,
        tombstone: &coffer_wire::v2::Tombstone,
    ) -> Result<(), V2Error> {
        let volume = &tombstone.volume;
        self.check_volume(owner, volume, tombstone.epoch, tombstone.version)?;
        let mark = self.volumes.entry((owner, volume.clone())).or_insert(Mark {
            epoch: 0,
            version: 0,
            restored: None,
        });
        mark.epoch = tombstone.epoch;
        mark.version = tombstone.version;
        Ok(())
    }

    /// Checks a grant's sequence against the highest seen for its (owner, friend); equal is a
    /// re-fetch and accepted.
    ///
    /// # Errors
    /// [`V2Error::GrantRollback`].
    pub fn check_grant(&self, grant: &VerifiedGrant) -> Result<(), V2Error> {
        match self.grant_mark(grant.owner(), grant.friend()) {
            Some(seen) if grant.sequence() < seen => Err(V2Error::GrantRollback {
                seen,
                got: grant.sequence(),
            }),
            _ => Ok(()),
        }
    }

    /// Checks a grant and raises the mark to its sequence.
    ///
    /// # Errors
    /// [`V2Error::GrantRollback`] (the mark is left unchanged).
    pub fn record_grant(&mut self, grant: &VerifiedGrant) -> Result<(), V2Error> {
        self.check_grant(grant)?;
        self.grants
            .insert((grant.owner(), grant.friend()), grant.sequence());
        Ok(())
    }

    /// Applies an owner-signed restore: sets the volume's mark to the statement's (epoch,
    /// version). The statement must be newer than the last restore applied for that volume, so
    /// that the relay cannot replay an old one to roll the volume back again.
    ///
    /// # Errors
    /// [`V2Error::InvalidSigningKey`], [`V2Error::BadSignature`] (not the owner's statement),
    /// [`V2Error::StaleRestore`].
    pub fn apply_restore(
        &mut self,
        owner_signing_key: &[u8; 32],
        statement: &RestoreStatement,
        signature: &[u8; SIGNATURE_LEN],
    ) -> Result<(), V2Error> {
        verify_labelled(owner_signing_key, &statement.message(), signature)?;
        let point = (statement.epoch, statement.version);
        let key = (statement.owner, statement.volume.clone());
        if let Some(last) = self.volumes.get(&key).and_then(|m| m.restored)
            && point <= last
        {
            return Err(V2Error::StaleRestore);
        }
        self.volumes.insert(
            key,
            Mark {
                epoch: point.0,
                version: point.1,
                restored: Some(point),
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests;
