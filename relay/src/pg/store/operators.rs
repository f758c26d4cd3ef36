//! [`Operators`] on PostgreSQL: the SQLite adapter's queries (`store::admin_view`,
//! `store::stats`, `store::maintenance`) in PostgreSQL's SQL, answering the same numbers and
//! the same rows in the same order.
//!
//! A view that reads several statements (the dashboard's totals, a list's page and its total,
//! a user and their volumes) reads them in one `REPEATABLE READ, READ ONLY` transaction, so
//! they describe one snapshot as SQLite's read transaction does (READ COMMITTED would give each
//! statement its own). A read-only transaction takes no lock and never fails to serialise.
//! Text is ordered by bytes (`COLLATE "C"`), as SQLite's default `BINARY` collation, whatever
//! the database's locale.
//!
//! Challenges live in `auth_challenges` here, so the challenge figures are that table's.
//! Nothing here reads a key, a wrapped key, a signature, a header, a code or a token hash
//! (docs/metadata-inventory.md, the *Admin* column).

use std::collections::{BTreeMap, HashMap, HashSet};

use deadpool_postgres::{GenericClient, Object};
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

use super::{MAINTENANCE_LOCK, PgStore, signed, unsigned};
use crate::storage::operators::{
    AdminShare, AdminUser, AdminVolume, Filter, Gauges, Listed, MaintenanceReport, MaintenanceTurn,
    Operators, Page, SessionStats, Stats,
};
use crate::storage::users::ClientType;
use crate::storage::{StoreError, StoreFuture};
use crate::store::admin_view::Storage;
use crate::store::stats::VolumeBreakdown;

/// Every stored volume, v1 and v2, as `(user_id, volume_name, version, size_bytes, updated_at,
/// protocol, epoch)`; `epoch` is NULL for v1 (`store::admin_view::STORED_VOLUMES`).
const STORED_VOLUMES: &str = "SELECT user_id, volume_name, version, size_bytes, updated_at, \
     1::BIGINT AS protocol, NULL::BIGINT AS epoch FROM volumes \
     UNION ALL SELECT user_id, volume_name, version, size_bytes, updated_at, 2::BIGINT, epoch \
     FROM volumes_v2";

/// Every relationship, v1 and v2, as `store::admin_view`'s `RELATIONSHIPS`: `$1` is now.
const RELATIONSHIPS: &str = "SELECT id, system_user_id, friend_user_id, status, permissions, \
     created_at, updated_at, 1::BIGINT AS protocol, NULL::BIGINT AS expires_at FROM sharing \
     UNION ALL SELECT p.id, p.system_user_id, p.friend_user_id, \
     CASE WHEN g.pairing_id IS NULL THEN 'pending' \
          WHEN g.expires_at != 0 AND g.expires_at <= $1 THEN 'expired' \
          WHEN NOT EXISTS (SELECT 1 FROM grant_keys k WHERE k.pairing_id = p.id) THEN 'revoked' \
          ELSE 'active' END, \
     NULL::TEXT, p.created_at, greatest(p.updated_at, coalesce(g.updated_at, 0)), 2::BIGINT, \
     CASE WHEN g.expires_at > 0 THEN g.expires_at END \
     FROM pairings p LEFT JOIN grants g ON g.pairing_id = p.id";

/// A statement parameter built at run time (filters are optional).
type Param = Box<dyn ToSql + Sync + Send>;

/// ` WHERE a AND b …`, each condition's `?` numbered `$n` after the parameters already given.
struct Where {
    clauses: Vec<String>,
    args: Vec<Param>,
}

impl Where {
    fn new(args: Vec<Param>) -> Self {
        Self {
            clauses: Vec::new(),
            args,
        }
    }

