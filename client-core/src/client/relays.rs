//! Several relays for one System (`docs/protocol-v2.md` §15, ADR 0026): the signed relay list,
//! replication and repair on the System's side; following the list and failover on the
//! friend's side. The routing itself is [`Replicated`]'s.
//!
//! The relay list travels as the owner's volume [`RELAY_LIST_VOLUME`]: sealed, signed, padded
//! and versioned like any volume, and granted to every friend. A relay can withhold it, as it
//! can withhold anything, but cannot forge it (signature), roll it back (the rollback marks are
//! shared by all relays, since the owner's id is the same on each) or cut it (hash and AEAD).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use coffer_wire::b64::{PublicKey32, Signature64};
use coffer_wire::v2::api::SignedTombstone;
use coffer_wire::v2::{Grant, OwnerStateHeader, VolumeName};
use uuid::Uuid;

use super::relay_state::{RELAYS, account_entry, corrupt};
use super::replicated::{Member, status_of_error};
use super::state::{Role, State};
use super::{
    ClientConfig, ClientError, Fetched, FriendClient, HttpConnector, PairedSystem, Published,
    RelayApi, ReplicaResult, ReplicaStatus, Replicated, Replication, SystemClient,
};
use crate::identity::Identity;
use crate::storage::KeyStore;
use crate::transport::{
    ClientType, Fetched as Served, RegisterRequest, RelayHttp, SignedVolume, TransportError, UserId,
};
use crate::v2::{
    InviteLink, RELAY_LIST_VOLUME, RelayEntry, RelayList, verify_header, verify_tombstone,
};

/// The reserved volume name of the relay list.
pub(super) fn relay_list_volume() -> VolumeName {
    #[allow(clippy::expect_used)] // a constant, checked by a test
    VolumeName::new(RELAY_LIST_VOLUME).expect("the relay list's volume name is valid")
}

/// The relay set of the account in `store`, opened with `config`.
///
/// Without a stored list it is the account's relay alone, reached as [`super::relay_for`]
/// decides (ADR 0015). With one, `config` must name one of the listed relays (by origin or
/// pin): a relay that is gone for good is then replaced by opening through another.
async fn open_set(
    config: &ClientConfig,
    store: &Arc<dyn KeyStore>,
) -> Result<Replicated<RelayHttp>, ClientError> {
    let connector = Arc::new(HttpConnector::new(config, Arc::clone(store)));
    let listed = State(store.as_ref()).relays()?;
    if listed.is_empty() {
        let primary = super::relay_for(config, store)?;
        super::refresh_relay_if_reachable(&primary, store).await?;
        return Ok(Replicated::new(account_entry(store)?, primary, connector));
    }
    let offered = config.trust.pins();
    let named = listed.iter().any(|e| {
        e.origin() == config.relay.as_str() || e.pins().iter().any(|p| offered.contains(p))
    });
    if !named {
        return Err(ClientError::InvalidInput(
            "the key store's account is not on this relay: open it with the configuration of \
             one of its relays",
        ));
    }
    let mut entries = listed.into_iter();
    let Some(first) = entries.next() else {
        return Err(corrupt(RELAYS));
    };
    let relay = super::Connector::connect(connector.as_ref(), &first)?;
    let set = Replicated::new(first.clone(), relay, connector);
    let rest: Vec<RelayEntry> = std::iter::once(first).chain(entries).collect();
    set.set_members(&rest)?;
    Ok(set)
}

/// A relay set around `primary`, the connection to the account's relay, with the stored
/// relays (when there are any) after it in their order.
fn around(
    primary: RelayHttp,
    config: &ClientConfig,
    store: &Arc<dyn KeyStore>,
) -> Result<Replicated<RelayHttp>, ClientError> {
    let connector = Arc::new(HttpConnector::new(config, Arc::clone(store)));
    let set = Replicated::new(account_entry(store)?, primary, connector);
    let listed = State(store.as_ref()).relays()?;
    if !listed.is_empty() {
        set.set_members(&listed)?;
    }
    Ok(set)
}

