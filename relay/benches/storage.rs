//! Where payloads should live: blob files (what the relay does) or BLOB columns in SQLite.
//!
//! ADR 0002 stored payloads as files and left "would small volumes be faster inside SQLite?"
//! to a measurement; ADR 0002 asks for the decision to be made by benchmark. This harness
//! is that measurement. It prints figures; it asserts nothing about speed.
//!
//! - `files`: exactly the relay's upload path — [`BlobStore::write`] (temp file, write, fsync,
//!   rename, fsync dir), then the row in one `synchronous=FULL` WAL transaction
//!   ([`volumes::put`]), then the replaced file removed — and its download path
//!   ([`volumes::get`] on a reader, then [`BlobStore::read`]).
//! - `inline`: the same row shape with the payload in a BLOB column of the same database
//!   (same pragmas, same one-writer discipline), upserted in one transaction; read with one
//!   `SELECT`.
//!
//! Each is run with 1 and with 8 writer threads (uploads of different users in parallel, as
//! the relay serves them: blob writes overlap, database commits are serialised by its one
//! writer), for 4 KiB, 64 KiB and 1 MiB payloads, and reads with 2 threads.
//!
//! `cargo bench -p coffer-relay --bench storage` (`-- --seconds 3` per case; `--dir DIR` to
//! measure another file system than the temporary directory's).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use coffer_relay::store::blobs::BlobStore;
use coffer_relay::store::users::User;
use coffer_relay::store::volumes::{self, PutOutcome, VolumeRow};
use coffer_relay::store::{ClientType, Db, StoreError, users};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

const SIZES: [(usize, &str); 3] = [
    (4096 + 28, "4 KiB"),
    (65536 + 28, "64 KiB"),
    (1 << 20, "1 MiB"),
];
const USERS: usize = 8;

/// The alternative: the payload inside the row.
struct Inline {
    conn: std::sync::Mutex<Connection>,
    path: PathBuf,
}

impl Inline {
    fn open(path: &Path) -> rusqlite::Result<Inline> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS volumes (user_id TEXT NOT NULL, volume_name TEXT NOT NULL, \
             version INTEGER NOT NULL, control_header TEXT NOT NULL, signature BLOB NOT NULL, \
             size_bytes INTEGER NOT NULL, updated_at INTEGER NOT NULL, payload BLOB NOT NULL, \
             PRIMARY KEY (user_id, volume_name))",
        )?;
        Ok(Inline {
            conn: std::sync::Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    fn put(&self, user: &str, version: u64, payload: &[u8]) -> rusqlite::Result<()> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT version FROM volumes WHERE user_id = ?1 AND volume_name = 'journal'",
                [user],
                |r| r.get(0),
            )
            .optional()?;
        assert!(
            current.is_none_or(|c| (c as u64) < version),
            "versions increase"
        );
        tx.execute(
            "INSERT INTO volumes VALUES (?1, 'journal', ?2, '{}', ?3, ?4, 0, ?5) \
             ON CONFLICT (user_id, volume_name) DO UPDATE SET version = excluded.version, \
             signature = excluded.signature, size_bytes = excluded.size_bytes, \
             payload = excluded.payload",
            params![
                user,
                version as i64,
                &[0u8; 64][..],
                payload.len() as i64,
                payload
            ],
        )?;
        tx.commit()
    }

    fn reader(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.path)?;
        conn.pragma_update(None, "query_only", "ON")?;
        Ok(conn)
    }
}

fn read_inline(conn: &Connection, user: &str) -> rusqlite::Result<Vec<u8>> {
    conn.prepare_cached(
        "SELECT payload FROM volumes WHERE user_id = ?1 AND volume_name = 'journal'",
    )?
    .query_row([user], |r| r.get(0))
}

