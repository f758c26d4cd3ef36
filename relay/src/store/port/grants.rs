//! [`Grants`] on SQLite: `store::grants` over `store::pairings`.

use coffer_wire::v2::Grant;
use rusqlite::Connection;

use super::SqliteStore;
use crate::service::{Decision, Refusal, Stale};
use crate::storage::DecisionFuture;
use crate::storage::grants::{
    GrantCheck, GrantParties, Grants, LiveGrant, PairingKind, WrappedKeys,
};
use crate::store::grants::{self, StoredGrant};
use crate::store::{StoreError, now, pairings, users};

/// The live (stored, unexpired) grant from `owner` to `friend`, parsed, with its wrapped keys.
pub(super) fn live_grant_in(c: &Connection, owner: &str, friend: &str) -> Decision<LiveGrant> {
    const NONE: &str = "No live grant from this system";
    let Some(p) = pairings::pairing_between(c, owner, friend)? else {
        return Ok(Err(Refusal::Forbidden(NONE)));
    };
    let Some(stored) = grants::grant(c, &p.id)? else {
        return Ok(Err(Refusal::Forbidden(NONE)));
    };
    if stored.expires_at != 0 && stored.expires_at <= now() as u64 {
        return Ok(Err(Refusal::Forbidden(
            "The grant from this system has expired",
        )));
    }
    let keys = grants::grant_keys(c, &p.id)?;
    let Ok(grant) = Grant::parse(&stored.grant_bytes) else {
        return Err(StoreError::Corrupt("a stored grant does not parse"));
    };
    Ok(Ok(LiveGrant {
        stored,
        grant,
        keys,
    }))
}

impl Grants for SqliteStore {
    fn put_v2_grant(
        &self,
        owner: String,
        friend: String,
        grant: StoredGrant,
        keys: WrappedKeys,
        hour: i64,
        check: GrantCheck,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| -> Decision<()> {
            let Some(pairing) = pairings::pairing_between(tx, &owner, &friend)? else {
                return Ok(Err(Refusal::NotFound("Pairing not found")));
            };
            let Some(user) = users::get(tx, &owner)? else {
                return Ok(Err(Refusal::Unauthorized("User not found")));
            };
            // A replica request (no invite code): the friend that asked, for the check.
            let asked = match pairing.code {
                Some(_) => None,
                None => Some(users::get(tx, &friend)?),
            };
            let parties = GrantParties {
                grant: &grant,
                owner: &user,
                pairing: match &asked {
                    None => PairingKind::Invited,
                    Some(friend) => PairingKind::ReplicaRequest(friend.as_ref()),
                },
            };
            if let Err(refused) = check(&parties) {
                return Ok(Err(refused));
            }
            Ok(grants::put_grant(tx, &pairing.id, &grant, &keys, hour)?
                .map_err(|current| Refusal::Stale(Stale::Grant { current })))
        }))
    }

    fn live_v2_grant(&self, owner: String, friend: String) -> DecisionFuture<'_, LiveGrant> {
        Box::pin(self.db.read(move |c| live_grant_in(c, &owner, &friend)))
    }
}
