//! A full disk (issue 7, faults): the relay's blob directory, and in a second test its
//! database, on a small tmpfs that uploads fill.
//!
//! These tests mount a tmpfs, which needs root (CAP_SYS_ADMIN), so they are `#[ignore]`d in a
//! plain `cargo test` and CI runs them on their own as root:
//! `cargo test -p coffer-tests --test it -- --ignored faults_disk::`. Run that way without root they
//! fail and say how to run them; they never pass silently.
//!
//! What the tests prove, for the blob directory and for the database alike:
//! - the upload that does not fit is answered `507 {"error":"insufficient_storage",...}` — not
//!   500, and not a 200 for a torn write: no temporary file is left, no row points at a partial
//!   blob;
//! - the full relay keeps serving reads: every acknowledged volume is served byte for byte;
//! - once space is freed (an account deleted, or the tmpfs grown with
//!   `mount -o remount,size=`), uploads work again;
//! - after a restart everything acknowledged is intact, and the stopped relay's database passes
//!   `PRAGMA integrity_check`, every row's blob is present and quotas are exact.

use std::sync::Arc;

use coffer_tests::client::{Kind, V1Client};
use coffer_tests::docs;
use coffer_tests::faults::store::payload_places;
use coffer_tests::faults::{Ledger, Tmpfs, stop_and_check};
use coffer_tests::http::Resp;
use coffer_tests::relay::{RelayProcess, files_under};
use coffer_wire::v1::VolumeName;

const ALL_VOLUMES: [VolumeName; 8] = [
    VolumeName::Meta,
    VolumeName::Members,
    VolumeName::Fronts,
    VolumeName::Journal,
    VolumeName::Chat,
    VolumeName::Polls,
    VolumeName::Vault,
    VolumeName::Analytics,
];

async fn system(relay: &RelayProcess) -> V1Client {
    let mut c = V1Client::new(relay, Kind::System);
    c.register_ok().await;
    c.login().await;
    c
}

async fn put(ledger: &Ledger, c: &V1Client, name: VolumeName, version: u64, size: usize) -> Resp {
    let sealed = c.seal(
        name,
        version,
        &docs::sized(size, &format!("{name:?}-{version}")),
    );
    ledger.put_v1(c, &sealed).await.unwrap()
}

/// The answer to an upload that did not fit: 507 with the relay's JSON error body.
fn assert_insufficient_storage(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 507, "{what}: {}", resp.describe());
    resp.expect_error(507, "insufficient_storage");
    resp.assert_flask_json();
    assert!(
        resp.json()["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {}",
        resp.describe()
    );
}

