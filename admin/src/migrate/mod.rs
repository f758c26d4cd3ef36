//! `migrate-store`: a relay's whole stored state carried from one back end to another —
//! SQLite and blob files to PostgreSQL and an S3 bucket, and back, or any mix (issue 14;
//! docs/adr/0034-migrate-store.md).
//!
//! **What is carried.** Every table of the data model, row for row and value for value
//! (`TABLES`; the outstanding login challenges are not: they live for minutes and a client
//! asks for a new one), and every blob a row names, under the same name, so the rows stay
//! true. Nothing is decrypted, re-encoded or renamed: the destination serves the same bytes
//! to the same sessions.
//!
//! **Order, and why a run can be repeated.** The source is read in one snapshot (an SQLite
//! read transaction; a PostgreSQL `REPEATABLE READ READ ONLY` transaction). The blobs go
//! first, each durable before the next (fsync and rename; the object store's acknowledgement),
//! and a blob the destination already holds with the size the row records is not copied
//! again. Then every row is written in **one** destination transaction, checked there (a
//! SHA-256 of every table, read back, against the source's), and committed only if all
//! agree. So an interrupted run leaves no rows at all and some blobs: run it again and it
//! goes on from the blobs it finds. A destination that already holds exactly the source's
//! rows is reported as migrated; one that holds anything else is refused untouched.
//!
//! **Checked on both sides.** The consistency check (every row's blob is there with its
//! size, inline payloads, quota sums; on SQLite also `integrity_check` and foreign keys)
//! runs on the source before anything is written, and on the destination after the commit.
//!
//! The relays that use the source should be stopped (a live source is read consistently, but
//! a blob replaced by an upload during the run stops it: "the source changed"), and those of
//! the destination must be.

mod check;
mod session;
mod store;
mod tables;

use std::fmt::Write as _;

use coffer_relay::store::check::Consistency;
use coffer_relay::store::inline;
use serde::Serialize;

use crate::error::AdminError;
use crate::progress::Progress;
pub use check::check;
use check::{check_here, check_in, on_own_thread};
use session::PG_BATCH;
use session::{begin_snapshot, open};
pub use store::Store;
use store::{hold_data_dir, list_blobs, read_blob, runtime, write_blob};
use tables::TABLES;

/// What a migration did.
#[derive(Debug, Serialize)]
pub struct MigrateReport {
    /// `migrated`, or `already migrated` (the destination held exactly the source's rows).
    pub status: &'static str,
    /// The source's metadata and blob stores (no secret).
    pub from: String,
    /// The destination's.
    pub to: String,
    /// Rows per table, in the order they were written.
    pub tables: Vec<TableRows>,
    /// Blobs copied by this run.
    pub blobs_copied: u64,
    /// Their bytes.
    pub blob_bytes_copied: u64,
    /// Blobs the destination already held with the right size (an earlier, interrupted run).
    pub blobs_already_there: u64,
    /// The consistency check of the source, before anything was written.
    pub source_check: Consistency,
    /// The consistency check of the destination, after the commit.
    pub destination_check: Consistency,
}

/// One table's rows.
#[derive(Debug, Serialize)]
pub struct TableRows {
    /// The table.
    pub table: &'static str,
    /// Its rows (the same on both sides: checked by digest before the commit).
    pub rows: u64,
}

impl MigrateReport {
    /// For a person.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.status);
        let _ = writeln!(out, "from: {}", self.from);
        let _ = writeln!(out, "to:   {}", self.to);
        let rows: u64 = self.tables.iter().map(|t| t.rows).sum();
        let _ = writeln!(
            out,
            "rows: {rows} in {} tables, the same on both sides (SHA-256 of every table)",
            self.tables.len()
        );
        for t in self.tables.iter().filter(|t| t.rows > 0) {
            let _ = writeln!(out, "  {:<20} {}", t.table, t.rows);
        }
        let _ = writeln!(
            out,
            "blobs: {} copied ({} bytes), {} already there",
            self.blobs_copied, self.blob_bytes_copied, self.blobs_already_there
        );
        for (side, check) in [
            ("source", &self.source_check),
            ("destination", &self.destination_check),
        ] {
            let _ = writeln!(
                out,
                "{side} check: {} ({} volume rows, {} inline; {} orphan blobs)",
                if check.is_consistent() {
                    "consistent"
                } else {
                    "NOT consistent"
                },
                check.volume_rows,
                check.inline_rows,
                check.orphan_files
            );
        }
        out
    }
}

/// `migrate-store`: carries everything from `from` to `to` (module docs).
pub fn migrate<W: std::io::Write + Send>(
    from: &Store,
    to: &Store,
    progress: &mut Progress<W>,
) -> Result<MigrateReport, AdminError> {
    on_own_thread(|| migrate_here(from, to, progress))
}

