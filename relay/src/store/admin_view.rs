//! What the admin API lists, v1 and v2 together (v1.md §4, "Coffer's decisions"): users, stored
//! volumes and sharing relationships, with filters and pages, and the one definition of the
//! storage figure every operator view shows.
//!
//! **Storage** is the padded payload bytes of the current version of every stored volume, v1
//! (`volumes`) and v2 (`volumes_v2`) alike: exactly the blob files on disk. A v2 tombstone is
//! not storage (the deleted volume's payload is gone; the tombstone is a few signed bytes of
//! metadata, like a header), nor are headers, grants, receipts or the owner state. Every view
//! (`/admin/stats`, each user's `storage_used_bytes`, the sizes in `/admin/volumes` and
//! `/metrics`) sums [`STORED_VOLUMES`], so they agree by construction.
//!
//! Nothing here reads a key, a wrapped key, a signature, a header or a token.

use std::collections::BTreeMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params_from_iter};

use super::{ClientType, StoreError};

/// Every stored volume, v1 and v2, as `(user_id, volume_name, version, size_bytes, updated_at,
/// protocol, epoch)`; `epoch` is NULL for v1.
pub const STORED_VOLUMES: &str = "SELECT user_id, volume_name, version, size_bytes, updated_at, \
     1 AS protocol, NULL AS epoch FROM volumes \
     UNION ALL SELECT user_id, volume_name, version, size_bytes, updated_at, 2, epoch FROM volumes_v2";

/// Every relationship, v1 (`sharing`) and v2 (`pairings` with their grant), as `(id,
/// system_user_id, friend_user_id, status, permissions, created_at, updated_at, protocol,
/// expires_at)`. `?1` is now (Unix seconds). A v2 pairing is `pending` until its first grant,
/// then `active`, `expired` once `now >= expires_at` (protocol-v2.md §10), or `revoked` when
/// its grant covers no volume; `permissions` is NULL for v2 (filled from `grant_keys`).
const RELATIONSHIPS: &str = "SELECT id, system_user_id, friend_user_id, status, permissions, \
     created_at, updated_at, 1 AS protocol, NULL AS expires_at FROM sharing \
     UNION ALL SELECT p.id, p.system_user_id, p.friend_user_id, \
     CASE WHEN g.pairing_id IS NULL THEN 'pending' \
          WHEN g.expires_at != 0 AND g.expires_at <= ?1 THEN 'expired' \
          WHEN NOT EXISTS (SELECT 1 FROM grant_keys k WHERE k.pairing_id = p.id) THEN 'revoked' \
          ELSE 'active' END, \
     NULL, p.created_at, max(p.updated_at, coalesce(g.updated_at, 0)), 2, \
     CASE WHEN g.expires_at > 0 THEN g.expires_at END \
     FROM pairings p LEFT JOIN grants g ON g.pairing_id = p.id";

/// Largest page any admin list answers.
pub const MAX_PAGE: u64 = 10_000;

/// A page: `limit` rows (all when `None`) after skipping `offset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Rows skipped first.
    pub offset: u64,
}

impl Page {
    fn sql(self, args: &mut Vec<SqlValue>) -> String {
        args.push(SqlValue::Integer(self.limit.map_or(-1, clamp)));
        args.push(SqlValue::Integer(clamp(self.offset)));
        format!(" LIMIT ?{} OFFSET ?{}", args.len() - 1, args.len())
    }

    /// Where the page after this one starts, given how many rows match in all.
    pub fn next_offset(self, shown: usize, total: u64) -> Option<u64> {
        let next = self.offset.saturating_add(shown as u64);
        (shown > 0 && next < total).then_some(next)
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One page of a list and how many rows match the filters in all.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    /// The rows of the page.
    pub rows: Vec<T>,
    /// Rows matching the filters.
    pub total: u64,
}

/// Filters of the admin lists; `None` is no filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// 1 or 2.
    pub protocol: Option<u8>,
    /// The user's (or, for volumes, the owner's) client type.
    pub client_type: Option<ClientType>,
    /// Users: that user; volumes: that owner; sharing: either side.
    pub user_id: Option<String>,
    /// Volumes only: that name.
    pub volume_name: Option<String>,
    /// Sharing only: that status.
    pub status: Option<String>,
}

/// Builds ` WHERE a AND b …` from the conditions, each with its `?` placeholder numbered.
struct Where {
    clauses: Vec<String>,
    args: Vec<SqlValue>,
}

