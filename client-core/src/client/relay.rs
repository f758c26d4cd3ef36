//! [`RelayApi`]: what the clients need from a relay, one method per v2 endpoint.
//!
//! Implemented by [`RelayHttp`] (the real HTTPS transport) and by `Arc<T>`; tests wrap it in
//! decorators that tamper with answers (a malicious relay) or fail on purpose (an interrupted
//! rotation). The clients never assume an implementation is honest: everything a relay serves
//! is verified by the client state machines, so a decorator can only make operations fail.

use std::future::Future;
use std::sync::Arc;

use coffer_wire::v2::VolumeName;

use coffer_wire::v2::api::{
    DeviceLink, DeviceLinkStatus, DevicePackage, OwnerStateEnvelope, SignedTombstone,
};

use crate::transport::{
    Challenge, ChallengeRequest, Fetched, GrantEnvelope, Handle, Invite, InviteCode, OwnGrant,
    Pairing, PairingId, ReceiptEnvelope, RedeemRequest, Redeemed, RegisterRequest, Registered,
    RelayHttp, RelayOrigin, Session, SessionId, SessionInfo, SharedVolume, SignedVolume,
    TokenRequest, TransportError, UserId, UserRecord, VolumeEntry,
};

/// The refusal of the provided session methods.
const NO_SESSIONS: TransportError =
    TransportError::Protocol("this relay connection does not implement the session endpoints");

