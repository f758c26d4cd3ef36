//! The data model as `migrate-store` carries it: every table and column, how each value is
//! stored on either engine, and the per-table digest that proves both sides hold the same rows.

use sha2::{Digest as _, Sha256};

/// How a column is stored: SQLite's storage classes, and PostgreSQL's types for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    /// `INTEGER` / `BIGINT`.
    Int,
    /// `INTEGER` / `SMALLINT`.
    Small,
    /// `INTEGER` 0/1 / `BOOLEAN`.
    Bool,
    /// `BLOB` / `BYTEA`.
    Bytes,
}

use Kind::{Bool, Bytes, Int, Small, Text};

/// One table of the data model: its columns (every one), the key its rows are read in, and
/// the column PostgreSQL generates (`GENERATED ALWAYS AS IDENTITY`) that is carried as is.
#[derive(Debug)]
pub(super) struct Table {
    pub(super) name: &'static str,
    pub(super) columns: &'static [(&'static str, Kind)],
    pub(super) key: &'static [&'static str],
    pub(super) identity: Option<&'static str>,
}

/// The data model (SQLite schema 10 = PostgreSQL schema 1, `relay/src/pg/schema.sql`), in an
/// order that satisfies every foreign key. `sharing.rowid` is SQLite's implicit row id, which
/// PostgreSQL's schema makes explicit (lists of one hour are newest first by it).
pub(super) const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("id", Text),
            ("public_signing_key", Bytes),
            ("public_exchange_key", Bytes),
            ("handle", Text),
            ("client_type", Text),
            ("protocol_version", Int),
            ("feature_set", Text),
            ("storage_used_bytes", Int),
            ("created_at", Int),
            ("key_binding_signature", Bytes),
        ],
        key: &["id"],
        identity: None,
    },
    Table {
        name: "auth_sessions",
        columns: &[
            ("token_hash", Bytes),
            ("user_id", Text),
            ("expires_at", Int),
            ("session_id", Text),
            ("device_label", Text),
            ("protocol", Small),
            ("created_at", Int),
            ("last_used_at", Int),
            ("revoked", Bool),
        ],
        key: &["token_hash"],
        identity: None,
    },
    Table {
        name: "volumes",
        columns: &[
            ("user_id", Text),
            ("volume_name", Text),
            ("version", Int),
            ("control_header", Text),
            ("blob_file", Text),
            ("signature", Bytes),
            ("size_bytes", Int),
            ("updated_at", Int),
        ],
        key: &["user_id", "volume_name"],
        identity: None,
    },
    Table {
        name: "sharing",
        columns: &[
            ("rowid", Int),
            ("id", Text),
            ("system_user_id", Text),
            ("friend_user_id", Text),
            ("status", Text),
            ("permissions", Text),
            ("encrypted_vek_blob", Bytes),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        key: &["id"],
        identity: Some("rowid"),
    },
    Table {
        name: "invite_codes",
        columns: &[
            ("code", Text),
            ("system_user_id", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("redeemed_by", Text),
            ("redeemed_at", Int),
            ("protocol", Small),
        ],
        key: &["code"],
        identity: None,
    },
    Table {
        name: "volumes_v2",
        columns: &[
            ("user_id", Text),
            ("volume_name", Text),
            ("epoch", Int),
            ("version", Int),
            ("header", Bytes),
            ("signature", Bytes),
            ("blob_file", Text),
            ("size_bytes", Int),
            ("updated_at", Int),
        ],
        key: &["user_id", "volume_name"],
        identity: None,
    },
    Table {
        name: "pairings",
        columns: &[
            ("id", Text),
            ("system_user_id", Text),
            ("friend_user_id", Text),
            ("status", Text),
            ("code", Text),
            ("proof", Bytes),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        key: &["id"],
        identity: None,
    },
    Table {
        name: "grants",
        columns: &[
            ("pairing_id", Text),
            ("sequence", Int),
            ("expires_at", Int),
            ("grant_bytes", Bytes),
            ("signature", Bytes),
            ("updated_at", Int),
        ],
        key: &["pairing_id"],
        identity: None,
    },
    Table {
        name: "grant_keys",
        columns: &[
            ("pairing_id", Text),
            ("volume_name", Text),
            ("epoch", Int),
            ("wrapped_key", Bytes),
        ],
        key: &["pairing_id", "volume_name"],
        identity: None,
    },
    Table {
        name: "receipts",
        columns: &[
            ("id", Int),
            ("pairing_id", Text),
            ("volume_name", Text),
            ("epoch", Int),
            ("version", Int),
            ("hour", Int),
            ("receipt", Bytes),
            ("signature", Bytes),
        ],
        key: &["id"],
        identity: Some("id"),
    },
    Table {
        name: "owner_states",
        columns: &[
            ("user_id", Text),
            ("version", Int),
            ("header", Bytes),
            ("signature", Bytes),
            ("payload", Bytes),
            ("updated_at", Int),
        ],
        key: &["user_id"],
        identity: None,
    },
    Table {
        name: "device_links",
        columns: &[
            ("code", Text),
            ("user_id", Text),
            ("expires_at", Int),
            ("device_key", Bytes),
            ("label", Text),
            ("proof", Bytes),
            ("package", Bytes),
        ],
        key: &["code"],
        identity: None,
    },
    Table {
        name: "tombstones",
        columns: &[
            ("user_id", Text),
            ("volume_name", Text),
            ("epoch", Int),
            ("version", Int),
            ("hour", Int),
            ("tombstone", Bytes),
            ("signature", Bytes),
        ],
        key: &["user_id", "volume_name"],
        identity: None,
    },
    Table {
        name: "registration_codes",
        columns: &[
            ("code_hash", Bytes),
            ("kind", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
        ],
        key: &["code_hash"],
        identity: None,
    },
    Table {
        name: "inline_payloads",
        columns: &[("blob_file", Text), ("bytes", Bytes)],
        key: &["blob_file"],
        identity: None,
    },
];

/// One stored value, as both engines hold it (booleans and small integers as integers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

pub(super) type Row = Vec<Value>;

/// A SHA-256 over a table's rows in key order, every value tagged and length-prefixed: equal
/// on both sides only if every row and value is.
#[derive(Default)]
pub(super) struct TableDigest {
    hash: Sha256,
    rows: u64,
}

impl TableDigest {
    pub(super) fn add(&mut self, row: &[Value]) {
        self.rows += 1;
        for value in row {
            match value {
                Value::Null => self.hash.update([0]),
                Value::Int(i) => {
                    self.hash.update([1]);
                    self.hash.update(i.to_be_bytes());
                }
                Value::Text(t) => {
                    self.hash.update([2]);
                    self.hash.update((t.len() as u64).to_be_bytes());
                    self.hash.update(t.as_bytes());
                }
                Value::Bytes(b) => {
                    self.hash.update([3]);
                    self.hash.update((b.len() as u64).to_be_bytes());
                    self.hash.update(b);
                }
            }
        }
    }

    pub(super) fn finish(self) -> (u64, [u8; 32]) {
        (self.rows, self.hash.finalize().into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn the_table_list_is_the_whole_schema() {
        // Every table of the SQLite schema is carried, except the login challenges.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        drop(coffer_relay::store::Db::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        let mut stmt = c
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap();
        let mut tables: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        tables.retain(|t| t != "auth_challenges" && t != "schema_version");
        let mut carried: Vec<String> = TABLES.iter().map(|t| t.name.to_owned()).collect();
        carried.sort();
        assert_eq!(tables, carried);
        // And every column of each (rowid aside, which SQLite keeps implicit).
        for table in TABLES {
            let mut stmt = c
                .prepare(&format!(
                    "SELECT name FROM pragma_table_info('{}')",
                    table.name
                ))
                .unwrap();
            let mut columns: Vec<String> = stmt
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            columns.sort();
            let mut ours: Vec<String> = table
                .columns
                .iter()
                .map(|(c, _)| (*c).to_owned())
                .filter(|c| !(table.name == "sharing" && c == "rowid"))
                .collect();
            ours.sort();
            assert_eq!(columns, ours, "{}", table.name);
        }
    }

    #[test]
    fn digests_see_every_value() {
        let mut a = TableDigest::default();
        a.add(&[Value::Text("ab".into()), Value::Null]);
        let mut b = TableDigest::default();
        b.add(&[Value::Text("a".into()), Value::Text("b".into())]);
        let mut c = TableDigest::default();
        c.add(&[Value::Bytes(b"ab".to_vec()), Value::Null]);
        let (a, b, c) = (a.finish(), b.finish(), c.finish());
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
