//! [`Replicated`]: one account on several independent relays, behind the one [`RelayApi`] the
//! clients already use (`docs/protocol-v2.md` §15, ADR 0026).
//!
//! Why this works without trusting any relay: a v2 user id is derived from the identity's keys
//! (§3), so the same System has the same id everywhere, and every signed structure (header,
//! grant, tombstone, wrapped keys, all bound to ids) is valid on every relay byte for byte.
//! Replicating is sending the same signed bytes to each relay; reading is verifying whatever one
//! relay serves against marks that every relay's answers raised (cross-relay rollback, P7).
//!
//! Routing:
//! - **writes** (`put_volume`, `delete_volume`, `put_grant`, `delete_pairing`,
//!   `put_owner_state`, `delete_account`, logout) go to every member at once; the first
//!   member's answer decides a conflict or a refusal (what a single relay would have said); when
//!   the first member is unreachable, one stored copy elsewhere is success. Every member's
//!   outcome is kept as a [`ReplicaResult`] ([`Replicated::last_results`]);
//! - **reads** go to the first member and fall over to the next one that is reachable; the
//!   client state machines verify what comes back as before;
//! - everything tied to one relay (invites, device links, challenges, one session id) goes to
//!   the first member.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::Poll;

use coffer_wire::v2::VolumeName;
use coffer_wire::v2::api::{
    DeviceLink, DeviceLinkStatus, DevicePackage, OwnerStateEnvelope, SignedTombstone,
};

use super::{ClientConfig, ClientError, RelayApi};
use crate::storage::KeyStore;
use crate::transport::{
    Challenge, ChallengeRequest, Fetched, GrantEnvelope, Handle, Invite, InviteCode, OwnGrant,
    Pairing, PairingId, ReceiptEnvelope, RedeemRequest, Redeemed, RegisterRequest, Registered,
    RelayHttp, RelayHttpConfig, RelayOrigin, Session, SessionId, SessionInfo, SharedVolume,
    SignedVolume, TokenRequest, TransportError, Trust, UserId, UserRecord, VolumeEntry,
};
use crate::v2::RelayEntry;

/// Makes the connection to one more relay of a [`Replicated`] set.
pub trait Connector<R>: Send + Sync + 'static {
    /// A connection to `entry` that logs in as this store's account.
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] when the entry cannot be trusted as configured (a relay
    /// without a pin and no Web PKI roots); transport set-up errors.
    fn connect(&self, entry: &RelayEntry) -> Result<R, ClientError>;
}

/// The [`Connector`] of real relays: a [`RelayHttp`] pinned to the entry's pins (current and
/// announced next), or Web PKI with the roots of the configuration when the entry has no pin,
/// with the configuration's timeouts, logging in as the store's identity.
pub struct HttpConnector {
    store: Arc<dyn KeyStore>,
    http: RelayHttpConfig,
    web_pki: Option<Trust>,
}

impl fmt::Debug for HttpConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnector")
            .field("web_pki", &self.web_pki.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpConnector {
    /// Connections for the account in `store`, with the timeouts of `config` and, for relays
    /// listed without a pin, its Web PKI roots (when it has some).
    pub fn new(config: &ClientConfig, store: Arc<dyn KeyStore>) -> HttpConnector {
        HttpConnector {
            store,
            http: config.http.clone(),
            web_pki: matches!(config.trust, Trust::WebPki(_)).then(|| config.trust.clone()),
        }
    }
}

impl Connector<RelayHttp> for HttpConnector {
    fn connect(&self, entry: &RelayEntry) -> Result<RelayHttp, ClientError> {
        let trust = trust_of(entry, self.web_pki.as_ref())?;
        let origin = RelayOrigin::parse(entry.origin()).map_err(|_| {
            ClientError::InvalidInput("a listed relay origin is not https://host:port")
        })?;
        let http = RelayHttp::new(origin, &trust, self.http.clone())?;
        Ok(http.with_authenticator(super::authenticator(&self.store)?))
    }
}

/// The TLS trust for a listed relay: its pins, or the given Web PKI roots.
pub(super) fn trust_of(entry: &RelayEntry, web_pki: Option<&Trust>) -> Result<Trust, ClientError> {
    match entry.pins() {
        [] => web_pki.cloned().ok_or(ClientError::InvalidInput(
            "a relay listed without a pin needs Web PKI roots in the client configuration",
        )),
        [pin] => Ok(Trust::Pinned(*pin)),
        [current, next, ..] => Ok(Trust::PinnedRotating {
            current: *current,
            next: *next,
        }),
    }
}

/// What one relay did with a replicated write, or with an account check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaResult {
    /// The relay's origin.
    pub relay: String,
    /// What happened there.
    pub status: ReplicaStatus,
}