impl Where {
    fn new(args: Vec<SqlValue>) -> Self {
        Where {
            clauses: Vec::new(),
            args,
        }
    }

    fn add(&mut self, clause: &str, value: Option<SqlValue>) {
        if let Some(value) = value {
            self.args.push(value);
            self.clauses
                .push(clause.replace("?", &format!("?{}", self.args.len())));
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

fn text(s: &Option<String>) -> Option<SqlValue> {
    s.clone().map(SqlValue::Text)
}

fn client_type(c: Option<ClientType>) -> Option<SqlValue> {
    c.map(|c| SqlValue::Text(c.as_str().to_owned()))
}

fn protocol(p: Option<u8>) -> Option<SqlValue> {
    p.map(|p| SqlValue::Integer(i64::from(p)))
}

fn count(conn: &Connection, sql: &str, args: &[SqlValue]) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(sql, params_from_iter(args.iter()), |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The storage figure: how many volumes are stored and their bytes, v1 and v2 (see the module
/// documentation). `/admin/stats` and `/metrics` both read it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Storage {
    /// Stored v1 volumes.
    pub volumes_v1: u64,
    /// Stored v2 volumes.
    pub volumes_v2: u64,
    /// Bytes of the v1 volumes.
    pub bytes_v1: u64,
    /// Bytes of the v2 volumes.
    pub bytes_v2: u64,
    /// Their bytes, v1 and v2: the storage figure.
    pub bytes: u64,
}

/// Reads the [`Storage`] figure.
pub fn storage(conn: &Connection) -> Result<Storage, StoreError> {
    let (v1, v2, bytes_v1, bytes_v2): (i64, i64, i64, i64) = conn.query_row(
        &format!(
            "SELECT coalesce(sum(protocol = 1), 0), coalesce(sum(protocol = 2), 0), \
             coalesce(sum(CASE WHEN protocol = 1 THEN size_bytes END), 0), \
             coalesce(sum(CASE WHEN protocol = 2 THEN size_bytes END), 0) FROM ({STORED_VOLUMES})"
        ),
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let (bytes_v1, bytes_v2) = (unsigned(bytes_v1), unsigned(bytes_v2));
    Ok(Storage {
        volumes_v1: unsigned(v1),
        volumes_v2: unsigned(v2),
        bytes_v1,
        bytes_v2,
        bytes: bytes_v1.saturating_add(bytes_v2),
    })
}

/// (v1, v2) accounts: v2 are those registered with a key-binding proof.
pub fn users_by_protocol(conn: &Connection) -> Result<(u64, u64), StoreError> {
    let (v1, v2): (i64, i64) = conn.query_row(
        "SELECT coalesce(sum(key_binding_signature IS NULL), 0), \
         coalesce(sum(key_binding_signature IS NOT NULL), 0) FROM users",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((unsigned(v1), unsigned(v2)))
}

/// Per volume name, v1 and v2: (name, count, bytes), by name.
pub fn breakdown(conn: &Connection) -> Result<Vec<(String, u64, u64)>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT volume_name, count(*), coalesce(sum(size_bytes), 0) FROM ({STORED_VOLUMES}) \
         GROUP BY volume_name ORDER BY volume_name"
    ))?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            unsigned(r.get(1)?),
            unsigned(r.get(2)?),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A user as the admin API shows it: no keys.
#[derive(Debug, Clone)]
pub struct AdminUser {
    /// UUID text.
    pub id: String,
    /// Handle.
    pub handle: Option<String>,
    /// System or friend.
    pub client_type: ClientType,
    /// 2 for an account registered through v2 (key-binding proof), else 1.
    pub protocol: u8,
    /// Protocol version announced at registration (or later through v1's profile update).
    pub protocol_version: i64,
    /// Feature set as JSON text.
    pub feature_set: String,
    /// Stored bytes (the sum of the user's [`STORED_VOLUMES`]).
    pub storage_bytes: u64,
    /// Registration hour.
    pub created_at: i64,
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<Result<AdminUser, StoreError>> {
    let kind: String = r.get(2)?;
    let v2: bool = r.get(3)?;
    let (id, handle, protocol_version, feature_set, storage, created_at) = (
        r.get(0)?,
        r.get(1)?,
        r.get(4)?,
        r.get(5)?,
        r.get::<_, i64>(6)?,
        r.get(7)?,
    );
    Ok(ClientType::parse(&kind)
        .ok_or(StoreError::Corrupt("unknown client type"))
        .map(|client_type| AdminUser {
            id,
            handle,
            client_type,
            protocol: if v2 { 2 } else { 1 },
            protocol_version,
            feature_set,
            storage_bytes: unsigned(storage),
            created_at,
        }))
}

/// Users matching `filter` (protocol, client type, id), oldest first, one page.
pub fn users(
    conn: &Connection,
    filter: &Filter,
    page: Page,
) -> Result<Listed<AdminUser>, StoreError> {
    let mut w = Where::new(Vec::new());
    w.add(
        "(u.key_binding_signature IS NOT NULL) = (? = 2)",
        protocol(filter.protocol),
    );
    w.add("u.client_type = ?", client_type(filter.client_type));
    w.add("u.id = ?", text(&filter.user_id));
    let total = count(
        conn,
        &format!("SELECT count(*) FROM users u{}", w.sql()),
        &w.args,
    )?;
    let mut args = w.args.clone();
    let limit = page.sql(&mut args);
    let sql = format!(
        "SELECT u.id, u.handle, u.client_type, u.key_binding_signature IS NOT NULL, \
         u.protocol_version, u.feature_set, coalesce(s.bytes, 0), u.created_at FROM users u \
         LEFT JOIN (SELECT user_id, sum(size_bytes) AS bytes FROM ({STORED_VOLUMES}) \
         GROUP BY user_id) s ON s.user_id = u.id{} ORDER BY u.created_at, u.id{limit}",
        w.sql()
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(args.iter()), user_from_row)?
        .map(|r| r?)
        .collect::<Result<_, _>>()?;
    Ok(Listed { rows, total })
}

/// A stored volume as the admin API shows it: no header, signature or file name.
#[derive(Debug, Clone)]
pub struct AdminVolume {
    /// Owner.
    pub user_id: String,
    /// Name.
    pub volume_name: String,
    /// Version.
    pub version: u64,
    /// Stored bytes.
    pub size_bytes: u64,
    /// Upload hour.
    pub updated_at: i64,
    /// 1 or 2.
    pub protocol: u8,
    /// v2 key epoch.
    pub epoch: Option<u32>,
}

/// Stored volumes matching `filter` (protocol, owner's client type, owner, name), by owner,
/// name and protocol, one page.
pub fn volumes(
    conn: &Connection,
    filter: &Filter,
    page: Page,
) -> Result<Listed<AdminVolume>, StoreError> {
    let mut w = Where::new(Vec::new());
    w.add("v.protocol = ?", protocol(filter.protocol));
    w.add("u.client_type = ?", client_type(filter.client_type));
    w.add("v.user_id = ?", text(&filter.user_id));
    w.add("v.volume_name = ?", text(&filter.volume_name));
    let from = format!(
        "FROM ({STORED_VOLUMES}) v JOIN users u ON u.id = v.user_id{}",
        w.sql()
    );
    let total = count(conn, &format!("SELECT count(*) {from}"), &w.args)?;
    let mut args = w.args.clone();
    let limit = page.sql(&mut args);
    let mut stmt = conn.prepare(&format!(
        "SELECT v.user_id, v.volume_name, v.version, v.size_bytes, v.updated_at, v.protocol, \
         v.epoch {from} ORDER BY v.user_id, v.volume_name, v.protocol{limit}"
    ))?;
    let rows = stmt
        .query_map(params_from_iter(args.iter()), |r| {
            let protocol: i64 = r.get(5)?;
            let epoch: Option<i64> = r.get(6)?;
            Ok(AdminVolume {
                user_id: r.get(0)?,
                volume_name: r.get(1)?,
                version: unsigned(r.get(2)?),
                size_bytes: unsigned(r.get(3)?),
                updated_at: r.get(4)?,
                protocol: if protocol == 2 { 2 } else { 1 },
                epoch: epoch.and_then(|e| u32::try_from(e).ok()),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Listed { rows, total })
}

/// A relationship as the admin API shows it: no wrapped VEK, grant bytes, proof or code.
#[derive(Debug, Clone)]
pub struct AdminShare {
    /// Relationship or pairing id.
    pub id: String,
    /// The system.
    pub system_user_id: String,
    /// The friend.
    pub friend_user_id: String,
    /// See [`RELATIONSHIPS`].
    pub status: String,
    /// v1: the stored flags; v2: the granted volumes, each `true` (JSON text).
    pub permissions: String,
    /// Creation hour.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// 1 or 2.
    pub protocol: u8,
    /// v2 grant expiry (Unix seconds), if it has one.
    pub expires_at: Option<i64>,
}

/// Relationships matching `filter` (protocol, status, either side), oldest first, one page.
pub fn sharing(
    conn: &Connection,
    filter: &Filter,
    page: Page,
    now: i64,
) -> Result<Listed<AdminShare>, StoreError> {
    let mut w = Where::new(vec![SqlValue::Integer(now)]);
    w.add("r.protocol = ?", protocol(filter.protocol));
    w.add("r.status = ?", text(&filter.status));
    if let Some(user) = &filter.user_id {
        w.args.push(SqlValue::Text(user.clone()));
        let n = w.args.len();
        w.clauses.push(format!(
            "(r.system_user_id = ?{n} OR r.friend_user_id = ?{n})"
        ));
    }
    let from = format!("FROM ({RELATIONSHIPS}) r{}", w.sql());
    let total = count(conn, &format!("SELECT count(*) {from}"), &w.args)?;
    let mut args = w.args.clone();
    let limit = page.sql(&mut args);
    let mut stmt = conn.prepare(&format!(
        "SELECT r.id, r.system_user_id, r.friend_user_id, r.status, r.permissions, r.created_at, \
         r.updated_at, r.protocol, r.expires_at {from} ORDER BY r.created_at, r.id{limit}"
    ))?;
    let mut rows: Vec<AdminShare> = stmt
        .query_map(params_from_iter(args.iter()), |r| {
            let protocol: i64 = r.get(7)?;
            Ok(AdminShare {
                id: r.get(0)?,
                system_user_id: r.get(1)?,
                friend_user_id: r.get(2)?,
                status: r.get(3)?,
                permissions: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
                protocol: if protocol == 2 { 2 } else { 1 },
                expires_at: r.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut granted = conn.prepare_cached(
        "SELECT volume_name FROM grant_keys WHERE pairing_id = ?1 ORDER BY volume_name",
    )?;
    for row in rows.iter_mut().filter(|r| r.protocol == 2) {
        let volumes: BTreeMap<String, bool> = granted
            .query_map([&row.id], |r| r.get::<_, String>(0))?
            .map(|name| name.map(|n| (n, true)))
            .collect::<Result<_, _>>()?;
        row.permissions =
            serde_json::to_string(&volumes).map_err(|_| StoreError::Corrupt("volume names"))?;
    }
    Ok(Listed { rows, total })
}

/// (active, pending) relationships, v1 and v2, counted as [`sharing`] shows their status.
pub fn share_counts(conn: &Connection, now: i64) -> Result<(u64, u64), StoreError> {
    let (active, pending): (i64, i64) = conn.query_row(
        &format!(
            "SELECT coalesce(sum(status = 'active'), 0), coalesce(sum(status = 'pending'), 0) \
             FROM ({RELATIONSHIPS})"
        ),
        [now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((unsigned(active), unsigned(pending)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::grants::{self, StoredGrant};
    use super::super::pairings::{self, Pairing};
    use super::super::tests::user;
    use super::super::volumes::{self, VolumeRow, v2};
    use super::super::{Db, users};
    use super::*;

    fn pairing(id: &str, friend: &str) -> Pairing {
        Pairing {
            id: id.into(),
            system_user_id: "s2".into(),
            friend_user_id: friend.into(),
            status: "pending".into(),
            code: Some("c".into()),
            proof: Some([0; 32]),
            created_at: 0,
        }
    }

    fn grant(sequence: u64, expires_at: u64) -> StoredGrant {
        StoredGrant {
            sequence,
            expires_at,
            grant_bytes: vec![1],
            signature: [0; 64],
        }
    }

    /// v1 and v2 rows in one storage figure; every v2 status; paging and filters.
    #[test]
    fn v1_and_v2_together() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.write_blocking(|tx| {
            users::insert(tx, &user("s1", "s1", ClientType::System))?;
            let mut s2 = user("s2", "s2", ClientType::System);
            s2.key_binding_signature = Some([3; 64]);
            s2.protocol_version = 2;
            users::insert(tx, &s2)?;
            for f in ["fa", "fb", "fc", "fd"] {
                let mut friend = user(f, f, ClientType::Friend);
                friend.key_binding_signature = Some([3; 64]);
                users::insert(tx, &friend)?;
            }
            let row = VolumeRow {
                user_id: "s1".into(),
                volume_name: "meta".into(),
                version: 1,
                control_header: "{}".into(),
                blob_file: "s1/meta".into(),
                signature: [0; 64],
                size_bytes: 4124,
                updated_at: 0,
            };
            volumes::put(tx, &row, u64::MAX)?;
            for (name, size) in [("meta", 1052), ("org.example.notes", 2076)] {
                let v = v2::VolumeV2 {
                    user_id: "s2".into(),
                    volume_name: name.into(),
                    epoch: 3,
                    version: 7,
                    header: vec![0],
                    signature: [0; 64],
                    blob_file: format!("s2/{name}"),
                    size_bytes: size,
                    updated_at: 0,
                };
                v2::put_volume(tx, &v, u64::MAX)?;
            }
            for (id, friend) in [("pa", "fa"), ("pb", "fb"), ("pc", "fc"), ("pd", "fd")] {
                pairings::create_pairing(tx, &pairing(id, friend))?;
            }
            let notes = [("org.example.notes".to_owned(), 3, [5; 60])];
            grants::put_grant(tx, "pa", &grant(1, 0), &notes, 0)?.unwrap();
            grants::put_grant(tx, "pb", &grant(1, 100), &notes, 0)?.unwrap();
            grants::put_grant(tx, "pc", &grant(1, 0), &[], 0)?.unwrap();
            Ok(())
        })
        .unwrap();
        let now = 100;
        db.read_blocking(|c| {
            let s = storage(c)?;
            assert_eq!((s.volumes_v1, s.volumes_v2), (1, 2));
            assert_eq!((s.bytes_v1, s.bytes_v2, s.bytes), (4124, 3128, 7252));
            assert_eq!(users_by_protocol(c)?, (1, 5));
            assert_eq!(
                breakdown(c)?,
                vec![
                    ("meta".to_owned(), 2, 5176),
                    ("org.example.notes".to_owned(), 1, 2076)
                ]
            );
            let all = Filter::default();
            let listed = users(c, &all, Page::default())?;
            let sum: u64 = listed.rows.iter().map(|u| u.storage_bytes).sum();
            assert_eq!((listed.total, sum), (6, s.bytes));
            let s2 = listed.rows.iter().find(|u| u.id == "s2").unwrap();
            assert_eq!((s2.protocol, s2.storage_bytes), (2, 3128));
            let vols = volumes(c, &all, Page::default())?;
            assert_eq!(vols.rows.iter().map(|v| v.size_bytes).sum::<u64>(), s.bytes);
            let notes = &vols.rows[2];
            assert_eq!(
                (notes.volume_name.as_str(), notes.protocol, notes.epoch),
                ("org.example.notes", 2, Some(3))
            );

            let shares = sharing(c, &all, Page::default(), now)?;
            let status: Vec<(&str, &str, &str, Option<i64>)> = shares
                .rows
                .iter()
                .map(|r| {
                    (
                        r.id.as_str(),
                        r.status.as_str(),
                        r.permissions.as_str(),
                        r.expires_at,
                    )
                })
                .collect();
            assert_eq!(
                status,
                vec![
                    ("pa", "active", "{\"org.example.notes\":true}", None),
                    ("pb", "expired", "{\"org.example.notes\":true}", Some(100)),
                    ("pc", "revoked", "{}", None),
                    ("pd", "pending", "{}", None),
                ]
            );
            assert_eq!(share_counts(c, now)?, (1, 1));
            assert_eq!(
                share_counts(c, 99)?,
                (2, 1),
                "before its expiry pb is active"
            );

            // Pages are disjoint and cover the list; filters filter.
            let page = |offset| Page {
                limit: Some(2),
                offset,
            };
            let first = volumes(c, &all, page(0))?;
            let second = volumes(c, &all, page(2))?;
            assert_eq!((first.rows.len(), second.rows.len()), (2, 1));
            assert_eq!(page(0).next_offset(2, first.total), Some(2));
            assert_eq!(page(2).next_offset(1, second.total), None);
            let v2_meta = Filter {
                protocol: Some(2),
                volume_name: Some("meta".into()),
                ..Filter::default()
            };
            let only = volumes(c, &v2_meta, Page::default())?;
            assert_eq!((only.total, only.rows[0].user_id.as_str()), (1, "s2"));
            let friends = Filter {
                client_type: Some(ClientType::Friend),
                protocol: Some(1),
                ..Filter::default()
            };
            assert_eq!(users(c, &friends, Page::default())?.total, 0);
            let of_fb = Filter {
                user_id: Some("fb".into()),
                status: Some("expired".into()),
                ..Filter::default()
            };
            assert_eq!(sharing(c, &of_fb, Page::default(), now)?.total, 1);
            Ok(())
        })
        .unwrap();
    }
}
