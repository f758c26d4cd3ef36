//! An open connection to one side's metadata (SQLite or PostgreSQL): rows read in key order
//! and written in batches, as [`super::tables::Value`]s, inside the caller's transaction.

use std::fmt::Write as _;

use coffer_relay::store::StoreError;
use rusqlite::{Connection, OpenFlags};
use tokio::runtime::Runtime;

use super::store::{Meta, Store, fail};
use super::tables::Kind::{Bool, Bytes, Int, Small, Text};
use super::tables::{Kind, Row, TABLES, Table, TableDigest, Value};
use crate::error::AdminError;

/// Rows written to PostgreSQL per `INSERT` (at most 10 columns: well under its 65535 bind
/// parameters).
pub(super) const PG_BATCH: usize = 500;
/// Rows fetched from a PostgreSQL cursor at a time.
const PG_FETCH: usize = 1000;
/// An open connection to one side's metadata.
pub(super) enum Conn {
    Sqlite(Connection),
    Postgres(tokio_postgres::Client, tokio::task::JoinHandle<()>),
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Conn::Postgres(_, driver) = self {
            driver.abort();
        }
    }
}

/// The runtime the PostgreSQL and S3 calls run on, and the open connection.
pub(super) struct Session<'a> {
    pub(super) rt: &'a Runtime,
    pub(super) conn: Conn,
}

