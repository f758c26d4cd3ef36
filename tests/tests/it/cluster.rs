//! The cluster test (issue 14): two `coffer-relay` instances on one PostgreSQL database and one
//! three-node Garage bucket, behind HAProxy in TCP mode, started by `scripts/cluster.sh up` on
//! ports of the test's own (`coffer_tests::cluster`).
//!
//! What it holds the cluster to:
//! - requests may alternate between instances: a challenge issued by one is answered at the
//!   other, a volume stored through one is served by the other (small ones inline in the
//!   database, large ones as S3 objects, streamed), a stale version is refused by either;
//! - a revocation (sharing deleted) and an account deletion take effect on the other instance
//!   at once;
//! - SIGKILL of an instance during uploads loses no acknowledged write;
//! - one Garage node stopped, reads and writes go on (replication factor 3, quorum 2);
//! - PostgreSQL stopped, both instances answer 503 with `Retry-After` (not 500), and serve
//!   again when it is back, with nothing lost;
//! - at the end, the consistency check: every acknowledged version is served intact, and every
//!   row that names an object names one the bucket holds.
//!
//! Ignored by a plain `cargo test`: it needs root (PostgreSQL's initdb as the `postgres` user,
//! Debian's haproxy), Garage (built once, cached) and about a minute. `.ci/run` runs it with
//! `--ignored cluster::`. Run by hand: `cargo build -p coffer-relay -p coffer-admin && cargo
//! test -p coffer-tests --test it -- --ignored cluster:: --nocapture`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use coffer_relay::s3::{S3Blobs, S3Settings};
use coffer_tests::client::{Kind, V1Client, default_permissions, open_volume, upload_body_text};
use coffer_tests::cluster::{Cluster, Ports};
use coffer_tests::http::{Http, Resp};
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::block_in_place;
use tokio_postgres::NoTls;

/// Ports apart from the defaults of `scripts/cluster.sh` (which CI's shared servers use).
const PORTS: Ports = Ports {
    postgres: 25462,
    garage: 24900,
    relays: 28611,
    front: 28653,
};

/// A document whose sealed payload is about `bytes` long and incompressible: above the inline
/// limit (64 KiB), so an S3 object; above 256 KiB, streamed.
fn document(bytes: usize) -> Value {
    json!({"members": [hex::encode(rand::random_iter::<u8>().take(bytes / 2).collect::<Vec<_>>())]})
}

/// A logged-in v1 app on `http`, registered there.
async fn registered(http: Http, kind: Kind, handle: &str) -> V1Client {
    let mut c = V1Client::at(http, kind).with_handle(Some(handle));
    c.register_ok().await;
    c.login().await;
    c
}

fn assert_503(what: &str, resp: &Resp) {
    assert_eq!(resp.status, 503, "{what}: {}", resp.describe());
    let retry = resp.header("retry-after").unwrap_or_default();
    assert!(
        retry.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s)),
        "{what}: Retry-After {retry:?}: {}",
        resp.describe()
    );
}