fn migrate_here<W: std::io::Write>(
    from: &Store,
    to: &Store,
    progress: &mut Progress<W>,
) -> Result<MigrateReport, AdminError> {
    if from.overlaps(to) {
        return Err(AdminError::InvalidConfig {
            message: format!(
                "the source and the destination share a store ({} / {}): migrate-store copies \
                 into a different database and blob store",
                from.describe, to.describe
            ),
        });
    }
    let _source_lock = hold_data_dir(&from.data_dir, false)?;
    let _destination_lock = hold_data_dir(&to.data_dir, true)?;
    let rt = runtime()?;

    // The source, in one snapshot, checked before anything is written.
    let mut src = open(&rt, from, false)?;
    src.batch(begin_snapshot(&src))?;
    let source_check = check_in(&mut src, from)?;
    if !source_check.is_consistent() {
        return Err(AdminError::Database(format!(
            "the source is not consistent ({}): run `coffer-admin check-data` on it and mend \
             that first; nothing was written",
            source_check.problems.join("; ")
        )));
    }
    let source_digests = src.digests()?;

    // The destination: schema created if needed; rows only if it holds none.
    let mut dst = open(&rt, to, true)?;
    // Any row at all (an operator's registration code on a relay that never had an account
    // counts too): merging is never done.
    let mut held_rows = 0;
    for table in TABLES {
        held_rows += dst.count(table.name)?;
    }
    if held_rows > 0 {
        let held = dst.count("users")?;
        dst.batch(begin_snapshot(&dst))?;
        if dst.digests()? == source_digests {
            dst.batch("COMMIT")?;
            let destination_check = check_here(&rt, to)?;
            return Ok(MigrateReport {
                status: "already migrated",
                from: from.describe.clone(),
                to: to.describe.clone(),
                tables: table_rows(&source_digests),
                blobs_copied: 0,
                blob_bytes_copied: 0,
                blobs_already_there: 0,
                source_check,
                destination_check,
            });
        }
        return Err(AdminError::Database(format!(
            "the destination ({}) already holds {held} account(s) and {held_rows} row(s) in \
             all that are not exactly the source's: migrate-store fills an empty store; \
             nothing was written",
            to.describe
        )));
    }

    // The blobs first, each durable before the next; those already there are kept.
    let wanted: Vec<(String, u64)> = src
        .volume_rows()?
        .into_iter()
        .filter(|(_, file, _)| !inline::is_inline(file))
        .map(|(_, file, size)| (file, size))
        .collect();
    let there = list_blobs(&rt, to)?;
    let (mut copied, mut bytes_copied, mut already) = (0u64, 0u64, 0u64);
    progress.set_label("blobs");
    let total = wanted.len() as u64;
    for (done, (name, size)) in wanted.iter().enumerate() {
        if done % 16 == 0 {
            progress.update(done as u64, total);
        }
        if there.get(name) == Some(size) {
            already += 1;
            continue;
        }
        let Some(bytes) = read_blob(&rt, from, name, *size)? else {
            return Err(AdminError::Database(format!(
                "the source changed while it was copied (blob {name} is gone: an upload \
                 replaced it): stop every relay that uses it and run migrate-store again (the \
                 blobs copied so far are kept)"
            )));
        };
        if bytes.len() as u64 != *size {
            return Err(AdminError::Database(format!(
                "blob {name} has {} bytes in the source, {size} in its row",
                bytes.len()
            )));
        }
        bytes_copied += *size;
        write_blob(&rt, to, name, bytes)?;
        copied += 1;
    }
    if total > 0 {
        progress.update(total, total);
    }

    // Then every row, in one transaction, checked before the commit.
    let rows_total: u64 = source_digests.iter().map(|(rows, _)| rows).sum();
    progress.set_label("rows");
    dst.batch(if dst.is_postgres() {
        "BEGIN"
    } else {
        "BEGIN IMMEDIATE"
    })?;
    let mut rows_done = 0u64;
    for table in TABLES {
        let mut batch = Vec::with_capacity(PG_BATCH);
        let read = src.read_table(table, |row| {
            batch.push(row);
            if batch.len() == PG_BATCH {
                dst.write_rows(table, &batch)?;
                rows_done += batch.len() as u64;
                batch.clear();
                progress.update(rows_done, rows_total);
            }
            Ok(())
        });
        if let Err(e) = read.and_then(|()| dst.write_rows(table, &batch)) {
            let _ = dst.batch("ROLLBACK");
            return Err(e);
        }
        rows_done += batch.len() as u64;
        if !batch.is_empty() {
            progress.update(rows_done, rows_total);
        }
        if let (Some(column), true) = (table.identity, dst.is_postgres()) {
            // The next generated value after the carried ones.
            dst.batch(&format!(
                "SELECT setval(pg_get_serial_sequence('{0}', '{column}'), \
                 coalesce((SELECT max({column}) FROM {0}), 0) + 1, false)",
                table.name
            ))?;
        }
    }
    let written = dst.digests()?;
    if written != source_digests {
        let _ = dst.batch("ROLLBACK");
        let differ: Vec<&str> = TABLES
            .iter()
            .zip(written.iter().zip(&source_digests))
            .filter(|(_, (a, b))| a != b)
            .map(|(t, _)| t.name)
            .collect();
        return Err(AdminError::Database(format!(
            "the rows read back from the destination differ from the source's in {}: nothing \
             was committed",
            differ.join(", ")
        )));
    }
    dst.batch("COMMIT")?;
    progress.finish();
    drop(dst);
    drop(src);

    let destination_check = check_here(&rt, to)?;
    if !destination_check.is_consistent() {
        return Err(AdminError::Database(format!(
            "the destination is not consistent after the commit ({}): its rows are there; \
             run `coffer-admin check-data` on it",
            destination_check.problems.join("; ")
        )));
    }
    Ok(MigrateReport {
        status: "migrated",
        from: from.describe.clone(),
        to: to.describe.clone(),
        tables: table_rows(&source_digests),
        blobs_copied: copied,
        blob_bytes_copied: bytes_copied,
        blobs_already_there: already,
        source_check,
        destination_check,
    })
}

fn table_rows(digests: &[(u64, [u8; 32])]) -> Vec<TableRows> {
    TABLES
        .iter()
        .zip(digests)
        .map(|(t, (rows, _))| TableRows {
            table: t.name,
            rows: *rows,
        })
        .collect()
}
