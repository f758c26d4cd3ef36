//! Where payloads should live: blob files (what the relay does) or BLOB columns in SQLite.
//!
//! ADR 0002 stored payloads as files and left "would small volumes be faster inside SQLite?"
//! to a measurement; ADR 0002 asks for the decision to be made by benchmark. This harness
//! is that measurement. It prints figures; it asserts nothing about speed.
//!
//! Both run the relay's own store code, through its group-committed writer ([`Db::write`]):
//!
//! - `files`: the relay's path for a payload above `[storage] inline_max` —
//!   [`BlobStore::write`] (temp file, write, fsync, rename, fsync dir), then the row
//!   ([`volumes::put`]) in a group commit, then the replaced file removed — and its download
//!   path ([`volumes::get`] on a reader, then [`BlobStore::read`]).
//! - `inline`: the relay's path for a payload up to `inline_max` (docs/adr/0027) — the row and
//!   the payload ([`inline::insert`]) in the same group commit; read with [`inline::read`] in
//!   the row's snapshot.
//!
//! Each is run with 1 and with 8 writer threads (uploads of different users in parallel, as
//! the relay serves them: blob writes overlap, commits are grouped by its one writer), for
//! payloads from 4 KiB to 1 MiB, and reads with 2 threads. The crossover sets the default
//! `inline_max`.
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
use coffer_relay::store::{ClientType, Db, StoreError, inline, users};

const SIZES: [(usize, &str); 5] = [
    (4096 + 28, "4 KiB"),
    (16384 + 28, "16 KiB"),
    (65536 + 28, "64 KiB"),
    (262_144, "256 KiB"),
    (1 << 20, "1 MiB"),
];
const USERS: usize = 8;

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

/// One upload through the group-committed writer, as the relay makes it: `inline` puts the
/// payload in the row's transaction, otherwise a blob file is written first.
fn put(
    rt: &tokio::runtime::Handle,
    db: &Arc<Db>,
    blobs: &BlobStore,
    user: &str,
    version: u64,
    payload: &[u8],
    inline: bool,
) {
    let blob_file = if inline {
        inline::new_name(user, "journal", version)
    } else {
        blobs
            .write(user, "journal", version, payload)
            .expect("the benchmark directory is writable")
    };
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
    let bytes = inline.then(|| payload.to_vec());
    let outcome = rt.block_on(db.write(move |tx| {
        let outcome = volumes::put(tx, &row, u64::MAX)?;
        if let (PutOutcome::Stored { .. }, Some(bytes)) = (&outcome, &bytes) {
            inline::insert(tx, &row.blob_file, bytes)?;
        }
        Ok(outcome)
    }));
    match outcome {
        Ok(PutOutcome::Stored { replaced_blob }) => {
            if let Some(old) = replaced_blob {
                blobs.remove(&old);
            }
        }
        other => panic!("a benchmark upload was refused: {other:?}"),
    }
}

/// One download, as the relay reads it: the row, then its payload from wherever it is.
fn get(db: &Db, blobs: &BlobStore, user: &str, len: usize) {
    let bytes = db
        .read_blocking(|c| {
            let row = volumes::get(c, user, "journal")?.expect("stored");
            if inline::is_inline(&row.blob_file) {
                inline::read(c, &row.blob_file, u64::MAX)
            } else {
                blobs.read(&row.blob_file, u64::MAX)
            }
        })
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
        "payload storage: blob files vs inline in the database (the relay's code), {:.0} s per case, in {}",
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
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let rt = runtime.handle();
    for (round, (size, label)) in SIZES.into_iter().enumerate() {
        let payload = vec![0xA5u8; size];
        for threads in [1usize, 8] {
            let mut puts = [0.0f64; 2];
            let mut gets = [0.0f64; 2];
            for (k, inline) in [false, true].into_iter().enumerate() {
                let dir = scratch.path().join(format!("{round}-{threads}-{k}"));
                std::fs::create_dir_all(&dir).expect("scratch dir");
                let (db, blobs) = files_store(&dir).expect("open the relay store");
                // Every user has a first version (not measured), so reads find one.
                for id in &ids {
                    put(rt, &db, &blobs, id, 1, &payload, inline);
                }
                let versions: Vec<AtomicU64> = (0..USERS).map(|_| AtomicU64::new(1)).collect();
                // Each thread uploads for its own user (no stale-version refusals).
                puts[k] = run(threads, args.seconds, |t, _| {
                    let u = t % USERS;
                    let v = versions[u].fetch_add(1, Ordering::Relaxed) + 1;
                    put(rt, &db, &blobs, &ids[u], v, &payload, inline);
                });
                if threads == 1 {
                    gets[k] = run(2, args.seconds, |t, i| {
                        get(&db, &blobs, &ids[(t + i as usize) % USERS], size);
                    });
                }
            }
            let (files_get, inline_get, ratio_get) = if threads == 1 {
                (
                    format!("{:.0}", gets[0]),
                    format!("{:.0}", gets[1]),
                    format!("{:.2}", gets[1] / gets[0].max(1e-9)),
                )
            } else {
                (String::new(), String::new(), String::new())
            };
            println!(
                "{label:<8} {threads:>8} | {:>12.0} {:>12.0} {:>7.2} | {files_get:>12} {inline_get:>12} {ratio_get:>7}",
                puts[0],
                puts[1],
                puts[1] / puts[0].max(1e-9)
            );
        }
    }
}
