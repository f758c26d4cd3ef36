//! Crashing the relay at a chosen request: a [`RelayApi`] decorator that counts the requests a
//! client makes and SIGKILLs the relay at the N-th one, and records every v2 upload in a
//! [`Ledger`].
//!
//! Counting requests makes a crash point reproducible ("the 5th request of the revocation")
//! where a timer would land anywhere; [`KillAt::During`] adds a delay after the request went
//! out, so the relay also dies inside a request (while it writes a blob, before or after its row
//! commits) and not only between two.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use coffer_client_core::client::RelayApi;
use coffer_client_core::transport::{
    Challenge, ChallengeRequest, Fetched, GrantEnvelope, Handle, Invite, OwnGrant, Pairing,
    PairingId, ReceiptEnvelope, RedeemRequest, Redeemed, RegisterRequest, Registered, RelayOrigin,
    Session, SessionId, SessionInfo, SharedVolume, SignedVolume, TokenRequest, TransportError,
    UserId, UserRecord, VolumeEntry,
};
use coffer_wire::v2::VolumeName;
use coffer_wire::v2::api::{
    DeviceLink, DeviceLinkStatus, DevicePackage, InviteCode, OwnerStateEnvelope,
};
use uuid::Uuid;

use super::ledger::{Ledger, digest_v2, v2_version};

/// Sends SIGKILL to `pid` with kill(1) (this crate forbids `unsafe`, so no `libc::kill`). A
/// process that is already gone is not an error.
pub fn sigkill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run kill(1)");
}

/// When, relative to the chosen request, the relay dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillAt {
    /// Before the request is sent: the relay dies between two requests.
    Before,
    /// This long after the request is sent: the relay dies while it handles the request (or,
    /// if it was quick, before the next one).
    During(Duration),
}

#[derive(Debug, Default)]
struct SwitchState {
    calls: u64,
    armed: Option<(u64, u32, KillAt)>,
    fired: bool,
    pending: Option<JoinHandle<()>>,
}

/// Counts requests and fires one SIGKILL when armed. Clones share the count.
#[derive(Debug, Clone, Default)]
pub struct KillSwitch {
    state: Arc<Mutex<SwitchState>>,
}

impl KillSwitch {
    /// A switch that counts but does not fire.
    pub fn new() -> KillSwitch {
        KillSwitch::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SwitchState> {
        self.state.lock().expect("kill switch lock")
    }

    /// Kills `pid` at the `nth` request from now (1: the next one), as `how` says.
    pub fn arm(&self, pid: u32, nth: u64, how: KillAt) {
        assert!(nth >= 1, "the first request from now is number 1");
        let mut s = self.state();
        s.armed = Some((s.calls + nth, pid, how));
        s.fired = false;
    }

    /// Requests counted so far.
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Whether the armed kill was sent; waits for a delayed one to be sent first, so the
    /// caller can restart the relay without a stray SIGKILL arriving later.
    pub fn settle(&self) -> bool {
        let pending = self.state().pending.take();
        if let Some(thread) = pending {
            thread.join().expect("the kill thread does not panic");
        }
        let mut s = self.state();
        s.armed = None;
        s.fired
    }

    /// Counts one request and fires if it is the armed one.
    fn on_request(&self) {
        let mut s = self.state();
        s.calls += 1;
        let Some((at, pid, how)) = s.armed else {
            return;
        };
        if s.calls != at {
            return;
        }
        s.armed = None;
        s.fired = true;
        match how {
            KillAt::Before => sigkill(pid),
            KillAt::During(delay) => {
                s.pending = Some(std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    sigkill(pid);
                }));
            }
        }
    }
}

/// A relay connection that counts requests on a [`KillSwitch`] and records the v2 uploads of
/// `owner` in a [`Ledger`] (attempted before sending, acknowledged on 200).
#[derive(Debug)]
pub struct FaultyRelay<R> {
    inner: R,
    switch: KillSwitch,
    ledger: Arc<Ledger>,
    owner: String,
}

impl<R: RelayApi> FaultyRelay<R> {
    /// Wraps `inner`, the connection of the account `owner`.
    pub fn new(inner: R, switch: KillSwitch, ledger: Arc<Ledger>, owner: Uuid) -> Self {
        FaultyRelay {
            inner,
            switch,
            ledger,
            owner: owner.to_string(),
        }
    }

    /// The wrapped connection.
    pub fn inner(&self) -> &R {
        &self.inner
    }
}

impl<R: RelayApi> RelayApi for FaultyRelay<R> {
    fn origin(&self) -> &RelayOrigin {
        self.inner.origin()
    }

    async fn login(&self) -> Result<(), TransportError> {
        self.switch.on_request();
        self.inner.login().await
    }

    async fn delete_account(&self) -> Result<(), TransportError> {
        self.switch.on_request();
        self.inner.delete_account().await
    }

    async fn own_grants(&self) -> Result<Vec<OwnGrant>, TransportError> {
        self.switch.on_request();
        self.inner.own_grants().await
    }

    async fn post_receipt(
        &self,
        owner: UserId,
        receipt: &ReceiptEnvelope,
    ) -> Result<(), TransportError> {
        self.switch.on_request();
        self.inner.post_receipt(owner, receipt).await
    }

