//! [`Users`] on PostgreSQL.

use tokio_postgres::Row;

use super::{PgStore, lock_relay_wide, signed, unsigned};
use crate::service::registration::{self, code_hash};
use crate::storage::invites::{CodeBook, CodeKind, Invite};
use crate::storage::users::{ClientType, Gate, NewUser, ProfileUpdate, User, Users};
use crate::storage::{DecisionFuture, StoreError, StoreFuture};
use crate::store::hour;

/// The columns [`user_from_row`] reads, in its order.
pub(crate) const USER_COLUMNS: &str = "id, public_signing_key, public_exchange_key, handle, \
    client_type, protocol_version, feature_set, storage_used_bytes, created_at, \
    key_binding_signature";

/// ASCII-only case folding, as SQLite's `COLLATE NOCASE` and the schema's unique index.
pub(crate) const FOLD: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'";

/// A user from the first ten columns of `row` ([`USER_COLUMNS`]).
pub(crate) fn user_from_row(row: &Row) -> Result<User, StoreError> {
    let client_type: String = row.try_get(4)?;
    let binding: Option<Vec<u8>> = row.try_get(9)?;
    Ok(User {
        id: row.try_get(0)?,
        public_signing_key: fixed(row.try_get(1)?)?,
        public_exchange_key: fixed(row.try_get(2)?)?,
        handle: row.try_get(3)?,
        client_type: ClientType::parse(&client_type)
            .ok_or(StoreError::Corrupt("unknown client type"))?,
        protocol_version: row.try_get(5)?,
        feature_set: row.try_get(6)?,
        storage_used_bytes: unsigned(row.try_get(7)?),
        created_at: row.try_get(8)?,
        key_binding_signature: binding.map(fixed).transpose()?,
    })
}

/// A fixed-size column (the schema checks the length; a mismatch is corruption).
pub(crate) fn fixed<const N: usize>(bytes: Vec<u8>) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a key or signature column has the wrong length"))
}

async fn handle_taken(
    client: &impl deadpool_postgres::GenericClient,
    handle: &str,
    except: Option<&str>,
) -> Result<bool, StoreError> {
    let found = client
        .query_opt(
            &format!(
                "SELECT id FROM users WHERE translate(handle, {FOLD}) = translate($1, {FOLD})"
            ),
            &[&handle],
        )
        .await?;
    Ok(found.is_some_and(|r| Some(r.get::<_, String>(0).as_str()) != except))
}

/// The registration gate's view of the codes, fetched inside the transaction before the
/// (synchronous) gate runs: it only ever asks about the code the request presented. Spending
/// is recorded and written after it, in the same transaction.
struct Prefetched {
    user_count: u64,
    operator_hash: Option<[u8; 32]>,
    operator_open: bool,
    invite_code: Option<String>,
    invite: Option<Invite>,
    invite_hash: Option<[u8; 32]>,
    invite_used: bool,
    marks: Vec<([u8; 32], CodeKind, i64, i64)>,
}

const UNASKED: StoreError =
    StoreError::Corrupt("the registration gate asked about a code it was not given");

impl CodeBook for Prefetched {
    fn user_count(&mut self) -> Result<u64, StoreError> {
        Ok(self.user_count)
    }

    fn forget_expired_codes(&mut self, _now: i64) -> Result<(), StoreError> {
        // Done before the prefetch, in the same transaction.
        Ok(())
    }

    fn operator_code_open(&mut self, hash: &[u8; 32], _now: i64) -> Result<bool, StoreError> {
        if self.operator_hash.as_ref() != Some(hash) {
            return Err(UNASKED);
        }
        Ok(self.operator_open)
    }

    fn invite(&mut self, code: &str) -> Result<Option<Invite>, StoreError> {
        if self.invite_code.as_deref() != Some(code) {
            return Err(UNASKED);
        }
        Ok(self.invite.clone())
    }

    fn code_used(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        if self.invite_hash.as_ref() != Some(hash) {
            return Err(UNASKED);
        }
        Ok(self.invite_used)
    }

    fn mark_code_used(
        &mut self,
        hash: &[u8; 32],
        kind: CodeKind,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.marks.push((*hash, kind, now, expires_at));
        Ok(())
    }
}

fn kind_text(kind: CodeKind) -> &'static str {
    match kind {
        CodeKind::Operator => "operator",
        CodeKind::Invite => "invite",
    }
}

