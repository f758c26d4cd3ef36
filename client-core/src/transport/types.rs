//! The JSON shapes of the v2 API (`docs/protocol-v2.md`), parsed strictly.
//!
//! The shapes themselves are the one contract in [`coffer_wire::v2::api`], shared with the relay
//! (a field changed there fails to compile here and in the relay); they are re-exported so this
//! crate's public paths stay. A relay that sends anything the strict parsing refuses gets
//! `TransportError::Protocol` from the endpoint that received it. What lives here is only what
//! the client adds: the answer to a conditional `GET`.

pub use coffer_wire::v2::api::{
    Challenge, ChallengeRequest, ClientType, GrantEnvelope, Handle, HandleError, Invite,
    InviteCode, InviteCodeError, MAX_GRANT_BYTES, MAX_HEADER_BYTES, MAX_LIST_ENTRIES,
    MAX_PAYLOAD_BYTES, OwnGrant, OwnGrantList, Pairing, PairingId, PairingList, PairingStatus,
    RedeemRequest, Redeemed, RegisterRequest, Registered, RelayTime, SharedVolume, SignedVolume,
    TokenRequest, UserId, UserRecord, VolumeEntry, VolumeList, WrappedKeyEntry,
};
pub use coffer_wire::v2::api::{
    DeviceLabel, DeviceLabelError, SessionId, SessionInfo, SessionList, SessionProtocol,
    SessionsRevoked,
};

/// The answer to a conditional `GET` (`If-None-Match: <version>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched<T> {
    /// The relay holds something newer than the version given (or none was given).
    Modified(T),
    /// 304: nothing newer than the version given.
    NotModified,
}
