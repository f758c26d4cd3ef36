//! The consistency check on any back end: the relay's own on SQLite and files; otherwise the
//! same checks through the store's connection and a listing of its blobs.

use std::collections::{HashMap, HashSet};

use coffer_relay::store::check::Consistency;
use coffer_relay::store::inline;
use tokio::runtime::Runtime;

use super::session::{Conn, Session, begin_snapshot, open};
use super::store::{Blobs, Meta, Store, fail, list_blobs, runtime};
use super::tables::Kind::{Bytes, Int, Text};
use super::tables::{Table, Value};
use crate::error::AdminError;

/// At most this many problems of each kind are listed.
const LISTED: usize = 20;

/// The consistency check of one store: on SQLite and files the relay's own
/// ([`coffer_relay::store::check::check`]); otherwise the same checks through the store's
/// connection (PostgreSQL enforces its constraints and foreign keys itself: `integrity` is
/// `ok` once the schema is current and readable).
pub fn check(store: &Store) -> Result<Consistency, AdminError> {
    on_own_thread(|| check_here(&runtime()?, store))
}

/// Runs `work` on a thread of its own, where it may start and drop its own runtime whatever
/// the caller's context (the CLI's commands run inside one).
pub(super) fn on_own_thread<T: Send>(
    work: impl FnOnce() -> Result<T, AdminError> + Send,
) -> Result<T, AdminError> {
    std::thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .unwrap_or_else(|_| Err(AdminError::Database("the copy stopped on a panic".into())))
    })
}

/// The check on `rt`: the runtime every call to this store's object store makes (its HTTP
/// client keeps connections registered with the runtime that opened them; one opened on a
/// runtime that is not running would stall a request until its timeout).
pub(super) fn check_here(rt: &Runtime, store: &Store) -> Result<Consistency, AdminError> {
    if let (Meta::Sqlite(db), Blobs::Files(files)) = (&store.meta, &store.blobs) {
        return coffer_relay::store::check::check(db, files.root())
            .map_err(|e| AdminError::Database(coffer_relay::store::db_errors::explain(db, &e)));
    }
    let mut session = open(rt, store, false)?;
    session.batch(begin_snapshot(&session))?;
    check_in(&mut session, store)
}

pub(super) fn check_in(
    session: &mut Session<'_>,
    store: &Store,
) -> Result<Consistency, AdminError> {
    if let (Meta::Sqlite(db), Blobs::Files(files)) = (&store.meta, &store.blobs) {
        return coffer_relay::store::check::check(db, files.root())
            .map_err(|e| AdminError::Database(coffer_relay::store::db_errors::explain(db, &e)));
    }
    let mut out = Consistency {
        integrity: "ok".to_owned(),
        ..Consistency::default()
    };
    let problem = |out: &mut Consistency, text: String| {
        if out.problems.len() < LISTED {
            out.problems.push(text);
        }
    };
    if let Conn::Sqlite(c) = &session.conn {
        out.integrity = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| fail("integrity_check", e))?;
        let mut stmt = c
            .prepare("PRAGMA foreign_key_check")
            .map_err(|e| fail("foreign_key_check", e))?;
        out.foreign_key_violations = stmt
            .query_map([], |_| Ok(()))
            .map_err(|e| fail("foreign_key_check", e))?
            .count() as u64;
    }
    let mut inline_lengths: HashMap<String, u64> = HashMap::new();
    let lengths = Table {
        name: "inline_payloads",
        columns: &[("blob_file", Text), ("bytes", Bytes)],
        key: &["blob_file"],
        identity: None,
    };
    session.read_table(&lengths, |row| {
        if let [Value::Text(name), Value::Bytes(b)] = &row[..] {
            inline_lengths.insert(name.clone(), b.len() as u64);
        }
        Ok(())
    })?;
    let blobs = list_blobs(session.rt, store)?;
    let mut sums: HashMap<String, u64> = HashMap::new();
    let mut named = 0u64;
    let mut referenced = HashSet::new();
    for (user, file, size) in session.volume_rows()? {
        out.volume_rows += 1;
        *sums.entry(user).or_default() += size;
        let found = if inline::is_inline(&file) {
            out.inline_rows += 1;
            named += 1;
            inline_lengths.get(&file).copied()
        } else {
            let found = blobs.get(&file).copied();
            referenced.insert(file.clone());
            found
        };
        match found {
            Some(len) if len == size => {}
            Some(len) => {
                out.wrong_sizes += 1;
                problem(
                    &mut out,
                    format!("{file}: {len} bytes stored, {size} in its row"),
                );
            }
            None => {
                out.missing_blobs += 1;
                problem(&mut out, format!("{file}: missing"));
            }
        }
    }
    out.orphan_inline_payloads = (inline_lengths.len() as u64).saturating_sub(named);
    let users = Table {
        name: "users",
        columns: &[("id", Text), ("storage_used_bytes", Int)],
        key: &["id"],
        identity: None,
    };
    session.read_table(&users, |row| {
        if let [Value::Text(id), Value::Int(used)] = &row[..] {
            let expected = sums.get(id).copied().unwrap_or(0);
            if u64::try_from(*used).ok() != Some(expected) {
                out.wrong_quotas += 1;
                problem(
                    &mut out,
                    format!("user {id}: storage_used_bytes {used}, rows sum to {expected}"),
                );
            }
        }
        Ok(())
    })?;
    out.orphan_files = blobs.keys().filter(|b| !referenced.contains(*b)).count() as u64;
    Ok(out)
}
