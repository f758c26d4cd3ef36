//! [`FriendClient`]: the read-only companion — redeem an invite, read what was granted.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use coffer_wire::v2::VolumeName;
use uuid::Uuid;

use super::state::{PinRecord, Role, State};
use super::{
    ClientConfig, ClientError, Fetched, GrantView, PairedSystem, RelayApi, VolumeInfo, now_unix,
};
use crate::identity::Identity;
use crate::storage::KeyStore;
use crate::transport::{
    ClientType, Fetched as Served, InviteCode, PairingId, RedeemRequest, RelayHttp, TransportError,
    UserId,
};
use crate::v2::{
    self, Fingerprint, InviteLink, PublicIdentity, Side, VerifiedGrant, WrapKey, pairing_proof,
    verify_grant, verify_header,
};

/// A friend's client (design §3 flows 4 and 6): read-only access to what systems granted.
///
/// Decrypted volumes are returned in memory only. Operations are serialised internally.
pub struct FriendClient<R: RelayApi = RelayHttp> {
    pub(super) relay: R,
    pub(super) store: Arc<dyn KeyStore>,
    pub(super) identity: Identity,
    pub(super) user_id: Uuid,
    pub(super) session: tokio::sync::Mutex<Session>,
}

/// What this run remembers (never persisted: the plaintext it refers to is gone at exit).
#[derive(Default)]
pub(super) struct Session {
    /// Last version returned by `fetch`, per (system, volume): the condition of the next one.
    returned: HashMap<(Uuid, VolumeName), u64>,
    /// The last verified grant per system.
    grants: HashMap<Uuid, VerifiedGrant>,
}

impl<R: RelayApi> fmt::Debug for FriendClient<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FriendClient")
            .field("user_id", &self.user_id)
            .field("relay", &self.relay.origin())
            .finish_non_exhaustive()
    }
}

impl FriendClient<RelayHttp> {
    /// Creates a new friend account on the relay and persists its identity in `store` (which
    /// must not hold an account yet).
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] for a store that already holds an account or a bad handle;
    /// relay and storage errors.
    pub async fn register(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        handle: Option<String>,
    ) -> Result<Self, ClientError> {
        super::register_account(&config, &store, handle, Role::Friend).await?;
        Self::with_relay(super::relay_for(&config, &store)?, store)
    }

    /// Opens the friend account persisted in `store` (no network until the first call).
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] for a store without a friend account or of another relay;
    /// storage errors.
    pub async fn open(config: ClientConfig, store: Arc<dyn KeyStore>) -> Result<Self, ClientError> {
        let relay = super::relay_for(&config, &store)?;
        super::refresh_relay_if_reachable(&relay, &store).await?;
        Self::with_relay(relay, store)
    }
}