/// Everything the clients need from a relay: one async method per v2 endpoint, with the
/// signatures of [`RelayHttp`]'s methods (see there for each endpoint's meaning).
///
/// Authenticated calls log in on their own: a [`RelayHttp`] used here must carry the login
/// authenticator of the stored identity ([`super::relay_for`] builds one).
pub trait RelayApi: Send + Sync {
    /// The origin dialled (what the login transcript signs, and what invite links name).
    fn origin(&self) -> &RelayOrigin;
    /// Logs in now.
    fn login(&self) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// `POST /register`.
    fn register(
        &self,
        request: &RegisterRequest,
    ) -> impl Future<Output = Result<Registered, TransportError>> + Send;
    /// `POST /auth/challenge`.
    fn challenge(
        &self,
        request: &ChallengeRequest,
    ) -> impl Future<Output = Result<Challenge, TransportError>> + Send;
    /// `POST /auth/token`.
    fn token(
        &self,
        request: &TokenRequest,
    ) -> impl Future<Output = Result<Session, TransportError>> + Send;
    /// `GET /users/by-handle/{handle}`.
    fn user_by_handle(
        &self,
        handle: &Handle,
    ) -> impl Future<Output = Result<UserRecord, TransportError>> + Send;
    /// `GET /users/{id}`.
    fn user_by_id(
        &self,
        user_id: UserId,
    ) -> impl Future<Output = Result<UserRecord, TransportError>> + Send;
    /// `PUT /volumes/{name}`.
    fn put_volume(
        &self,
        name: &VolumeName,
        volume: &SignedVolume,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// `GET /volumes`.
    fn list_volumes(&self)
    -> impl Future<Output = Result<Vec<VolumeEntry>, TransportError>> + Send;
    /// `GET /volumes/{name}` (conditional with `if_newer_than`).
    fn get_volume(
        &self,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> impl Future<Output = Result<Fetched<SignedVolume>, TransportError>> + Send;
    /// `POST /invites`.
    fn create_invite(&self) -> impl Future<Output = Result<Invite, TransportError>> + Send;
    /// `POST /invites/redeem`.
    fn redeem_invite(
        &self,
        request: &RedeemRequest,
    ) -> impl Future<Output = Result<Redeemed, TransportError>> + Send;
    /// `GET /pairings`.
    fn list_pairings(&self) -> impl Future<Output = Result<Vec<Pairing>, TransportError>> + Send;
    /// `DELETE /pairings/{id}`.
    fn delete_pairing(
        &self,
        pairing_id: PairingId,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// `DELETE /pairings/{id}` of the pairing between `system` and `friend`: a set of relays
    /// ([`super::Replicated`]) deletes the pair's pairing on each relay (ids are per relay).
    fn delete_pairing_between(
        &self,
        pairing_id: PairingId,
        system: UserId,
        friend: UserId,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let _ = (system, friend);
        self.delete_pairing(pairing_id)
    }
    /// `PUT /grants/{friend_id}`.
    fn put_grant(
        &self,
        friend: UserId,
        grant: &GrantEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// `GET /shared/{owner}/grant`.
    fn shared_grant(
        &self,
        owner: UserId,
    ) -> impl Future<Output = Result<GrantEnvelope, TransportError>> + Send;
    /// `GET /shared/{owner}/volumes`.
    fn shared_volumes(
        &self,
        owner: UserId,
    ) -> impl Future<Output = Result<Vec<VolumeEntry>, TransportError>> + Send;
    /// `GET /shared/{owner}/volumes/{name}` (conditional with `if_newer_than`).
    fn shared_volume(
        &self,
        owner: UserId,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> impl Future<Output = Result<Fetched<SharedVolume>, TransportError>> + Send;
    /// The relays of a set ([`super::Replicated`]), first preferred; empty for a single relay
    /// connection (the default).
    fn relay_entries(&self) -> Vec<crate::v2::RelayEntry> {
        Vec::new()
    }
    /// `GET /grants`: the caller's own stored grants (§12).
    ///
    /// Provided so that decorators written against the endpoint list above keep compiling;
    /// the default refuses. A decorator should forward it to the relay it wraps.
    fn own_grants(&self) -> impl Future<Output = Result<Vec<OwnGrant>, TransportError>> + Send {
        async {
            Err(TransportError::Protocol(
                "this relay connection does not implement GET /grants",
            ))
        }
    }
    /// `POST /pairings/replica` (friend): asks for a pairing with `system` on this relay,
    /// which the system's grant activates (§6).
    ///
    /// Provided so that decorators written against the endpoint list above keep compiling;
    /// the default refuses. A decorator should forward it to the relay it wraps.
    fn request_replica_pairing(
        &self,
        system: UserId,
    ) -> impl Future<Output = Result<Redeemed, TransportError>> + Send {
        let _ = system;
        async {
            Err(TransportError::Protocol(
                "this relay connection does not implement POST /pairings/replica",
            ))
        }
    }
    /// `GET /owner-state` (`None`: the account has none).
    fn get_owner_state(
        &self,
    ) -> impl Future<Output = Result<Option<OwnerStateEnvelope>, TransportError>> + Send;
    /// `PUT /owner-state`.
    fn put_owner_state(
        &self,
        state: &OwnerStateEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// `POST /device-links`.
    fn create_device_link(&self)
    -> impl Future<Output = Result<DeviceLink, TransportError>> + Send;
    /// `GET /device-links/{code}`.
    fn device_link(
        &self,
        code: &InviteCode,
    ) -> impl Future<Output = Result<DeviceLinkStatus, TransportError>> + Send;
    /// `PUT /device-links/{code}/package`.
    fn put_device_package(
        &self,
        code: &InviteCode,
        package: &DevicePackage,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Deletes the caller's account with everything it owns ([`RelayHttp::delete_account`]).
    ///
    /// Provided so that decorators written against the endpoint list above keep compiling;
    /// the default refuses. A decorator should forward it to the relay it wraps.
    fn delete_account(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        async {
            Err(TransportError::Protocol(
                "this relay connection does not implement account deletion",
            ))
        }
    }
    /// `POST /shared/{owner}/receipts` (friend): uploads a fetch receipt (§14).
    ///
    /// Provided like [`delete_account`](Self::delete_account); the default refuses (the friend
    /// client treats a failed upload as best-effort). Decorators should forward it.
    fn post_receipt(
        &self,
        owner: UserId,
        receipt: &ReceiptEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let _ = (owner, receipt);
        async {
            Err(TransportError::Protocol(
                "this relay connection does not implement fetch receipts",
            ))
        }
    }
    /// `DELETE /volumes/{name}` (system, §12) with the owner's signed tombstone.
    ///
    /// Provided; the default refuses. Decorators should forward it.
    fn delete_volume(
        &self,
        name: &VolumeName,
        tombstone: &SignedTombstone,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let _ = (name, tombstone);
        async {
            Err(TransportError::Protocol(
                "this relay connection does not implement volume deletion",
            ))
        }
    }
    /// `GET /receipts` (system): the fetch receipts kept for the caller (§14), unverified.
    ///
    /// Provided; the default refuses. Decorators should forward it.
    fn list_receipts(
        &self,
        since: Option<u64>,
    ) -> impl Future<Output = Result<Vec<ReceiptEnvelope>, TransportError>> + Send {
        let _ = since;
        async {
            Err(TransportError::Protocol(
                "this relay connection does not implement fetch receipts",
            ))
        }
    }

    /// `GET /sessions` ([`RelayHttp::list_sessions`]). Like [`RelayApi::delete_account`] and
    /// the other session methods, provided with a refusing default; decorators forward it.
    fn list_sessions(
        &self,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, TransportError>> + Send {
        async { Err(NO_SESSIONS) }
    }
    /// `DELETE /sessions/{id}` ([`RelayHttp::revoke_session`]).
    fn revoke_session(
        &self,
        session_id: SessionId,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let _ = session_id;
        async { Err(NO_SESSIONS) }
    }
    /// `POST /sessions/revoke-others` ([`RelayHttp::revoke_other_sessions`]).
    fn revoke_other_sessions(&self) -> impl Future<Output = Result<u64, TransportError>> + Send {
        async { Err(NO_SESSIONS) }
    }
    /// Logout: `DELETE /sessions/current`, then forget the token ([`RelayHttp::end_session`]).
    fn end_session(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        async { Err(NO_SESSIONS) }
    }
}

impl RelayApi for RelayHttp {
    fn origin(&self) -> &RelayOrigin {
        RelayHttp::origin(self)
    }
    fn login(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::login(self)
    }
    fn register(
        &self,
        request: &RegisterRequest,
    ) -> impl Future<Output = Result<Registered, TransportError>> + Send {
        RelayHttp::register(self, request)
    }
    fn challenge(
        &self,
        request: &ChallengeRequest,
    ) -> impl Future<Output = Result<Challenge, TransportError>> + Send {
        RelayHttp::challenge(self, request)
    }
    fn token(
        &self,
        request: &TokenRequest,
    ) -> impl Future<Output = Result<Session, TransportError>> + Send {
        RelayHttp::token(self, request)
    }
    fn user_by_handle(
        &self,
        handle: &Handle,
    ) -> impl Future<Output = Result<UserRecord, TransportError>> + Send {
        RelayHttp::user_by_handle(self, handle)
    }
    fn user_by_id(
        &self,
        user_id: UserId,
    ) -> impl Future<Output = Result<UserRecord, TransportError>> + Send {
        RelayHttp::user_by_id(self, user_id)
    }
    fn put_volume(
        &self,
        name: &VolumeName,
        volume: &SignedVolume,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::put_volume(self, name, volume)
    }
    fn list_volumes(
        &self,
    ) -> impl Future<Output = Result<Vec<VolumeEntry>, TransportError>> + Send {
        RelayHttp::list_volumes(self)
    }
    fn get_volume(
        &self,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> impl Future<Output = Result<Fetched<SignedVolume>, TransportError>> + Send {
        RelayHttp::get_volume(self, name, if_newer_than)
    }
    fn create_invite(&self) -> impl Future<Output = Result<Invite, TransportError>> + Send {
        RelayHttp::create_invite(self)
    }
    fn redeem_invite(
        &self,
        request: &RedeemRequest,
    ) -> impl Future<Output = Result<Redeemed, TransportError>> + Send {
        RelayHttp::redeem_invite(self, request)
    }
    fn list_pairings(&self) -> impl Future<Output = Result<Vec<Pairing>, TransportError>> + Send {
        RelayHttp::list_pairings(self)
    }
    fn delete_pairing(
        &self,
        pairing_id: PairingId,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::delete_pairing(self, pairing_id)
    }
    fn put_grant(
        &self,
        friend: UserId,
        grant: &GrantEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::put_grant(self, friend, grant)
    }
    fn shared_grant(
        &self,
        owner: UserId,
    ) -> impl Future<Output = Result<GrantEnvelope, TransportError>> + Send {
        RelayHttp::shared_grant(self, owner)
    }
    fn shared_volumes(
        &self,
        owner: UserId,
    ) -> impl Future<Output = Result<Vec<VolumeEntry>, TransportError>> + Send {
        RelayHttp::shared_volumes(self, owner)
    }
    fn shared_volume(
        &self,
        owner: UserId,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> impl Future<Output = Result<Fetched<SharedVolume>, TransportError>> + Send {
        RelayHttp::shared_volume(self, owner, name, if_newer_than)
    }
    fn own_grants(&self) -> impl Future<Output = Result<Vec<OwnGrant>, TransportError>> + Send {
        RelayHttp::own_grants(self)
    }
    fn request_replica_pairing(
        &self,
        system: UserId,
    ) -> impl Future<Output = Result<Redeemed, TransportError>> + Send {
        RelayHttp::request_replica_pairing(self, system)
    }
    fn delete_account(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::delete_account(self)
    }
    fn post_receipt(
        &self,
        owner: UserId,
        receipt: &ReceiptEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::post_receipt(self, owner, receipt)
    }
    fn delete_volume(
        &self,
        name: &VolumeName,
        tombstone: &SignedTombstone,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::delete_volume(self, name, tombstone)
    }
    fn list_receipts(
        &self,
        since: Option<u64>,
    ) -> impl Future<Output = Result<Vec<ReceiptEnvelope>, TransportError>> + Send {
        RelayHttp::list_receipts(self, since)
    }

    fn get_owner_state(
        &self,
    ) -> impl Future<Output = Result<Option<OwnerStateEnvelope>, TransportError>> + Send {
        RelayHttp::get_owner_state(self)
    }
    fn put_owner_state(
        &self,
        state: &OwnerStateEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::put_owner_state(self, state)
    }
    fn create_device_link(
        &self,
    ) -> impl Future<Output = Result<DeviceLink, TransportError>> + Send {
        RelayHttp::create_device_link(self)
    }
    fn device_link(
        &self,
        code: &InviteCode,
    ) -> impl Future<Output = Result<DeviceLinkStatus, TransportError>> + Send {
        RelayHttp::device_link(self, code)
    }
    fn put_device_package(
        &self,
        code: &InviteCode,
        package: &DevicePackage,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::put_device_package(self, code, package)
    }

    fn list_sessions(
        &self,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, TransportError>> + Send {
        RelayHttp::list_sessions(self)
    }
    fn revoke_session(
        &self,
        session_id: SessionId,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::revoke_session(self, session_id)
    }
    fn revoke_other_sessions(&self) -> impl Future<Output = Result<u64, TransportError>> + Send {
        RelayHttp::revoke_other_sessions(self)
    }
    fn end_session(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        RelayHttp::end_session(self)
    }
}

/// A shared relay is a relay (several clients, or a test and a client, over one connection).
impl<T: RelayApi> RelayApi for Arc<T> {
    fn origin(&self) -> &RelayOrigin {
        (**self).origin()
    }
    fn login(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).login()
    }
    fn register(
        &self,
        request: &RegisterRequest,
    ) -> impl Future<Output = Result<Registered, TransportError>> + Send {
        (**self).register(request)
    }
    fn challenge(
        &self,
        request: &ChallengeRequest,
    ) -> impl Future<Output = Result<Challenge, TransportError>> + Send {
        (**self).challenge(request)
    }
    fn token(
        &self,
        request: &TokenRequest,
    ) -> impl Future<Output = Result<Session, TransportError>> + Send {
        (**self).token(request)
    }
    fn user_by_handle(
        &self,
        handle: &Handle,
    ) -> impl Future<Output = Result<UserRecord, TransportError>> + Send {
        (**self).user_by_handle(handle)
    }
    fn user_by_id(
        &self,
        user_id: UserId,
    ) -> impl Future<Output = Result<UserRecord, TransportError>> + Send {
        (**self).user_by_id(user_id)
    }
    fn put_volume(
        &self,
        name: &VolumeName,
        volume: &SignedVolume,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).put_volume(name, volume)
    }
    fn list_volumes(
        &self,
    ) -> impl Future<Output = Result<Vec<VolumeEntry>, TransportError>> + Send {
        (**self).list_volumes()
    }
    fn get_volume(
        &self,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> impl Future<Output = Result<Fetched<SignedVolume>, TransportError>> + Send {
        (**self).get_volume(name, if_newer_than)
    }
    fn create_invite(&self) -> impl Future<Output = Result<Invite, TransportError>> + Send {
        (**self).create_invite()
    }
    fn redeem_invite(
        &self,
        request: &RedeemRequest,
    ) -> impl Future<Output = Result<Redeemed, TransportError>> + Send {
        (**self).redeem_invite(request)
    }
    fn list_pairings(&self) -> impl Future<Output = Result<Vec<Pairing>, TransportError>> + Send {
        (**self).list_pairings()
    }
    fn delete_pairing(
        &self,
        pairing_id: PairingId,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).delete_pairing(pairing_id)
    }
    fn put_grant(
        &self,
        friend: UserId,
        grant: &GrantEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).put_grant(friend, grant)
    }
    fn shared_grant(
        &self,
        owner: UserId,
    ) -> impl Future<Output = Result<GrantEnvelope, TransportError>> + Send {
        (**self).shared_grant(owner)
    }
    fn shared_volumes(
        &self,
        owner: UserId,
    ) -> impl Future<Output = Result<Vec<VolumeEntry>, TransportError>> + Send {
        (**self).shared_volumes(owner)
    }
    fn shared_volume(
        &self,
        owner: UserId,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> impl Future<Output = Result<Fetched<SharedVolume>, TransportError>> + Send {
        (**self).shared_volume(owner, name, if_newer_than)
    }
    fn own_grants(&self) -> impl Future<Output = Result<Vec<OwnGrant>, TransportError>> + Send {
        (**self).own_grants()
    }
    fn request_replica_pairing(
        &self,
        system: UserId,
    ) -> impl Future<Output = Result<Redeemed, TransportError>> + Send {
        (**self).request_replica_pairing(system)
    }
    fn delete_account(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).delete_account()
    }
    fn post_receipt(
        &self,
        owner: UserId,
        receipt: &ReceiptEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).post_receipt(owner, receipt)
    }
    fn delete_volume(
        &self,
        name: &VolumeName,
        tombstone: &SignedTombstone,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).delete_volume(name, tombstone)
    }
    fn list_receipts(
        &self,
        since: Option<u64>,
    ) -> impl Future<Output = Result<Vec<ReceiptEnvelope>, TransportError>> + Send {
        (**self).list_receipts(since)
    }

    fn get_owner_state(
        &self,
    ) -> impl Future<Output = Result<Option<OwnerStateEnvelope>, TransportError>> + Send {
        (**self).get_owner_state()
    }
    fn put_owner_state(
        &self,
        state: &OwnerStateEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).put_owner_state(state)
    }
    fn create_device_link(
        &self,
    ) -> impl Future<Output = Result<DeviceLink, TransportError>> + Send {
        (**self).create_device_link()
    }
    fn device_link(
        &self,
        code: &InviteCode,
    ) -> impl Future<Output = Result<DeviceLinkStatus, TransportError>> + Send {
        (**self).device_link(code)
    }
    fn put_device_package(
        &self,
        code: &InviteCode,
        package: &DevicePackage,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).put_device_package(code, package)
    }

    fn list_sessions(
        &self,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, TransportError>> + Send {
        (**self).list_sessions()
    }
    fn revoke_session(
        &self,
        session_id: SessionId,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).revoke_session(session_id)
    }
    fn revoke_other_sessions(&self) -> impl Future<Output = Result<u64, TransportError>> + Send {
        (**self).revoke_other_sessions()
    }
    fn end_session(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        (**self).end_session()
    }
}