    /// Adds `clause` when `value` is given; every `?` in it is that one parameter.
    fn add(&mut self, clause: &str, value: Option<Param>) {
        if let Some(value) = value {
            self.args.push(value);
            self.clauses
                .push(clause.replace('?', &format!("${}", self.args.len())));
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// ` LIMIT $a OFFSET $b` (no limit: `LIMIT NULL`), appended to the parameters.
    fn page(&mut self, page: Page) -> String {
        self.args.push(Box::new(page.limit.map(signed)));
        self.args.push(Box::new(signed(page.offset)));
        format!(
            " LIMIT ${} OFFSET ${}",
            self.args.len() - 1,
            self.args.len()
        )
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.args
            .iter()
            .map(|a| &**a as &(dyn ToSql + Sync))
            .collect()
    }
}

fn text(s: Option<&str>) -> Option<Param> {
    s.map(|s| Box::new(s.to_owned()) as Param)
}

fn client_type(c: Option<ClientType>) -> Option<Param> {
    c.map(|c| Box::new(c.as_str()) as Param)
}

fn protocol(p: Option<u8>) -> Option<Param> {
    p.map(|p| Box::new(i64::from(p)) as Param)
}

/// One transaction whose statements all read the same snapshot, writing nothing.
async fn snapshot(conn: &mut Object) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    Ok(conn
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

async fn count(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let n: i64 = c.query_one(sql, params).await?.try_get(0)?;
    Ok(unsigned(n))
}

/// The storage figure (`store::admin_view::storage`).
async fn storage(c: &impl GenericClient) -> Result<Storage, StoreError> {
    let r = c
        .query_one(
            &format!(
                "SELECT count(*) FILTER (WHERE protocol = 1), \
                 count(*) FILTER (WHERE protocol = 2), \
                 coalesce(sum(size_bytes) FILTER (WHERE protocol = 1), 0)::BIGINT, \
                 coalesce(sum(size_bytes) FILTER (WHERE protocol = 2), 0)::BIGINT \
                 FROM ({STORED_VOLUMES}) v"
            ),
            &[],
        )
        .await?;
    let (bytes_v1, bytes_v2) = (unsigned(r.try_get(2)?), unsigned(r.try_get(3)?));
    Ok(Storage {
        volumes_v1: unsigned(r.try_get(0)?),
        volumes_v2: unsigned(r.try_get(1)?),
        bytes_v1,
        bytes_v2,
        bytes: bytes_v1.saturating_add(bytes_v2),
    })
}

/// (system, friend) accounts.
async fn users_by_type(c: &impl GenericClient) -> Result<(u64, u64), StoreError> {
    let r = c
        .query_one(
            "SELECT count(*) FILTER (WHERE client_type = 'system'), \
             count(*) FILTER (WHERE client_type = 'friend') FROM users",
            &[],
        )
        .await?;
    Ok((unsigned(r.try_get(0)?), unsigned(r.try_get(1)?)))
}

/// Live sessions (revoked ones are not).
async fn active_sessions(c: &impl GenericClient, now: i64) -> Result<u64, StoreError> {
    count(
        c,
        "SELECT count(*) FROM auth_sessions WHERE expires_at > $1 AND NOT revoked",
        &[&now],
    )
    .await
}

/// Unexpired challenges.
async fn pending_challenges(c: &impl GenericClient, now: i64) -> Result<u64, StoreError> {
    count(
        c,
        "SELECT count(*) FROM auth_challenges WHERE expires_at > $1",
        &[&now],
    )
    .await
}

/// (active, pending) relationships (`store::admin_view::share_counts`).
async fn share_counts(c: &impl GenericClient, now: i64) -> Result<(u64, u64), StoreError> {
    let r = c
        .query_one(
            &format!(
                "SELECT count(*) FILTER (WHERE status = 'active'), \
                 count(*) FILTER (WHERE status = 'pending') FROM ({RELATIONSHIPS}) r"
            ),
            &[&now],
        )
        .await?;
    Ok((unsigned(r.try_get(0)?), unsigned(r.try_get(1)?)))
}

async fn stats(c: &impl GenericClient, now: i64) -> Result<Stats, StoreError> {
    let storage = storage(c).await?;
    let (active_shares, pending_shares) = share_counts(c, now).await?;
    let volume_breakdown = c
        .query(
            &format!(
                "SELECT volume_name, count(*), coalesce(sum(size_bytes), 0)::BIGINT \
                 FROM ({STORED_VOLUMES}) v GROUP BY volume_name ORDER BY volume_name COLLATE \"C\""
            ),
            &[],
        )
        .await?
        .iter()
        .map(|r| -> Result<VolumeBreakdown, StoreError> {
            Ok(VolumeBreakdown {
                volume_name: r.try_get(0)?,
                count: unsigned(r.try_get(1)?),
                total_bytes: unsigned(r.try_get(2)?),
            })
        })
        .collect::<Result<_, _>>()?;
    let (system_users, friend_users) = users_by_type(c).await?;
    let r = c
        .query_one(
            "SELECT count(*) FILTER (WHERE created_at >= $1), \
             count(*) FILTER (WHERE key_binding_signature IS NULL), \
             count(*) FILTER (WHERE key_binding_signature IS NOT NULL) FROM users",
            &[&(now - 30 * 86_400)],
        )
        .await?;
    Ok(Stats {
        system_users,
        friend_users,
        total_volumes: storage.volumes_v1 + storage.volumes_v2,
        total_storage_bytes: storage.bytes,
        recent_registrations_30d: unsigned(r.try_get(0)?),
        active_shares,
        pending_shares,
        volume_breakdown,
        users_by_protocol: (unsigned(r.try_get(1)?), unsigned(r.try_get(2)?)),
        storage,
    })
}

async fn gauges(c: &impl GenericClient, now: i64) -> Result<Gauges, StoreError> {
    let storage = storage(c).await?;
    let (system_users, friend_users) = users_by_type(c).await?;
    Ok(Gauges {
        storage_bytes: storage.bytes,
        volumes_v1: storage.volumes_v1,
        volumes_v2: storage.volumes_v2,
        system_users,
        friend_users,
        active_sessions: active_sessions(c, now).await?,
        pending_challenges: pending_challenges(c, now).await?,
    })
}

async fn session_stats(c: &impl GenericClient, now: i64) -> Result<SessionStats, StoreError> {
    let invites = c
        .query_one(
            "SELECT count(*) FILTER (WHERE redeemed_at IS NULL AND expires_at > $1), \
             count(*) FILTER (WHERE redeemed_at IS NOT NULL) FROM invite_codes",
            &[&now],
        )
        .await?;
    Ok(SessionStats {
        active_sessions: active_sessions(c, now).await?,
        pending_challenges: pending_challenges(c, now).await?,
        active_invites: unsigned(invites.try_get(0)?),
        redeemed_invites: unsigned(invites.try_get(1)?),
    })
}

/// Users matching `filter` (protocol, client type, id), oldest first, one page
/// (`store::admin_view::users`).
async fn users(
    c: &impl GenericClient,
    filter: &Filter,
    page: Page,
) -> Result<Listed<AdminUser>, StoreError> {
    let mut w = Where::new(Vec::new());
    w.add(
        "(u.key_binding_signature IS NOT NULL) = (?::BIGINT = 2)",
        protocol(filter.protocol),
    );
    w.add("u.client_type = ?", client_type(filter.client_type));
    w.add("u.id = ?", text(filter.user_id.as_deref()));
    let condition = w.sql();
    let total = count(
        c,
        &format!("SELECT count(*) FROM users u{condition}"),
        &w.params(),
    )
    .await?;
    let limit = w.page(page);
    let sql = format!(
        "SELECT u.id, u.handle, u.client_type, u.key_binding_signature IS NOT NULL, \
         u.protocol_version, u.feature_set, coalesce(s.bytes, 0)::BIGINT, u.created_at \
         FROM users u LEFT JOIN (SELECT user_id, sum(size_bytes) AS bytes \
         FROM ({STORED_VOLUMES}) sv GROUP BY user_id) s ON s.user_id = u.id{condition} \
         ORDER BY u.created_at, u.id COLLATE \"C\"{limit}"
    );
    let rows = c
        .query(&sql, &w.params())
        .await?
        .iter()
        .map(|r| -> Result<AdminUser, StoreError> {
            let kind: String = r.try_get(2)?;
            let v2: bool = r.try_get(3)?;
            Ok(AdminUser {
                id: r.try_get(0)?,
                handle: r.try_get(1)?,
                client_type: ClientType::parse(&kind)
                    .ok_or(StoreError::Corrupt("unknown client type"))?,
                protocol: if v2 { 2 } else { 1 },
                protocol_version: r.try_get(4)?,
                feature_set: r.try_get(5)?,
                storage_bytes: unsigned(r.try_get(6)?),
                created_at: r.try_get(7)?,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Listed { rows, total })
}

/// Stored volumes matching `filter` (protocol, owner's client type, owner, name), by owner,
/// name and protocol, one page (`store::admin_view::volumes`).
async fn volumes(
    c: &impl GenericClient,
    filter: &Filter,
    page: Page,
) -> Result<Listed<AdminVolume>, StoreError> {
    let mut w = Where::new(Vec::new());
    w.add("v.protocol = ?", protocol(filter.protocol));
    w.add("u.client_type = ?", client_type(filter.client_type));
    w.add("v.user_id = ?", text(filter.user_id.as_deref()));
    w.add("v.volume_name = ?", text(filter.volume_name.as_deref()));
    let from = format!(
        "FROM ({STORED_VOLUMES}) v JOIN users u ON u.id = v.user_id{}",
        w.sql()
    );
    let total = count(c, &format!("SELECT count(*) {from}"), &w.params()).await?;
    let limit = w.page(page);
    let rows = c
        .query(
            &format!(
                "SELECT v.user_id, v.volume_name, v.version, v.size_bytes, v.updated_at, \
                 v.protocol, v.epoch {from} ORDER BY v.user_id COLLATE \"C\", \
                 v.volume_name COLLATE \"C\", v.protocol{limit}"
            ),
            &w.params(),
        )
        .await?
        .iter()
        .map(|r| -> Result<AdminVolume, StoreError> {
            let protocol: i64 = r.try_get(5)?;
            let epoch: Option<i64> = r.try_get(6)?;
            Ok(AdminVolume {
                user_id: r.try_get(0)?,
                volume_name: r.try_get(1)?,
                version: unsigned(r.try_get(2)?),
                size_bytes: unsigned(r.try_get(3)?),
                updated_at: r.try_get(4)?,
                protocol: if protocol == 2 { 2 } else { 1 },
                epoch: epoch.and_then(|e| u32::try_from(e).ok()),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Listed { rows, total })
}

/// Relationships matching `filter` (protocol, status, either side), oldest first, one page
/// (`store::admin_view::sharing`); a v2 row's permissions are its granted volume names.
async fn sharing(
    c: &impl GenericClient,
    filter: &Filter,
    page: Page,
    now: i64,
) -> Result<Listed<AdminShare>, StoreError> {
    let mut w = Where::new(vec![Box::new(now)]);
    w.add("r.protocol = ?", protocol(filter.protocol));
    w.add("r.status = ?", text(filter.status.as_deref()));
    w.add(
        "(r.system_user_id = ? OR r.friend_user_id = ?)",
        text(filter.user_id.as_deref()),
    );
    let from = format!("FROM ({RELATIONSHIPS}) r{}", w.sql());
    let total = count(c, &format!("SELECT count(*) {from}"), &w.params()).await?;
    let limit = w.page(page);
    let mut rows: Vec<AdminShare> = c
        .query(
            &format!(
                "SELECT r.id, r.system_user_id, r.friend_user_id, r.status, r.permissions, \
                 r.created_at, r.updated_at, r.protocol, r.expires_at {from} \
                 ORDER BY r.created_at, r.id COLLATE \"C\"{limit}"
            ),
            &w.params(),
        )
        .await?
        .iter()
        .map(|r| -> Result<AdminShare, StoreError> {
            let protocol: i64 = r.try_get(7)?;
            Ok(AdminShare {
                id: r.try_get(0)?,
                system_user_id: r.try_get(1)?,
                friend_user_id: r.try_get(2)?,
                status: r.try_get(3)?,
                permissions: r.try_get::<_, Option<String>>(4)?.unwrap_or_default(),
                created_at: r.try_get(5)?,
                updated_at: r.try_get(6)?,
                protocol: if protocol == 2 { 2 } else { 1 },
                expires_at: r.try_get(8)?,
            })
        })
        .collect::<Result<_, _>>()?;
    let pairings: Vec<&str> = rows
        .iter()
        .filter(|r| r.protocol == 2)
        .map(|r| r.id.as_str())
        .collect();
    let mut granted: HashMap<String, BTreeMap<String, bool>> = HashMap::new();
    if !pairings.is_empty() {
        for r in c
            .query(
                "SELECT pairing_id, volume_name FROM grant_keys WHERE pairing_id = ANY($1)",
                &[&pairings],
            )
            .await?
        {
            granted
                .entry(r.try_get(0)?)
                .or_default()
                .insert(r.try_get(1)?, true);
        }
    }
    for row in rows.iter_mut().filter(|r| r.protocol == 2) {
        let volumes = granted.remove(&row.id).unwrap_or_default();
        row.permissions =
            serde_json::to_string(&volumes).map_err(|_| StoreError::Corrupt("volume names"))?;
    }
    Ok(Listed { rows, total })
}

impl Operators for PgStore {
    fn stats(&self, now: i64) -> StoreFuture<'_, Stats> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = snapshot(&mut conn).await?;
            let stats = stats(&tx, now).await?;
            tx.commit().await?;
            Ok(stats)
        })
    }

    fn gauges(&self, now: i64) -> StoreFuture<'_, Gauges> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = snapshot(&mut conn).await?;
            let gauges = gauges(&tx, now).await?;
            tx.commit().await?;
            Ok(gauges)
        })
    }

    fn session_stats(&self, now: i64) -> StoreFuture<'_, SessionStats> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = snapshot(&mut conn).await?;
            let s = session_stats(&tx, now).await?;
            tx.commit().await?;
            Ok(s)
        })
    }

