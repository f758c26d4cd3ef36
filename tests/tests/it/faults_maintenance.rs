//! SIGKILL during maintenance (issue 7, faults): the admin API's maintenance run (expired rows,
//! then the orphan sweep) and its paged form, on a relay with many users, volumes, expired
//! challenges, sessions and invites, and thousands of orphan blob files — while systems keep
//! uploading.
//!
//! What the test proves, after every crash and restart:
//! - every acknowledged upload is served byte for byte (the sweep never removed a live blob,
//!   not even one an upload renamed into place a moment before its row committed);
//! - the stopped relay's store is consistent: `PRAGMA integrity_check` is ok, no row points at
//!   a missing blob file, quotas equal what the rows hold;
//! - orphans are eventually gone: whatever a killed sweep left, the start-up sweep removes, so
//!   no file is left that no row points at;
//! - a maintenance run that is not interrupted removes every expired row and every old
//!   orphan, and leaves young unreferenced files alone (they may belong to an upload that has
//!   not committed yet).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use coffer_tests::client::{Admin, Kind, V1Client, now_unix};
use coffer_tests::docs;
use coffer_tests::faults::{Ledger, stop_and_check};
use coffer_tests::relay::RelayProcess;
use coffer_wire::v1::VolumeName;
use rand::RngExt as _;
use reqwest::Method;

const USERS: usize = 24;
const VOLUMES: [VolumeName; 3] = [VolumeName::Meta, VolumeName::Members, VolumeName::Journal];
/// Expired rows of each kind planted before the runs.
const EXPIRED_ROWS: usize = 3_000;
/// Old orphan files planted before each run.
const ORPHANS: usize = 1_000;

struct Users {
    clients: Vec<Arc<V1Client>>,
    next_version: Vec<[u64; 3]>,
    ledger: Arc<Ledger>,
}

impl Users {
    /// Every user uploads every volume once, some twice (so replaced blobs were deleted).
    async fn create(relay: &RelayProcess) -> Users {
        let ledger = Arc::new(Ledger::new());
        let mut clients = Vec::new();
        let mut next_version = Vec::new();
        for i in 0..USERS {
            let mut c = V1Client::new(relay, Kind::System).with_handle(Some(&format!("sweep-{i}")));
            c.register_ok().await;
            c.login().await;
            let mut next = [1u64; 3];
            for (j, name) in VOLUMES.iter().enumerate() {
                let versions = if (i + j) % 3 == 0 { 2 } else { 1 };
                for _ in 0..versions {
                    let sealed = c.seal(*name, next[j], &docs::sized(3_000, &format!("u{i}")));
                    let r = ledger.put_v1(&c, &sealed).await.unwrap();
                    r.expect_json(200);
                    next[j] += 1;
                }
            }
            clients.push(Arc::new(c));
            next_version.push(next);
        }
        Users {
            clients,
            next_version,
            ledger,
        }
    }

    /// Uploads from a few users until `stop` or the relay dies; returns the new next versions.
    fn spawn_load(
        &self,
        stop: &Arc<AtomicBool>,
    ) -> Vec<tokio::task::JoinHandle<(usize, [u64; 3])>> {
        (0..4)
            .map(|k| {
                let i = (k * 5) % USERS;
                let (client, ledger, stop) = (
                    Arc::clone(&self.clients[i]),
                    Arc::clone(&self.ledger),
                    Arc::clone(stop),
                );
                let mut next = self.next_version[i];
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let j = rand::rng().random_range(0..VOLUMES.len());
                        let sealed =
                            client.seal(VOLUMES[j], next[j], &docs::sized(8_000, &format!("l{i}")));
                        next[j] += 1;
                        match ledger.put_v1(&client, &sealed).await {
                            Ok(r) => assert_eq!(r.status, 200, "{}", r.describe()),
                            Err(_) => break,
                        }
                    }
                    (i, next)
                })
            })
            .collect()
    }

    async fn join(&mut self, tasks: Vec<tokio::task::JoinHandle<(usize, [u64; 3])>>) {
        for t in tasks {
            let (i, next) = t.await.unwrap();
            self.next_version[i] = next;
        }
    }

    /// Every acknowledged upload of every user is served intact.
    async fn verify(&self, label: &str) {
        for c in &self.clients {
            self.ledger
                .verify_v1(c)
                .await
                .unwrap_or_else(|e| panic!("{label}: {e}"));
        }
    }
}

