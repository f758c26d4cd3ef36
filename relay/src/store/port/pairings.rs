//! [`Pairings`] on SQLite.

use super::SqliteStore;
use crate::service::{self, Decision, Refusal};
use crate::storage::pairings::{MAX_PENDING_REPLICA_REQUESTS, Pairings, Redemption};
use crate::storage::{DecisionFuture, StoreFuture};
use crate::store::pairings::{self as store, Pairing};
use crate::store::users::{self, User};
use crate::store::{ClientType, StoreError, hour, invites};

impl Pairings for SqliteStore {
    fn redeem_invite(&self, r: Redemption) -> DecisionFuture<'_, String> {
        Box::pin(self.db.write(move |tx| -> Decision<String> {
            let invite = match open_invite(tx, &r.code, r.friend_type, r.now)? {
                Ok(invite) => invite,
                Err(refused) => return Ok(Err(refused)),
            };
            let pairing = Pairing {
                id: r.pairing_id,
                system_user_id: invite.system_user_id.clone(),
                friend_user_id: r.friend.clone(),
                status: "pending".into(),
                code: Some(invite.code.clone()),
                proof: Some(r.proof),
                created_at: hour(r.now),
            };
            if !store::create_pairing(tx, &pairing)? {
                return Ok(Err(Refusal::Conflict(
                    "You are already paired with this system".into(),
                )));
            }
            invites::mark_redeemed(tx, &invite.code, &r.friend, hour(r.now))?;
            Ok(Ok(invite.system_user_id))
        }))
    }

    fn request_replica_pairing(
        &self,
        id: String,
        system: String,
        friend: String,
        now: i64,
    ) -> DecisionFuture<'_, (String, bool)> {
        Box::pin(self.db.write(move |tx| -> Decision<(String, bool)> {
            // Answers as GET /users/{id} would: no more than that a v2 system exists.
            let is_system = users::get(tx, &system)?
                .is_some_and(|u| u.is_v2() && u.client_type == ClientType::System);
            if !is_system {
                return Ok(Err(Refusal::NotFound("User not found")));
            }
            if let Some(p) = store::pairing_between(tx, &system, &friend)? {
                return Ok(Ok((p.id, false)));
            }
            if store::pending_replica_requests(tx, &friend)? >= MAX_PENDING_REPLICA_REQUESTS {
                return Ok(Err(Refusal::Forbidden(
                    "Too many pending replica pairing requests (64): wait for the systems' \
                     grants, or unpair some",
                )));
            }
            if !store::create_replica_request(tx, &id, &system, &friend, hour(now))? {
                return Err(StoreError::Corrupt("a pairing appeared inside a write"));
            }
            Ok(Ok((id, true)))
        }))
    }

    fn pairings_with_peers(&self, user: String) -> StoreFuture<'_, Vec<(Option<User>, Pairing)>> {
        Box::pin(self.db.read(move |c| {
            store::pairings_of(c, &user)?
                .into_iter()
                .map(|p| {
                    let peer = if p.system_user_id == user {
                        &p.friend_user_id
                    } else {
                        &p.system_user_id
                    };
                    Ok((users::get(c, peer)?, p))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        }))
    }

    fn unpair(&self, id: String, caller: String) -> DecisionFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| -> Decision<()> {
            let Some(p) = store::pairing(tx, &id)? else {
                return Ok(Err(Refusal::NotFound("Pairing not found")));
            };
            if p.system_user_id != caller && p.friend_user_id != caller {
                return Ok(Err(Refusal::Forbidden(
                    "You are not a party to this pairing",
                )));
            }
            store::delete_pairing(tx, &id)?;
            Ok(Ok(()))
        }))
    }
}

/// The v2 invite `code` as [`service::invites::check_open`] finds it, read in `conn`'s
/// transaction.
fn open_invite(
    conn: &rusqlite::Connection,
    code: &str,
    caller: crate::store::ClientType,
    now: i64,
) -> crate::service::Decision<crate::store::invites::Invite> {
    Ok(service::invites::check_open(
        crate::store::invites::get(conn, code)?,
        2,
        caller,
        now,
    ))
}