    async fn delete_volume(
        &self,
        name: &VolumeName,
        tombstone: &coffer_wire::v2::api::SignedTombstone,
    ) -> Result<(), TransportError> {
        self.switch.on_request();
        self.inner.delete_volume(name, tombstone).await
    }

    async fn list_receipts(
        &self,
        since: Option<u64>,
    ) -> Result<Vec<ReceiptEnvelope>, TransportError> {
        self.switch.on_request();
        self.inner.list_receipts(since).await
    }

    async fn get_owner_state(&self) -> Result<Option<OwnerStateEnvelope>, TransportError> {
        self.switch.on_request();
        self.inner.get_owner_state().await
    }

    async fn put_owner_state(&self, state: &OwnerStateEnvelope) -> Result<(), TransportError> {
        self.switch.on_request();
        self.inner.put_owner_state(state).await
    }

    async fn create_device_link(&self) -> Result<DeviceLink, TransportError> {
        self.switch.on_request();
        self.inner.create_device_link().await
    }

    async fn device_link(&self, code: &InviteCode) -> Result<DeviceLinkStatus, TransportError> {
        self.switch.on_request();
        self.inner.device_link(code).await
    }

    async fn put_device_package(
        &self,
        code: &InviteCode,
        package: &DevicePackage,
    ) -> Result<(), TransportError> {
        self.switch.on_request();
        self.inner.put_device_package(code, package).await
    }

    async fn list_sessions(&self) -> Result<Vec<SessionInfo>, TransportError> {
        self.switch.on_request();
        self.inner.list_sessions().await
    }

    async fn revoke_session(&self, session_id: SessionId) -> Result<(), TransportError> {
        self.switch.on_request();
        self.inner.revoke_session(session_id).await
    }

    async fn revoke_other_sessions(&self) -> Result<u64, TransportError> {
        self.switch.on_request();
        self.inner.revoke_other_sessions().await
    }

    async fn end_session(&self) -> Result<(), TransportError> {
        self.switch.on_request();
        self.inner.end_session().await
    }

    async fn register(&self, request: &RegisterRequest) -> Result<Registered, TransportError> {
        self.switch.on_request();
        self.inner.register(request).await
    }

    async fn challenge(&self, request: &ChallengeRequest) -> Result<Challenge, TransportError> {
        self.switch.on_request();
        self.inner.challenge(request).await
    }

    async fn token(&self, request: &TokenRequest) -> Result<Session, TransportError> {
        self.switch.on_request();
        self.inner.token(request).await
    }

    async fn user_by_handle(&self, handle: &Handle) -> Result<UserRecord, TransportError> {
        self.switch.on_request();
        self.inner.user_by_handle(handle).await
    }

    async fn user_by_id(&self, user_id: UserId) -> Result<UserRecord, TransportError> {
        self.switch.on_request();
        self.inner.user_by_id(user_id).await
    }

    async fn put_volume(
        &self,
        name: &VolumeName,
        volume: &SignedVolume,
    ) -> Result<(), TransportError> {
        let (version, digest) = (v2_version(volume), digest_v2(volume));
        self.ledger
            .attempt(&self.owner, name.as_str(), version, digest);
        self.switch.on_request();
        let result = self.inner.put_volume(name, volume).await;
        if result.is_ok() {
            self.ledger.ack(&self.owner, name.as_str(), version, digest);
        }
        result
    }

    async fn list_volumes(&self) -> Result<Vec<VolumeEntry>, TransportError> {
        self.switch.on_request();
        self.inner.list_volumes().await
    }

    async fn get_volume(
        &self,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> Result<Fetched<SignedVolume>, TransportError> {
        self.switch.on_request();
        self.inner.get_volume(name, if_newer_than).await
    }

    async fn create_invite(&self) -> Result<Invite, TransportError> {
        self.switch.on_request();
        self.inner.create_invite().await
    }

    async fn redeem_invite(&self, request: &RedeemRequest) -> Result<Redeemed, TransportError> {
        self.switch.on_request();
        self.inner.redeem_invite(request).await
    }

    async fn request_replica_pairing(&self, system: UserId) -> Result<Redeemed, TransportError> {
        self.switch.on_request();
        self.inner.request_replica_pairing(system).await
    }

    async fn list_pairings(&self) -> Result<Vec<Pairing>, TransportError> {
        self.switch.on_request();
        self.inner.list_pairings().await
    }

    async fn delete_pairing(&self, pairing_id: PairingId) -> Result<(), TransportError> {
        self.switch.on_request();
        self.inner.delete_pairing(pairing_id).await
    }

    async fn put_grant(&self, friend: UserId, grant: &GrantEnvelope) -> Result<(), TransportError> {
        self.switch.on_request();
        self.inner.put_grant(friend, grant).await
    }

    async fn shared_grant(&self, owner: UserId) -> Result<GrantEnvelope, TransportError> {
        self.switch.on_request();
        self.inner.shared_grant(owner).await
    }

    async fn shared_volumes(&self, owner: UserId) -> Result<Vec<VolumeEntry>, TransportError> {
        self.switch.on_request();
        self.inner.shared_volumes(owner).await
    }

    async fn shared_volume(
        &self,
        owner: UserId,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> Result<Fetched<SharedVolume>, TransportError> {
        self.switch.on_request();
        self.inner.shared_volume(owner, name, if_newer_than).await
    }
}
