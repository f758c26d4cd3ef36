//! [`SystemClient`]: the data owner's side — publish, invite, approve, change grants, revoke.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use coffer_certs::SpkiPin;
use coffer_wire::b64::{Signature64, WrappedVek60};
use coffer_wire::v2::{Grant, GrantEntry, VolumeName};
use uuid::Uuid;

use super::progress::{Cancel, NoProgress, Progress, Steps};
use super::rotation::Plan;
use super::state::{PinRecord, Role, State};
use super::{
    ClientConfig, ClientError, PairingRequest, Published, RelayApi, RotationReport, now_unix,
};
use crate::identity::{Identity, IdentitySecret};
use crate::storage::KeyStore;
use crate::transport::{
    ClientType, Fetched as Served, GrantEnvelope, Pairing, PairingStatus, RelayHttp, SignedVolume,
    TransportError, UserId, WrappedKeyEntry,
};
use crate::v2::{
    self, Fingerprint, HeaderFields, InviteLink, InviteSecret, PublicIdentity, Side, VolumeKey,
    WrapKey, sign_grant, verify_header, verify_pairing_proof,
};

/// The data owner's client (design §3 flows 3–8).
///
/// Every operation runs to completion before the next starts (they are serialised internally),
/// and every operation that changes key state first finishes an interrupted rotation.
pub struct SystemClient<R: RelayApi = RelayHttp> {
    pub(super) relay: R,
    pub(super) store: Arc<dyn KeyStore>,
    pub(super) identity: Identity,
    pub(super) user_id: Uuid,
    relay_pin: Option<SpkiPin>,
    pub(super) ops: tokio::sync::Mutex<Ops>,
}

/// In-memory state, guarded by the operation lock.
#[derive(Debug, Default)]
pub(super) struct Ops {
    /// Whether the relay's versions were learned in this run.
    synced: bool,
}

impl<R: RelayApi> fmt::Debug for SystemClient<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemClient")
            .field("user_id", &self.user_id)
            .field("relay", &self.relay.origin())
            .finish_non_exhaustive()
    }
}

