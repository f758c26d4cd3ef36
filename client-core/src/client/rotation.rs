//! Key rotation (P8, design §3 flow 7): after a revocation or a narrowed grant, every volume the
//! friend could read gets a new epoch with a fresh key, its latest version is re-encrypted as
//! version + 1 under it, and the remaining friends get new grants.
//!
//! Crash safety: the plan is written to the store (`rotation`) **before** anything changes on
//! the relay, and the new keys right after it, before any upload. Every step is idempotent and
//! marked done in the stored plan when it completes, so a killed app finishes the same
//! rotation on the next start ([`SystemClient::resume_rotation`]) instead of starting another.
//! A volume step checks the relay first: if it already holds the new epoch (the interrupted
//! run uploaded it), the step is done.

use std::collections::BTreeSet;
use std::time::Instant;

use coffer_wire::b64::Signature64;
use coffer_wire::v2::VolumeName;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::progress::{Cancel, Progress, Steps};
use super::system::SystemClient;
use super::{ClientError, RelayApi, RotationReport, now_unix};
use crate::transport::{Fetched as Served, PairingId, SignedVolume, TransportError};
use crate::v2::{self, HeaderFields, VolumeKey, verify_header};

/// How many times one volume step re-reads the relay after a conflicting upload.
const VOLUME_ATTEMPTS: usize = 3;