impl<R: RelayApi> FriendClient<R> {
    /// Opens the state persisted in `store` over any [`RelayApi`]. The relay must already log
    /// in as this account ([`super::relay_for`]).
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] if the store holds no friend account; storage errors.
    pub fn with_relay(relay: R, store: Arc<dyn KeyStore>) -> Result<Self, ClientError> {
        let (identity, account) = super::load_account(&store, Role::Friend)?;
        Ok(FriendClient {
            relay,
            store,
            identity,
            user_id: account.user_id,
            session: tokio::sync::Mutex::new(Session::default()),
        })
    }

    /// This account's user id.
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// The same client over another relay connection built from this one's (§15).
    pub(super) fn map_relay<S: RelayApi>(
        self,
        f: impl FnOnce(R) -> Result<S, ClientError>,
    ) -> Result<FriendClient<S>, ClientError> {
        Ok(FriendClient {
            relay: f(self.relay)?,
            store: self.store,
            identity: self.identity,
            user_id: self.user_id,
            session: self.session,
        })
    }

    /// This account's fingerprint (what the system pins).
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

    /// Runs `f` on the key store while no operation of this client runs (a consistent
    /// snapshot for backups).
    pub(super) async fn with_state_locked<T>(&self, f: impl FnOnce(&dyn KeyStore) -> T) -> T {
        let _session = self.session.lock().await;
        f(self.store.as_ref())
    }

    fn pinned(&self, system: Uuid) -> Result<PinRecord, ClientError> {
        self.state().pin(system)?.ok_or(ClientError::NotPaired)
    }

    /// Redeems an invite link: sends the pairing proof over this account's keys, fetches the
    /// system's keys, checks their binding and that their fingerprint is the link's (else
    /// [`ClientError::KeyChanged`]), and pins them. The system still has to approve.
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] for a link to another relay; [`ClientError::InviteGone`];
    /// [`ClientError::KeyChanged`], [`ClientError::BadSignature`] (substituted system keys);
    /// [`ClientError::Conflict`] when already paired; relay and storage errors.
    pub async fn redeem(&self, link: &InviteLink) -> Result<PairedSystem, ClientError> {
        let _session = self.session.lock().await;
        if link.relay_origin() != self.relay.origin().as_str() {
            return Err(ClientError::InvalidInput(
                "the invite is for another relay than this account's",
            ));
        }
        self.redeem_on(&self.relay, link).await
    }

    /// [`Self::redeem`] through `relay` (the caller holds the session lock and checked that
    /// `relay` is the link's).
    pub(super) async fn redeem_on<A: RelayApi>(
        &self,
        relay: &A,
        link: &InviteLink,
    ) -> Result<PairedSystem, ClientError> {
        let code = InviteCode::new(link.code())
            .map_err(|_| ClientError::InvalidInput("the invite code is malformed"))?;
        let proof = pairing_proof(
            link.secret(),
            link.code(),
            self.user_id,
            &self.identity.public_identity(),
        )?;
        let redeemed = relay.redeem_invite(&RedeemRequest { code, proof }).await?;
        let system_id = *redeemed.system_user_id.as_uuid();
        match self.check_system(relay, link, system_id).await {
            Ok(public) => {
                let state = self.state();
                if let Some(pin) = state.pin(system_id)?
                    && pin.fingerprint != public.fingerprint()
                {
                    return Err(ClientError::KeyChanged);
                }
                state.store_pin(
                    system_id,
                    &PinRecord::new(&public, None, Some(*redeemed.pairing_id.as_uuid())),
                )?;
                let fingerprint = public.fingerprint();
                Ok(PairedSystem {
                    system_id,
                    fingerprint,
                    safety_number: fingerprint.safety_number(),
                })
            }
            Err(e) => {
                // Not the system of the link: leave no pairing behind for it to approve.
                if let Err(undo) = relay.delete_pairing(redeemed.pairing_id).await {
                    tracing::warn!(error = %undo, "could not delete a pairing with unverified keys");
                }
                Err(e)
            }
        }
    }

    /// The system's keys as the relay serves them, checked against the link.
    async fn check_system<A: RelayApi>(
        &self,
        relay: &A,
        link: &InviteLink,
        system_id: Uuid,
    ) -> Result<PublicIdentity, ClientError> {
        let record = relay.user_by_id(UserId::from_uuid(system_id)).await?;
        let public = PublicIdentity::new(
            *record.public_signing_key.as_bytes(),
            *record.public_exchange_key.as_bytes(),
        );
        public.verify_key_binding(record.key_binding_signature.as_bytes())?;
        public.check_pin(&link.system_fingerprint())?;
        if record.client_type != ClientType::System {
            return Err(ClientError::Protocol(
                "the invite's account is not a system",
            ));
        }
        Ok(public)
    }

    /// The system's current grant, verified: `None` while not approved (or after a
    /// revocation: the relay then refuses to serve it).
    ///
    /// Checks the owner's signature under the pinned key, that it names this account and its
    /// fingerprint, that it has not expired, and that its sequence is not below one seen
    /// before ([`ClientError::GrantRollback`]).
    ///
    /// # Errors
    /// [`ClientError::NotPaired`]; the verification errors above; relay and storage errors.
    pub async fn grant(&self, system: Uuid) -> Result<Option<GrantView>, ClientError> {
        let mut session = self.session.lock().await;
        let Some(grant) = self.fetch_grant(&self.relay, &mut session, system).await? else {
            return Ok(None);
        };
        let g = grant.grant();
        Ok(Some(GrantView {
            volumes: g
                .entries
                .iter()
                .map(|e| (e.volume.clone(), e.epoch))
                .collect(),
            expires_at: (g.expires_at != 0).then_some(g.expires_at),
            sequence: g.sequence,
        }))
    }

    async fn fetch_grant<A: RelayApi>(
        &self,
        relay: &A,
        session: &mut Session,
        system: Uuid,
    ) -> Result<Option<VerifiedGrant>, ClientError> {
        let pin = self.pinned(system)?;
        let envelope = match relay.shared_grant(UserId::from_uuid(system)).await {
            Ok(envelope) => envelope,
            Err(TransportError::Forbidden { .. } | TransportError::NotFound) => {
                session.grants.remove(&system);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let verified = verify_grant(
            pin.signing_key.as_bytes(),
            &envelope.grant,
            envelope.signature.as_bytes(),
            system,
            self.user_id,
            &self.fingerprint(),
            now_unix(),
        )?;
        let state = self.state();
        let mut hwm = state.hwm()?;
        let before = hwm.grant_mark(system, self.user_id);
        hwm.record_grant(&verified)?;
        if before != Some(verified.sequence()) {
            state.store_hwm(&hwm)?;
        }
        session.grants.insert(system, verified.clone());
        Ok(Some(verified))
    }

    /// The system's volumes this account may read, from their verified headers (signature
    /// under the pinned key, owner, name, not older than already seen).
    ///
    /// # Errors
    /// [`ClientError::NotPaired`]; [`ClientError::Forbidden`] without a live grant;
    /// verification errors; relay and storage errors.
    pub async fn list(&self, system: Uuid) -> Result<Vec<VolumeInfo>, ClientError> {
        let _session = self.session.lock().await;
        let pin = self.pinned(system)?;
        let hwm = self.state().hwm()?;
        let entries = self.relay.shared_volumes(UserId::from_uuid(system)).await?;
        entries
            .iter()
            .map(|entry| {
                let header = verify_header(
                    pin.signing_key.as_bytes(),
                    system,
                    &entry.volume,
                    &entry.header,
                    entry.signature.as_bytes(),
                )?;
                hwm.check_volume(system, &entry.volume, header.epoch(), header.version())?;
                Ok(VolumeInfo {
                    volume: entry.volume.clone(),
                    epoch: header.epoch(),
                    version: header.version(),
                })
            })
            .collect()
    }

    /// Downloads `volume` of `system` if it changed since the last version this client
    /// returned, verifies it (header under the pinned key, owner and name, not older than seen,
    /// epoch named by the verified grant), unwraps its key with the pair key of the pinned
    /// fingerprints, decrypts it and raises the rollback mark. The plaintext stays in memory.
    ///
    /// # Errors
    /// [`ClientError::NotPaired`]; [`ClientError::Forbidden`] / [`ClientError::NotFound`] from
    /// the relay; [`ClientError::Rollback`], [`ClientError::NoKeyForEpoch`],
    /// [`ClientError::BadSignature`], [`ClientError::Tampered`], [`ClientError::WrongVolume`],
    /// [`ClientError::WrongOwner`]; storage errors.
    pub async fn fetch(&self, system: Uuid, volume: &VolumeName) -> Result<Fetched, ClientError> {
        let mut session = self.session.lock().await;
        self.fetch_on(&self.relay, &mut session, system, volume)
            .await
    }

    /// [`Self::fetch`] through `relay`, under the session lock the caller holds. The rollback
    /// marks are the store's, whichever relay served what before (cross-relay rollback).
    pub(super) async fn fetch_on<A: RelayApi>(
        &self,
        relay: &A,
        session: &mut Session,
        system: Uuid,
        volume: &VolumeName,
    ) -> Result<Fetched, ClientError> {
        let pin = self.pinned(system)?;
        let since = session.returned.get(&(system, volume.clone())).copied();
        let served = match relay
            .shared_volume(UserId::from_uuid(system), volume, since)
            .await
        {
            Ok(Served::NotModified) => return Ok(Fetched::NotModified),
            Ok(Served::Modified(served)) => served,
            // A deletion only once its tombstone verifies under the pinned key (§12).
            Err(TransportError::Deleted {
                tombstone,
                signature,
            }) => {
                return super::delete::accept_tombstone(
                    &self.state(),
                    pin.signing_key.as_bytes(),
                    system,
                    volume,
                    &tombstone,
                    &signature,
                );
            }
            Err(e) => return Err(e.into()),
        };
        let signature = *served.signature.as_bytes();
        let header = verify_header(
            pin.signing_key.as_bytes(),
            system,
            volume,
            &served.header,
            &signature,
        )?;
        let (epoch, version) = (header.epoch(), header.version());
        let state = self.state();
        let mut hwm = state.hwm()?;
        hwm.check_volume(system, volume, epoch, version)?;

        // The epoch must be the one the owner's current grant names (a relay serving an epoch
        // the grant does not name is serving withdrawn or stale access).
        // A cached grant counts only while it is unexpired: an open session must not keep
        // reading past the owner's expiry (§7), whatever the relay serves.
        let now = now_unix();
        let live = |g: &VerifiedGrant| {
            let expires_at = g.grant().expires_at;
            expires_at == 0 || now < expires_at
        };
        let granted = |g: &VerifiedGrant| g.epoch_of(volume.as_str()) == Some(epoch);
        if !session
            .grants
            .get(&system)
            .is_some_and(|g| live(g) && granted(g))
        {
            let fresh = self
                .fetch_grant(relay, session, system)
                .await?
                .ok_or(ClientError::NoKeyForEpoch)?;
            if !live(&fresh) {
                return Err(ClientError::GrantExpired);
            }
            if !granted(&fresh) {
                return Err(ClientError::NoKeyForEpoch);
            }
        }

        let wrap = WrapKey::derive(
            &self.identity,
            Side::Friend,
            system,
            self.user_id,
            &pin.public(),
            &pin.fingerprint,
        )?;
        let vek = wrap.unwrap(volume, epoch, served.wrapped_key.as_bytes())?;
        let opened = v2::open(
            pin.signing_key.as_bytes(),
            system,
            volume,
            &served.header,
            &signature,
            &served.payload,
            |e| (e == epoch).then_some(&vek),
        )?;
        hwm.record(opened.header())?;
        state.store_hwm(&hwm)?;
        session.returned.insert((system, volume.clone()), version);
        // A new version verified and about to be returned: sign and send its receipt (§14),
        // best-effort (never fails the fetch).
        super::receipts::send_receipt(
            relay,
            &self.identity,
            system,
            self.user_id,
            volume,
            epoch,
            version,
        )
        .await;
        let (_, plaintext) = opened.into_parts();
        Ok(Fetched::Updated {
            version,
            epoch,
            plaintext,
        })
    }

    /// Ends the pairing with `system` on the relay and forgets its pin.
    ///
    /// # Errors
    /// [`ClientError::NotPaired`]; relay and storage errors.
    pub async fn unpair(&self, system: Uuid) -> Result<(), ClientError> {
        let mut session = self.session.lock().await;
        let pin = self.pinned(system)?;
        if let Some(id) = pin.pairing_id {
            let pair = (UserId::from_uuid(system), UserId::from_uuid(self.user_id));
            match self
                .relay
                .delete_pairing_between(PairingId::from_uuid(id), pair.0, pair.1)
                .await
            {
                Ok(()) | Err(TransportError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.state().delete_pin(system)?;
        self.state().delete_relay_list(system)?;
        session.grants.remove(&system);
        session.returned.retain(|(s, _), _| *s != system);
        Ok(())
    }

    /// Deletes the account on the relay and then every key of it in the store.
    ///
    /// # Errors
    /// Relay errors (nothing local is deleted then); storage errors.
    pub async fn delete_account(self) -> Result<(), ClientError> {
        let _session = self.session.lock().await;
        self.relay.delete_account().await?;
        self.state().wipe()
    }
}