    fn admin_users(&self, filter: Filter, page: Page) -> StoreFuture<'_, Listed<AdminUser>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = snapshot(&mut conn).await?;
            let listed = users(&tx, &filter, page).await?;
            tx.commit().await?;
            Ok(listed)
        })
    }

    fn admin_user(&self, id: String) -> StoreFuture<'_, Option<(AdminUser, Vec<AdminVolume>)>> {
        let filter = Filter {
            user_id: Some(id),
            ..Filter::default()
        };
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = snapshot(&mut conn).await?;
            let Some(user) = users(&tx, &filter, Page::default()).await?.rows.pop() else {
                tx.commit().await?;
                return Ok(None);
            };
            let volumes = volumes(&tx, &filter, Page::default()).await?.rows;
            tx.commit().await?;
            Ok(Some((user, volumes)))
        })
    }

    fn admin_volumes(&self, filter: Filter, page: Page) -> StoreFuture<'_, Listed<AdminVolume>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = snapshot(&mut conn).await?;
            let listed = volumes(&tx, &filter, page).await?;
            tx.commit().await?;
            Ok(listed)
        })
    }

    fn admin_sharing(
        &self,
        filter: Filter,
        page: Page,
        now: i64,
    ) -> StoreFuture<'_, Listed<AdminShare>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = snapshot(&mut conn).await?;
            let listed = sharing(&tx, &filter, page, now).await?;
            tx.commit().await?;
            Ok(listed)
        })
    }

    fn expire_all_sessions(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let conn = self.conn().await?;
            Ok(conn.execute("DELETE FROM auth_sessions", &[]).await?)
        })
    }

    fn expire(&self, now: i64) -> StoreFuture<'_, MaintenanceReport> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let expired_challenges = tx
                .execute(
                    "DELETE FROM auth_challenges WHERE expires_at <= $1",
                    &[&now],
                )
                .await?;
            let expired_sessions = tx
                .execute("DELETE FROM auth_sessions WHERE expires_at <= $1", &[&now])
                .await?;
            let expired_invites = tx
                .execute(
                    "DELETE FROM invite_codes WHERE redeemed_at IS NULL AND expires_at <= $1",
                    &[&now],
                )
                .await?;
            tx.commit().await?;
            Ok(MaintenanceReport {
                expired_challenges,
                expired_sessions,
                expired_invites,
                ..MaintenanceReport::default()
            })
        })
    }

    fn maintenance_turn(&self) -> StoreFuture<'_, Option<MaintenanceTurn>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let taken: bool = conn
                .query_one("SELECT pg_try_advisory_lock($1)", &[&MAINTENANCE_LOCK])
                .await?
                .try_get(0)?;
            if !taken {
                return Ok(None);
            }
            // A session lock: it lasts as long as this connection. Taken out of the pool, the
            // connection closes when the turn is dropped (or the instance dies), which ends
            // the lock; a pooled connection would keep it for whoever used it next.
            Ok(Some(MaintenanceTurn::new(Object::take(conn))))
        })
    }

    fn referenced_blobs(
        &self,
        users: Vec<String>,
    ) -> StoreFuture<'_, HashMap<String, HashSet<String>>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // One statement: one snapshot for every user asked about.
            let rows = conn
                .query(
                    "SELECT user_id, blob_file FROM volumes WHERE user_id = ANY($1) \
                     UNION ALL SELECT user_id, blob_file FROM volumes_v2 WHERE user_id = ANY($1)",
                    &[&users],
                )
                .await?;
            let mut sets: HashMap<String, HashSet<String>> = HashMap::new();
            for r in rows {
                sets.entry(r.try_get(0)?).or_default().insert(r.try_get(1)?);
            }
            Ok(sets)
        })
    }
}