impl SystemClient<RelayHttp> {
    /// Creates a new system account on the relay and persists its identity in `store` (which
    /// must not hold an account yet). `handle` is an optional public name (2–64 characters).
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] for a store that already holds an account or a bad handle;
    /// relay and storage errors.
    pub async fn register(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        handle: Option<String>,
    ) -> Result<Self, ClientError> {
        super::register_account(&config, &store, handle, Role::System).await?;
        let client = Self::with_relay(super::relay_for(&config, &store)?, store)?;
        client.ops.lock().await.synced = true; // a new account has nothing on the relay
        Ok(client)
    }

    /// Opens the account persisted in `store` (an app restart): finishes an interrupted
    /// rotation and learns the relay's volume versions. When the relay cannot be reached, it
    /// opens anyway and does both before the next operation.
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] for a store without a system account or of another relay;
    /// relay errors other than [`ClientError::Network`]; storage errors.
    pub async fn open(config: ClientConfig, store: Arc<dyn KeyStore>) -> Result<Self, ClientError> {
        let relay = super::relay_for(&config, &store)?;
        super::refresh_relay_if_reachable(&relay, &store).await?;
        let client = Self::with_relay(relay, store)?;
        {
            let mut ops = client.ops.lock().await;
            match client.prepare(&mut ops, &NoProgress, &Cancel::new()).await {
                Ok(_) | Err(ClientError::Network { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(client)
    }

    /// Sets up a second device of an existing system account from its identity (e.g. from a
    /// backup) and user id, then [`open`](Self::open)s it. `store` must be empty. The device
    /// learns volume versions from the relay but has no volume keys: see the module doc.
    ///
    /// # Errors
    /// As [`open`](Self::open); [`ClientError::Forbidden`] or [`ClientError::Unauthorized`]
    /// if the identity is not the account's (the relay refuses its login signature). On any
    /// error the store is left empty again.
    pub async fn restore(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        secret: &IdentitySecret,
        user_id: Uuid,
    ) -> Result<Self, ClientError> {
        let state = State(store.as_ref());
        if state.has_account()? {
            return Err(ClientError::InvalidInput(
                "the key store already holds an account; open it instead",
            ));
        }
        state.store_identity(&Identity::from_secret(secret))?;
        state.store_account(&super::state::Account {
            user_id,
            role: Role::System,
            relay: config.relay.as_str().to_owned(),
            relay_pin: super::pin_text(&config.trust),
            relay_next_pin: super::next_pin_text(&config.trust),
            relay_former_pins: Vec::new(),
        })?;
        let opened = match super::relay_for(&config, &store)
            .and_then(|relay| Self::with_relay(relay, Arc::clone(&store)))
        {
            Ok(client) => {
                let mut ops = client.ops.lock().await;
                let prepared = client.prepare(&mut ops, &NoProgress, &Cancel::new()).await;
                drop(ops);
                prepared.map(|_| client)
            }
            Err(e) => Err(e),
        };
        if opened.is_err() {
            // Leave the store as it was given: empty (e.g. the identity is not the account's).
            state.wipe()?;
        }
        opened
    }
}

impl<R: RelayApi> SystemClient<R> {
    /// Opens the state persisted in `store` over any [`RelayApi`] (decorators, tests). No
    /// network: the relay's versions are learned, and an interrupted rotation finished, at the
    /// first operation. The relay must already log in as this account ([`super::relay_for`]).
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] if the store holds no system account; storage errors.
    pub fn with_relay(relay: R, store: Arc<dyn KeyStore>) -> Result<Self, ClientError> {
        let (identity, account) = super::load_account(&store, Role::System)?;
        let relay_pin = account
            .relay_pin
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| {
                ClientError::Storage(crate::storage::StorageError::Corrupt {
                    key: super::state::ACCOUNT.to_owned(),
                })
            })?;
        Ok(SystemClient {
            relay,
            store,
            identity,
            user_id: account.user_id,
            relay_pin,
            ops: tokio::sync::Mutex::new(Ops::default()),
        })
    }

    /// This account's user id.
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// The same client over another relay connection built from this one's (§15: a relay set
    /// around the account's relay). Nothing runs meanwhile: the client is consumed.
    pub(super) fn map_relay<S: RelayApi>(
        self,
        f: impl FnOnce(R) -> Result<S, ClientError>,
    ) -> Result<SystemClient<S>, ClientError> {
        Ok(SystemClient {
            relay: f(self.relay)?,
            store: self.store,
            identity: self.identity,
            user_id: self.user_id,
            relay_pin: self.relay_pin,
            ops: self.ops,
        })
    }

    /// This account's fingerprint (what invite links carry and friends pin).
    pub fn fingerprint(&self) -> Fingerprint {
        self.identity.fingerprint()
    }

    /// The relay this client talks to.
    pub fn relay(&self) -> &R {
        &self.relay
    }

    pub(super) fn state(&self) -> State<'_> {
        State(self.store.as_ref())
    }

    /// The relay's pin as the account recorded it (for links).
    pub(super) fn relay_pin(&self) -> Option<SpkiPin> {
        self.relay_pin
    }

    /// [`Self::prepare`] without progress reports, for the other modules of the client.
    pub(super) async fn prepare_pub(&self, ops: &mut Ops) -> Result<(), ClientError> {
        self.prepare(ops, &NoProgress, &Cancel::new())
            .await
            .map(drop)
    }

    /// Before any work: finish an interrupted rotation (reported to `progress`), learn the
    /// relay's versions once, re-key the volumes of lapsed grants (§12).
    pub(super) async fn prepare(
        &self,
        ops: &mut Ops,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<Option<RotationReport>, ClientError> {
        // The shared key state first (§13): what another device changed applies here.
        self.pull_state().await?;
        let report = self.resume_locked(progress, cancel).await?;
        if !ops.synced {
            self.sync_versions().await?;
            ops.synced = true;
        }
        let expired = self.expire_lapsed(progress, cancel).await?;
        Ok(expired.or(report))
    }

    /// Learns the relay's versions of the own volumes (a second device, a lost local mark):
    /// each listed header is verified under the own key; marks only move up.
    async fn sync_versions(&self) -> Result<(), ClientError> {
        let listed = self.relay.list_volumes().await?;
        let state = self.state();
        let mut hwm = state.hwm()?;
        let before = hwm.clone();
        for entry in listed {
            let header = verify_header(
                &self.identity.public_signing_key(),
                self.user_id,
                &entry.volume,
                &entry.header,
                entry.signature.as_bytes(),
            )?;
            if hwm.record(&header).is_err() {
                tracing::warn!(volume = %entry.volume, "the relay holds an older version than this device published");
            }
        }
        if hwm != before {
            state.store_hwm(&hwm)?;
        }
        Ok(())
    }

    /// The next epoch for `volume`: above every stored key and every epoch seen on the relay.
    pub(super) fn next_epoch(&self, volume: &VolumeName) -> Result<u32, ClientError> {
        let state = self.state();
        let stored = state.vek_epochs(volume)?.last().copied().unwrap_or(0);
        let seen = state
            .hwm()?
            .volume_mark(self.user_id, volume)
            .map_or(0, |(epoch, _)| epoch);
        stored
            .max(seen)
            .checked_add(1)
            .ok_or(ClientError::Protocol("key epoch overflow"))
    }

    /// The key of `volume`'s current epoch, creating one (epoch 1 for a new volume, or above
    /// the relay's epoch on a device that lacks its key). `true` when it was created.
    pub(super) fn current_key(
        &self,
        volume: &VolumeName,
    ) -> Result<(u32, VolumeKey, bool), ClientError> {
        let state = self.state();
        let stored = state.vek_epochs(volume)?.last().copied();
        let seen = state
            .hwm()?
            .volume_mark(self.user_id, volume)
            .map_or(0, |(epoch, _)| epoch);
        if let Some(epoch) = stored.filter(|&e| e >= seen)
            && let Some(key) = state.vek(volume, epoch)?
        {
            return Ok((epoch, key, false));
        }
        let epoch = self.next_epoch(volume)?;
        let key = VolumeKey::generate();
        state.store_vek(volume, epoch, &key)?;
        Ok((epoch, key, true))
    }

    /// The (epoch, version) of the newest version of `volume` the relay can show with a valid
    /// signature of this identity, after it reported a conflict. A conflict it cannot back
    /// with a signed header is a lie: [`ClientError::Protocol`].
    pub(super) async fn relay_signed_state(
        &self,
        volume: &VolumeName,
    ) -> Result<(u32, u64), ClientError> {
        let served = match self.relay.get_volume(volume, None).await? {
            Served::Modified(served) => served,
            Served::NotModified => {
                return Err(ClientError::Protocol(
                    "relay answered 304 to an unconditional request",
                ));
            }
        };
        let header = verify_header(
            &self.identity.public_signing_key(),
            self.user_id,
            volume,
            &served.header,
            served.signature.as_bytes(),
        )?;
        Ok((header.epoch(), header.version()))
    }

    /// Records an own upload in the rollback marks (and so in version numbering).
    pub(super) fn record_own(
        &self,
        header_bytes: &[u8],
        signature: &[u8; 64],
        volume: &VolumeName,
    ) -> Result<(), ClientError> {
        let header = verify_header(
            &self.identity.public_signing_key(),
            self.user_id,
            volume,
            header_bytes,
            signature,
        )?;
        let state = self.state();
        let mut hwm = state.hwm()?;
        if hwm.record(&header).is_ok() {
            state.store_hwm(&hwm)?;
        }
        Ok(())
    }

    /// Publishes a new version of `volume`.
    ///
    /// The version is one above the highest known (this device's mark or the relay's); on a
    /// conflict (another device published meanwhile) it retries once above the relay's
    /// version. The first publish of a volume creates its epoch-1 key. Friends granted the
    /// volume read the new version with the keys they already have.
    ///
    /// # Errors
    /// [`ClientError::Conflict`] if the retry conflicts too; [`ClientError::InvalidInput`]
    /// above the size limit; relay and storage errors.
    pub async fn publish(
        &self,
        volume: &VolumeName,
        plaintext: &[u8],
    ) -> Result<Published, ClientError> {
        self.publish_with(volume, plaintext, &NoProgress, &Cancel::new())
            .await
    }

    /// [`publish`](Self::publish) with progress reports (`seal:<volume>`, `upload:<volume>`,
    /// `done`; an interrupted rotation finished first is reported before them) and
    /// cancellation: before sealing, and during the upload (which is then abandoned; it may or
    /// may not have reached the relay, and the next publish numbers its version above
    /// whatever the relay holds).
    ///
    /// The upload is one HTTPS request: progress is reported per step, not per byte.
    ///
    /// # Errors
    /// As [`publish`](Self::publish); [`ClientError::Cancelled`].
    pub async fn publish_with(
        &self,
        volume: &VolumeName,
        plaintext: &[u8],
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<Published, ClientError> {
        refuse_reserved(volume)?;
        self.retrying(|| self.publish_attempt(volume, plaintext, progress, cancel))
            .await
    }

    /// Publishes a volume whose name is reserved for the client itself (the relay list).
    pub(super) async fn publish_reserved(
        &self,
        volume: &VolumeName,
        plaintext: &[u8],
    ) -> Result<Published, ClientError> {
        let cancel = Cancel::new();
        self.retrying(|| self.publish_attempt(volume, plaintext, &NoProgress, &cancel))
            .await
    }

    /// Marks the relay's versions as known (a new account has nothing on the relay).
    pub(super) async fn mark_synced(&self) {
        self.ops.lock().await.synced = true;
    }

    /// What opening does after the relay is set up: an interrupted rotation is finished and
    /// the relay's versions learned, unless the relay cannot be reached now.
    pub(super) async fn prepare_on_open(&self) -> Result<(), ClientError> {
        let mut ops = self.ops.lock().await;
        match self.prepare(&mut ops, &NoProgress, &Cancel::new()).await {
            Ok(_) | Err(ClientError::Network { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `volumes` plus the relay list once this system has published one: every friend reads
    /// where the system's data is (§15), whatever the app grants.
    fn with_relay_list(&self, volumes: &[VolumeName]) -> Result<Vec<VolumeName>, ClientError> {
        let list = super::relays::relay_list_volume();
        let mut volumes = volumes.to_vec();
        if !volumes.is_empty()
            && !volumes.contains(&list)
            && !self.state().vek_epochs(&list)?.is_empty()
        {
            volumes.push(list);
        }
        Ok(volumes)
    }

    async fn publish_attempt(
        &self,
        volume: &VolumeName,
        plaintext: &[u8],
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<Published, ClientError> {
        let mut ops = self.ops.lock().await;
        self.prepare(&mut ops, progress, cancel).await?;
        cancel.check()?;
        let mut steps = Steps::new(progress, 0, 2);
        steps.start(&format!("seal:{volume}"));
        let state = self.state();
        let (mut epoch, mut vek, mut created) = self.current_key(volume)?;
        // A new key is shared with the other devices before it is used (§13).
        self.commit_shared().await?;
        let mark = state
            .hwm()?
            .volume_mark(self.user_id, volume)
            .map_or(0, |(_, version)| version);
        let mut version = mark
            .checked_add(1)
            .ok_or(ClientError::Protocol("version overflow"))?;
        let mut retried = false;
        let sealed = loop {
            let hour =
                coffer_wire::time::floor_to_hour(i64::try_from(now_unix()).unwrap_or(i64::MAX));
            let fields = HeaderFields {
                owner: self.user_id,
                volume: volume.clone(),
                epoch,
                version,
                hour: u64::try_from(hour).unwrap_or(0),
            };
            let sealed = v2::seal(&self.identity, &vek, &fields, plaintext)?;
            let upload = SignedVolume {
                header: sealed.header_bytes.clone(),
                signature: Signature64::from_bytes(sealed.signature),
                payload: sealed.payload,
            };
            if !retried {
                steps.finish();
                steps.start(&format!("upload:{volume}"));
            }
            let sent = cancel
                .guard(async { Ok(self.relay.put_volume(volume, &upload).await) })
                .await?;
            match sent {
                Ok(()) => break upload,
                Err(TransportError::Conflict { .. }) if !retried => {
                    retried = true;
                    // The relay's claim of a newer version is not trusted: a hostile relay
                    // could claim version 2^63 to exhaust the counter and block revocation.
                    // What counts is the newest version it can show *signed by this identity*.
                    let (relay_epoch, current) = self.relay_signed_state(volume).await?;
                    tracing::debug!(%volume, current, "version conflict; retrying above the relay's signed version");
                    version = version.max(
                        current
                            .checked_add(1)
                            .ok_or(ClientError::Protocol("version overflow"))?,
                    );
                    if relay_epoch > epoch {
                        // Another device moved the volume to an epoch this one has no key for.
                        epoch = relay_epoch
                            .checked_add(1)
                            .ok_or(ClientError::Protocol("key epoch overflow"))?;
                        vek = VolumeKey::generate();
                        state.store_vek(volume, epoch, &vek)?;
                        self.commit_shared().await?;
                        created = true;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.record_own(&sealed.header, sealed.signature.as_bytes(), volume)?;
        if created && epoch > 1 {
            // Friends hold keys of an older epoch: give them this one. As a (volume-less)
            // plan, so that a failure is retried by the next operation; the publish itself
            // has succeeded either way.
            let plan = Plan::regrant(self, volume)?;
            if !plan.is_empty()
                && let Err(e) = self.start_plan(plan, &NoProgress, cancel).await
            {
                tracing::warn!(error = %e, "re-granting friends after a new epoch failed; will retry");
            }
        }
        steps.done();
        Ok(Published { epoch, version })
    }

    /// Creates an invite and returns its link (show it as a QR code; it holds a secret). The
    /// secret is kept in the store under the code until the friend is approved or the invite
    /// expires.
    ///
    /// # Errors
    /// Relay and storage errors; [`ClientError::InvalidInput`] if the relay origin cannot go
    /// into a link.
    pub async fn create_invite(&self) -> Result<InviteLink, ClientError> {
        self.retrying(|| self.create_invite_attempt()).await
    }

    async fn create_invite_attempt(&self) -> Result<InviteLink, ClientError> {
        let _ops = self.ops.lock().await;
        self.pull_state().await?;
        let state = self.state();
        state.sweep_invites(now_unix())?;
        let invite = self.relay.create_invite().await?;
        let secret = InviteSecret::generate();
        let expires_at = u64::try_from(invite.expires_at.unix_seconds()).unwrap_or(0);
        state.store_invite(invite.code.as_str(), &secret, expires_at)?;
        // Another device of this system may approve the friend (§13).
        self.commit_shared().await?;
        // The invite lives on the first relay of a set; the link names the others too (§15).
        let entries = self.relay.relay_entries();
        let (origin, pin) = match entries.first() {
            Some(first) => (first.origin().to_owned(), first.pins().first().copied()),
            None => (self.relay.origin().as_str().to_owned(), self.relay_pin),
        };
        let link = InviteLink::new(
            &origin,
            pin,
            invite.code.as_str(),
            secret,
            self.fingerprint(),
        )?;
        match entries.get(1..) {
            Some(others) if !others.is_empty() => Ok(link.with_also(others.to_vec())?),
            _ => Ok(link),
        }
    }

    /// Redeemed invites waiting for approval, each with the check of the friend's proof over
    /// the keys the relay presents.
    ///
    /// # Errors
    /// Relay and storage errors.
    pub async fn pending_requests(&self) -> Result<Vec<PairingRequest>, ClientError> {
        let _ops = self.ops.lock().await;
        let pairings = self.relay.list_pairings().await?;
        pairings
            .iter()
            // A pairing without an invite code is a friend's replica request (§6): not an
            // invite to approve, it is answered by the grant.
            .filter(|p| {
                *p.system_user_id.as_uuid() == self.user_id
                    && p.status == PairingStatus::Pending
                    && p.code.is_some()
            })
            .map(|p| self.examine(p))
            .collect()
    }

    /// Checks a pairing as the relay serves it: the friend's key binding, and either the pin
    /// (already pinned) or the pairing proof under the kept invite secret.
    fn examine(&self, p: &Pairing) -> Result<PairingRequest, ClientError> {
        let friend_id = *p.friend_user_id.as_uuid();
        let peer = &p.peer;
        let public = PublicIdentity::new(
            *peer.public_signing_key.as_bytes(),
            *peer.public_exchange_key.as_bytes(),
        );
        let binding_ok = peer.user_id == p.friend_user_id
            && peer.client_type == ClientType::Friend
            && public
                .verify_key_binding(peer.key_binding_signature.as_bytes())
                .is_ok();
        let state = self.state();
        let keys_ok = match state.pin(friend_id)? {
            Some(pin) => public.check_pin(&pin.fingerprint).is_ok(),
            None => match (&p.code, &p.proof) {
                (Some(code), Some(proof)) => match state.invite(code.as_str())? {
                    Some((secret, _, original)) => {
                        verify_pairing_proof(&secret, &original, friend_id, &public, proof)
                    }
                    None => false,
                },
                _ => false,
            },
        };
        let fingerprint = public.fingerprint();
        Ok(PairingRequest {
            pairing_id: *p.pairing_id.as_uuid(),
            friend_id,
            handle: peer.handle.as_ref().map(|h| h.as_str().to_owned()),
            fingerprint,
            safety_number: fingerprint.safety_number(),
            proof_valid: binding_ok && keys_ok,
        })
    }

    /// Approves a redeemed invite: re-checks the friend's proof (refusing with
    /// [`ClientError::PairingProofInvalid`]), pins the friend's fingerprint, and uploads a grant
    /// (sequence + 1) with the current key of each volume wrapped for the friend. A volume not
    /// published yet gets its epoch-1 key now. `expires_at`: Unix seconds, `None` = never.
    ///
    /// Calling it again for an approved friend may add volumes; taking volumes away is
    /// [`set_grant`](Self::set_grant)'s job (it rotates them).
    ///
    /// # Errors
    /// [`ClientError::NotPaired`] without a pairing with `friend`;
    /// [`ClientError::PairingProofInvalid`], [`ClientError::KeyChanged`] (keys differ from the
    /// pin); [`ClientError::InvalidInput`]; relay and storage errors.
    pub async fn approve(
        &self,
        friend: Uuid,
        volumes: &[VolumeName],
        expires_at: Option<u64>,
    ) -> Result<(), ClientError> {
        let volumes = self.with_relay_list(volumes)?;
        self.retrying(|| self.approve_attempt(friend, &volumes, expires_at))
            .await
    }

    async fn approve_attempt(
        &self,
        friend: Uuid,
        volumes: &[VolumeName],
        expires_at: Option<u64>,
    ) -> Result<(), ClientError> {
        let mut ops = self.ops.lock().await;
        self.prepare(&mut ops, &NoProgress, &Cancel::new()).await?;
        check_expiry(expires_at)?;
        let pairing = self
            .relay
            .list_pairings()
            .await?
            .into_iter()
            .find(|p| {
                *p.friend_user_id.as_uuid() == friend && *p.system_user_id.as_uuid() == self.user_id
            })
            .ok_or(ClientError::NotPaired)?;
        let request = self.examine(&pairing)?;
        let state = self.state();
        let pinned = state.pin(friend)?;
        if !request.proof_valid {
            return Err(match pinned {
                Some(pin) if pin.fingerprint != request.fingerprint => ClientError::KeyChanged,
                _ => ClientError::PairingProofInvalid,
            });
        }
        if pinned.is_none() {
            let public = PublicIdentity::new(
                *pairing.peer.public_signing_key.as_bytes(),
                *pairing.peer.public_exchange_key.as_bytes(),
            );
            state.store_pin(
                friend,
                &PinRecord::new(&public, request.handle.clone(), Some(request.pairing_id)),
            )?;
        }
        if let Some(code) = &pairing.code {
            // Pinned: the secret has done its job.
            state.delete_invite(code.as_str())?;
        }
        let mut record = state.grant(friend)?.unwrap_or_default();
        let wanted: BTreeSet<VolumeName> = volumes.iter().cloned().collect();
        if !record.volumes.is_subset(&wanted) {
            return Err(ClientError::InvalidInput(
                "approve cannot take volumes away from a friend; use set_grant",
            ));
        }
        record.volumes = wanted;
        record.expires_at = expires_at;
        state.store_grant(friend, &record)?;
        self.upload_grant(friend)
            .await
            .map_err(not_found_is_not_paired)
    }

    /// Changes what `friend` may read. Added volumes are granted at their current epoch;
    /// removed volumes are **rotated** (new epoch, latest version re-encrypted, remaining
    /// friends re-granted), so the friend's old keys open nothing written afterwards.
    ///
    /// # Errors
    /// [`ClientError::NotPaired`] for a friend that was never approved; relay and storage
    /// errors (an interrupted rotation resumes with [`resume_rotation`](Self::resume_rotation)).
    pub async fn set_grant(
        &self,
        friend: Uuid,
        volumes: &[VolumeName],
        expires_at: Option<u64>,
    ) -> Result<RotationReport, ClientError> {
        self.set_grant_with(friend, volumes, expires_at, &NoProgress, &Cancel::new())
            .await
    }

    /// [`set_grant`](Self::set_grant) with progress reports and cancellation of the rotation
    /// (see [`revoke_with`](Self::revoke_with)).
    ///
    /// # Errors
    /// As [`set_grant`](Self::set_grant); [`ClientError::Cancelled`].
    pub async fn set_grant_with(
        &self,
        friend: Uuid,
        volumes: &[VolumeName],
        expires_at: Option<u64>,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<RotationReport, ClientError> {
        let volumes = self.with_relay_list(volumes)?;
        self.retrying(|| self.set_grant_attempt(friend, &volumes, expires_at, progress, cancel))
            .await
    }

    async fn set_grant_attempt(
        &self,
        friend: Uuid,
        volumes: &[VolumeName],
        expires_at: Option<u64>,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<RotationReport, ClientError> {
        let mut ops = self.ops.lock().await;
        self.prepare(&mut ops, progress, cancel).await?;
        check_expiry(expires_at)?;
        let state = self.state();
        if state.pin(friend)?.is_none() {
            return Err(ClientError::NotPaired);
        }
        let started = Instant::now();
        let mut record = state.grant(friend)?.unwrap_or_default();
        let wanted: BTreeSet<VolumeName> = volumes.iter().cloned().collect();
        let removed: BTreeSet<VolumeName> = record.volumes.difference(&wanted).cloned().collect();
        if removed.is_empty() {
            record.volumes = wanted;
            record.expires_at = expires_at;
            state.store_grant(friend, &record)?;
            cancel
                .guard(async {
                    self.upload_grant(friend)
                        .await
                        .map_err(not_found_is_not_paired)
                })
                .await?;
            Steps::new(progress, 1, 1).done();
            return Ok(RotationReport {
                rotated: Vec::new(),
                friends_regranted: vec![friend],
                elapsed: started.elapsed(),
            });
        }
        let plan = Plan::narrow(self, friend, wanted, expires_at, &removed)?;
        self.start_plan(plan, progress, cancel).await
    }

    /// Revokes `friend`: deletes the pairing (the relay stops serving it at once), then
    /// rotates every volume it could read and re-grants the remaining friends (P8).
    ///
    /// # Errors
    /// [`ClientError::NotPaired`] if there is nothing to revoke; relay and storage errors (an
    /// interrupted revocation resumes with [`resume_rotation`](Self::resume_rotation)).
    pub async fn revoke(&self, friend: Uuid) -> Result<RotationReport, ClientError> {
        self.revoke_with(friend, &NoProgress, &Cancel::new()).await
    }

    /// [`revoke`](Self::revoke) with progress reports (`unpair`, `rotate:<volume>` per
    /// volume, `regrant` per remaining friend, `done`; see [`Progress`]) and cancellation.
    ///
    /// Cancelling stops the rotation at its next step (abandoning a request in flight) with
    /// [`ClientError::Cancelled`]. The plan stays stored: the relay already refuses the friend
    /// once `unpair` is done, and the rotation is finished by
    /// [`resume_rotation_with`](Self::resume_rotation_with) or before the next operation that
    /// changes key state (and by [`open`](SystemClient::open) after a restart).
    ///
    /// # Errors
    /// As [`revoke`](Self::revoke); [`ClientError::Cancelled`].
    pub async fn revoke_with(
        &self,
        friend: Uuid,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<RotationReport, ClientError> {
        self.retrying(|| self.revoke_attempt(friend, progress, cancel))
            .await
    }

    async fn revoke_attempt(
        &self,
        friend: Uuid,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<RotationReport, ClientError> {
        let mut ops = self.ops.lock().await;
        self.prepare(&mut ops, progress, cancel).await?;
        let state = self.state();
        let pin = state.pin(friend)?;
        let record = state.grant(friend)?;
        let pairing_id = match pin.as_ref().and_then(|p| p.pairing_id) {
            Some(id) => Some(id),
            None => self
                .relay
                .list_pairings()
                .await?
                .into_iter()
                .find(|p| *p.friend_user_id.as_uuid() == friend)
                .map(|p| *p.pairing_id.as_uuid()),
        };
        if pin.is_none() && record.is_none() && pairing_id.is_none() {
            return Err(ClientError::NotPaired);
        }
        let affected = record.map(|r| r.volumes).unwrap_or_default();
        let plan = Plan::revoke(self, friend, pairing_id, &affected)?;
        self.start_plan(plan, progress, cancel).await
    }

    /// Finishes a rotation that was interrupted (app killed, network lost): `None` if none was
    /// pending. Called automatically before `publish`, `approve`, `set_grant`, `revoke` and by
    /// `open`.
    ///
    /// # Errors
    /// Relay and storage errors; the plan stays for the next attempt.
    pub async fn resume_rotation(&self) -> Result<Option<RotationReport>, ClientError> {
        self.resume_rotation_with(&NoProgress, &Cancel::new()).await
    }

    /// [`resume_rotation`](Self::resume_rotation) with progress reports (steps finished by the
    /// interrupted run count as done) and cancellation.
    ///
    /// # Errors
    /// As [`resume_rotation`](Self::resume_rotation); [`ClientError::Cancelled`].
    pub async fn resume_rotation_with(
        &self,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<Option<RotationReport>, ClientError> {
        let _ops = self.ops.lock().await;
        self.resume_locked(progress, cancel).await
    }

    /// Deletes the account on the relay (volumes, pairings, grants) and then every key of it
    /// in the store.
    ///
    /// # Errors
    /// Relay errors (nothing local is deleted then); storage errors.
    pub async fn delete_account(self) -> Result<(), ClientError> {
        let _ops = self.ops.lock().await;
        self.relay.delete_account().await?;
        self.state().wipe()
    }

    /// Uploads `friend`'s grant from its record: sequence + 1 (reserved in the store first),
    /// the current key of each volume wrapped for the pinned friend keys.
    pub(super) async fn upload_grant(&self, friend: Uuid) -> Result<(), ClientError> {
        let state = self.state();
        let pin = state.pin(friend)?.ok_or(ClientError::NotPaired)?;
        let mut record = state.grant(friend)?.unwrap_or_default();
        let wrap = WrapKey::derive(
            &self.identity,
            Side::Owner,
            self.user_id,
            friend,
            &pin.public(),
            &pin.fingerprint,
        )?;
        let mut entries = Vec::with_capacity(record.volumes.len());
        let mut wrapped_keys = Vec::with_capacity(record.volumes.len());
        for volume in &record.volumes {
            let (epoch, vek, _) = self.current_key(volume)?;
            entries.push(GrantEntry {
                volume: volume.clone(),
                epoch,
            });
            wrapped_keys.push(WrappedKeyEntry {
                volume: volume.clone(),
                epoch,
                wrapped_key: WrappedVek60::from_bytes(wrap.wrap(volume, epoch, &vek)),
            });
        }
        record.sequence = record
            .sequence
            .checked_add(1)
            .ok_or(ClientError::Protocol("grant sequence overflow"))?;
        state.store_grant(friend, &record)?;
        // The sequence (and any new key) is the other devices' too before it is signed (§13).
        self.commit_shared().await?;
        let grant = Grant {
            owner: *self.user_id.as_bytes(),
            friend: *friend.as_bytes(),
            friend_fingerprint: *pin.fingerprint.as_bytes(),
            sequence: record.sequence,
            expires_at: record.expires_at.unwrap_or(0),
            entries,
        };
        let signed = sign_grant(&self.identity, &grant)?;
        self.relay
            .put_grant(
                UserId::from_uuid(friend),
                &GrantEnvelope {
                    grant: signed.bytes,
                    signature: Signature64::from_bytes(signed.signature),
                    wrapped_keys,
                },
            )
            .await?;
        Ok(())
    }

    /// [`Self::upload_grant`] for re-grants: `false` (nothing uploaded) for a friend that is no
    /// longer paired or whose grant expired.
    pub(super) async fn upload_grant_lenient(&self, friend: Uuid) -> Result<bool, ClientError> {
        let state = self.state();
        let Some(record) = state.grant(friend)? else {
            return Ok(false);
        };
        if record.expires_at.is_some_and(|t| t <= now_unix()) {
            return Ok(false);
        }
        match self.upload_grant(friend).await {
            Ok(()) => Ok(true),
            Err(ClientError::NotFound | ClientError::NotPaired) => {
                tracing::info!("friend is no longer paired; not re-granted");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// Refuses the names client-core reserves for itself (the relay list, §15).
pub(super) fn refuse_reserved(volume: &VolumeName) -> Result<(), ClientError> {
    if volume.as_str() == crate::v2::RELAY_LIST_VOLUME {
        return Err(ClientError::InvalidInput(
            "coffer.relays is reserved for the relay list: use set_relays",
        ));
    }
    Ok(())
}

fn check_expiry(expires_at: Option<u64>) -> Result<(), ClientError> {
    if expires_at.is_some_and(|t| t <= now_unix()) {
        return Err(ClientError::InvalidInput(
            "the grant's expiry is in the past",
        ));
    }
    Ok(())
}

fn not_found_is_not_paired(e: ClientError) -> ClientError {
    match e {
        ClientError::NotFound => ClientError::NotPaired,
        other => other,
    }
}
