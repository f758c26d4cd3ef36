//! A relay on PostgreSQL while its database is down (issue 14): requests that need the
//! database are answered 503 with `Retry-After` (never 500, never a wrong answer), and when
//! the server is back the relay serves again without a restart, with nothing acknowledged
//! lost.
//!
//! Ignored by a plain `cargo test`: it starts a PostgreSQL server of its own with
//! `scripts/postgres.sh` (Debian's `postgresql`, initdb as the `postgres` user: root), on a
//! port of its own, so stopping it disturbs no other test. `.ci/run` runs it with
//! `--ignored pg_outage::`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use coffer_tests::client::{Kind, V1Client, open_volume};
use coffer_tests::relay::RelayProcess;
use coffer_wire::v1::VolumeName;
use serde_json::json;

/// A throw-away PostgreSQL server of this test's own.
struct Server {
    dir: tempfile::TempDir,
    port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh")
}

impl Server {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(script())
            .args(args)
            .env("COFFER_CLUSTER_DIR", self.dir.path())
            .env("COFFER_PG_PORT", self.port.to_string())
            .output()
            .expect("run scripts/postgres.sh");
        assert!(
            out.status.success(),
            "scripts/postgres.sh {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts the server (initdb the first time); its URL.
    fn up(&self) -> String {
        let out = self.run(&["up"]);
        out.lines()
            .last()
            .expect("postgres.sh up prints the URL")
            .to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["down", "--purge"])
            .env("COFFER_CLUSTER_DIR", self.dir.path())
            .env("COFFER_PG_PORT", self.port.to_string())
            .output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts its own PostgreSQL (scripts/postgres.sh, root): run by .ci/run"]
async fn a_relay_answers_503_while_postgresql_is_down_and_recovers() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // postgres.sh runs initdb as the postgres user: it must be able to enter the directory.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod the server directory");
    let server = Server {
        dir,
        port: free_port(),
    };
    let url = server.up();
    let relay = RelayProcess::builder()
        .env("COFFER_STORAGE_BACKEND", "postgres")
        .env("COFFER_POSTGRES_URL", &url)
        .start()
        .await;
    let mut system = V1Client::new(&relay, Kind::System).with_handle(Some("outage-sys"));
    system.register_ok().await;
    system.login().await;
    let acknowledged = system
        .upload_ok(VolumeName::Members, 1, &json!({"members": ["a"]}))
        .await;

    // The database goes away.
    server.run(&["down"]);
    for (what, resp) in [
        ("download", system.download_own("members", None).await),
        ("list", system.get("/api/v1/volumes").await),
        ("challenge", system.challenge().await),
    ] {
        assert_eq!(
            resp.status,
            503,
            "{what} while PostgreSQL is down: {}",
            resp.describe()
        );
        let retry = resp.header("retry-after").unwrap_or_default();
        assert!(
            retry.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s)),
            "{what}: Retry-After {retry:?}: {}",
            resp.describe()
        );
    }
    let (upload, _) = system
        .upload(VolumeName::Members, 2, &json!({"members": ["a", "b"]}))
        .await;
    assert_eq!(
        upload.status,
        503,
        "upload while down: {}",
        upload.describe()
    );
    assert!(relay.stderr_log().contains("storage unavailable"));

    // It comes back: the same relay process serves again, within a few seconds.
    server.up();
    let mut served = None;
    for _ in 0..50 {
        let resp = system.download_own("members", None).await;
        if resp.status == 200 {
            served = Some(resp);
            break;
        }
        assert_eq!(resp.status, 503, "while reconnecting: {}", resp.describe());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let served = served.expect("the relay serves again within 10 s of PostgreSQL's return");
    let opened = open_volume(
        served.expect_json(200),
        "members",
        &system.vek,
        &system.signing_key_b64(),
    );
    assert_eq!(
        opened.blob, acknowledged.blob,
        "the acknowledged version is served intact"
    );
    // The refused upload stored nothing; it goes through now.
    system
        .upload_ok(VolumeName::Members, 2, &json!({"members": ["a", "b"]}))
        .await;
    let listed = system.list_volumes().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["version"], 2);
}