/// The blob of a served own volume.
fn served_blob(client: &V1Client, resp: &Resp, name: &str) -> Vec<u8> {
    open_volume(
        resp.expect_json(200),
        name,
        &client.vek,
        &client.signing_key_b64(),
    )
    .blob
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts PostgreSQL, Garage, two relays and HAProxy (scripts/cluster.sh, root): run by .ci/run"]
async fn two_instances_serve_as_one_relay_through_failures() {
    let cluster = block_in_place(|| Cluster::up(PORTS, 2, &[]));
    let (a, b) = (cluster.instance(1), cluster.instance(2));

    // ---- Requests alternate between the instances. --------------------------------------
    let mut sys = V1Client::at(a.clone(), Kind::System).with_handle(Some("cluster-sys"));
    sys.register_ok().await;
    sys.use_http(b.clone());
    let nonce = sys.challenge_nonce().await;
    sys.use_http(a.clone());
    let signature = sys.sign_login_b64(&nonce);
    let answer = sys.token_request(sys.user_id(), &nonce, &signature).await;
    let token = answer.expect_json(200)["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    sys.set_token(Some(token));
    // The challenge was single use across instances.
    sys.use_http(b.clone());
    let replay = sys.token_request(sys.user_id(), &nonce, &signature).await;
    assert_eq!(
        replay.status,
        403,
        "a spent challenge at the other instance: {}",
        replay.describe()
    );

    sys.use_http(a.clone());
    let large = sys
        .upload_ok(VolumeName::Members, 1, &document(400_000))
        .await;
    sys.use_http(b.clone());
    let small = sys
        .upload_ok(VolumeName::Meta, 1, &json!({"name": "cluster"}))
        .await;
    assert_eq!(
        served_blob(&sys, &sys.download_own("members", None).await, "members"),
        large.blob,
        "a large volume stored through A, served (streamed from S3) by B"
    );
    let (stale, _) = sys
        .upload(VolumeName::Members, 1, &json!({"members": []}))
        .await;
    assert_eq!(
        stale.status,
        409,
        "a stale version at B: {}",
        stale.describe()
    );
    sys.use_http(a.clone());
    assert_eq!(
        served_blob(&sys, &sys.download_own("meta", None).await, "meta"),
        small.blob,
        "a small volume stored through B, served by A"
    );

    // A friend through the front door (HAProxy picks the instance).
    let mut friend = registered(cluster.front(), Kind::Friend, "cluster-friend").await;
    let code = sys.invite().await;
    friend.redeem(&code).await.expect_json(201);
    let entry = sys.requests_list(None).await.remove(0);
    sys.accept(&entry, &default_permissions())
        .await
        .expect_json(200);
    let relationship = entry["id"].as_str().expect("a relationship id").to_owned();
    for (instance, http) in [("A", &a), ("B", &b)] {
        friend.use_http(http.clone());
        let resp = friend.shared_get(sys.user_id(), "members", None).await;
        let body = resp.expect_json(200);
        let blob = body["encrypted_vek_blob"].as_str().expect("a wrapped key");
        let vek = friend.unwrap_vek_parts(&sys.exchange_key_b64(), blob);
        let opened = open_volume(body, "members", &vek, &sys.signing_key_b64());
        assert_eq!(opened.blob, large.blob, "the friend's read at {instance}");
    }

    // ---- A revocation and an account deletion take effect on the other instance at once.
    sys.use_http(a.clone());
    let unshared = sys.delete_sharing(&relationship).await;
    assert_eq!(unshared.status, 204, "{}", unshared.describe());
    friend.use_http(b.clone());
    let revoked = friend.shared_get(sys.user_id(), "members", None).await;
    assert!(
        matches!(revoked.status, 403 | 404),
        "a friend revoked at A reads at B: {}",
        revoked.describe()
    );
    let gone = registered(b.clone(), Kind::System, "cluster-gone").await;
    gone.upload_ok(VolumeName::Members, 1, &document(100_000))
        .await;
    let mut gone_at_a = gone;
    gone_at_a.use_http(a.clone());
    let deleted = gone_at_a.delete_me().await;
    assert_eq!(deleted.status, 204, "{}", deleted.describe());
    gone_at_a.use_http(b.clone());
    let after = gone_at_a.get("/api/v1/volumes").await;
    assert_eq!(
        after.status,
        401,
        "a session of an account deleted at A, at B: {}",
        after.describe()
    );

    // ---- SIGKILL of an instance during uploads loses no acknowledged write. -------------
    let mut writers = Vec::new();
    for n in 0..4 {
        writers.push(registered(b.clone(), Kind::System, &format!("cluster-w{n}")).await);
    }
    let mut tasks = Vec::new();
    for mut writer in writers {
        writer.use_http(a.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked: Option<(u64, Vec<u8>)> = None;
            for version in 1..=10_000u64 {
                let sealed = writer.seal(VolumeName::Members, version, &document(90_000));
                let put = writer
                    .req(Method::PUT, "/api/v1/volumes/members")
                    .body(upload_body_text(&sealed));
                // The kill cuts requests in flight: a transport error ends this writer.
                match Http::try_send(put).await {
                    Ok(resp) if resp.status == 200 => {}
                    _ => break,
                }
                acked = Some((version, sealed.blob));
            }
            (writer, acked)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    block_in_place(|| cluster.kill_relay(1));
    let mut acknowledged = Vec::new();
    for task in tasks {
        let (mut writer, acked) = task.await.expect("a writer");
        let (version, blob) = acked.expect("each writer had uploads acknowledged before the kill");
        writer.use_http(b.clone());
        let resp = writer.download_own("members", None).await;
        let body = resp.expect_json(200);
        let stored = body["control_header"]["version"]
            .as_u64()
            .expect("a version");
        // An upload in flight at the kill may have committed without its answer.
        assert!(
            stored == version || stored == version + 1,
            "acknowledged v{version}, B serves v{stored}"
        );
        if stored == version {
            let opened = open_volume(body, "members", &writer.vek, &writer.signing_key_b64());
            assert_eq!(opened.blob, blob, "the acknowledged version, intact");
        }
        acknowledged.push((writer, stored));
    }
    block_in_place(|| cluster.up_again());

    // ---- One Garage node stopped: reads and writes go on. ------------------------------
    block_in_place(|| cluster.run("garage.sh", &["stop-node", "3"]));
    sys.use_http(b.clone());
    let during = sys
        .upload_ok(VolumeName::Members, 2, &document(300_000))
        .await;
    sys.use_http(a.clone());
    assert_eq!(
        served_blob(&sys, &sys.download_own("members", None).await, "members"),
        during.blob,
        "written through B and read through A with a Garage node down"
    );
    block_in_place(|| cluster.run("garage.sh", &["start-node", "3"]));

    // ---- PostgreSQL stopped: 503 with Retry-After, then both serve again. --------------
    block_in_place(|| cluster.run("postgres.sh", &["down"]));
    for (instance, http) in [("A", &a), ("B", &b)] {
        sys.use_http(http.clone());
        assert_503(
            &format!("download at {instance} while PostgreSQL is down"),
            &sys.download_own("members", None).await,
        );
        let (upload, _) = sys.upload(VolumeName::Members, 3, &document(100_000)).await;
        assert_503(&format!("upload at {instance} while down"), &upload);
    }
    block_in_place(|| cluster.run("postgres.sh", &["up"]));
    for (instance, http) in [("A", &a), ("B", &b)] {
        sys.use_http(http.clone());
        let mut served = None;
        for _ in 0..50 {
            let resp = sys.download_own("members", None).await;
            if resp.status == 200 {
                served = Some(resp);
                break;
            }
            assert_503(&format!("{instance} while PostgreSQL returns"), &resp);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let served = served.unwrap_or_else(|| panic!("{instance} serves within 10 s"));
        assert_eq!(
            served_blob(&sys, &served, "members"),
            during.blob,
            "{instance}: the version stored before the outage"
        );
    }

    // ---- The consistency check. --------------------------------------------------------
    for (writer, version) in &mut acknowledged {
        writer.use_http(a.clone());
        let resp = writer.download_own("members", None).await;
        assert_eq!(
            resp.expect_json(200)["control_header"]["version"],
            json!(*version),
            "after the outages, A serves what B served after the kill"
        );
    }
    let url = block_in_place(|| cluster.postgres_url());
    let names = blob_names(&url).await;
    assert!(
        names.len() >= 2,
        "the large volumes are objects: rows name {names:?}"
    );
    let s3 = block_in_place(|| s3_of(&cluster));
    for name in &names {
        assert!(
            s3.read(name, 20 << 20)
                .await
                .expect("read the bucket")
                .is_some(),
            "a row names object {name}, which the bucket does not hold"
        );
    }
    for i in 1..=2 {
        let log = cluster.relay_log(i);
        assert!(
            !log.contains("storage failure") && !log.contains("panicked"),
            "instance {i} logged a storage failure or a panic:\n{log}"
        );
    }
}

/// The object names every volume row (v1 and v2) holds, inline payloads aside.
async fn blob_names(url: &str) -> Vec<String> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to the cluster's database");
    tokio::spawn(conn);
    client
        .query(
            "SELECT blob_file FROM volumes WHERE blob_file NOT LIKE 'inline:%' UNION ALL \
             SELECT blob_file FROM volumes_v2 WHERE blob_file NOT LIKE 'inline:%'",
            &[],
        )
        .await
        .expect("read the rows")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn s3_of(cluster: &Cluster) -> S3Blobs {
    let env: HashMap<String, String> = cluster.s3_env().into_iter().collect();
    let var = |k: &str| {
        env.get(k)
            .unwrap_or_else(|| panic!("garage.sh env: no {k}"))
    };
    let settings = S3Settings::new(
        var("COFFER_S3_ENDPOINT"),
        var("COFFER_S3_REGION"),
        var("COFFER_S3_BUCKET"),
        &PathBuf::from(var("COFFER_S3_CREDENTIALS_FILE")),
    )
    .expect("the cluster's S3 settings");
    S3Blobs::new(&settings).expect("an S3 client")
}
