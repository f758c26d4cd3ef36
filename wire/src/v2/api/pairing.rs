//! Pairing: invites, redeeming them with a proof, the pairing list.

use serde::{Deserialize, Serialize};

use super::fields::{b64_fixed, b64_fixed_opt, de_list};
use super::{InviteCode, PairingId, PairingStatus, RelayTime, UserId, UserRecord};

/// Answer to `POST /invites` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The code for the link.
    pub code: InviteCode,
    /// When the invite expires.
    pub expires_at: RelayTime,
}

/// `POST /invites/redeem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemRequest {
    /// The code from the link.
    pub code: InviteCode,
    /// `HMAC-SHA256(pairing key, label("coffer-v2/pairing-proof") ‖ …)` (32 bytes).
    #[serde(with = "b64_fixed")]
    pub proof: [u8; 32],
}

/// Answer to `POST /invites/redeem` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redeemed {
    /// The new pairing.
    pub pairing_id: PairingId,
    /// The system that made the invite.
    pub system_user_id: UserId,
}

/// `POST /pairings/replica` (friend): asks for a pairing with a system on one more of its
/// relays, without an invite; it stays pending until the system's grant activates it
/// (`docs/protocol-v2.md` §6). Answered with [`Redeemed`] (201 created, 200 already paired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaPairingRequest {
    /// The system (the same user id on each of its relays).
    pub system_user_id: UserId,
}

/// An entry of `GET /pairings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairing {
    /// The pairing.
    pub pairing_id: PairingId,
    /// The system side.
    pub system_user_id: UserId,
    /// The friend side.
    pub friend_user_id: UserId,
    /// Pending or active.
    pub status: PairingStatus,
    /// The redeemed invite's code (shown to the system; `null` for the friend).
    #[serde(default)]
    pub code: Option<InviteCode>,
    /// The friend's pairing proof, 32 bytes (shown to the system; `null` for the friend).
    #[serde(default, with = "b64_fixed_opt")]
    pub proof: Option<[u8; 32]>,
    /// When the pairing was made (to the hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<RelayTime>,
    /// The other side's user record.
    pub peer: UserRecord,
}

/// `{"pairings": [...]}`: the answer to `GET /pairings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingList {
    /// At most [`super::MAX_LIST_ENTRIES`] entries.
    #[serde(deserialize_with = "de_list")]
    pub pairings: Vec<Pairing>,
}