/// The outcome on one relay.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplicaStatus {
    /// Written (or the account created).
    Stored,
    /// Nothing to do: the relay already held it (or the account existed).
    UpToDate,
    /// The peer has no account on that relay (a friend not registered there; for a grant: no
    /// pairing there, which the friend asks for when it follows), or this account has none
    /// and may not register.
    NoAccount,
    /// The relay could not be reached (network, TLS, a server failure, rate limit).
    Unreachable {
        /// Why, as the transport said it.
        reason: String,
    },
    /// The relay answered with a refusal.
    Refused {
        /// Its answer.
        reason: String,
    },
}

impl ReplicaStatus {
    /// Whether the relay holds what was written (stored now or before).
    pub fn is_current(&self) -> bool {
        matches!(self, ReplicaStatus::Stored | ReplicaStatus::UpToDate)
    }
}

/// A result with what each relay did ([`super::SystemClient::publish_replicated`]).
#[derive(Debug)]
pub struct Replication<T> {
    /// The operation's result.
    pub value: T,
    /// One entry per relay, in list order.
    pub relays: Vec<ReplicaResult>,
}

/// One relay of the set.
pub(super) struct Member<R> {
    pub entry: RelayEntry,
    pub relay: R,
}

/// Several relays behind one [`RelayApi`] (see the module documentation).
pub struct Replicated<R> {
    /// The first member's origin when the set was built: what [`RelayApi::origin`] answers.
    origin: RelayOrigin,
    members: RwLock<Vec<Arc<Member<R>>>>,
    connector: Arc<dyn Connector<R>>,
    /// The outcome of the last write per kind and key (`volume:<name>`, `grant:<friend>`, …).
    results: Mutex<HashMap<String, Vec<ReplicaResult>>>,
}

impl<R> fmt::Debug for Replicated<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let relays: Vec<String> = match self.members.read() {
            Ok(m) => m.iter().map(|m| m.entry.origin().to_owned()).collect(),
            Err(_) => Vec::new(),
        };
        f.debug_struct("Replicated")
            .field("relays", &relays)
            .finish_non_exhaustive()
    }
}

/// Errors after which the next relay is tried: the relay did not answer as a relay.
pub(super) fn unreachable(e: &TransportError) -> bool {
    matches!(
        e,
        TransportError::Network { .. }
            | TransportError::Tls { .. }
            | TransportError::Server { .. }
            | TransportError::RateLimited { .. }
            | TransportError::Protocol(_)
            | TransportError::NoAuthenticator
    )
}

/// The [`ReplicaStatus`] of one relay's answer to a write.
fn status_of<T>(
    result: &Result<T, TransportError>,
    not_found_is_no_account: bool,
) -> ReplicaStatus {
    match result {
        Ok(_) => ReplicaStatus::Stored,
        Err(e) => status_of_error(e, not_found_is_no_account),
    }
}

/// The [`ReplicaStatus`] of one relay's error.
pub(super) fn status_of_error(e: &TransportError, not_found_is_no_account: bool) -> ReplicaStatus {
    match e {
        TransportError::NotFound if not_found_is_no_account => ReplicaStatus::NoAccount,
        TransportError::Unauthorized => ReplicaStatus::NoAccount,
        e if unreachable(e) => ReplicaStatus::Unreachable {
            reason: e.to_string(),
        },
        e => ReplicaStatus::Refused {
            reason: e.to_string(),
        },
    }
}

/// Runs all futures at once and returns their outputs in order (the crate has no `futures`).
pub(super) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// The answer of a write sent to every member: the first member decides, unless it was
/// unreachable and another member stored it.
fn decide<T>(results: Vec<Result<T, TransportError>>) -> Result<T, TransportError> {
    let mut results = results.into_iter();
    let Some(first) = results.next() else {
        return Err(TransportError::Protocol("no relay in the set"));
    };
    match first {
        Err(e) if unreachable(&e) => results.find(Result::is_ok).unwrap_or(Err(e)),
        decided => decided,
    }
}