impl Session<'_> {
    pub(super) fn batch(&mut self, sql: &str) -> Result<(), AdminError> {
        match &mut self.conn {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(|e| fail("SQLite", e)),
            Conn::Postgres(c, _) => self
                .rt
                .block_on(c.batch_execute(sql))
                .map_err(|e| fail("PostgreSQL", StoreError::from(e))),
        }
    }

    pub(super) fn is_postgres(&self) -> bool {
        matches!(self.conn, Conn::Postgres(..))
    }

    pub(super) fn select(&self, table: &Table, columns: &[(&str, Kind)]) -> String {
        let list: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
        let order: Vec<String> = table
            .key
            .iter()
            .map(|k| {
                let text = table
                    .columns
                    .iter()
                    .any(|(c, kind)| c == k && *kind == Text);
                if text && self.is_postgres() {
                    // Byte order on both sides (SQLite's BINARY collation).
                    format!("{k} COLLATE \"C\"")
                } else {
                    (*k).to_owned()
                }
            })
            .collect();
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            list.join(", "),
            table.name,
            order.join(", ")
        )
    }

    /// Every row of `table` in key order, to `each`.
    pub(super) fn read_table(
        &mut self,
        table: &Table,
        mut each: impl FnMut(Row) -> Result<(), AdminError>,
    ) -> Result<(), AdminError> {
        let sql = self.select(table, table.columns);
        match &mut self.conn {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare(&sql).map_err(|e| fail(table.name, e))?;
                let mut rows = stmt.query([]).map_err(|e| fail(table.name, e))?;
                while let Some(r) = rows.next().map_err(|e| fail(table.name, e))? {
                    let mut row = Vec::with_capacity(table.columns.len());
                    for (i, (column, kind)) in table.columns.iter().enumerate() {
                        row.push(
                            sqlite_value(r, i, *kind)
                                .map_err(|e| fail(&format!("{}.{column}", table.name), e))?,
                        );
                    }
                    each(row)?;
                }
                Ok(())
            }
            Conn::Postgres(c, _) => {
                let cursor = format!("coffer_migrate_{}", table.name);
                self.rt
                    .block_on(
                        c.batch_execute(&format!("DECLARE {cursor} NO SCROLL CURSOR FOR {sql}")),
                    )
                    .map_err(|e| fail(table.name, StoreError::from(e)))?;
                loop {
                    let rows = self
                        .rt
                        .block_on(c.query(&format!("FETCH {PG_FETCH} FROM {cursor}"), &[]))
                        .map_err(|e| fail(table.name, StoreError::from(e)))?;
                    if rows.is_empty() {
                        break;
                    }
                    for r in &rows {
                        let mut row = Vec::with_capacity(table.columns.len());
                        for (i, (column, kind)) in table.columns.iter().enumerate() {
                            row.push(
                                pg_value(r, i, *kind)
                                    .map_err(|e| fail(&format!("{}.{column}", table.name), e))?,
                            );
                        }
                        each(row)?;
                    }
                }
                self.rt
                    .block_on(c.batch_execute(&format!("CLOSE {cursor}")))
                    .map_err(|e| fail(table.name, StoreError::from(e)))
            }
        }
    }

    pub(super) fn count(&mut self, table: &str) -> Result<u64, AdminError> {
        let sql = format!("SELECT count(*) FROM {table}");
        let n: i64 = match &mut self.conn {
            Conn::Sqlite(c) => c
                .query_row(&sql, [], |r| r.get(0))
                .map_err(|e| fail(table, e))?,
            Conn::Postgres(c, _) => self
                .rt
                .block_on(c.query_one(&sql, &[]))
                .map_err(|e| fail(table, StoreError::from(e)))?
                .get(0),
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Writes `rows` of `table` (inside the caller's transaction).
    pub(super) fn write_rows(&mut self, table: &Table, rows: &[Row]) -> Result<(), AdminError> {
        if rows.is_empty() {
            return Ok(());
        }
        let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let width = columns.len();
        match &mut self.conn {
            Conn::Sqlite(c) => {
                let marks = vec!["?"; width].join(", ");
                let sql = format!(
                    "INSERT INTO {} ({}) VALUES ({marks})",
                    table.name,
                    columns.join(", ")
                );
                let mut stmt = c.prepare_cached(&sql).map_err(|e| fail(table.name, e))?;
                for row in rows {
                    let params: Vec<rusqlite::types::Value> =
                        row.iter().map(sqlite_param).collect();
                    stmt.execute(rusqlite::params_from_iter(params))
                        .map_err(|e| fail(table.name, e))?;
                }
                Ok(())
            }
            Conn::Postgres(c, _) => {
                let overriding = if table.identity.is_some() {
                    " OVERRIDING SYSTEM VALUE"
                } else {
                    ""
                };
                for batch in rows.chunks(PG_BATCH) {
                    let mut sql = format!(
                        "INSERT INTO {} ({}){overriding} VALUES ",
                        table.name,
                        columns.join(", ")
                    );
                    let mut params: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> =
                        Vec::with_capacity(batch.len() * width);
                    for (r, row) in batch.iter().enumerate() {
                        sql.push_str(if r == 0 { "(" } else { ", (" });
                        for (i, (value, (column, kind))) in
                            row.iter().zip(table.columns).enumerate()
                        {
                            if i > 0 {
                                sql.push_str(", ");
                            }
                            let _ = write!(sql, "${}", params.len() + 1);
                            params.push(
                                pg_param(value, *kind)
                                    .map_err(|e| fail(&format!("{}.{column}", table.name), e))?,
                            );
                        }
                        sql.push(')');
                    }
                    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                        .iter()
                        .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                        .collect();
                    self.rt
                        .block_on(c.execute(&sql, &refs))
                        .map_err(|e| fail(table.name, StoreError::from(e)))?;
                }
                Ok(())
            }
        }
    }

    /// The digests of every table, read in this session's transaction.
    pub(super) fn digests(&mut self) -> Result<Vec<(u64, [u8; 32])>, AdminError> {
        let mut out = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let mut digest = TableDigest::default();
            self.read_table(table, |row| {
                digest.add(&row);
                Ok(())
            })?;
            out.push(digest.finish());
        }
        Ok(out)
    }

    /// Every volume row's (user, blob name, size), v1 and v2.
    pub(super) fn volume_rows(&mut self) -> Result<Vec<(String, String, u64)>, AdminError> {
        let mut out = Vec::new();
        for name in ["volumes", "volumes_v2"] {
            let table = Table {
                name,
                columns: &[("user_id", Text), ("blob_file", Text), ("size_bytes", Int)],
                key: &["user_id", "volume_name"],
                identity: None,
            };
            self.read_table(&table, |row| {
                if let [Value::Text(user), Value::Text(file), Value::Int(size)] = &row[..] {
                    out.push((
                        user.clone(),
                        file.clone(),
                        u64::try_from(*size).unwrap_or(u64::MAX),
                    ));
                    Ok(())
                } else {
                    Err(AdminError::Database(format!(
                        "{name}: a row with a NULL user, blob name or size"
                    )))
                }
            })?;
        }
        Ok(out)
    }
}

fn sqlite_value(r: &rusqlite::Row<'_>, i: usize, kind: Kind) -> Result<Value, String> {
    use rusqlite::types::ValueRef;
    let v = r.get_ref(i).map_err(|e| e.to_string())?;
    Ok(match (v, kind) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(n), Int | Small | Bool) => Value::Int(n),
        (ValueRef::Text(t), Text) => Value::Text(
            std::str::from_utf8(t)
                .map_err(|_| "text that is not UTF-8".to_owned())?
                .to_owned(),
        ),
        (ValueRef::Blob(b), Bytes) => Value::Bytes(b.to_vec()),
        (other, _) => {
            return Err(format!(
                "a {:?} value where the schema has {kind:?}",
                other.data_type()
            ));
        }
    })
}

fn pg_value(r: &tokio_postgres::Row, i: usize, kind: Kind) -> Result<Value, String> {
    let e = |e: tokio_postgres::Error| e.to_string();
    Ok(match kind {
        Text => r
            .try_get::<_, Option<String>>(i)
            .map_err(e)?
            .map(Value::Text),
        Int => r.try_get::<_, Option<i64>>(i).map_err(e)?.map(Value::Int),
        Small => r
            .try_get::<_, Option<i16>>(i)
            .map_err(e)?
            .map(|n| Value::Int(n.into())),
        Bool => r
            .try_get::<_, Option<bool>>(i)
            .map_err(e)?
            .map(|b| Value::Int(b.into())),
        Bytes => r
            .try_get::<_, Option<Vec<u8>>>(i)
            .map_err(e)?
            .map(Value::Bytes),
    }
    .unwrap_or(Value::Null))
}