/// Makes sure the account of `identity` exists on `member`'s relay: logs in, and registers
/// (the same keys, so the same user id) where it has none and `allow_register` says so.
async fn ensure_account<R: RelayApi>(
    member: &Member<R>,
    identity: &Identity,
    user_id: Uuid,
    client_type: ClientType,
    allow_register: bool,
) -> Result<ReplicaStatus, TransportError> {
    match member.relay.login().await {
        Ok(()) => return Ok(ReplicaStatus::UpToDate),
        Err(TransportError::Unauthorized | TransportError::NotFound) if allow_register => {}
        Err(TransportError::Unauthorized | TransportError::NotFound) => {
            return Ok(ReplicaStatus::NoAccount);
        }
        Err(e) => return Err(e),
    }
    // Bound to this relay's origin (§3): the keys' owner asks this relay for this account.
    let origin = member.relay.origin().as_str().to_owned();
    let registration_signature = match identity.sign_registration_v2(&origin, client_type, None) {
        Ok(signature) => signature,
        Err(e) => {
            return Ok(ReplicaStatus::Refused {
                reason: format!("the relay origin cannot be signed: {e}"),
            });
        }
    };
    let request = RegisterRequest {
        client_type,
        handle: None,
        public_signing_key: PublicKey32::from_bytes(identity.public_signing_key()),
        public_exchange_key: PublicKey32::from_bytes(identity.public_exchange_key()),
        key_binding_signature: Signature64::from_bytes(identity.key_binding_signature()),
        origin,
        registration_signature: Signature64::from_bytes(registration_signature),
    };
    match member.relay.register(&request).await {
        Ok(registered)
            if *registered.user_id.as_uuid() == user_id
                && registered.user_id
                    == UserId::derive(
                        &identity.public_signing_key(),
                        &identity.public_exchange_key(),
                    ) => {}
        Ok(_) => {
            return Ok(ReplicaStatus::Refused {
                reason: "the relay assigned another user id than the one the keys derive \
                         (not a Coffer v2 relay of this protocol)"
                    .to_owned(),
            });
        }
        // The keys have an account there already (a login that failed for another reason).
        Err(TransportError::Conflict { .. }) => {}
        Err(e) => return Err(e),
    }
    member.relay.login().await.map(|()| ReplicaStatus::Stored)
}

/// What [`SystemClient::repair`] did on each relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// One entry per relay, in list order.
    pub relays: Vec<RelayRepair>,
}

/// What [`SystemClient::repair`] did on one relay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayRepair {
    /// The relay's origin.
    pub relay: String,
    /// Volumes copied to it (a newer signed version another relay held).
    pub volumes_copied: u32,
    /// Deletions copied to it (a signed tombstone another relay held).
    pub tombstones_copied: u32,
    /// Grants uploaded because it lacked the current one.
    pub grants_copied: u32,
    /// Friends with a grant that have no pairing on it: no account there, or no pairing
    /// requested there yet (they cannot read there; [`FriendClient::follow`] asks for one).
    pub friends_without_account: u32,
    /// Why it could not be (fully) repaired, if so.
    pub error: Option<String>,
}

/// What [`FriendClient::follow`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowReport {
    /// The version of the system's relay list read (`None`: the system has published none;
    /// the relays are then those of the invite link).
    pub version: Option<u64>,
    /// The system's relays, in its order.
    pub relays: Vec<RelayEntry>,
    /// This account on each of them.
    pub accounts: Vec<ReplicaResult>,
    /// The pairing with the system on each of them: `Stored` (asked for now; the system's
    /// next grant activates it), `UpToDate` (there already), `NoAccount` (this account, or
    /// the system, has none there), `Unreachable`, `Refused`.
    pub pairings: Vec<ReplicaResult>,
}

/// One relay that did not serve a fetch ([`FetchedFrom::refused`]).
#[derive(Debug)]
pub struct RelayRefusal {
    /// The relay's origin.
    pub relay: String,
    /// Why: unreachable, not holding it, or serving something that failed verification.
    pub error: ClientError,
}

/// A fetch over several relays ([`FriendClient::fetch_replicated`]).
#[derive(Debug)]
pub struct FetchedFrom {
    /// What was fetched, verified as by [`FriendClient::fetch`].
    pub fetched: Fetched,
    /// The relay that served it.
    pub relay: String,
    /// The relays tried before it, and why each was passed over.
    pub refused: Vec<RelayRefusal>,
}

/// Errors that mean a relay served something false (an attack or corruption), as opposed to
/// not serving.
fn is_verification(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::BadSignature
            | ClientError::Rollback { .. }
            | ClientError::GrantRollback
            | ClientError::Tampered
            | ClientError::WrongVolume
            | ClientError::WrongOwner
            | ClientError::KeyChanged
            | ClientError::GrantNotForMe
    )
}

impl SystemClient<RelayHttp> {
    /// This client on all the account's relays: for the constructors that have no replicated
    /// form (`restore`, `restore_backup`, `join`): e.g.
    /// `SystemClient::restore_backup(config.clone(), store, &file, pass).await?.into_replicated(&config).await?`.
    /// A device without a stored relay list (restored, or joined) reads the signed list the
    /// account published, when it can, and uses its relays.
    ///
    /// # Errors
    /// Storage errors; a listed relay that cannot be trusted as configured.
    pub async fn into_replicated(
        self,
        config: &ClientConfig,
    ) -> Result<SystemClient<Replicated<RelayHttp>>, ClientError> {
        let store = Arc::clone(&self.store);
        let client = self.map_relay(|relay| around(relay, config, &store))?;
        client.adopt_relay_list().await?;
        Ok(client)
    }
}

impl FriendClient<RelayHttp> {
    /// This client on all the relays the account has joined (see
    /// [`SystemClient::into_replicated`]), e.g. after `FriendClient::restore_backup`.
    ///
    /// # Errors
    /// Storage errors; a stored relay that cannot be trusted as configured.
    pub fn into_replicated(
        self,
        config: &ClientConfig,
    ) -> Result<FriendClient<Replicated<RelayHttp>>, ClientError> {
        let store = Arc::clone(&self.store);
        self.map_relay(|relay| around(relay, config, &store))
    }
}