async fn prefetch(
    tx: &deadpool_postgres::Transaction<'_>,
    gate: &Gate,
    now: i64,
) -> Result<Prefetched, StoreError> {
    let count: i64 = tx
        .query_one("SELECT count(*) FROM users", &[])
        .await?
        .get(0);
    let mut book = Prefetched {
        user_count: unsigned(count),
        operator_hash: None,
        operator_open: false,
        invite_code: None,
        invite: None,
        invite_hash: None,
        invite_used: false,
        marks: Vec::new(),
    };
    let Some(code) = gate.presented_code() else {
        return Ok(book);
    };
    tx.execute(
        "DELETE FROM registration_codes WHERE expires_at <= $1",
        &[&now],
    )
    .await?;
    let hash = code_hash(code);
    book.operator_open = tx
        .query_opt(
            "SELECT 1 FROM registration_codes WHERE code_hash = $1 AND kind = 'operator' \
             AND used_at IS NULL AND expires_at > $2",
            &[&&hash[..], &now],
        )
        .await?
        .is_some();
    book.operator_hash = Some(hash);
    let invite_code = code.to_ascii_uppercase();
    book.invite = tx
        .query_opt(
            "SELECT code, system_user_id, expires_at, redeemed_at IS NOT NULL, protocol::BIGINT \
             FROM invite_codes WHERE code = $1",
            &[&invite_code],
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
    let invite_hash = code_hash(&invite_code);
    book.invite_used = tx
        .query_opt(
            "SELECT 1 FROM registration_codes WHERE code_hash = $1 AND used_at IS NOT NULL",
            &[&&invite_hash[..]],
        )
        .await?
        .is_some();
    book.invite_code = Some(invite_code);
    book.invite_hash = Some(invite_hash);
    Ok(book)
}

impl Users for PgStore {
    fn user(&self, id: String) -> StoreFuture<'_, Option<User>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
                &[&id],
            )
            .await?
            .map(|r| user_from_row(&r))
            .transpose()
        })
    }

    fn user_by_handle(&self, handle: String) -> StoreFuture<'_, Option<User>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.query_opt(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users \
                     WHERE translate(handle, {FOLD}) = translate($1, {FOLD})"
                ),
                &[&handle],
            )
            .await?
            .map(|r| user_from_row(&r))
            .transpose()
        })
    }

    fn create_user(&self, user: User, gate: Gate, now: i64) -> DecisionFuture<'_, NewUser> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // The cap and single-use codes are relay-wide: one registration at a time.
            lock_relay_wide(&tx).await?;
            if tx
                .query_opt("SELECT 1 FROM users WHERE id = $1", &[&user.id])
                .await?
                .is_some()
            {
                return Ok(Ok(NewUser::IdTaken));
            }
            let mut book = prefetch(&tx, &gate, now).await?;
            let spend = match gate.check(&mut book, user.client_type, now)? {
                Ok(spend) => spend,
                Err(refused) => {
                    // Expired codes forgotten by the prefetch stay forgotten.
                    tx.commit().await?;
                    return Ok(Err(refused));
                }
            };
            if let Some(handle) = &user.handle
                && handle_taken(&tx, handle, None).await?
            {
                return Ok(Ok(NewUser::HandleTaken));
            }
            tx.execute(
                &format!(
                    "INSERT INTO users ({USER_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                &[
                    &user.id,
                    &&user.public_signing_key[..],
                    &&user.public_exchange_key[..],
                    &user.handle,
                    &user.client_type.as_str(),
                    &user.protocol_version,
                    &user.feature_set,
                    &signed(user.storage_used_bytes),
                    &user.created_at,
                    &user.key_binding_signature.as_ref().map(|s| &s[..]),
                ],
            )
            .await?;
            if let Some(spend) = &spend {
                registration::spend(&mut book, spend, now)?;
            }
            for (hash, kind, at, expires_at) in book.marks {
                tx.execute(
                    "INSERT INTO registration_codes (code_hash, kind, created_at, expires_at, used_at) \
                     VALUES ($1, $2, $3, $4, $3) \
                     ON CONFLICT (code_hash) DO UPDATE SET used_at = $3",
                    &[&&hash[..], &kind_text(kind), &hour(at), &expires_at],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(Ok(NewUser::Created))
        })
    }

    fn update_profile(&self, id: String, update: ProfileUpdate) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            if let Some(handle) = &update.handle {
                if let Some(h) = handle
                    && handle_taken(&tx, h, Some(&id)).await?
                {
                    return Ok(false);
                }
                tx.execute("UPDATE users SET handle = $2 WHERE id = $1", &[&id, handle])
                    .await?;
            }
            if let Some(v) = update.protocol_version {
                tx.execute(
                    "UPDATE users SET protocol_version = $2 WHERE id = $1",
                    &[&id, &v],
                )
                .await?;
            }
            if let Some(f) = &update.feature_set {
                tx.execute("UPDATE users SET feature_set = $2 WHERE id = $1", &[&id, f])
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    fn delete_user(&self, id: String) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // Foreign keys cascade (sessions, challenges, volumes, sharing, pairings, …) and
            // clear `redeemed_by` on others' invites, in this one statement's transaction.
            Ok(conn
                .execute("DELETE FROM users WHERE id = $1", &[&id])
                .await?
                == 1)
        })
    }

    fn discover(
        &self,
        query: String,
        of_type: ClientType,
        limit: u64,
    ) -> StoreFuture<'_, Vec<User>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let pattern = format!(
                "%{}%",
                crate::store::users::escape_like(&query.to_ascii_lowercase())
            );
            let rows = conn
                .query(
                    &format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE client_type = $1 \
                         AND handle IS NOT NULL AND key_binding_signature IS NULL \
                         AND translate(handle, {FOLD}) LIKE $2 ESCAPE '\\' \
                         ORDER BY translate(handle, {FOLD}) COLLATE \"C\", handle LIMIT $3"
                    ),
                    &[&of_type.as_str(), &pattern, &signed(limit)],
                )
                .await?;
            rows.iter().map(user_from_row).collect()
        })
    }
}
