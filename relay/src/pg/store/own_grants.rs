//! [`OwnGrants`] on PostgreSQL.

use super::PgStore;
use super::users::fixed;
use crate::storage::StoreFuture;
use crate::storage::own_grants::OwnGrants;
use crate::store::own_grants::OwnGrantRow;

impl OwnGrants for PgStore {
    fn grants_given(&self, owner: String) -> StoreFuture<'_, Vec<OwnGrantRow>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // Friends in byte order, as SQLite's (whatever the database's collation).
            conn.query(
                "SELECT p.friend_user_id, g.grant_bytes, g.signature FROM grants g \
                 JOIN pairings p ON p.id = g.pairing_id WHERE p.system_user_id = $1 \
                 ORDER BY p.friend_user_id COLLATE \"C\"",
                &[&owner],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, fixed(r.try_get(2)?)?)))
            .collect()
        })
    }
}