impl SystemClient<Replicated<RelayHttp>> {
    /// [`SystemClient::restore_backup`] onto all the account's relays: `config` may name any
    /// relay of the list the backup holds, so an account whose first relay is gone for good
    /// is restored through another. On any error the store is left empty.
    ///
    /// # Errors
    /// As [`SystemClient::restore_backup`] and [`open_replicated`](Self::open_replicated).
    pub async fn restore_backup_replicated(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        backup: &[u8],
        passphrase: &str,
    ) -> Result<Self, ClientError> {
        super::backup::restore_into(store.as_ref(), backup, passphrase, Role::System)?;
        let opened = Self::open_replicated(config, Arc::clone(&store)).await;
        super::backup::wiped_on_error(store.as_ref(), opened)
    }

    /// Registers a new system account on `config`'s relay (as [`SystemClient::register`]) and
    /// opens it as a relay set of one, ready for [`set_relays`](Self::set_relays).
    ///
    /// # Errors
    /// As [`SystemClient::register`].
    pub async fn register_replicated(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        handle: Option<String>,
    ) -> Result<Self, ClientError> {
        super::register_account(&config, &store, handle, Role::System).await?;
        let set = open_set(&config, &store).await?;
        let client = Self::with_relay(set, store)?;
        client.mark_synced().await;
        Ok(client)
    }

    /// Opens the system account in `store` on all its relays (the list it last set, or its
    /// one relay). `config` names any of them; see [`SystemClient::open`] for the rest.
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] when `config` names none of the account's relays; as
    /// [`SystemClient::open`].
    pub async fn open_replicated(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
    ) -> Result<Self, ClientError> {
        let set = open_set(&config, &store).await?;
        let client = Self::with_relay(set, store)?;
        client.prepare_on_open().await?;
        client.adopt_relay_list().await?;
        Ok(client)
    }
}