/// A rotation in progress, as stored under `rotation`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Plan {
    /// When the plan was made (Unix seconds; for diagnostics).
    started_at: u64,
    /// Unpair this friend first (revocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoke: Option<RevokeStep>,
    /// Give this friend its narrowed grant first (the relay stops serving the removed volumes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    narrow: Option<NarrowStep>,
    /// Clear these lapsed grants locally (their volumes are rotated below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expire: Option<ExpireStep>,
    /// The volumes to rotate.
    volumes: Vec<VolumeStep>,
    /// The remaining friends to re-grant once every volume is rotated.
    regrant: Vec<RegrantStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RevokeStep {
    friend: Uuid,
    pairing_id: Option<Uuid>,
    done: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NarrowStep {
    friend: Uuid,
    volumes: BTreeSet<VolumeName>,
    expires_at: Option<u64>,
    done: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExpireStep {
    friends: Vec<Uuid>,
    done: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VolumeStep {
    volume: VolumeName,
    new_epoch: u32,
    done: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RegrantStep {
    friend: Uuid,
    done: bool,
    /// Whether a grant was actually uploaded (not skipped: unpaired or expired friend).
    #[serde(default)]
    uploaded: bool,
}

impl Plan {
    fn new<R: RelayApi>(
        client: &SystemClient<R>,
        excluded: Uuid,
        volumes: &BTreeSet<VolumeName>,
    ) -> Result<Plan, ClientError> {
        let state = client.state();
        let steps = volumes
            .iter()
            .map(|volume| {
                Ok(VolumeStep {
                    volume: volume.clone(),
                    new_epoch: client.next_epoch(volume)?,
                    done: false,
                })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        let mut regrant = Vec::new();
        for friend in state.granted_friends()? {
            if friend == excluded {
                continue;
            }
            let shares = state
                .grant(friend)?
                .is_some_and(|g| !g.volumes.is_disjoint(volumes));
            if shares {
                regrant.push(RegrantStep {
                    friend,
                    done: false,
                    uploaded: false,
                });
            }
        }
        Ok(Plan {
            started_at: now_unix(),
            revoke: None,
            narrow: None,
            expire: None,
            volumes: steps,
            regrant,
        })
    }

    /// Only re-grant the friends that have `volume` (it moved to a new epoch by a publish).
    pub(super) fn regrant<R: RelayApi>(
        client: &SystemClient<R>,
        volume: &VolumeName,
    ) -> Result<Plan, ClientError> {
        let mut plan = Plan::new(client, Uuid::nil(), &BTreeSet::from([volume.clone()]))?;
        plan.volumes.clear();
        Ok(plan)
    }

    /// (steps done, steps in total), for progress reports.
    fn step_counts(&self) -> (u64, u64) {
        let flags: Vec<bool> = self
            .revoke
            .iter()
            .map(|s| s.done)
            .chain(self.narrow.iter().map(|s| s.done))
            .chain(self.expire.iter().map(|s| s.done))
            .chain(self.volumes.iter().map(|s| s.done))
            .chain(self.regrant.iter().map(|s| s.done))
            .collect();
        let done = flags.iter().filter(|&&d| d).count();
        (
            u64::try_from(done).unwrap_or(u64::MAX),
            u64::try_from(flags.len()).unwrap_or(u64::MAX),
        )
    }

    /// Whether there is nothing to do.
    pub(super) fn is_empty(&self) -> bool {
        self.revoke.is_none()
            && self.narrow.is_none()
            && self.expire.is_none()
            && self.volumes.is_empty()
            && self.regrant.is_empty()
    }

    /// Revoke `friend` and rotate `volumes` (what it could read).
    pub(super) fn revoke<R: RelayApi>(
        client: &SystemClient<R>,
        friend: Uuid,
        pairing_id: Option<Uuid>,
        volumes: &BTreeSet<VolumeName>,
    ) -> Result<Plan, ClientError> {
        let mut plan = Plan::new(client, friend, volumes)?;
        plan.revoke = Some(RevokeStep {
            friend,
            pairing_id,
            done: false,
        });
        Ok(plan)
    }

    /// Rotate every volume of every grant that lapsed by `now` and clear those grants (§12):
    /// `None` when none lapsed. The lapsed friends are not re-granted.
    pub(super) fn expire<R: RelayApi>(
        client: &SystemClient<R>,
        now: u64,
    ) -> Result<Option<Plan>, ClientError> {
        let state = client.state();
        let mut friends = Vec::new();
        let mut volumes = BTreeSet::new();
        for friend in state.granted_friends()? {
            if let Some(record) = state.grant(friend)?
                && record.expires_at.is_some_and(|t| t <= now)
                && !record.volumes.is_empty()
            {
                volumes.extend(record.volumes.iter().cloned());
                friends.push(friend);
            }
        }
        if friends.is_empty() {
            return Ok(None);
        }
        let mut plan = Plan::new(client, Uuid::nil(), &volumes)?;
        plan.regrant.retain(|r| !friends.contains(&r.friend));
        plan.expire = Some(ExpireStep {
            friends,
            done: false,
        });
        Ok(Some(plan))
    }

    /// Rotate `volumes` and re-grant every friend that has one (a device was unlinked).
    pub(super) fn rotate_all<R: RelayApi>(
        client: &SystemClient<R>,
        volumes: &BTreeSet<VolumeName>,
    ) -> Result<Plan, ClientError> {
        Plan::new(client, Uuid::nil(), volumes)
    }

    /// Narrow `friend` to `keep` and rotate `removed`.
    pub(super) fn narrow<R: RelayApi>(
        client: &SystemClient<R>,
        friend: Uuid,
        keep: BTreeSet<VolumeName>,
        expires_at: Option<u64>,
        removed: &BTreeSet<VolumeName>,
    ) -> Result<Plan, ClientError> {
        let mut plan = Plan::new(client, friend, removed)?;
        plan.narrow = Some(NarrowStep {
            friend,
            volumes: keep,
            expires_at,
            done: false,
        });
        Ok(plan)
    }
}

impl<R: RelayApi> SystemClient<R> {
    /// Persists `plan` (before anything else happens) and runs it.
    pub(super) async fn start_plan(
        &self,
        plan: Plan,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<RotationReport, ClientError> {
        self.state().store_rotation(&plan)?;
        self.run_plan(plan, progress, cancel).await
    }

    /// Rotates the volumes of lapsed grants ([`Plan::expire`]); the caller holds the
    /// operation lock and has finished any stored plan.
    pub(super) async fn expire_lapsed(
        &self,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<Option<RotationReport>, ClientError> {
        match Plan::expire(self, now_unix())? {
            None => Ok(None),
            Some(plan) => {
                tracing::info!("re-keying the volumes of lapsed grants");
                self.start_plan(plan, progress, cancel).await.map(Some)
            }
        }
    }

    /// Runs the stored plan, if any (the caller holds the operation lock).
    pub(super) async fn resume_locked(
        &self,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<Option<RotationReport>, ClientError> {
        match self.state().rotation::<Plan>()? {
            None => Ok(None),
            Some(plan) => {
                tracing::info!("resuming an interrupted key rotation");
                self.run_plan(plan, progress, cancel).await.map(Some)
            }
        }
    }

    /// Runs `plan` step by step, marking each step done in the store. Cancellation is checked
    /// before every step and abandons the request of a step in flight: every step is
    /// idempotent (see the module doc), so an abandoned step is redone by the next run, as
    /// after a crash. The plan stays stored until the last step is done.
    async fn run_plan(
        &self,
        mut plan: Plan,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<RotationReport, ClientError> {
        let started = Instant::now();
        let state = self.state();
        // New keys before any upload. A key missing here was never used: no upload of its
        // volume happens before every key of the plan is stored.
        for step in &plan.volumes {
            if !step.done && state.vek(&step.volume, step.new_epoch)?.is_none() {
                state.store_vek(&step.volume, step.new_epoch, &VolumeKey::generate())?;
            }
        }
        // Shared with the other devices before any of them is used (§13); when another
        // device changed the state first, a plan nothing of which ran is dropped and the
        // operation plans again on top of the newer state.
        if let Err(e) = self.commit_shared().await {
            if matches!(e, ClientError::StateChanged) && plan.step_counts().0 == 0 {
                state.delete_rotation()?;
            }
            return Err(e);
        }

        let (done, total) = plan.step_counts();
        let mut steps = Steps::new(progress, done, total);

        if let Some(step) = plan.revoke.as_mut().filter(|s| !s.done) {
            cancel.check()?;
            steps.start("unpair");
            if let Some(id) = step.pairing_id {
                cancel
                    .guard(async {
                        let (system, friend) = (
                            crate::transport::UserId::from_uuid(self.user_id),
                            crate::transport::UserId::from_uuid(step.friend),
                        );
                        match self
                            .relay
                            .delete_pairing_between(PairingId::from_uuid(id), system, friend)
                            .await
                        {
                            Ok(()) | Err(TransportError::NotFound) => Ok(()),
                            Err(e) => Err(e.into()),
                        }
                    })
                    .await?;
            }
            state.delete_grant(step.friend)?;
            state.delete_pin(step.friend)?;
            step.done = true;
            state.store_rotation(&plan)?;
            steps.finish();
        }

        if let Some(step) = plan.narrow.as_mut().filter(|s| !s.done) {
            cancel.check()?;
            steps.start("narrow");
            let mut record = state.grant(step.friend)?.unwrap_or_default();
            record.volumes.clone_from(&step.volumes);
            record.expires_at = step.expires_at;
            state.store_grant(step.friend, &record)?;
            // Not the rotated volumes: these are no longer in the record.
            cancel.guard(self.upload_grant_lenient(step.friend)).await?;
            step.done = true;
            state.store_rotation(&plan)?;
            steps.finish();
        }

        if let Some(step) = plan.expire.as_mut().filter(|s| !s.done) {
            cancel.check()?;
            steps.start("expire");
            for friend in &step.friends {
                if let Some(mut record) = state.grant(*friend)? {
                    record.volumes.clear();
                    state.store_grant(*friend, &record)?;
                }
            }
            step.done = true;
            state.store_rotation(&plan)?;
            steps.finish();
        }

        for i in 0..plan.volumes.len() {
            if plan.volumes[i].done {
                continue;
            }
            cancel.check()?;
            let (volume, epoch) = (plan.volumes[i].volume.clone(), plan.volumes[i].new_epoch);
            steps.start(&format!("rotate:{volume}"));
            cancel.guard(self.rotate_volume(&volume, epoch)).await?;
            plan.volumes[i].done = true;
            state.store_rotation(&plan)?;
            steps.finish();
        }

        for i in 0..plan.regrant.len() {
            if plan.regrant[i].done {
                continue;
            }
            cancel.check()?;
            steps.start("regrant");
            let uploaded = cancel
                .guard(self.upload_grant_lenient(plan.regrant[i].friend))
                .await?;
            plan.regrant[i].done = true;
            plan.regrant[i].uploaded = uploaded;
            state.store_rotation(&plan)?;
            steps.finish();
        }

        // Old epochs' keys have nothing left to open: the latest versions are re-encrypted.
        for step in &plan.volumes {
            for epoch in state.vek_epochs(&step.volume)? {
                if epoch < step.new_epoch {
                    state.delete_vek(&step.volume, epoch)?;
                }
            }
        }
        state.delete_rotation()?;
        // The old keys are gone and the grants moved on: tell the other devices. Best effort:
        // the rotation is done either way, and the next change commits what this one missed.
        if let Err(e) = self.commit_shared().await {
            tracing::warn!(error = %e, "the owner state was not updated after a rotation");
        }

        let mut friends_regranted: Vec<Uuid> = plan.narrow.iter().map(|n| n.friend).collect();
        friends_regranted.extend(plan.regrant.iter().filter(|r| r.uploaded).map(|r| r.friend));
        let report = RotationReport {
            rotated: plan
                .volumes
                .iter()
                .map(|s| (s.volume.clone(), s.new_epoch))
                .collect(),
            friends_regranted,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            volumes = report.rotated.len(),
            friends = report.friends_regranted.len(),
            elapsed_ms = u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
            "key rotation finished"
        );
        steps.done();
        Ok(report)
    }

    /// Re-encrypts the latest version of `volume` under `new_epoch` as version + 1. Done when
    /// the relay already holds `new_epoch` (or later).
    async fn rotate_volume(&self, volume: &VolumeName, new_epoch: u32) -> Result<(), ClientError> {
        let state = self.state();
        let own_key = self.identity.public_signing_key();
        let new_key = state
            .vek(volume, new_epoch)?
            .ok_or(ClientError::Protocol("rotation key missing from the store"))?;
        for _ in 0..VOLUME_ATTEMPTS {
            let served = match self.relay.get_volume(volume, None).await {
                // Never published: its next publish uses the new key.
                Err(TransportError::NotFound) => return Ok(()),
                Err(e) => return Err(e.into()),
                Ok(Served::NotModified) => {
                    return Err(ClientError::Protocol(
                        "304 Not Modified to an unconditional download",
                    ));
                }
                Ok(Served::Modified(served)) => served,
            };
            let signature = *served.signature.as_bytes();
            let header = verify_header(&own_key, self.user_id, volume, &served.header, &signature)?;
            if header.epoch() >= new_epoch {
                self.record_own(&served.header, &signature, volume)?;
                return Ok(());
            }
            let mut hwm = state.hwm()?;
            // Re-encrypting an older version than this device published would lose data.
            hwm.check_volume(self.user_id, volume, header.epoch(), header.version())?;
            let Some(old_key) = state.vek(volume, header.epoch())? else {
                tracing::warn!(%volume, "no key for the relay's epoch on this device; the new epoch starts with the next publish");
                return Ok(());
            };
            let opened = v2::open(
                &own_key,
                self.user_id,
                volume,
                &served.header,
                &signature,
                &served.payload,
                |epoch| (epoch == header.epoch()).then_some(&old_key),
            )?;
            hwm.record(opened.header())?;
            state.store_hwm(&hwm)?;
            let mark = hwm
                .volume_mark(self.user_id, volume)
                .map_or(0, |(_, version)| version);
            let hour =
                coffer_wire::time::floor_to_hour(i64::try_from(now_unix()).unwrap_or(i64::MAX));
            let fields = HeaderFields {
                owner: self.user_id,
                volume: volume.clone(),
                epoch: new_epoch,
                version: mark
                    .max(header.version())
                    .checked_add(1)
                    .ok_or(ClientError::Protocol("version overflow"))?,
                hour: u64::try_from(hour).unwrap_or(0),
            };
            let sealed = v2::seal(&self.identity, &new_key, &fields, opened.plaintext())?;
            drop(opened);
            let upload = SignedVolume {
                header: sealed.header_bytes,
                signature: Signature64::from_bytes(sealed.signature),
                payload: sealed.payload,
            };
            match self.relay.put_volume(volume, &upload).await {
                Ok(()) => {
                    self.record_own(&upload.header, upload.signature.as_bytes(), volume)?;
                    return Ok(());
                }
                // Uploaded by an interrupted run, or another device published meanwhile: the
                // next read tells which (by signature, not by the relay's claim).
                Err(TransportError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ClientError::Conflict {
            current_version: None,
            current_epoch: None,
        })
    }
}