/// Sends one write to every member concurrently and keeps each outcome under `key`.
macro_rules! fan_out {
    ($self:ident, $key:expr, $no_account:expr, |$relay:ident| $call:expr) => {{
        let members = $self.members();
        let results = join_all(
            members
                .iter()
                .map(|member| {
                    let $relay = &member.relay;
                    $call
                })
                .collect(),
        )
        .await;
        $self.keep($key, &members, &results, $no_account);
        decide(results)
    }};
}

/// Asks the members in order until one is reachable.
macro_rules! failover {
    ($self:ident, |$relay:ident| $call:expr) => {{
        let members = $self.members();
        let mut last = TransportError::Protocol("no relay in the set");
        let mut answer = None;
        for member in &members {
            let $relay = &member.relay;
            match $call.await {
                Err(e) if unreachable(&e) => {
                    tracing::debug!(relay = %member.entry.origin(), error = %e, "relay unreachable; trying the next one");
                    last = e;
                }
                other => {
                    answer = Some(other);
                    break;
                }
            }
        }
        answer.unwrap_or(Err(last))
    }};
}

impl<R: RelayApi + 'static> Replicated<R> {
    /// A set of one relay (`relay`, reached as `primary`); more are added through `connector`.
    pub fn new(primary: RelayEntry, relay: R, connector: Arc<dyn Connector<R>>) -> Replicated<R> {
        Replicated {
            origin: relay.origin().clone(),
            members: RwLock::new(vec![Arc::new(Member {
                entry: primary,
                relay,
            })]),
            connector,
            results: Mutex::new(HashMap::new()),
        }
    }

    /// The set of the account in `store` as it was last used: its stored relays in order (or
    /// its one relay), every connection made by `connector` — for apps and tests that dial
    /// through their own [`Connector`] (`open_replicated` does this for [`RelayHttp`]). Hand it
    /// to `SystemClient::with_relay` / `FriendClient::with_relay`.
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] if the store holds no account; storage errors; the
    /// connector's errors.
    pub fn for_store(
        store: &Arc<dyn KeyStore>,
        connector: Arc<dyn Connector<R>>,
    ) -> Result<Replicated<R>, ClientError> {
        let state = super::state::State(store.as_ref());
        let mut entries = state.relays()?;
        if entries.is_empty() {
            entries.push(super::relay_state::account_entry(store)?);
        }
        let first = entries.remove(0);
        let relay = connector.connect(&first)?;
        let set = Replicated::new(first.clone(), relay, connector);
        entries.insert(0, first);
        set.set_members(&entries)?;
        Ok(set)
    }

    /// The relays, in order (the first answers what only one relay can).
    pub fn entries(&self) -> Vec<RelayEntry> {
        self.members().iter().map(|m| m.entry.clone()).collect()
    }

    /// The relays' origins, in order.
    pub fn origins(&self) -> Vec<String> {
        self.members()
            .iter()
            .map(|m| m.entry.origin().to_owned())
            .collect()
    }

    /// What each relay did with the last replicated write of `key`: `volume:<name>` (publish,
    /// deletion), `grant:<friend id>`, `pairing:<friend id>`, `owner-state`, `account`.
    pub fn last_results(&self, key: &str) -> Vec<ReplicaResult> {
        self.results
            .lock()
            .map(|r| r.get(key).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// A snapshot of the members.
    pub(super) fn members(&self) -> Vec<Arc<Member<R>>> {
        match self.members.read() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The member reached at `origin`.
    pub(super) fn member(&self, origin: &str) -> Option<Arc<Member<R>>> {
        self.members()
            .into_iter()
            .find(|m| m.entry.origin() == origin)
    }

    /// A connection to `entry` that is not (yet) a member.
    pub(super) fn connect(&self, entry: &RelayEntry) -> Result<Arc<Member<R>>, ClientError> {
        Ok(Arc::new(Member {
            entry: entry.clone(),
            relay: self.connector.connect(entry)?,
        }))
    }

    /// Makes the members exactly `entries`, in that order: existing connections are kept
    /// (when their pins did not change), new ones made through the connector.
    pub(super) fn set_members(&self, entries: &[RelayEntry]) -> Result<(), ClientError> {
        let current = self.members();
        let mut next = Vec::with_capacity(entries.len());
        for entry in entries {
            match current.iter().find(|m| m.entry == *entry) {
                Some(member) => next.push(Arc::clone(member)),
                None => next.push(self.connect(entry)?),
            }
        }
        self.replace(next);
        Ok(())
    }

    /// Adds `member` at the end unless its origin is already a member.
    pub(super) fn add(&self, member: Arc<Member<R>>) {
        let mut members = self.members();
        if members
            .iter()
            .all(|m| m.entry.origin() != member.entry.origin())
        {
            members.push(member);
            self.replace(members);
        }
    }

    fn replace(&self, members: Vec<Arc<Member<R>>>) {
        match self.members.write() {
            Ok(mut m) => *m = members,
            Err(poisoned) => *poisoned.into_inner() = members,
        }
    }

    fn keep<T>(
        &self,
        key: String,
        members: &[Arc<Member<R>>],
        results: &[Result<T, TransportError>],
        not_found_is_no_account: bool,
    ) {
        let outcome: Vec<ReplicaResult> = members
            .iter()
            .zip(results)
            .map(|(member, result)| ReplicaResult {
                relay: member.entry.origin().to_owned(),
                status: status_of(result, not_found_is_no_account),
            })
            .collect();
        for r in &outcome {
            if !r.status.is_current() {
                // The kind only (`grant`, `volume`, ...): no ids or names in the app's log.
                let what = key.split(':').next().unwrap_or_default();
                tracing::info!(relay = %r.relay, %what, status = ?r.status, "replicated write not stored on this relay");
            }
        }
        if let Ok(mut kept) = self.results.lock() {
            kept.insert(key, outcome);
        }
    }

    /// The first member.
    fn first(&self) -> Result<Arc<Member<R>>, TransportError> {
        self.members()
            .into_iter()
            .next()
            .ok_or(TransportError::Protocol("no relay in the set"))
    }

    /// The (system, friend) of pairing `id` on whichever member knows it.
    async fn pair_of(&self, id: PairingId) -> Result<Option<(UserId, UserId)>, TransportError> {
        let members = self.members();
        let listed = join_all(members.iter().map(|m| m.relay.list_pairings()).collect()).await;
        let mut last = None;
        for result in listed {
            match result {
                Ok(pairings) => {
                    if let Some(p) = pairings.iter().find(|p| p.pairing_id == id) {
                        return Ok(Some((p.system_user_id, p.friend_user_id)));
                    }
                }
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e) if members.len() == 1 => Err(e),
            _ => Ok(None),
        }
    }
}

impl<R: RelayApi + 'static> RelayApi for Replicated<R> {
    fn origin(&self) -> &RelayOrigin {
        &self.origin
    }

    fn relay_entries(&self) -> Vec<RelayEntry> {
        self.entries()
    }

    async fn login(&self) -> Result<(), TransportError> {
        let members = self.members();
        decide(join_all(members.iter().map(|m| m.relay.login()).collect()).await)
    }

    async fn register(&self, request: &RegisterRequest) -> Result<Registered, TransportError> {
        self.first()?.relay.register(request).await
    }

    async fn challenge(&self, request: &ChallengeRequest) -> Result<Challenge, TransportError> {
        self.first()?.relay.challenge(request).await
    }

    async fn token(&self, request: &TokenRequest) -> Result<Session, TransportError> {
        self.first()?.relay.token(request).await
    }

    async fn user_by_handle(&self, handle: &Handle) -> Result<UserRecord, TransportError> {
        failover!(self, |r| r.user_by_handle(handle))
    }

    async fn user_by_id(&self, user_id: UserId) -> Result<UserRecord, TransportError> {
        failover!(self, |r| r.user_by_id(user_id))
    }

    async fn put_volume(
        &self,
        name: &VolumeName,
        volume: &SignedVolume,
    ) -> Result<(), TransportError> {
        fan_out!(self, format!("volume:{name}"), false, |r| r
            .put_volume(name, volume))
    }

    async fn list_volumes(&self) -> Result<Vec<VolumeEntry>, TransportError> {
        failover!(self, |r| r.list_volumes())
    }

    async fn get_volume(
        &self,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> Result<Fetched<SignedVolume>, TransportError> {
        failover!(self, |r| r.get_volume(name, if_newer_than))
    }

    async fn create_invite(&self) -> Result<Invite, TransportError> {
        self.first()?.relay.create_invite().await
    }

    async fn redeem_invite(&self, request: &RedeemRequest) -> Result<Redeemed, TransportError> {
        self.first()?.relay.redeem_invite(request).await
    }

    async fn list_pairings(&self) -> Result<Vec<Pairing>, TransportError> {
        failover!(self, |r| r.list_pairings())
    }

    async fn request_replica_pairing(&self, system: UserId) -> Result<Redeemed, TransportError> {
        self.first()?.relay.request_replica_pairing(system).await
    }

    async fn delete_pairing(&self, pairing_id: PairingId) -> Result<(), TransportError> {
        // Pairing ids are per relay: the pair (system, friend) names the pairing everywhere.
        let Some((system, friend)) = self.pair_of(pairing_id).await? else {
            return Err(TransportError::NotFound);
        };
        self.delete_pairing_between(pairing_id, system, friend)
            .await
    }

    async fn delete_pairing_between(
        &self,
        _pairing_id: PairingId,
        system: UserId,
        friend: UserId,
    ) -> Result<(), TransportError> {
        let members = self.members();
        let deletions = members.iter().map(|m| async move {
            let pairings = m.relay.list_pairings().await?;
            match pairings
                .iter()
                .find(|p| p.system_user_id == system && p.friend_user_id == friend)
            {
                Some(p) => m.relay.delete_pairing(p.pairing_id).await,
                None => Err(TransportError::NotFound),
            }
        });
        let results = join_all(deletions.collect()).await;
        self.keep(format!("pairing:{friend}"), &members, &results, true);
        // Gone everywhere it could be reached is success; a relay that had none has nothing to do.
        let deleted = results.iter().any(Result::is_ok);
        match decide(results) {
            Err(TransportError::NotFound) if deleted => Ok(()),
            other => other,
        }
    }

    async fn put_grant(&self, friend: UserId, grant: &GrantEnvelope) -> Result<(), TransportError> {
        fan_out!(self, format!("grant:{friend}"), true, |r| r
            .put_grant(friend, grant))
    }

    async fn shared_grant(&self, owner: UserId) -> Result<GrantEnvelope, TransportError> {
        failover!(self, |r| r.shared_grant(owner))
    }

    async fn shared_volumes(&self, owner: UserId) -> Result<Vec<VolumeEntry>, TransportError> {
        failover!(self, |r| r.shared_volumes(owner))
    }

    async fn shared_volume(
        &self,
        owner: UserId,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> Result<Fetched<SharedVolume>, TransportError> {
        failover!(self, |r| r.shared_volume(owner, name, if_newer_than))
    }

    async fn own_grants(&self) -> Result<Vec<OwnGrant>, TransportError> {
        failover!(self, |r| r.own_grants())
    }

    async fn get_owner_state(&self) -> Result<Option<OwnerStateEnvelope>, TransportError> {
        failover!(self, |r| r.get_owner_state())
    }

    async fn put_owner_state(&self, state: &OwnerStateEnvelope) -> Result<(), TransportError> {
        fan_out!(self, "owner-state".to_owned(), false, |r| r
            .put_owner_state(state))
    }

    async fn create_device_link(&self) -> Result<DeviceLink, TransportError> {
        self.first()?.relay.create_device_link().await
    }

    async fn device_link(&self, code: &InviteCode) -> Result<DeviceLinkStatus, TransportError> {
        self.first()?.relay.device_link(code).await
    }

    async fn put_device_package(
        &self,
        code: &InviteCode,
        package: &DevicePackage,
    ) -> Result<(), TransportError> {
        self.first()?.relay.put_device_package(code, package).await
    }

    async fn delete_account(&self) -> Result<(), TransportError> {
        fan_out!(self, "account".to_owned(), false, |r| r.delete_account())
    }

    async fn post_receipt(
        &self,
        owner: UserId,
        receipt: &ReceiptEnvelope,
    ) -> Result<(), TransportError> {
        failover!(self, |r| r.post_receipt(owner, receipt))
    }

    async fn delete_volume(
        &self,
        name: &VolumeName,
        tombstone: &SignedTombstone,
    ) -> Result<(), TransportError> {
        fan_out!(self, format!("volume:{name}"), false, |r| r
            .delete_volume(name, tombstone))
    }

    async fn list_receipts(
        &self,
        since: Option<u64>,
    ) -> Result<Vec<ReceiptEnvelope>, TransportError> {
        // A friend leaves its receipt on the relay it read from: the owner reads them all.
        let members = self.members();
        let listed = join_all(
            members
                .iter()
                .map(|m| m.relay.list_receipts(since))
                .collect(),
        )
        .await;
        let mut seen = HashSet::new();
        let mut receipts = Vec::new();
        let mut first_error = None;
        let mut any = false;
        for result in listed {
            match result {
                Ok(list) => {
                    any = true;
                    for r in list {
                        if seen.insert((r.receipt.clone(), *r.signature.as_bytes())) {
                            receipts.push(r);
                        }
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (any, first_error) {
            (false, Some(e)) => Err(e),
            _ => Ok(receipts),
        }
    }

    async fn list_sessions(&self) -> Result<Vec<SessionInfo>, TransportError> {
        self.first()?.relay.list_sessions().await
    }

    async fn revoke_session(&self, session_id: SessionId) -> Result<(), TransportError> {
        // A session id exists on one relay only.
        let members = self.members();
        let results = join_all(
            members
                .iter()
                .map(|m| m.relay.revoke_session(session_id))
                .collect(),
        )
        .await;
        if results.iter().any(Result::is_ok) {
            return Ok(());
        }
        decide(results)
    }

    async fn revoke_other_sessions(&self) -> Result<u64, TransportError> {
        let members = self.members();
        let results = join_all(
            members
                .iter()
                .map(|m| m.relay.revoke_other_sessions())
                .collect(),
        )
        .await;
        let total: u64 = results.iter().filter_map(|r| r.as_ref().ok()).sum();
        decide(results).map(|_| total)
    }

    async fn end_session(&self) -> Result<(), TransportError> {
        let members = self.members();
        decide(join_all(members.iter().map(|m| m.relay.end_session()).collect()).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::NetworkErrorKind;

    fn down() -> TransportError {
        TransportError::Network {
            kind: NetworkErrorKind::Refused,
            detail: "connection refused".into(),
        }
    }

    #[test]
    fn the_first_relay_decides_unless_it_is_unreachable() {
        // A conflict or refusal of the first relay is what a single relay would have said.
        let conflict = TransportError::Conflict {
            current_version: None,
            current_epoch: None,
        };
        assert_eq!(decide(vec![Err(conflict.clone()), Ok(2)]), Err(conflict));
        assert_eq!(
            decide::<u8>(vec![Err(TransportError::NotFound), Ok(2)]),
            Err(TransportError::NotFound)
        );
        // Unreachable first: one stored copy elsewhere is success.
        assert_eq!(decide(vec![Err(down()), Err(down()), Ok(3)]), Ok(3));
        assert_eq!(
            decide::<u8>(vec![Err(down()), Err(TransportError::NotFound)]),
            Err(down())
        );
        assert_eq!(decide(vec![Ok(1), Err(down())]), Ok(1));
        assert!(decide::<u8>(Vec::new()).is_err());
    }

    #[test]
    fn statuses_name_what_happened() {
        assert_eq!(status_of::<()>(&Ok(()), false), ReplicaStatus::Stored);
        assert_eq!(
            status_of::<()>(&Err(TransportError::NotFound), true),
            ReplicaStatus::NoAccount
        );
        assert!(matches!(
            status_of::<()>(&Err(TransportError::NotFound), false),
            ReplicaStatus::Refused { .. }
        ));
        assert!(matches!(
            status_of::<()>(&Err(down()), false),
            ReplicaStatus::Unreachable { reason } if reason.contains("connection refused")
        ));
        assert_eq!(
            status_of::<()>(&Err(TransportError::Unauthorized), false),
            ReplicaStatus::NoAccount
        );
    }

    #[tokio::test]
    async fn join_all_runs_every_future_and_keeps_the_order() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        // The first future can only finish once the second has run: they run at once.
        let first = async move { rx.await.unwrap_or(0) };
        let second = async move {
            let _ = tx.send(7);
            9
        };
        let futures: Vec<Pin<Box<dyn Future<Output = u8> + Send>>> =
            vec![Box::pin(first), Box::pin(second)];
        assert_eq!(join_all(futures).await, vec![7, 9]);
    }
}