fn sqlite_param(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Null => V::Null,
        Value::Int(n) => V::Integer(*n),
        Value::Text(t) => V::Text(t.clone()),
        Value::Bytes(b) => V::Blob(b.clone()),
    }
}

pub(super) fn pg_param(
    v: &Value,
    kind: Kind,
) -> Result<Box<dyn tokio_postgres::types::ToSql + Sync + Send>, String> {
    Ok(match (v, kind) {
        (Value::Null, Text) => Box::new(None::<String>),
        (Value::Null, Int) => Box::new(None::<i64>),
        (Value::Null, Small) => Box::new(None::<i16>),
        (Value::Null, Bool) => Box::new(None::<bool>),
        (Value::Null, Bytes) => Box::new(None::<Vec<u8>>),
        (Value::Int(n), Int) => Box::new(*n),
        (Value::Int(n), Small) => {
            Box::new(i16::try_from(*n).map_err(|_| format!("{n} does not fit SMALLINT"))?)
        }
        (Value::Int(0), Bool) => Box::new(false),
        (Value::Int(1), Bool) => Box::new(true),
        (Value::Text(t), Text) => Box::new(t.clone()),
        (Value::Bytes(b), Bytes) => Box::new(b.clone()),
        (other, kind) => return Err(format!("{other:?} cannot be stored as {kind:?}")),
    })
}

/// Runs on `rt`: opens `store`'s metadata, creating the schema where `create` (the
/// destination), and refusing a foreign or older one.
pub(super) fn open<'a>(
    rt: &'a Runtime,
    store: &Store,
    create: bool,
) -> Result<Session<'a>, AdminError> {
    let conn = match &store.meta {
        Meta::Sqlite(path) => {
            let conn = if create {
                if let Some(dir) = path.parent() {
                    // As the relay creates its data directory: the owner's only.
                    use std::os::unix::fs::DirBuilderExt as _;
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)
                        .map_err(|e| fail(&dir.display().to_string(), e))?;
                }
                // As the relay creates and upgrades it (WAL, schema, triggers).
                drop(coffer_relay::store::Db::open(path).map_err(|e| {
                    AdminError::Database(coffer_relay::store::db_errors::explain(path, &e))
                })?);
                let c = Connection::open(path).map_err(|e| fail(&path.display().to_string(), e))?;
                c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                    .map_err(|e| fail(&path.display().to_string(), e))?;
                c
            } else {
                if !path.exists() {
                    return Err(AdminError::InvalidConfig {
                        message: format!("no relay database at {}", path.display()),
                    });
                }
                crate::offline::refuse_foreign(path)?;
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| fail(&path.display().to_string(), e))?;
                let version = coffer_relay::store::migrations::current(&c)
                    .map_err(|e| fail(&path.display().to_string(), e))?;
                schema_is_current(
                    version,
                    coffer_relay::store::migrations::latest(),
                    &store.describe,
                )?;
                c
            };
            Conn::Sqlite(conn)
        }
        Meta::Postgres(settings) => {
            let (mut client, driver) = rt
                .block_on(settings.connect())
                .map_err(|e| fail(&format!("PostgreSQL {}", settings.describe()), e))?;
            let what = format!("PostgreSQL {}", settings.describe());
            if create {
                rt.block_on(coffer_relay::pg::migrations::migrate(&mut client))
                    .map_err(|e| fail(&what, e))?;
            } else {
                let version = rt
                    .block_on(coffer_relay::pg::migrations::current(&client))
                    .map_err(|e| fail(&what, e))?;
                schema_is_current(
                    version,
                    coffer_relay::pg::migrations::latest(),
                    &store.describe,
                )?;
            }
            Conn::Postgres(client, driver)
        }
    };
    Ok(Session { rt, conn })
}

fn schema_is_current(found: i64, latest: i64, what: &str) -> Result<(), AdminError> {
    if found == latest {
        return Ok(());
    }
    Err(AdminError::Database(if found == 0 {
        format!("{what}: no Coffer schema (no relay of this store has started yet)")
    } else if found < latest {
        format!(
            "{what}: schema version {found}, this build writes {latest}: start a relay of this \
             build on it once (it upgrades the schema), then migrate"
        )
    } else {
        format!(
            "{what}: schema version {found} is newer than this build's {latest}: use the \
             coffer-admin of the relay that wrote it"
        )
    }))
}

pub(super) fn begin_snapshot(session: &Session<'_>) -> &'static str {
    if session.is_postgres() {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    } else {
        "BEGIN"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_refuse_the_wrong_kind() {
        assert!(pg_param(&Value::Int(2), Bool).is_err());
        assert!(pg_param(&Value::Int(70_000), Small).is_err());
        assert!(pg_param(&Value::Text("x".into()), Bytes).is_err());
        assert!(pg_param(&Value::Null, Bytes).is_ok());
    }
}