impl<R: RelayApi + 'static> SystemClient<Replicated<R>> {
    /// The relays this system publishes to, in order.
    pub fn relays(&self) -> Vec<RelayEntry> {
        self.relay.entries()
    }

    /// Sets the relays that hold this system's data (at most [`crate::v2::MAX_RELAYS`], first
    /// preferred): makes sure the account exists on each (registering the same keys, hence the
    /// same user id), publishes the signed list to the new **and** the removed relays (so
    /// friends reading a removed one learn where to go), grants it to every friend, copies
    /// the data to relays that lack it ([`repair`](Self::repair)), then stops using the
    /// removed ones. Friends follow without pairing again ([`FriendClient::follow`]).
    ///
    /// The result has one entry per relay the list was published to: the new list's relays in
    /// order, then the removed ones (whether each got the list that sends friends on).
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] for an invalid list or a relay that cannot be trusted as
    /// listed; the list's publication failing everywhere; storage errors.
    pub async fn set_relays(
        &self,
        relays: Vec<RelayEntry>,
    ) -> Result<Replication<Published>, ClientError> {
        let list = RelayList::new(relays)?;
        let mut reach = list.entries().to_vec();
        for old in self.relay.entries() {
            if reach.iter().all(|e| e.origin() != old.origin()) {
                reach.push(old);
            }
        }
        self.relay.set_members(&reach)?;
        let accounts = self.ensure_accounts(true).await;
        let name = relay_list_volume();
        let published = self.publish_reserved(&name, &list.encode()).await?;
        let mut results = self.relay.last_results(&format!("volume:{name}"));
        for (result, account) in results.iter_mut().zip(&accounts) {
            if !account.status.is_current() {
                result.status = account.status.clone();
            }
        }
        self.grant_relay_list().await?;
        self.relay.set_members(list.entries())?;
        let state = self.state();
        state.store_relays(list.entries())?;
        if let Some(first) = list.entries().first() {
            let mut account = state.account()?;
            if account.relay != first.origin() {
                account.relay = first.origin().to_owned();
                account.relay_pin = first.pins().first().map(ToString::to_string);
                account.relay_next_pin = first.pins().get(1).map(ToString::to_string);
                account.relay_former_pins.clear();
                state.store_account(&account)?;
            }
        }
        let repaired = self.repair().await?;
        for r in &repaired.relays {
            if let Some(error) = &r.error {
                tracing::debug!(relay = %r.relay, %error, "relay not fully repaired");
            }
        }
        Ok(Replication {
            value: published,
            relays: results,
        })
    }

    /// Deletes this account, with everything it holds, on a relay this system no longer
    /// lists (after [`set_relays`](Self::set_relays) moved away from it): the last step of a
    /// move. Friends that have not followed yet lose the copy of the list that relay kept
    /// for them, so wait until they had a chance to (`follow` when their app opens).
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] for a relay still in the list; the relay's errors
    /// (an account that is gone already is success).
    pub async fn leave_relay(&self, relay: &RelayEntry) -> Result<(), ClientError> {
        if self
            .relay
            .entries()
            .iter()
            .any(|e| e.origin() == relay.origin())
        {
            return Err(ClientError::InvalidInput(
                "the relay is still in this system's list: set_relays without it first",
            ));
        }
        let member = self.relay.connect(relay)?;
        match member.relay.delete_account().await {
            Ok(()) | Err(TransportError::Unauthorized | TransportError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// [`publish`](SystemClient::publish) with what each relay did.
    ///
    /// # Errors
    /// As [`publish`](SystemClient::publish): the first relay's refusal, or every relay
    /// failing.
    pub async fn publish_replicated(
        &self,
        volume: &VolumeName,
        plaintext: &[u8],
    ) -> Result<Replication<Published>, ClientError> {
        self.publish_replicated_with(volume, plaintext, &super::NoProgress, &super::Cancel::new())
            .await
    }

    /// [`publish_replicated`](Self::publish_replicated) with the progress reports and
    /// cancellation of [`publish_with`](SystemClient::publish_with) (the upload step covers
    /// every relay: they are written at once).
    ///
    /// # Errors
    /// As [`publish_replicated`](Self::publish_replicated); [`ClientError::Cancelled`].
    pub async fn publish_replicated_with(
        &self,
        volume: &VolumeName,
        plaintext: &[u8],
        progress: &dyn super::Progress,
        cancel: &super::Cancel,
    ) -> Result<Replication<Published>, ClientError> {
        let published = self
            .publish_with(volume, plaintext, progress, cancel)
            .await?;
        Ok(Replication {
            value: published,
            relays: self.relay.last_results(&format!("volume:{volume}")),
        })
    }

    /// Brings every relay up to date from the others: the newest version of each own volume
    /// that verifies under this identity's key is copied (same signed bytes) to relays holding
    /// an older one or none; a signed deletion is copied over an older version; a grant is
    /// uploaded again where a friend with an account lacks the current one; the newest owner
    /// state is copied. What a relay serves is verified before it is copied anywhere: a relay
    /// serving something that does not verify is reported, never a source.
    ///
    /// # Errors
    /// Storage errors; relay errors are reported per relay.
    pub async fn repair(&self) -> Result<RepairReport, ClientError> {
        let members = self.relay.members();
        let mut report: Vec<RelayRepair> = members
            .iter()
            .map(|m| RelayRepair {
                relay: m.entry.origin().to_owned(),
                ..RelayRepair::default()
            })
            .collect();
        self.repair_volumes(&members, &mut report).await?;
        self.repair_grants(&members, &mut report).await?;
        self.repair_owner_state(&members, &mut report).await;
        Ok(RepairReport { relays: report })
    }

    /// Reads the signed list the account published (verified as any own volume: another
    /// device may have changed it, or this one was restored or joined) and uses its relays
    /// when they differ from the stored ones. Best effort: without a readable list the relays
    /// stay as they are.
    async fn adopt_relay_list(&self) -> Result<(), ClientError> {
        let state = self.state();
        let list = match self.fetch(&relay_list_volume()).await {
            Ok(Fetched::Updated { plaintext, .. }) => RelayList::decode(&plaintext)?,
            Ok(_) => return Ok(()),
            Err(e @ ClientError::Storage(_)) => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "no relay list read; staying on the account's relay");
                return Ok(());
            }
        };
        if state.relays()? != list.entries() {
            tracing::info!(
                relays = list.entries().len(),
                "relay list of the account adopted"
            );
            self.relay.set_members(list.entries())?;
            state.store_relays(list.entries())?;
        }
        Ok(())
    }

    /// Registers (when allowed) or checks the account on every member.
    async fn ensure_accounts(&self, allow_register: bool) -> Vec<ReplicaResult> {
        let members = self.relay.members();
        let statuses = super::replicated::join_all(
            members
                .iter()
                .map(|m| async {
                    ensure_account(
                        m,
                        &self.identity,
                        self.user_id,
                        ClientType::System,
                        allow_register,
                    )
                    .await
                    .unwrap_or_else(|e| status_of_error(&e, false))
                })
                .collect(),
        )
        .await;
        members
            .iter()
            .zip(statuses)
            .map(|(m, status)| ReplicaResult {
                relay: m.entry.origin().to_owned(),
                status,
            })
            .collect()
    }

    /// Every friend's grant names the relay list (granted with the current grant's expiry).
    async fn grant_relay_list(&self) -> Result<(), ClientError> {
        let name = relay_list_volume();
        let mut ops = self.ops.lock().await;
        self.prepare_pub(&mut ops).await?;
        let state = self.state();
        for friend in state.granted_friends()? {
            let Some(mut record) = state.grant(friend)? else {
                continue;
            };
            if record.volumes.is_empty() || record.volumes.contains(&name) {
                continue;
            }
            record.volumes.insert(name.clone());
            state.store_grant(friend, &record)?;
            self.upload_grant_lenient(friend).await?;
        }
        Ok(())
    }

    async fn repair_volumes(
        &self,
        members: &[Arc<Member<R>>],
        report: &mut [RelayRepair],
    ) -> Result<(), ClientError> {
        let own_key = self.identity.public_signing_key();
        let listed =
            super::replicated::join_all(members.iter().map(|m| m.relay.list_volumes()).collect())
                .await;
        // What each reachable member holds, verified; `None`: not reachable / not trusted.
        let mut held: Vec<Option<HashMap<VolumeName, (u32, u64)>>> = Vec::new();
        let mut best: BTreeMap<VolumeName, ((u32, u64), usize)> = BTreeMap::new();
        for (i, result) in listed.into_iter().enumerate() {
            let entries = match result {
                Ok(entries) => entries,
                Err(e) => {
                    report[i].error = Some(e.to_string());
                    held.push(None);
                    continue;
                }
            };
            let mut mine = HashMap::new();
            for entry in entries {
                match verify_header(
                    &own_key,
                    self.user_id,
                    &entry.volume,
                    &entry.header,
                    entry.signature.as_bytes(),
                ) {
                    Ok(h) => {
                        let at = (h.epoch(), h.version());
                        mine.insert(entry.volume.clone(), at);
                        let better = best.get(&entry.volume).is_none_or(|(b, _)| at > *b);
                        if better {
                            best.insert(entry.volume, (at, i));
                        }
                    }
                    Err(e) => {
                        report[i].error = Some(format!(
                            "serves a version of {} that does not verify: {e}",
                            entry.volume
                        ));
                    }
                }
            }
            held.push(Some(mine));
        }
        for (volume, (at, source)) in best {
            let behind: Vec<usize> = held
                .iter()
                .enumerate()
                .filter(|(_, h)| h.as_ref().is_some_and(|h| h.get(&volume) != Some(&at)))
                .map(|(i, _)| i)
                .collect();
            if behind.is_empty() {
                continue;
            }
            let copy = match self
                .verified_copy(&members[source].relay, &volume, at)
                .await
            {
                Ok(copy) => copy,
                Err(e) => {
                    report[source].error = Some(format!("cannot serve {volume}: {e}"));
                    continue;
                }
            };
            for i in behind {
                match members[i].relay.put_volume(&volume, &copy).await {
                    Ok(()) => report[i].volumes_copied += 1,
                    // It holds something newer than every list showed: a deletion.
                    Err(TransportError::Conflict { .. }) => {
                        self.spread_deletion(members, i, &volume, &held, report)
                            .await;
                    }
                    Err(e) => report[i].error = Some(format!("{volume}: {e}")),
                }
            }
        }
        Ok(())
    }

    /// The signed volume `volume` at exactly `at` from `relay`, verified.
    async fn verified_copy(
        &self,
        relay: &R,
        volume: &VolumeName,
        at: (u32, u64),
    ) -> Result<SignedVolume, ClientError> {
        let Served::Modified(copy) = relay.get_volume(volume, None).await? else {
            return Err(ClientError::Protocol("the relay answered not modified"));
        };
        let header = verify_header(
            &self.identity.public_signing_key(),
            self.user_id,
            volume,
            &copy.header,
            copy.signature.as_bytes(),
        )?;
        if (header.epoch(), header.version()) != at {
            return Err(ClientError::Protocol(
                "the relay served another version than it listed",
            ));
        }
        Ok(copy)
    }

    /// Member `holder` refused a copy of `volume` as older than what it holds: when that is a
    /// deletion signed by this identity, copies the tombstone to every member still listing
    /// the volume.
    async fn spread_deletion(
        &self,
        members: &[Arc<Member<R>>],
        holder: usize,
        volume: &VolumeName,
        held: &[Option<HashMap<VolumeName, (u32, u64)>>],
        report: &mut [RelayRepair],
    ) {
        let Err(TransportError::Deleted {
            tombstone,
            signature,
        }) = members[holder].relay.get_volume(volume, None).await
        else {
            report[holder].error = Some(format!(
                "{volume}: refused a newer signed version without showing a deletion"
            ));
            return;
        };
        if let Err(e) = verify_tombstone(
            &self.identity.public_signing_key(),
            self.user_id,
            volume,
            &tombstone,
            &signature,
        ) {
            report[holder].error = Some(format!(
                "{volume}: serves a deletion that does not verify: {e}"
            ));
            return;
        }
        let signed = SignedTombstone {
            tombstone,
            signature: Signature64::from_bytes(signature),
        };
        for (i, h) in held.iter().enumerate() {
            if i == holder || !h.as_ref().is_some_and(|h| h.contains_key(volume)) {
                continue;
            }
            match members[i].relay.delete_volume(volume, &signed).await {
                Ok(()) => report[i].tombstones_copied += 1,
                Err(e) => report[i].error = Some(format!("{volume}: {e}")),
            }
        }
    }

    async fn repair_grants(
        &self,
        members: &[Arc<Member<R>>],
        report: &mut [RelayRepair],
    ) -> Result<(), ClientError> {
        let state = self.state();
        let now = super::now_unix();
        let mut live = Vec::new();
        for friend in state.granted_friends()? {
            if let Some(record) = state.grant(friend)?
                && record.sequence > 0
                && !record.volumes.is_empty()
                && record.expires_at.is_none_or(|t| t > now)
            {
                live.push((friend, record.sequence));
            }
        }
        if live.is_empty() {
            return Ok(());
        }
        let stored =
            super::replicated::join_all(members.iter().map(|m| m.relay.own_grants()).collect())
                .await;
        // A grant needs a pairing: the friend's own (an invite, or its request, §6).
        let paired =
            super::replicated::join_all(members.iter().map(|m| m.relay.list_pairings()).collect())
                .await;
        let mut lacking: Vec<(Uuid, Vec<usize>)> = Vec::new();
        for (friend, sequence) in &live {
            let mut on = Vec::new();
            for (i, grants) in stored.iter().enumerate() {
                let Ok(grants) = grants else { continue };
                let current = grants.iter().any(|g| {
                    *g.friend_user_id.as_uuid() == *friend
                        && Grant::parse(&g.grant).is_ok_and(|p| p.sequence >= *sequence)
                });
                if current {
                    continue;
                }
                // Only where the friend has a pairing (it asked for one there, §6): elsewhere
                // the relay refuses the grant, and the friend could not read anyway.
                match &paired[i] {
                    Ok(pairings)
                        if pairings.iter().any(|p| {
                            *p.friend_user_id.as_uuid() == *friend
                                && *p.system_user_id.as_uuid() == self.user_id
                        }) =>
                    {
                        on.push(i);
                    }
                    Ok(_) => report[i].friends_without_account += 1,
                    Err(e) => report[i].error = Some(e.to_string()),
                }
            }
            if !on.is_empty() {
                lacking.push((*friend, on));
            }
        }
        if lacking.is_empty() {
            return Ok(());
        }
        let mut ops = self.ops.lock().await;
        self.prepare_pub(&mut ops).await?;
        for (friend, on) in lacking {
            match self.upload_grant_lenient(friend).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    for i in on {
                        report[i].error = Some(format!("grant: {e}"));
                    }
                    continue;
                }
            }
            let results = self.relay.last_results(&format!("grant:{friend}"));
            for i in on {
                match results.get(i).map(|r| &r.status) {
                    Some(ReplicaStatus::Stored) => report[i].grants_copied += 1,
                    Some(ReplicaStatus::NoAccount) => report[i].friends_without_account += 1,
                    Some(other) => report[i].error = Some(format!("grant: {other:?}")),
                    None => {}
                }
            }
        }
        Ok(())
    }

    /// Copies the newest owner state (§13) to the relays holding an older one. The devices
    /// verify it when they read it; here only its signed version is compared.
    async fn repair_owner_state(&self, members: &[Arc<Member<R>>], report: &mut [RelayRepair]) {
        let states = super::replicated::join_all(
            members.iter().map(|m| m.relay.get_owner_state()).collect(),
        )
        .await;
        let version =
            |s: &Result<Option<coffer_wire::v2::api::OwnerStateEnvelope>, TransportError>| {
                s.as_ref()
                    .ok()
                    .and_then(Option::as_ref)
                    .and_then(|e| OwnerStateHeader::parse(&e.header).ok())
                    .filter(|h| h.owner == *self.user_id.as_bytes())
                    .map(|h| h.version)
            };
        let Some((newest, top)) = states
            .iter()
            .enumerate()
            .filter_map(|(i, s)| version(s).map(|v| (i, v)))
            .max_by_key(|(_, v)| *v)
        else {
            return;
        };
        let Ok(Some(envelope)) = &states[newest] else {
            return;
        };
        for (i, s) in states.iter().enumerate() {
            if s.is_err() || version(s) == Some(top) {
                continue;
            }
            if let Err(e) = members[i].relay.put_owner_state(envelope).await {
                report[i].error = Some(format!("owner state: {e}"));
            }
        }
    }
}

