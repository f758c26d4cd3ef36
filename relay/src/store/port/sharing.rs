//! [`Sharing`] on SQLite.

use rusqlite::Connection;

use super::SqliteStore;
use crate::service::{Decision, Refusal};
use crate::storage::sharing::{
    EXISTS, InviteCheck, Relationship, Response, Sharing, Status, TargetCheck, owned_by,
};
use crate::storage::{DecisionFuture, StoreError, StoreFuture};
use crate::store::{ClientType, hour, invites, sharing, users};

/// A relationship just created in the same transaction cannot be read back: the database is
/// broken (answered 500, and the write rolled back).
const NEW_MISSING: StoreError = StoreError::Corrupt("a new relationship cannot be read back");

/// Loads a relationship the calling system owns, in `want` status.
fn owned(conn: &Connection, id: &str, system: &str, want: Status) -> Decision<Relationship> {
    Ok(owned_by(sharing::get(conn, id)?, system, want))
}

impl Sharing for SqliteStore {
    fn request_sharing(
        &self,
        id: String,
        system: String,
        friend: String,
        hour: i64,
        check: TargetCheck,
    ) -> DecisionFuture<'_, Relationship> {
        Box::pin(self.db.write(move |tx| -> Decision<Relationship> {
            let Some(target) = users::get(tx, &system)? else {
                return Ok(Err(Refusal::NotFound("User not found")));
            };
            if let Err(refused) = check(&target) {
                return Ok(Err(refused));
            }
            if sharing::exists_between(tx, &system, &friend)? {
                return Ok(Err(Refusal::Conflict(EXISTS.into())));
            }
            sharing::create_pending(tx, &id, &system, &friend, hour)?;
            Ok(Ok(sharing::get(tx, &id)?.ok_or(NEW_MISSING)?))
        }))
    }

    fn redeem_sharing_invite(
        &self,
        code: String,
        friend: String,
        id: String,
        now: i64,
        check: InviteCheck,
    ) -> DecisionFuture<'_, Relationship> {
        Box::pin(self.db.write(move |tx| -> Decision<Relationship> {
            let invite = match check(invites::get(tx, &code)?) {
                Ok(invite) => invite,
                Err(refused) => return Ok(Err(refused)),
            };
            if sharing::exists_between(tx, &invite.system_user_id, &friend)? {
                return Ok(Err(Refusal::Conflict(EXISTS.into())));
            }
            invites::mark_redeemed(tx, &invite.code, &friend, hour(now))?;
            sharing::create_pending(tx, &id, &invite.system_user_id, &friend, hour(now))?;
            Ok(Ok(sharing::get(tx, &id)?.ok_or(NEW_MISSING)?))
        }))
    }

    fn sharing_relationships(
        &self,
        user: String,
        side: ClientType,
        statuses: &'static [Status],
    ) -> StoreFuture<'_, Vec<Relationship>> {
        Box::pin(
            self.db
                .read(move |c| sharing::list_for(c, &user, side, statuses)),
        )
    }

    fn respond_sharing(
        &self,
        id: String,
        system: String,
        response: Response,
        hour: i64,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| {
            let rel = match owned(tx, &id, &system, Status::Pending)? {
                Ok(rel) => rel,
                Err(e) => return Ok(Err(e)),
            };
            match &response {
                Response::Accept {
                    wrapped_vek,
                    permissions,
                } => sharing::accept(tx, &rel.id, wrapped_vek, permissions, hour)?,
                Response::Reject => {
                    sharing::delete(tx, &rel.id)?;
                }
            }
            Ok(Ok(()))
        }))
    }

    fn set_sharing_permissions(
        &self,
        id: String,
        system: String,
        permissions: String,
        hour: i64,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| {
            if let Err(e) = owned(tx, &id, &system, Status::Active)? {
                return Ok(Err(e));
            }
            sharing::set_permissions(tx, &id, &permissions, hour)?;
            Ok(Ok(()))
        }))
    }

    fn delete_sharing(&self, id: String, party: String) -> DecisionFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| {
            let Some(rel) = sharing::get(tx, &id)? else {
                return Ok(Err(Refusal::NotFound("Sharing relationship not found")));
            };
            if rel.system_user_id != party && rel.friend_user_id != party {
                return Ok(Err(Refusal::Forbidden(
                    "You are not a party to this relationship",
                )));
            }
            sharing::delete(tx, &id)?;
            Ok(Ok(()))
        }))
    }

    fn active_relationship(
        &self,
        system: String,
        friend: String,
    ) -> StoreFuture<'_, Option<Relationship>> {
        Box::pin(
            self.db
                .read(move |c| sharing::active_between(c, &system, &friend)),
        )
    }
}