/// No temporary file anywhere under `dir` (a failed write removes its own).
fn assert_no_temp_files(dir: &std::path::Path, what: &str) {
    let temp: Vec<_> = files_under(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect();
    assert!(temp.is_empty(), "{what}: temporary files left: {temp:?}");
}

/// Stops the relay, checks the store from outside, restarts it and checks every acknowledged
/// upload of `clients`.
async fn restart_and_verify(relay: &mut RelayProcess, ledger: &Ledger, clients: &[&V1Client]) {
    stop_and_check(relay, "after the disk filled").await;
    relay.restart_on_same_port().await;
    for c in clients {
        ledger
            .verify_v1(c)
            .await
            .unwrap_or_else(|e| panic!("after restart: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "mounts a tmpfs (root): cargo test -p coffer-tests --test it -- --ignored faults_disk::"]
async fn full_blob_disk_answers_507_and_recovers() {
    let disk = Tmpfs::mount("3m");
    let blobs = disk.path().join("blobs");
    let mut relay = RelayProcess::builder()
        .env("COFFER_BLOB_DIR", blobs.to_str().unwrap())
        .start()
        .await;
    let ledger = Arc::new(Ledger::new());
    let keeper = system(&relay).await;
    for name in [VolumeName::Meta, VolumeName::Members] {
        assert_eq!(put(&ledger, &keeper, name, 1, 8_000).await.status, 200);
    }

    // Fill: accounts upload ~256 KiB volumes until one does not fit.
    let mut fillers = Vec::new();
    let mut refused = None;
    'fill: for _ in 0..20 {
        let filler = system(&relay).await;
        for name in ALL_VOLUMES {
            let resp = put(&ledger, &filler, name, 1, 256_000).await;
            match resp.status {
                200 => {}
                _ => {
                    refused = Some(resp);
                    fillers.push(filler);
                    break 'fill;
                }
            }
        }
        fillers.push(filler);
    }
    let refused = refused.expect("3 MiB never filled up");
    assert_insufficient_storage(&refused, "the upload that did not fit");
    let (used, size) = disk.usage();
    eprintln!(
        "blob tmpfs full: {used} of {size} bytes used, {} uploads acknowledged",
        ledger.acked_count()
    );
    assert_no_temp_files(&blobs, "after 507");
    assert!(relay.is_running());

    // Full, the relay still serves everything acknowledged, and refuses growth with 507.
    ledger.verify_v1(&keeper).await.unwrap();
    for f in &fillers {
        ledger.verify_v1(f).await.unwrap();
    }
    let resp = put(&ledger, &keeper, VolumeName::Meta, 2, 256_000).await;
    assert_insufficient_storage(&resp, "a bigger version while full");
    assert_no_temp_files(&blobs, "after the second 507");
    ledger.verify_v1(&keeper).await.unwrap();

    // Free space by deleting an account: the same upload fits now.
    let gone = fillers.remove(0);
    gone.delete_me().await.expect_status(204);
    ledger.forget_owner(gone.user_id());
    assert_eq!(
        put(&ledger, &keeper, VolumeName::Meta, 3, 256_000)
            .await
            .status,
        200,
        "an upload after freeing space"
    );
    // Grow the disk: more fits.
    disk.resize("16m");
    for name in [VolumeName::Journal, VolumeName::Chat, VolumeName::Polls] {
        assert_eq!(put(&ledger, &keeper, name, 1, 256_000).await.status, 200);
    }

    let mut all: Vec<&V1Client> = fillers.iter().collect();
    all.push(&keeper);
    restart_and_verify(&mut relay, &ledger, &all).await;
    relay.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "mounts a tmpfs (root): cargo test -p coffer-tests --test it -- --ignored faults_disk::"]
async fn full_database_disk_answers_507_and_recovers() {
    let disk = Tmpfs::mount("1m");
    let db = disk.path().join("coffer.db");
    let mut relay = RelayProcess::builder()
        .env("COFFER_DATABASE", db.to_str().unwrap())
        .start()
        .await;
    let ledger = Arc::new(Ledger::new());
    let keeper = system(&relay).await;
    for name in [VolumeName::Members, VolumeName::Fronts] {
        assert_eq!(put(&ledger, &keeper, name, 1, 8_000).await.status, 200);
    }

    // Fill the database's disk (the WAL grows with every commit) with small uploads.
    let mut version = 0;
    let refused = loop {
        version += 1;
        assert!(version < 5_000, "1 MiB of database never filled up");
        let resp = put(&ledger, &keeper, VolumeName::Meta, version, 1_000).await;
        if resp.status != 200 {
            break resp;
        }
    };
    assert_insufficient_storage(&refused, "the commit that did not fit");
    let (used, size) = disk.usage();
    eprintln!("database tmpfs full after {version} uploads: {used} of {size} bytes used");
    assert!(relay.is_running());

    // Full, the relay still serves everything acknowledged.
    ledger.verify_v1(&keeper).await.unwrap();
    assert_eq!(keeper.list_volumes().await.len(), 3);
    // The refused upload left nothing behind: a blob file (written before the commit failed)
    // was removed again, an inline payload (these small ones are, docs/adr/0027) rolled back
    // with its row. Only the three live volumes' payloads are stored.
    let blob_files = files_under(&relay.blob_dir());
    let (inline, files) = payload_places(&db);
    assert_eq!(inline + files, 3, "{inline} inline, {files} files");
    assert_eq!(blob_files.len() as u64, files, "{blob_files:?}");

    // A restart while the disk is still full: the relay starts, serves, and still refuses
    // with 507 (its shutdown checkpoint may not have had room; the WAL is replayed).
    restart_and_verify(&mut relay, &ledger, &[&keeper]).await;
    version += 1;
    let resp = put(&ledger, &keeper, VolumeName::Meta, version, 1_000).await;
    assert_insufficient_storage(&resp, "an upload after restarting full");

    // Grow the disk: uploads work again.
    disk.resize("64m");
    for _ in 0..3 {
        version += 1;
        let resp = put(&ledger, &keeper, VolumeName::Meta, version, 1_000).await;
        assert_eq!(
            resp.status,
            200,
            "after growing the disk: {}",
            resp.describe()
        );
    }

    restart_and_verify(&mut relay, &ledger, &[&keeper]).await;
    relay.terminate().await;
}