impl FriendClient<Replicated<RelayHttp>> {
    /// [`FriendClient::restore_backup`] onto all the relays the account joined (`config` names
    /// any of them). On any error the store is left empty.
    ///
    /// # Errors
    /// As [`FriendClient::restore_backup`] and [`open_replicated`](Self::open_replicated).
    pub async fn restore_backup_replicated(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        backup: &[u8],
        passphrase: &str,
    ) -> Result<Self, ClientError> {
        super::backup::restore_into(store.as_ref(), backup, passphrase, Role::Friend)?;
        let opened = Self::open_replicated(config, Arc::clone(&store)).await;
        super::backup::wiped_on_error(store.as_ref(), opened)
    }

    /// Registers a new friend account on `config`'s relay (as [`FriendClient::register`]) and
    /// opens it as a relay set of one.
    ///
    /// # Errors
    /// As [`FriendClient::register`].
    pub async fn register_replicated(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        handle: Option<String>,
    ) -> Result<Self, ClientError> {
        super::register_account(&config, &store, handle, Role::Friend).await?;
        let set = open_set(&config, &store).await?;
        Self::with_relay(set, store)
    }

    /// Opens the friend account in `store` on every relay it has an account on. `config`
    /// names any of them.
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] when `config` names none of them; as
    /// [`FriendClient::open`].
    pub async fn open_replicated(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
    ) -> Result<Self, ClientError> {
        let set = open_set(&config, &store).await?;
        Self::with_relay(set, store)
    }
}

