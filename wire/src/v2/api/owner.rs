//! The owner's own grants as the relay holds them (`GET /grants`, `docs/protocol-v2.md` §12):
//! what a system reads back to show its friends' current access, verifying each grant itself.

use serde::{Deserialize, Serialize};

use super::UserId;
use super::fields::{de_grant, de_list, ser_b64};
use crate::b64::Signature64;

/// One stored grant of the caller, to one friend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnGrant {
    /// The friend the grant is for (the relay's claim; the signed bytes name it too).
    pub friend_user_id: UserId,
    /// Grant bytes `G`, exactly as signed (at most [`super::MAX_GRANT_BYTES`]).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_grant")]
    pub grant: Vec<u8>,
    /// `Ed25519(sk_owner, label("coffer-v2/grant") ‖ G)`.
    pub signature: Signature64,
}

/// `{"grants": [...]}`: the answer to `GET /grants`, one entry per pairing that has a grant
/// (expired ones included: the owner decides what an expiry means).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnGrantList {
    /// At most [`super::MAX_LIST_ENTRIES`] entries.
    #[serde(deserialize_with = "de_list")]
    pub grants: Vec<OwnGrant>,
}
