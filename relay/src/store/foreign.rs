//! Recognising a database that is not Coffer's before touching it.
//!
//! Coffer marks its schema with SQLite's `user_version` (1 and up, `migrations.rs`), set in the
//! same transaction as the tables. A file with tables and `user_version` 0 was therefore written
//! by something else; migrating it would fail half-way ("table users already exists") or, worse,
//! mix two schemas. The most likely such file is the PluralLog reference relay's
//! `plurallog_relay.db` (docs/protocol-v1.md §3), which `coffer-admin import-plurallog` moves
//! into a new Coffer data directory (docs/adr/0023-import-from-plurallog.md); any other foreign
//! database gets a generic refusal. Nothing here writes.

use std::path::Path;

use rusqlite::Connection;

/// What kind of foreign database a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// The PluralLog reference relay's schema (`auth_sessions.token`, `volumes.payload_path`).
    PluralLog,
    /// Tables, but no Coffer schema version and not PluralLog's.
    Other,
}

fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, rusqlite::Error> {
    let mut stmt = conn.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?;
    stmt.exists([table, column])
}

/// `None` for a Coffer database (any schema version) or a new, empty one.
pub fn identify(conn: &Connection) -> Result<Option<Foreign>, rusqlite::Error> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != 0 {
        return Ok(None);
    }
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        [],
        |r| r.get(0),
    )?;
    if tables == 0 {
        return Ok(None);
    }
    let plurallog = has_column(conn, "users", "public_signing_key")?
        && (has_column(conn, "auth_sessions", "token")?
            || has_column(conn, "volumes", "payload_path")?);
    Ok(Some(if plurallog {
        Foreign::PluralLog
    } else {
        Foreign::Other
    }))
}

/// The refusal for a foreign database at `path`: for PluralLog's, the importer's command line.
pub fn refusal(kind: Foreign, path: &Path) -> String {
    let p = path.display();
    match kind {
        Foreign::PluralLog => format!(
            "{p} is a PluralLog relay database, not Coffer's: import it with `coffer-admin \
             import-plurallog --db {p} --volumes <dir> --data-dir <new dir>` (the README's \
             \"Moving from a PluralLog relay\")"
        ),
        Foreign::Other => format!(
            "{p} is not a Coffer relay database: it holds tables but no Coffer schema version; \
             nothing was changed. Point the relay at its own database (a new data directory \
             starts empty)"
        ),
    }
}

/// Fails with [`refusal`] if the database at `path` (open as `conn`) is foreign.
pub fn refuse_foreign(conn: &Connection, path: &Path) -> Result<(), super::StoreError> {
    match identify(conn)? {
        None => Ok(()),
        Some(kind) => Err(super::StoreError::Foreign(refusal(kind, path))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tells_coffer_plurallog_and_others_apart() {
        let empty = Connection::open_in_memory().unwrap();
        assert_eq!(identify(&empty).unwrap(), None);

        let mut ours = Connection::open_in_memory().unwrap();
        super::super::migrations::migrate(&mut ours).unwrap();
        assert_eq!(identify(&ours).unwrap(), None);

        let plurallog = Connection::open_in_memory().unwrap();
        plurallog
            .execute_batch(
                "CREATE TABLE users (id TEXT PRIMARY KEY, public_signing_key TEXT);
                 CREATE TABLE auth_sessions (token TEXT PRIMARY KEY, user_id TEXT);
                 CREATE TABLE volumes (user_id TEXT, volume_name TEXT, payload_path TEXT);",
            )
            .unwrap();
        assert_eq!(identify(&plurallog).unwrap(), Some(Foreign::PluralLog));
        let text = refusal(Foreign::PluralLog, Path::new("/srv/plurallog_relay.db"));
        assert!(
            text.starts_with(
                "/srv/plurallog_relay.db is a PluralLog relay database, not Coffer's: import it \
                 with `coffer-admin import-plurallog --db /srv/plurallog_relay.db --volumes <dir> \
                 --data-dir <new dir>`"
            ),
            "{text}"
        );

        let other = Connection::open_in_memory().unwrap();
        other.execute_batch("CREATE TABLE notes (x);").unwrap();
        assert_eq!(identify(&other).unwrap(), Some(Foreign::Other));
        assert!(matches!(
            refuse_foreign(&other, Path::new("x.db")),
            Err(super::super::StoreError::Foreign(m)) if m.contains("not a Coffer relay database")
        ));
    }
}