/// Inserts expired challenges, sessions and unredeemed invites for the users (relay stopped).
fn plant_expired_rows(db: &Path) {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    let users: Vec<String> = tx
        .prepare("SELECT id FROM users")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let past = now_unix() - 3600;
    for n in 0..EXPIRED_ROWS {
        let user = &users[n % users.len()];
        let salt: [u8; 16] = rand::random();
        tx.execute(
            "INSERT INTO auth_challenges (nonce, user_id, expires_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![hex::encode(salt), user, past],
        )
        .unwrap();
        let hash: [u8; 32] = rand::random();
        tx.execute(
            "INSERT INTO auth_sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![&hash[..], user, past],
        )
        .unwrap();
        if n % 3 == 0 {
            tx.execute(
                "INSERT INTO invite_codes (code, system_user_id, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![format!("X{}", hex::encode(salt)), user, past - 7200, past],
            )
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

/// Plants `n` unreferenced files (blob-like names and torn temporary files) in the users'
/// directories and in directories of no user, last modified `age` ago.
fn plant_orphans(blobs: &Path, n: usize, age: Duration, tag: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(blobs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    // Enough directories for several sweep pages even when the users' payloads are all
    // inline (docs/adr/0027) and they have no directory of their own.
    for k in 0..16 {
        let dir = blobs.join(format!("{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = k;
        dirs.push(dir);
    }
    let when = SystemTime::now() - age;
    (0..n)
        .map(|k| {
            let dir = &dirs[k % dirs.len()];
            let name = if k % 5 == 0 {
                format!(".tmp-{tag}{k:05}")
            } else {
                format!("journal.v{}.{tag}{k:05}.bin", 1000 + k)
            };
            let path = dir.join(name);
            std::fs::write(&path, vec![7u8; 4124]).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
            path
        })
        .collect()
}

/// Stops the relay gracefully, checks the store (no file without a row: the start-up sweep
/// removed every orphan) and starts it again on the same port.
async fn check_and_restart(relay: &mut RelayProcess, label: &str) -> u64 {
    let report = stop_and_check(relay, label).await;
    assert!(report.volume_rows >= USERS * VOLUMES.len(), "{label}");
    relay.restart_on_same_port().await;
    report.expiring_rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_maintenance_loses_nothing_and_orphans_go() {
    let started = Instant::now();
    let mut relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);
    let mut users = Users::create(&relay).await;
    let blobs = relay.blob_dir();

    relay.terminate().await;
    plant_expired_rows(&relay.database_path());
    relay.restart_on_same_port().await;

    // A run that is not interrupted, to know what a complete one does and how long it takes.
    let old = plant_orphans(&blobs, ORPHANS, Duration::from_secs(7200), "a");
    let young = plant_orphans(&blobs, 20, Duration::ZERO, "y");
    let t = Instant::now();
    let r = admin.call(Method::POST, "/api/v1/admin/maintenance").await;
    let full_run = t.elapsed();
    let body = r.expect_json(200);
    assert_eq!(body["expired_challenges"], EXPIRED_ROWS as u64, "{body}");
    assert_eq!(body["expired_sessions"], EXPIRED_ROWS as u64, "{body}");
    assert_eq!(body["orphan_blobs"], ORPHANS as u64, "{body}");
    assert!(old.iter().all(|p| !p.exists()), "an old orphan survived");
    assert!(
        young.iter().all(|p| p.exists()),
        "a young unreferenced file was swept"
    );
    users.verify("complete run").await;
    eprintln!(
        "[{:?}] complete maintenance run: {full_run:?}",
        started.elapsed()
    );

    // Killed at several points of a run, with uploads going on: before the sweep (during the
    // expire step or while it waits for the writer), and when a growing share of the planted
    // orphans is gone (watched on disk, so the crash lands inside the sweep however fast or
    // slow the machine is).
    let kill_points: [Option<f64>; 6] =
        [None, Some(0.0), Some(0.2), Some(0.5), Some(0.8), Some(1.0)];
    for (round, point) in kill_points.iter().enumerate() {
        let label = match point {
            None => format!("round {round} (kill as the run starts)"),
            Some(f) => format!(
                "round {round} (kill once {:.0}% of the orphans are gone)",
                f * 100.0
            ),
        };
        relay.terminate().await;
        plant_expired_rows(&relay.database_path());
        relay.restart_on_same_port().await;
        let planted = plant_orphans(
            &blobs,
            ORPHANS,
            Duration::from_secs(7200),
            &format!("r{round}"),
        );
        let sample: Vec<&PathBuf> = planted.iter().step_by(15).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let load = users.spawn_load(&stop);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let run = {
            let admin = admin.clone();
            tokio::spawn(async move {
                let rb = admin.req(Method::POST, "/api/v1/admin/maintenance");
                coffer_tests::http::Http::try_send(rb)
                    .await
                    .map(|r| r.status)
            })
        };
        if let Some(fraction) = point {
            let wanted = ((sample.len() as f64 * fraction) as usize).max(1);
            let deadline = Instant::now() + Duration::from_secs(30);
            while sample.iter().filter(|p| !p.exists()).count() < wanted
                && !run.is_finished()
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        relay.kill().await;
        stop.store(true, Ordering::SeqCst);
        users.join(load).await;
        let answered = run.await.unwrap();
        let left = planted.iter().filter(|p| p.exists()).count();
        eprintln!(
            "[{:?}] {label}: maintenance {}; {left}/{ORPHANS} planted orphans left at the crash",
            started.elapsed(),
            match answered {
                Ok(status) => format!("answered {status}"),
                Err(_) => "cut off".to_owned(),
            }
        );
        if let Ok(status) = answered {
            assert_eq!(status, 200, "{label}");
        }
        relay.restart_on_same_port().await;
        users.verify(&label).await;
        check_and_restart(&mut relay, &label).await;
        users
            .verify(&format!("{label}, after a clean restart"))
            .await;
        eprintln!("[{:?}] {label}: verified", started.elapsed());
    }

    // The paged form, killed between pages: the partial sweep is finished by the start-up sweep.
    let planted = plant_orphans(&blobs, ORPHANS, Duration::from_secs(7200), "p");
    let r = admin
        .call(Method::POST, "/api/v1/admin/maintenance/expire")
        .await;
    r.expect_json(200);
    let mut after: Option<String> = None;
    for _ in 0..3 {
        let path = match &after {
            Some(a) => format!("/api/v1/admin/maintenance/orphans?limit=4&after={a}"),
            None => "/api/v1/admin/maintenance/orphans?limit=4".to_owned(),
        };
        let body = admin
            .call(Method::POST, &path)
            .await
            .expect_json(200)
            .clone();
        after = body["next"].as_str().map(str::to_owned);
        assert!(
            after.is_some(),
            "more than 3 pages of 4 directories: {body}"
        );
    }
    let left = planted.iter().filter(|p| p.exists()).count();
    assert!(
        0 < left && left < ORPHANS,
        "three pages of a sweep removed some but not all planted orphans ({left} left)"
    );
    relay.kill().await;
    relay.restart_on_same_port().await;
    users.verify("paged sweep killed between pages").await;
    let expiring = check_and_restart(&mut relay, "paged sweep killed between pages").await;
    assert_eq!(
        expiring, USERS as u64,
        "rows left after the expire step: only the users' live sessions should remain"
    );
    assert!(users.ledger.acked_count() > 0);
    eprintln!(
        "{} uploads acknowledged; maintenance under SIGKILL: {:?}",
        users.ledger.acked_count(),
        started.elapsed()
    );
}