impl<R: RelayApi + 'static> FriendClient<Replicated<R>> {
    /// The relays this account has an account on, in order.
    pub fn own_relays(&self) -> Vec<RelayEntry> {
        self.relay.entries()
    }

    /// `system`'s relays as last verified (its signed list, or the invite link's relays
    /// before the first [`follow`](Self::follow)), in its order.
    ///
    /// # Errors
    /// Storage errors.
    pub fn relays_of(&self, system: Uuid) -> Result<Vec<RelayEntry>, ClientError> {
        Ok(match self.state().relay_list(system)? {
            Some((_, entries)) => entries,
            None => self.relay.entries(),
        })
    }

    /// Redeems an invite of a system on any relay: when this account has none on the invite's
    /// relay, it registers there with the same keys (hence the same user id) if
    /// `allow_register`, then redeems as [`FriendClient::redeem`]. The relays the link names
    /// become the system's relay list until [`follow`](Self::follow) reads the signed one; on
    /// those of them where this account exists already, it asks for a pairing with the system
    /// as well (`POST /pairings/replica`), which the system's grant activates.
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] when the account is not on the invite's relay and may not
    /// register; as [`FriendClient::redeem`].
    pub async fn redeem_replicated(
        &self,
        link: &InviteLink,
        allow_register: bool,
    ) -> Result<PairedSystem, ClientError> {
        let entry = RelayEntry::new(link.relay_origin(), link.pin().into_iter().collect())?;
        let member = match self.join_checked(&entry, allow_register).await? {
            (Some(member), _) => member,
            (None, ReplicaStatus::NoAccount) => {
                return Err(ClientError::InvalidInput(
                    "this account has no account on the invite's relay; allow registering there",
                ));
            }
            (None, _) => {
                return Err(ClientError::Protocol(
                    "the invite's relay refused this account",
                ));
            }
        };
        let paired = {
            let _session = self.session.lock().await;
            self.redeem_on(&member.relay, link).await?
        };
        let state = self.state();
        if state.relay_list(paired.system_id)?.is_none() {
            state.store_relay_list(paired.system_id, 0, &link.relays())?;
        }
        // The link's other relays where this account exists already: ask for a pairing there
        // too, so the system's grant reaches them (no new account is made here).
        for other in link.relays().iter().skip(1) {
            if let Some(member) = self.relay.member(other.origin()) {
                let status = ensure_pairing(&member, paired.system_id).await;
                tracing::debug!(relay = %other.origin(), ?status, "replica pairing after a redemption");
            }
        }
        Ok(paired)
    }

    /// Reads `system`'s signed relay list from any of its relays (verified like any volume:
    /// signature under the pinned key, not older than any relay served before, intact), keeps
    /// it, and makes sure this account exists on each listed relay — registering the same
    /// keys where it has none if `allow_register` (the friend's decision: a relay learns the
    /// account exists) — and has a pairing with the system there: where it has none, it asks
    /// for one (`POST /pairings/replica`), which the system's next grant (or repair)
    /// activates. Call it when the app opens; the system's moves are followed this way
    /// without pairing again.
    ///
    /// # Errors
    /// [`ClientError::NotPaired`]; the verification errors of a fetch (from the last relay
    /// tried); storage errors.
    pub async fn follow(
        &self,
        system: Uuid,
        allow_register: bool,
    ) -> Result<FollowReport, ClientError> {
        let name = relay_list_volume();
        // Read the list even if this session returned it already: the stored copy may be older.
        self.session
            .lock()
            .await
            .returned
            .remove(&(system, name.clone()));
        let version = match self.fetch_replicated(system, &name).await {
            Ok(FetchedFrom {
                fetched: Fetched::Updated {
                    version, plaintext, ..
                },
                ..
            }) => {
                let list = RelayList::decode(&plaintext)?;
                self.state()
                    .store_relay_list(system, version, list.entries())?;
                Some(version)
            }
            Ok(FetchedFrom {
                fetched: Fetched::NotModified,
                ..
            }) => self.state().relay_list(system)?.map(|(v, _)| v).filter(|v| *v > 0),
            Ok(FetchedFrom {
                fetched: Fetched::Deleted { .. },
                ..
            })
            // Not granted (the system published no list yet) or never published.
            | Err(ClientError::Forbidden { .. } | ClientError::NotFound | ClientError::NoKeyForEpoch) => {
                None
            }
            Err(e) => return Err(e),
        };
        let relays = self.relays_of(system)?;
        let mut accounts = Vec::with_capacity(relays.len());
        let mut pairings = Vec::with_capacity(relays.len());
        for entry in &relays {
            let (member, status) = self.join(entry, allow_register).await;
            let pairing = match &member {
                Some(member) => ensure_pairing(member, system).await,
                None => status.clone(),
            };
            accounts.push(ReplicaResult {
                relay: entry.origin().to_owned(),
                status,
            });
            pairings.push(ReplicaResult {
                relay: entry.origin().to_owned(),
                status: pairing,
            });
        }
        Ok(FollowReport {
            version,
            relays,
            accounts,
            pairings,
        })
    }

    /// Fetches `volume` of `system` from its relays in its order: verified exactly as
    /// [`FriendClient::fetch`], against rollback marks raised by every relay's answers. A
    /// relay that is unreachable, does not hold it, or serves something that fails
    /// verification (an old version, a bad signature, cut bytes) is passed over and listed in
    /// [`FetchedFrom::refused`].
    ///
    /// # Errors
    /// Every relay failing: the first verification failure if any relay served something
    /// false (an attack is never hidden behind a network error), else the last relay's error.
    pub async fn fetch_replicated(
        &self,
        system: Uuid,
        volume: &VolumeName,
    ) -> Result<FetchedFrom, ClientError> {
        let order = self.relays_of(system)?;
        let mut session = self.session.lock().await;
        let mut refused = Vec::new();
        for entry in order {
            let relay = entry.origin().to_owned();
            let Some(member) = self.relay.member(entry.origin()) else {
                refused.push(RelayRefusal {
                    relay,
                    error: ClientError::InvalidInput(
                        "this account has no account on that relay (follow the system's relays)",
                    ),
                });
                continue;
            };
            match self
                .fetch_on(&member.relay, &mut session, system, volume)
                .await
            {
                Ok(fetched) => {
                    if let Fetched::Updated {
                        version, plaintext, ..
                    } = &fetched
                        && volume.as_str() == RELAY_LIST_VOLUME
                    {
                        // However it was read, a verified list is the system's current one.
                        let list = RelayList::decode(plaintext)?;
                        self.state()
                            .store_relay_list(system, *version, list.entries())?;
                    }
                    return Ok(FetchedFrom {
                        fetched,
                        relay,
                        refused,
                    });
                }
                Err(error) => {
                    tracing::debug!(%relay, %error, "relay passed over for a fetch");
                    refused.push(RelayRefusal { relay, error });
                }
            }
        }
        let pick = refused
            .iter()
            .position(|r| is_verification(&r.error))
            .or(refused.len().checked_sub(1));
        match pick {
            Some(i) => Err(refused.swap_remove(i).error),
            None => Err(ClientError::InvalidInput("the system lists no relay")),
        }
    }

    /// The member for `entry`, made sure of (see [`ensure_account`]) and kept in the store.
    async fn join(
        &self,
        entry: &RelayEntry,
        allow_register: bool,
    ) -> (Option<Arc<Member<R>>>, ReplicaStatus) {
        match self.join_checked(entry, allow_register).await {
            Ok(joined) => joined,
            Err(e) => (
                None,
                match e {
                    ClientError::Network { .. }
                    | ClientError::Tls { .. }
                    | ClientError::Server { .. }
                    | ClientError::RateLimited { .. } => ReplicaStatus::Unreachable {
                        reason: e.to_string(),
                    },
                    e => ReplicaStatus::Refused {
                        reason: e.to_string(),
                    },
                },
            ),
        }
    }

    /// [`Self::join`] where an unreachable or refusing relay is the error itself (what the
    /// transport said: a network error stays a network error).
    async fn join_checked(
        &self,
        entry: &RelayEntry,
        allow_register: bool,
    ) -> Result<(Option<Arc<Member<R>>>, ReplicaStatus), ClientError> {
        if let Some(member) = self.relay.member(entry.origin()) {
            return Ok((Some(member), ReplicaStatus::UpToDate));
        }
        let member = self.relay.connect(entry)?;
        let status = ensure_account(
            &member,
            &self.identity,
            self.user_id,
            ClientType::Friend,
            allow_register,
        )
        .await?;
        if !status.is_current() {
            return Ok((None, status));
        }
        self.relay.add(Arc::clone(&member));
        self.state().store_relays(&self.relay.entries())?;
        Ok((Some(member), status))
    }
}

/// Makes sure this friend account has a pairing with `system` on `member`'s relay: asks for one
/// (`POST /pairings/replica`) where it has none. The system's grant activates it; a grant never
/// creates a pairing, so a friend's unpair stays final.
async fn ensure_pairing<R: RelayApi>(member: &Member<R>, system: Uuid) -> ReplicaStatus {
    let id = UserId::from_uuid(system);
    match member.relay.list_pairings().await {
        Ok(pairings) if pairings.iter().any(|p| p.system_user_id == id) => {
            return ReplicaStatus::UpToDate;
        }
        Ok(_) => {}
        Err(e) => return status_of_error(&e, false),
    }
    match member.relay.request_replica_pairing(id).await {
        Ok(_) => ReplicaStatus::Stored,
        // 404: the system has no account on that relay.
        Err(e) => status_of_error(&e, true),
    }
}
