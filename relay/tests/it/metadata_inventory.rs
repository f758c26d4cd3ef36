//! The metadata inventory (`docs/metadata-inventory.md`, design §8) must list every column the
//! relay stores and every field it logs. This test builds the schema the way the relay does —
//! every migration, on an in-memory database — and compares it with the inventory's tables; and
//! it reads the relay's sources for the fields of every `tracing` event and compares them with
//! the inventory's log table. A new column or log field without an inventory row fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

fn inventory() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/metadata-inventory.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The rows of the markdown table that follows the heading `heading`: the backticked words of
/// the first `cells` cells of each row.
fn table_rows(markdown: &str, heading: &str, cells: usize) -> BTreeSet<Vec<String>> {
    let mut rows = BTreeSet::new();
    let mut in_section = false;
    for line in markdown.lines() {
        if line.starts_with('#') {
            in_section = line.trim_start_matches('#').trim() == heading;
            continue;
        }
        if !in_section || !line.starts_with('|') {
            continue;
        }
        let parts: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let keys: Option<Vec<String>> = parts
            .iter()
            .take(cells)
            .map(|c| {
                c.strip_prefix('`')
                    .and_then(|c| c.strip_suffix('`'))
                    .map(str::to_owned)
            })
            .collect();
        // Header and separator rows have no backticked cells.
        if let Some(keys) = keys.filter(|k| k.len() == cells) {
            rows.insert(keys);
        }
    }
    assert!(
        !rows.is_empty(),
        "no table rows under the heading {heading:?}"
    );
    rows
}

/// Every (table, column) of the schema the migrations build.
fn schema_columns() -> BTreeSet<Vec<String>> {
    let mut conn = Connection::open_in_memory().unwrap();
    coffer_relay::store::migrations::migrate(&mut conn).unwrap();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.len() >= 10, "{tables:?}");
    let mut columns = BTreeSet::new();
    for table in tables {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .unwrap();
        let names: Vec<String> = stmt
            .query_map([&table], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for name in names {
            columns.insert(vec![table.clone(), name]);
        }
    }
    columns
}

/// Whether the SQLite table `table` has an implicit row id (not `WITHOUT ROWID`, no column
/// of that name).
fn sqlite_has_rowid(table: &str) -> bool {
    let mut conn = Connection::open_in_memory().unwrap();
    coffer_relay::store::migrations::migrate(&mut conn).unwrap();
    conn.prepare(&format!("SELECT rowid FROM {table} LIMIT 0"))
        .is_ok()
        && !schema_columns().contains(&vec![table.to_owned(), "rowid".to_owned()])
}

/// Every (table, column) of the PostgreSQL schema (`relay/src/pg/schema.sql`), read from its
/// `CREATE TABLE` statements: one column per line, constraints on lines of their own.
fn postgres_columns() -> BTreeSet<Vec<String>> {
    let sql = coffer_relay::pg::migrations::MIGRATIONS.join("\n");
    let mut columns = BTreeSet::new();
    let mut table: Option<String> = None;
    for line in sql.lines() {
        let line = line.trim();
        let created = line
            .strip_prefix("CREATE TABLE ")
            .or_else(|| line.strip_prefix("CREATE UNLOGGED TABLE "));
        if let Some(rest) = created {
            table = rest.split_whitespace().next().map(str::to_owned);
            continue;
        }
        let Some(name) = &table else { continue };
        if line.starts_with(");") {
            table = None;
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        let constraint = ["CHECK", "UNIQUE", "PRIMARY", "FOREIGN", "CONSTRAINT"].contains(&first);
        let column = first
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit());
        if !first.is_empty() && !constraint && column {
            columns.insert(vec![name.clone(), first.to_owned()]);
        }
    }
    assert!(columns.len() >= 50, "{columns:?}");
    columns
}

