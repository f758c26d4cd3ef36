//! A locked database (issue 7, faults): another process — here a second SQLite connection in
//! the test, as an operator's `sqlite3` shell would — holds the write lock of the relay's
//! database (`BEGIN EXCLUSIVE`; in WAL mode that is the write lock, readers go on).
//!
//! What the relay does, and what the test proves:
//! - reads keep working while the lock is held (WAL): downloads, listings, the admin view;
//! - a write waits for the lock up to the busy timeout (10 s): a lock released within it
//!   delays the upload, which then succeeds;
//! - a lock held longer fails the write with `503 {"error":"unavailable",...}` and a
//!   `Retry-After`, never a bare 500, and nothing of it is stored (its blob is removed);
//! - once the lock is gone the same upload succeeds, nothing acknowledged was lost, and after
//!   a restart the store passes the integrity check with no orphan left.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_tests::client::{Admin, Kind, V1Client};
use coffer_tests::docs;
use coffer_tests::faults::{Ledger, WriteLock, check_store};
use coffer_tests::http::Resp;
use coffer_tests::relay::RelayProcess;
use coffer_wire::v1::VolumeName;

async fn put(ledger: &Ledger, c: &V1Client, version: u64) -> Resp {
    let sealed = c.seal(
        VolumeName::Meta,
        version,
        &docs::sized(20_000, &format!("v{version}")),
    );
    ledger.put_v1(c, &sealed).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_database_reads_on_and_writes_retry() {
    let started = Instant::now();
    let mut relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);
    let ledger = Arc::new(Ledger::new());
    let mut sys = V1Client::new(&relay, Kind::System);
    sys.register_ok().await;
    sys.login().await;
    let sys = Arc::new(sys);
    assert_eq!(put(&ledger, &sys, 1).await.status, 200);

    // A short lock: the upload waits for it and succeeds.
    let lock = WriteLock::hold(&relay.database_path());
    let upload = {
        let (ledger, sys) = (Arc::clone(&ledger), Arc::clone(&sys));
        tokio::spawn(async move { put(&ledger, &sys, 2).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Meanwhile, reads are served.
    ledger.verify_v1(&sys).await.unwrap();
    lock.release();
    let resp = upload.await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.describe());

    // A lock held past the busy timeout: reads go on, the write gets a retryable 503.
    let lock = WriteLock::hold(&relay.database_path());
    ledger.verify_v1(&sys).await.unwrap();
    assert_eq!(sys.list_volumes().await.len(), 1);
    admin.stats().await;
    let t = Instant::now();
    let refused = put(&ledger, &sys, 3).await;
    eprintln!("upload under a held lock answered after {:?}", t.elapsed());
    refused.expect_error(503, "unavailable");
    refused.assert_flask_json();
    let retry_after: u64 = refused
        .header("retry-after")
        .unwrap_or_else(|| panic!("503 without Retry-After: {}", refused.describe()))
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{}", refused.describe());
    // Still served while locked: the refused version was not stored.
    let served = ledger.verify_v1(&sys).await.unwrap();
    assert_eq!(served["meta"], 2);
    lock.release();

    // The lock is gone: the same version goes through, nothing was lost.
    assert_eq!(put(&ledger, &sys, 3).await.status, 200);
    assert_eq!(ledger.verify_v1(&sys).await.unwrap()["meta"], 3);
    let status = relay.terminate().await;
    assert!(status.success(), "relay exited with {status}");
    let report = check_store(&relay.database_path(), &relay.blob_dir()).unwrap();
    assert!(
        report.unreferenced.is_empty(),
        "the refused upload left files: {:?}",
        report.unreferenced
    );
    relay.restart_on_same_port().await;
    assert_eq!(ledger.verify_v1(&sys).await.unwrap()["meta"], 3);
    eprintln!("locked database: {:?}", started.elapsed());
}
