//! [`Sharing`] on PostgreSQL. Every decision about a pair or a relationship is taken on a
//! locked row: the system's `users` row for creating a relationship (so two requests or
//! redemptions for one pair cannot both pass the existence check), the relationship's own row
//! for answering, changing or ending it.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{PgStore, lock_user};
use crate::service::{Decision, Refusal};
use crate::storage::sharing::{
    EXISTS, InviteCheck, Relationship, Response, Sharing, Status, TargetCheck, owned_by,
};
use crate::storage::{DecisionFuture, StoreError, StoreFuture};
use crate::store::ClientType;
use crate::store::hour;
use crate::store::invites::Invite;

use super::users::{USER_COLUMNS, user_from_row};

/// A relationship just created in the same transaction cannot be read back.
const NEW_MISSING: StoreError = StoreError::Corrupt("a new relationship cannot be read back");

/// A relationship with both users' public fields (`store/sharing.rs`, `SELECT`).
const SELECT: &str = "SELECT s.id, s.system_user_id, s.friend_user_id, s.status, s.permissions, \
    s.encrypted_vek_blob, s.created_at, s.updated_at, sy.handle, sy.public_exchange_key, \
    fr.handle, fr.public_exchange_key FROM sharing s \
    JOIN users sy ON sy.id = s.system_user_id JOIN users fr ON fr.id = s.friend_user_id";

fn from_row(r: &Row) -> Result<Relationship, StoreError> {
    Ok(Relationship {
        id: r.try_get(0)?,
        system_user_id: r.try_get(1)?,
        friend_user_id: r.try_get(2)?,
        status: r.try_get(3)?,
        permissions: r.try_get(4)?,
        encrypted_vek_blob: r.try_get(5)?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
        system_handle: r.try_get(8)?,
        system_exchange_key: r.try_get(9)?,
        friend_handle: r.try_get(10)?,
        friend_exchange_key: r.try_get(11)?,
    })
}

/// One relationship by id; `lock`: its row locked until the transaction ends.
async fn get(
    client: &impl GenericClient,
    id: &str,
    lock: bool,
) -> Result<Option<Relationship>, StoreError> {
    let lock = if lock { " FOR UPDATE OF s" } else { "" };
    client
        .query_opt(&format!("{SELECT} WHERE s.id = $1{lock}"), &[&id])
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

/// Whether a pending or active relationship exists between the two.
async fn exists_between(
    tx: &impl GenericClient,
    system: &str,
    friend: &str,
) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM sharing WHERE system_user_id = $1 AND friend_user_id = $2 \
             AND status IN ('pending', 'active')",
            &[&system, &friend],
        )
        .await?
        .is_some())
}

/// Creates the pending relationship `id` (any old revoked row of the pair is replaced) and
/// reads it back. The caller holds the system's row lock.
async fn create_pending(
    tx: &impl GenericClient,
    id: &str,
    system: &str,
    friend: &str,
    now_hour: i64,
) -> Result<Relationship, StoreError> {
    tx.execute(
        "DELETE FROM sharing WHERE system_user_id = $1 AND friend_user_id = $2",
        &[&system, &friend],
    )
    .await?;
    tx.execute(
        "INSERT INTO sharing (id, system_user_id, friend_user_id, status, permissions, \
         encrypted_vek_blob, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', '{}', NULL, $4, $4)",
        &[&id, &system, &friend, &now_hour],
    )
    .await?;
    get(tx, id, false).await?.ok_or(NEW_MISSING)
}

/// Locks and loads a relationship the calling system owns, in `want` status.
async fn owned(
    tx: &impl GenericClient,
    id: &str,
    system: &str,
    want: Status,
) -> Decision<Relationship> {
    Ok(owned_by(get(tx, id, true).await?, system, want))
}