#[test]
fn postgres_stores_exactly_what_sqlite_stores() {
    // So the inventory, written for the embedded schema, is true for the shared one too.
    let postgres = postgres_columns();
    let mut sqlite = schema_columns();
    // SQLite's implicit row id, made explicit in PostgreSQL where an order depends on it
    // (the table's insertion order: no more information than SQLite's own row ids hold).
    for column in postgres.iter().filter(|c| c[1] == "rowid") {
        assert!(
            sqlite_has_rowid(&column[0]),
            "{column:?}: not a SQLite rowid table"
        );
        sqlite.insert(column.clone());
    }
    // What only a relay of several instances needs (the shared rate-limit buckets): listed
    // in the inventory's table of its own.
    let pg_only = table_rows(&inventory(), "Stored columns (PostgreSQL only)", 2);
    assert!(
        pg_only.iter().all(|c| !sqlite.contains(c)),
        "the inventory lists as PostgreSQL-only a column SQLite has: {pg_only:?}"
    );
    let only_pg: Vec<_> = postgres
        .difference(&sqlite)
        .filter(|c| !pg_only.contains(*c))
        .collect();
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    assert!(
        only_pg.is_empty() && only_sqlite.is_empty(),
        "the PostgreSQL schema differs from SQLite's: only in PostgreSQL {only_pg:?}, only in \
         SQLite {only_sqlite:?} (add the column to both, and to docs/metadata-inventory.md; a \
         column only a shared database needs goes under \"Stored columns (PostgreSQL only)\")"
    );
    let stale: Vec<_> = pg_only.difference(&postgres).collect();
    assert!(
        stale.is_empty(),
        "the inventory lists PostgreSQL-only columns that do not exist: {stale:?}"
    );
}

#[test]
fn every_stored_column_is_in_the_inventory() {
    let listed = table_rows(&inventory(), "Stored columns", 2);
    let schema = schema_columns();
    let missing: Vec<_> = schema.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "columns the relay stores but docs/metadata-inventory.md does not list (add a row to \
         \"Stored columns\" saying what it holds, who can see it and why it is needed): \
         {missing:?}"
    );
    let stale: Vec<_> = listed.difference(&schema).collect();
    assert!(
        stale.is_empty(),
        "the inventory lists columns that no longer exist: {stale:?}"
    );
}

/// Skips a Rust string or char literal starting at `i`; returns the index after it.
fn skip_literal(bytes: &[u8], mut i: usize) -> usize {
    let quote = bytes[i];
    i += 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The field names of one `tracing` macro's arguments (`name = …`, `%name`, `?name`, bare
/// `name`), up to the message literal.
fn fields_of(args: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let bytes = args.as_bytes();
    let (mut depth, mut start, mut i) = (0i32, 0usize, 0usize);
    let mut parts = Vec::new();
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = skip_literal(bytes, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                parts.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&args[start..]);
    for part in parts {
        let part = part.trim();
        if part.is_empty() || part.starts_with('"') {
            // The message: everything after it is format arguments, not fields.
            break;
        }
        let name = match part.split_once('=') {
            Some((name, _)) if !name.contains(['(', '.', '"']) => name.trim(),
            _ => part.trim_start_matches(['%', '?']),
        };
        // `%err.display()` style: the field is named after the last path segment.
        let name = name.split(['.', '(']).next().unwrap_or(name).trim();
        let name = name.rsplit("::").next().unwrap_or(name);
        fields.push(name.to_owned());
    }
    fields
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every field of every `tracing::<level>!` event in the relay's sources.
fn logged_fields() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut fields = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for level in ["trace", "debug", "info", "warn", "error"] {
            let needle = format!("tracing::{level}!(");
            for (at, _) in text.match_indices(&needle) {
                let bytes = text.as_bytes();
                let (mut depth, mut i) = (1i32, at + needle.len());
                let begin = i;
                while i < bytes.len() && depth > 0 {
                    match bytes[i] {
                        b'"' => {
                            i = skip_literal(bytes, i);
                            continue;
                        }
                        b'(' => depth += 1,
                        b')' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                }
                fields.extend(fields_of(&text[begin..i.saturating_sub(1)]));
            }
        }
    }
    fields
}

#[test]
fn the_field_parser_works() {
    assert_eq!(
        fields_of(r#"method = %m, route = %r, status, ms = e.as_millis() as u64, "request""#),
        ["method", "route", "status", "ms"]
    );
    assert_eq!(fields_of(r#"%err, "x {}", y"#), ["err"]);
    assert_eq!(fields_of(r#"?report, "maintenance run""#), ["report"]);
    assert_eq!(fields_of(r#""no fields""#), Vec::<String>::new());
}

#[test]
fn every_log_field_is_in_the_inventory() {
    let listed: BTreeSet<String> = table_rows(&inventory(), "Log fields", 1)
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect();
    let logged = logged_fields();
    assert!(
        logged.contains("route") && logged.contains("client"),
        "{logged:?}"
    );
    let missing: Vec<_> = logged.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "fields the relay logs but docs/metadata-inventory.md does not list under \"Log fields\": \
         {missing:?}"
    );
}
