//! The S3 blob adapter (relay/src/s3.rs) against a real S3 service: Garage, three nodes
//! (`scripts/garage.sh up`).
//!
//! Ignored by default: they need the service. `.ci/run` starts Garage and runs them with
//! `--ignored s3::`, with the `COFFER_S3_*` variables `garage.sh up` prints. Run without them,
//! each test fails and says so (never passes). Every test works under user prefixes of its own.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use coffer_relay::s3::{S3Blobs, S3Settings};
use futures_util::StreamExt as _;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need an S3 service. Start Garage with \
             `scripts/garage.sh up` and export the variables it prints"
        )
    })
}

fn blobs() -> S3Blobs {
    let settings = S3Settings::new(
        &var("COFFER_S3_ENDPOINT"),
        &var("COFFER_S3_REGION"),
        &var("COFFER_S3_BUCKET"),
        &PathBuf::from(var("COFFER_S3_CREDENTIALS_FILE")),
    )
    .unwrap();
    S3Blobs::new(&settings).unwrap()
}

fn unique_user() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
#[ignore = "needs S3: COFFER_S3_* (scripts/garage.sh up)"]
async fn blobs_round_trip_by_the_names_rows_hold() {
    let s3 = blobs();
    let user = unique_user();
    let payload = Bytes::from(vec![0xA5u8; 300_000]);
    let first = s3.put(&user, "meta", 1, payload.clone()).await.unwrap();
    let second = s3.put(&user, "meta", 1, payload.clone()).await.unwrap();
    assert_ne!(first, second, "a name is never reused");
    assert!(first.starts_with(&format!("{user}/meta.v1.")), "{first}");

    assert_eq!(s3.read(&first, 1 << 20).await.unwrap().unwrap(), payload);
    let (mut stream, len) = s3.open(&second, 1 << 20).await.unwrap().unwrap();
    assert_eq!(len, 300_000);
    let mut streamed = Vec::new();
    while let Some(chunk) = stream.next().await {
        streamed.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(streamed, payload, "streamed download");
    assert!(
        s3.read(&first, 1000).await.is_err(),
        "an object over the volume limit is refused"
    );
    assert!(
        s3.read(&format!("{user}/nothing.bin"), 1 << 20)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s3.read("../escape", 10).await.is_err(),
        "unsafe names refused"
    );

    s3.remove(&first).await;
    s3.remove(&first).await; // missing: not an error
    assert!(s3.read(&first, 1 << 20).await.unwrap().is_none());
    s3.remove_user(&user).await.unwrap();
    assert!(s3.read(&second, 1 << 20).await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs S3: COFFER_S3_* (scripts/garage.sh up)"]
async fn the_sweep_takes_only_old_unreferenced_objects() {
    let s3 = blobs();
    let user = unique_user();
    let kept = s3
        .put(&user, "meta", 2, Bytes::from_static(b"kept"))
        .await
        .unwrap();
    let orphan = s3
        .put(&user, "meta", 1, Bytes::from_static(b"orphan"))
        .await
        .unwrap();
    let referenced = HashMap::from([(user.clone(), HashSet::from([kept.clone()]))]);

    // Both written a moment ago: the minimum age keeps them, referenced or not.
    let young = s3
        .sweep_users(
            std::slice::from_ref(&user),
            &referenced,
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    assert_eq!(young.files_removed, 0);

    // The user's prefix is listed among the pages.
    let page = s3.user_dirs_page(None, 1_000_000).await.unwrap();
    assert!(page.users.contains(&user));

    let swept = s3
        .sweep_users(std::slice::from_ref(&user), &referenced, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((swept.files_removed, swept.bytes_removed), (1, 6));
    assert!(s3.read(&orphan, 100).await.unwrap().is_none());
    assert_eq!(s3.read(&kept, 100).await.unwrap().unwrap(), b"kept");
    s3.remove_user(&user).await.unwrap();
}

/// `scripts/garage.sh` with the caller's environment (its state directory and ports).
fn garage(args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/garage.sh");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "garage.sh {args:?} failed");
}

/// Starts a stopped node again when the test ends, passed or not.
struct NodeBack(&'static str);

impl Drop for NodeBack {
    fn drop(&mut self) {
        garage(&["start-node", self.0]);
    }
}

#[tokio::test]
#[ignore = "needs S3: COFFER_S3_* (scripts/garage.sh up)"]
async fn reads_and_writes_go_on_with_one_node_down() {
    let s3 = blobs();
    let user = unique_user();
    let before = s3
        .put(&user, "meta", 1, Bytes::from_static(b"before"))
        .await
        .unwrap();
    // Node 3 is not the endpoint (node 1): replication factor 3, quorum 2 of 3.
    garage(&["stop-node", "3"]);
    let back = NodeBack("3");
    let during = s3
        .put(&user, "meta", 2, Bytes::from_static(b"during"))
        .await
        .unwrap();
    assert_eq!(s3.read(&before, 100).await.unwrap().unwrap(), b"before");
    assert_eq!(s3.read(&during, 100).await.unwrap().unwrap(), b"during");
    drop(back);
    assert_eq!(s3.read(&during, 100).await.unwrap().unwrap(), b"during");
    s3.remove_user(&user).await.unwrap();
}