impl Sharing for PgStore {
    fn request_sharing(
        &self,
        id: String,
        system: String,
        friend: String,
        hour: i64,
        check: TargetCheck,
    ) -> DecisionFuture<'_, Relationship> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let Some(row) = tx
                .query_opt(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"),
                    &[&system],
                )
                .await?
            else {
                return Ok(Err(Refusal::NotFound("User not found")));
            };
            if let Err(refused) = check(&user_from_row(&row)?) {
                return Ok(Err(refused));
            }
            if exists_between(&tx, &system, &friend).await? {
                return Ok(Err(Refusal::Conflict(EXISTS.into())));
            }
            let rel = create_pending(&tx, &id, &system, &friend, hour).await?;
            tx.commit().await?;
            Ok(Ok(rel))
        })
    }

    fn redeem_sharing_invite(
        &self,
        code: String,
        friend: String,
        id: String,
        now: i64,
        check: InviteCheck,
    ) -> DecisionFuture<'_, Relationship> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // Locks in the order an account's deletion takes them (the user, then its
            // invites): the invite's system, then the invite, which is decided on locked.
            let system: Option<String> = tx
                .query_opt(
                    "SELECT system_user_id FROM invite_codes WHERE code = $1",
                    &[&code],
                )
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
            if let Some(system) = &system {
                lock_user(&tx, system).await?;
            }
            let stored = tx
                .query_opt(
                    "SELECT code, system_user_id, expires_at, redeemed_at IS NOT NULL, \
                     protocol::BIGINT FROM invite_codes WHERE code = $1 FOR UPDATE",
                    &[&code],
                )
                .await?
                .map(|r| -> Result<Invite, StoreError> {
                    Ok(Invite {
                        code: r.try_get(0)?,
                        system_user_id: r.try_get(1)?,
                        expires_at: r.try_get(2)?,
                        redeemed: r.try_get(3)?,
                        protocol: r.try_get(4)?,
                    })
                })
                .transpose()?;
            let invite = match check(stored) {
                Ok(invite) => invite,
                Err(refused) => return Ok(Err(refused)),
            };
            if exists_between(&tx, &invite.system_user_id, &friend).await? {
                return Ok(Err(Refusal::Conflict(EXISTS.into())));
            }
            tx.execute(
                "UPDATE invite_codes SET redeemed_by = $2, redeemed_at = $3 WHERE code = $1",
                &[&invite.code, &friend, &hour(now)],
            )
            .await?;
            let rel = create_pending(&tx, &id, &invite.system_user_id, &friend, hour(now)).await?;
            tx.commit().await?;
            Ok(Ok(rel))
        })
    }

    fn sharing_relationships(
        &self,
        user: String,
        side: ClientType,
        statuses: &'static [Status],
    ) -> StoreFuture<'_, Vec<Relationship>> {
        Box::pin(async move {
            let column = match side {
                ClientType::System => "s.system_user_id",
                ClientType::Friend => "s.friend_user_id",
            };
            let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
            let conn = self.conn().await?;
            let rows = conn
                .query(
                    &format!(
                        "{SELECT} WHERE {column} = $1 AND s.status = ANY($2) \
                         ORDER BY s.created_at DESC, s.rowid DESC"
                    ),
                    &[&user, &statuses],
                )
                .await?;
            rows.iter().map(from_row).collect()
        })
    }

    fn respond_sharing(
        &self,
        id: String,
        system: String,
        response: Response,
        hour: i64,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let rel = match owned(&tx, &id, &system, Status::Pending).await? {
                Ok(rel) => rel,
                Err(e) => return Ok(Err(e)),
            };
            match &response {
                Response::Accept {
                    wrapped_vek,
                    permissions,
                } => {
                    tx.execute(
                        "UPDATE sharing SET status = 'active', encrypted_vek_blob = $2, \
                         permissions = $3, updated_at = $4 WHERE id = $1",
                        &[&rel.id, wrapped_vek, permissions, &hour],
                    )
                    .await?;
                }
                Response::Reject => {
                    tx.execute("DELETE FROM sharing WHERE id = $1", &[&rel.id])
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn set_sharing_permissions(
        &self,
        id: String,
        system: String,
        permissions: String,
        hour: i64,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            if let Err(e) = owned(&tx, &id, &system, Status::Active).await? {
                return Ok(Err(e));
            }
            tx.execute(
                "UPDATE sharing SET permissions = $2, updated_at = $3 WHERE id = $1",
                &[&id, &permissions, &hour],
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn delete_sharing(&self, id: String, party: String) -> DecisionFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let Some(rel) = get(&tx, &id, true).await? else {
                return Ok(Err(Refusal::NotFound("Sharing relationship not found")));
            };
            if rel.system_user_id != party && rel.friend_user_id != party {
                return Ok(Err(Refusal::Forbidden(
                    "You are not a party to this relationship",
                )));
            }
            tx.execute("DELETE FROM sharing WHERE id = $1", &[&id])
                .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn active_relationship(
        &self,
        system: String,
        friend: String,
    ) -> StoreFuture<'_, Option<Relationship>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.query_opt(
                &format!(
                    "{SELECT} WHERE s.system_user_id = $1 AND s.friend_user_id = $2 \
                     AND s.status = 'active'"
                ),
                &[&system, &friend],
            )
            .await?
            .map(|r| from_row(&r))
            .transpose()
        })
    }
}
