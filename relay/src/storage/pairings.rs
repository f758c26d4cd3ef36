//! v2 pairings between a system and a friend: redeeming an invite, replica requests (a pairing
//! asked for on one more relay of the system, without an invite), the pairing list and
//! unpairing. A pairing's grant and wrapped keys live and die with it.

use super::{DecisionFuture, StoreFuture};
use crate::store::ClientType;
use crate::store::pairings::Pairing;
use crate::store::users::User;

/// Most pending replica requests (no invite code) one friend may have open at once.
pub const MAX_PENDING_REPLICA_REQUESTS: u64 = 64;

/// A new pairing from a redeemed v2 invite.
#[derive(Debug)]
pub struct Redemption {
    /// The invite code, as sent (upper case).
    pub code: String,
    /// The id the new pairing gets (UUID text).
    pub pairing_id: String,
    /// The redeeming friend.
    pub friend: String,
    /// The redeeming caller's client type (only a friend may redeem).
    pub friend_type: ClientType,
    /// The friend's proof over its keys, keyed by the invite's secret (opaque here).
    pub proof: [u8; 32],
    /// The time of redemption (Unix seconds; stored coarse).
    pub now: i64,
}

/// Pairings between v2 systems and friends.
pub trait Pairings {
    /// Redeems the v2 invite `r.code` into a pending pairing, in one transaction: the invite's
    /// refusals (unknown code 404, redeemed or expired 410, a caller that is not a friend
    /// 400), `Conflict` if the two are paired already. Answers the inviting system's id; the
    /// invite is marked redeemed by the friend.
    fn redeem_invite(&self, r: Redemption) -> DecisionFuture<'_, String>;

    /// Asks for a pending pairing `id` between `system` and `friend` without an invite.
    /// Refused `NotFound("User not found")` unless `system` is a v2 system, `Forbidden` when
    /// `friend` has [`MAX_PENDING_REPLICA_REQUESTS`] pending requests. Answers the pairing's id
    /// and whether it is new: an existing pairing of the two is answered as it is.
    fn request_replica_pairing(
        &self,
        id: String,
        system: String,
        friend: String,
        now: i64,
    ) -> DecisionFuture<'_, (String, bool)>;

    /// Every pairing `user` is a party to, each with the other party's account (`None` if it
    /// is gone), read in one snapshot.
    fn pairings_with_peers(&self, user: String) -> StoreFuture<'_, Vec<(Option<User>, Pairing)>>;

    /// Deletes pairing `id` with its grant and wrapped keys, if `caller` is one of its two
    /// parties: refused `NotFound` for no such pairing, `Forbidden` for a stranger.
    fn unpair(&self, id: String, caller: String) -> DecisionFuture<'_, ()>;
}