/// Runs `op(thread, i)` on `threads` threads for `seconds`; returns operations per second.
fn run(threads: usize, seconds: f64, op: impl Fn(usize, u64) + Sync) -> f64 {
    let done = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (op, done) = (&op, &done);
            s.spawn(move || {
                let mut i = 0;
                while Instant::now() < deadline {
                    i += 1;
                    op(t, i);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn user_ids() -> Vec<String> {
    (0..USERS)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect()
}

fn files_store(dir: &Path) -> Result<(Arc<Db>, BlobStore), StoreError> {
    let db = Db::open(&dir.join("coffer.db"))?;
    let blobs = BlobStore::open(&dir.join("blobs"))?;
    db.write_blocking(|tx| {
        for id in user_ids() {
            users::insert(
                tx,
                &User {
                    id,
                    public_signing_key: [1; 32],
                    public_exchange_key: [2; 32],
                    handle: None,
                    client_type: ClientType::System,
                    protocol_version: 1,
                    feature_set: "[]".into(),
                    storage_used_bytes: 0,
                    created_at: 0,
                    key_binding_signature: None,
                },
            )?;
        }
        Ok(())
    })?;
    Ok((db, blobs))
}

fn put_file(db: &Db, blobs: &BlobStore, user: &str, version: u64, payload: &[u8]) {
    let blob_file = blobs
        .write(user, "journal", version, payload)
        .expect("the benchmark directory is writable");
    let row = VolumeRow {
        user_id: user.to_owned(),
        volume_name: "journal".into(),
        version,
        control_header: "{}".into(),
        blob_file,
        signature: [0; 64],
        size_bytes: payload.len() as u64,
        updated_at: 0,
    };
    match db.write_blocking(|tx| volumes::put(tx, &row, u64::MAX)) {
        Ok(PutOutcome::Stored { replaced_blob }) => {
            if let Some(old) = replaced_blob {
                blobs.remove(&old);
            }
        }
        other => panic!("a benchmark upload was refused: {other:?}"),
    }
}

fn get_file(db: &Db, blobs: &BlobStore, user: &str, len: usize) {
    let row = db
        .read_blocking(|c| volumes::get(c, user, "journal"))
        .expect("readable")
        .expect("stored");
    let bytes = blobs
        .read(&row.blob_file, u64::MAX)
        .expect("readable")
        .expect("present");
    assert_eq!(bytes.len(), len);
}

struct Args {
    seconds: f64,
    dir: Option<PathBuf>,
}

fn args() -> Args {
    let mut out = Args {
        seconds: 3.0,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                out.seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 600.0)
                    .expect("--seconds takes a number of seconds (0 to 600)");
            }
            "--dir" => out.dir = it.next().map(PathBuf::from),
            // `cargo bench` passes `--bench`; filters are not supported.
            _ => {}
        }
    }
    out
}

fn main() {
    let args = args();
    let scratch = match &args.dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory");
    let ids = user_ids();
    println!(
        "payload storage: files (the relay) vs SQLite BLOBs, {:.0} s per case, in {}",
        args.seconds,
        scratch.path().display()
    );
    println!(
        "{:<8} {:>8} | {:>12} {:>12} {:>7} | {:>12} {:>12} {:>7}",
        "size",
        "threads",
        "files put/s",
        "inline put/s",
        "in/fi",
        "files get/s",
        "inline get/s",
        "in/fi"
    );
    for (round, (size, label)) in SIZES.into_iter().enumerate() {
        let payload = vec![0xA5u8; size];
        for threads in [1usize, 8] {
            let dir = scratch.path().join(format!("{round}-{threads}"));
            std::fs::create_dir_all(&dir).expect("scratch dir");
            let (db, blobs) = files_store(&dir).expect("open the relay store");
            let inline = Inline::open(&dir.join("inline.db")).expect("open the inline db");
            // Every user has a first version in both stores (not measured), so reads find one.
            for id in &ids {
                put_file(&db, &blobs, id, 1, &payload);
                inline
                    .put(id, 1, &payload)
                    .expect("the inline upsert commits");
            }
            let versions: Vec<AtomicU64> = (0..USERS).map(|_| AtomicU64::new(1)).collect();
            // Each thread uploads for its own user (no stale-version refusals).
            let files_put = run(threads, args.seconds, |t, _| {
                let u = t % USERS;
                let v = versions[u].fetch_add(1, Ordering::Relaxed) + 1;
                put_file(&db, &blobs, &ids[u], v, &payload);
            });
            let inline_versions: Vec<AtomicU64> = (0..USERS).map(|_| AtomicU64::new(1)).collect();
            let inline_put = run(threads, args.seconds, |t, _| {
                let u = t % USERS;
                let v = inline_versions[u].fetch_add(1, Ordering::Relaxed) + 1;
                inline
                    .put(&ids[u], v, &payload)
                    .expect("the inline upsert commits");
            });
            let (files_get, inline_get) = if threads == 1 {
                let files_get = run(2, args.seconds, |t, i| {
                    get_file(&db, &blobs, &ids[(t + i as usize) % USERS], size);
                });
                let readers: Vec<std::sync::Mutex<Connection>> = (0..2)
                    .map(|_| std::sync::Mutex::new(inline.reader().expect("reader")))
                    .collect();
                let inline_get = run(2, args.seconds, |t, i| {
                    let conn = readers[t]
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let bytes = read_inline(&conn, &ids[(t + i as usize) % USERS]).expect("stored");
                    assert_eq!(bytes.len(), size);
                });
                (format!("{files_get:.0}"), format!("{inline_get:.0}"))
            } else {
                ("".into(), "".into())
            };
            let ratio_get = match (files_get.parse::<f64>(), inline_get.parse::<f64>()) {
                (Ok(f), Ok(i)) if f > 0.0 => format!("{:.2}", i / f),
                _ => String::new(),
            };
            println!(
                "{label:<8} {threads:>8} | {files_put:>12.0} {inline_put:>12.0} {:>7.2} | {files_get:>12} {inline_get:>12} {ratio_get:>7}",
                inline_put / files_put.max(1e-9)
            );
        }
    }
}
