//! Clock steps (issue 7, faults): the relay runs under libfaketime and its wall clock is stepped
//! forward and back while it runs, as NTP steps a server's clock; monotonic time is left alone.
//! The tests install nothing: they are `#[ignore]`d so that `cargo test` works on a machine
//! without libfaketime (Debian package `faketime`); `.ci/run` installs it and runs them with
//! `--ignored`, and without the library they fail and say so.
//!
//! What the tests prove:
//! - the relay really runs on the moved clock (its challenge expiry shows it), so nothing here
//!   passes by accident;
//! - after a forward step past their lifetimes, a challenge issued before it is refused at
//!   `/auth/token` and a session token is 401; a new login works and uploads go on;
//! - a backward step does not make them valid again: a refused challenge was consumed by the
//!   attempt, an expired session was deleted when it was refused, and one never presented was
//!   deleted by the maintenance run during the forward period. (Expiry follows the wall clock
//!   on purpose — a "never go back" clock would freeze the relay for as long as a wrong
//!   forward step lasted: a challenge or session never presented and not yet swept by the
//!   periodic maintenance, every 10 minutes, is as valid as the stepped-back clock says.)
//! - uploads survive the steps: stored times are hour-rounded wall-clock times and may go
//!   backwards, while version ordering does not depend on them (stale versions still 409, new
//!   ones 200); v2 clients log in again on their own, publish, and their friend reads on;
//! - the relay never crashes, and after a restart every acknowledged write is intact and the
//!   store passes the integrity check.

use std::sync::Arc;

use coffer_client_core::client::{Fetched, SystemClient, relay_for};
use coffer_tests::client::{Admin, Kind, V1Client, now_unix};
use coffer_tests::docs;
use coffer_tests::faults::{
    FakeClock, FaultyRelay, KillSwitch, Ledger, WriteLock, check_store, relay_clock,
};
use coffer_tests::relay::{RelayProcess, files_under};
use coffer_tests::util::parse_iso_utc;
use coffer_tests::v2::{config_for, friend, pair, system, vol};
use coffer_wire::v1::VolumeName;
use reqwest::Method;

const HOUR: i64 = 3600;

/// A relay on `clock`, with its default lifetimes (challenge 300 s, session 3600 s).
async fn relay_on(clock: &FakeClock) -> RelayProcess {
    let mut builder = RelayProcess::builder();
    for (key, value) in clock.env() {
        builder = builder.env(key, &value);
    }
    builder.start().await
}

/// Steps the relay's clock to `offset` and waits until the relay shows it (the point is hours,
/// so the margin is generous); fails if it never does (libfaketime not in effect).
async fn step(clock: &mut FakeClock, offset: i64, relay: &mut RelayProcess) {
    clock.set(offset);
    let mut skew = 0;
    for _ in 0..50 {
        skew = relay_clock(relay).await - now_unix();
        if (skew - offset).abs() < 120 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        (skew - offset).abs() < 120,
        "the relay's clock is {skew} s off real time, expected {offset}: libfaketime is not in \
         effect"
    );
    assert!(
        relay.is_running(),
        "the relay died after a clock step to {offset}"
    );
}

async fn upload(ledger: &Ledger, client: &V1Client, version: u64) -> u16 {
    let sealed = client.seal(
        VolumeName::Meta,
        version,
        &docs::sized(2_000, &format!("v{version}")),
    );
    ledger.put_v1(client, &sealed).await.unwrap().status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs libfaketime (Debian: faketime): cargo test -p coffer-tests --test it -- --ignored faults_clock:: (CI runs it)"]
async fn v1_challenges_and_sessions_across_clock_steps() {
    let mut clock = FakeClock::starting_at(0);
    let mut relay = relay_on(&clock).await;
    let admin = Admin::new(&relay);
    let ledger = Ledger::new();
    let mut sys = V1Client::new(&relay, Kind::System).with_handle(Some("clocked"));
    sys.register_ok().await;
    sys.login().await;
    step(&mut clock, 0, &mut relay).await;
    assert_eq!(upload(&ledger, &sys, 1).await, 200);
    let old_session = sys.token().unwrap().to_owned();
    let presented = sys.challenge_nonce().await;
    let unpresented = sys.challenge_nonce().await;

    // Forward, past the session's and the challenges' lifetimes.
    step(&mut clock, HOUR + 600, &mut relay).await;
    let sig = sys.sign_login_b64(&presented);
    sys.token_request(sys.user_id(), &presented, &sig)
        .await
        .expect_error_message(403, "forbidden", "Challenge expired");
    sys.get("/api/v1/volumes")
        .await
        .expect_error_message(401, "unauthorized", "Session expired");
    sys.login().await;
    assert_eq!(upload(&ledger, &sys, 2).await, 200);
    let new_session = sys.token().unwrap().to_owned();
    // The operator's maintenance during the forward period removes what was never presented.
    let report = admin.call(Method::POST, "/api/v1/admin/maintenance").await;
    let report = report.expect_json(200);
    assert!(
        report["expired_challenges"].as_u64().unwrap() >= 1,
        "the unpresented challenge was not expired: {report}"
    );

    // Back, before where it started: nothing expired comes back.
    step(&mut clock, -HOUR, &mut relay).await;
    for nonce in [&presented, &unpresented] {
        let sig = sys.sign_login_b64(nonce);
        sys.token_request(sys.user_id(), nonce, &sig)
            .await
            .expect_error_message(403, "forbidden", "Invalid or expired challenge nonce");
    }
    sys.set_token(Some(old_session.clone()));
    sys.get("/api/v1/volumes").await.expect_error_message(
        401,
        "unauthorized",
        "Invalid session token",
    );
    // The session issued during the forward period is valid (its expiry is ahead of the clock).
    sys.set_token(Some(new_session));
    sys.get("/api/v1/volumes").await.expect_json(200);
    // Uploads: the stored hour goes back, the version order does not.
    assert_eq!(upload(&ledger, &sys, 2).await, 409);
    assert_eq!(upload(&ledger, &sys, 3).await, 200);
    // A login on the stepped-back clock works too.
    sys.login().await;
    assert_eq!(upload(&ledger, &sys, 4).await, 200);
    let times: Vec<i64> = admin.get_ok("/api/v1/admin/volumes").await["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| parse_iso_utc(v["updated_at"].as_str().unwrap()).unwrap().0)
        .collect();
    assert_eq!(times.len(), 1);
    assert_eq!(times[0] % HOUR, 0, "updated_at is not hour-rounded");
    assert!(
        times[0] < now_unix() - HOUR / 2,
        "updated_at follows the stepped-back clock"
    );

    // Forward again to real time, restart, everything intact.
    // (The last session, issued an hour behind, has just expired: log in again.)
    step(&mut clock, 0, &mut relay).await;
    sys.get("/api/v1/volumes")
        .await
        .expect_error_message(401, "unauthorized", "Session expired");
    sys.login().await;
    ledger.verify_v1(&sys).await.unwrap();
    let status = relay.terminate().await;
    assert!(status.success(), "relay exited with {status}");
    check_store(&relay.database_path(), &relay.blob_dir()).unwrap();
    relay.restart_on_same_port().await;
    let served = ledger.verify_v1(&sys).await.unwrap();
    assert_eq!(served["meta"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs libfaketime (Debian: faketime): cargo test -p coffer-tests --test it -- --ignored faults_clock:: (CI runs it)"]
async fn v2_clients_carry_on_across_clock_steps() {
    let mut clock = FakeClock::starting_at(0);
    let mut relay = relay_on(&clock).await;
    let config = config_for(relay.url(), relay.pin());
    let ledger = Arc::new(Ledger::new());
    let (registered, store) = system(&config).await;
    let id = registered.user_id();
    drop(registered);
    let sys = SystemClient::with_relay(
        FaultyRelay::new(
            relay_for(&config, &store).unwrap(),
            KillSwitch::new(),
            Arc::clone(&ledger),
            id,
        ),
        Arc::clone(&store),
    )
    .unwrap();
    let (reader, _) = friend(&config).await;
    let meta = vol("meta");
    sys.publish(&meta, b"{\"n\":1}").await.unwrap();
    pair(&sys, &reader, std::slice::from_ref(&meta)).await;

    let mut expected = 1;
    // Forward past every session, back below real time, forward again: each time the clients
    // (whose sessions the relay now considers expired, or far from expiry) carry on.
    for offset in [2 * HOUR, -HOUR, 5 * HOUR, 0] {
        step(&mut clock, offset, &mut relay).await;
        expected += 1;
        let text = format!("{{\"n\":{expected}}}");
        let published = sys.publish(&meta, text.as_bytes()).await.unwrap();
        assert_eq!(published.version, expected, "at offset {offset}");
        match reader.fetch(id, &meta).await.unwrap() {
            Fetched::Updated {
                version, plaintext, ..
            } => {
                assert_eq!(version, expected, "at offset {offset}");
                assert_eq!(&plaintext[..], text.as_bytes(), "at offset {offset}");
            }
            Fetched::NotModified | Fetched::Deleted { .. } => {
                panic!("at offset {offset}: the friend sees no new version")
            }
        }
    }
    ledger
        .verify_v2(&id.to_string(), sys.relay())
        .await
        .unwrap();
    let status = relay.terminate().await;
    assert!(status.success(), "relay exited with {status}");
    check_store(&relay.database_path(), &relay.blob_dir()).unwrap();
    relay.restart_on_same_port().await;
    ledger
        .verify_v2(&id.to_string(), sys.relay())
        .await
        .unwrap();
}

/// A forward step must not make a fresh blob look old to the orphan sweep. The upload's blob
/// is renamed into place before its row commits; here the commit waits (another connection
/// holds the database's write lock), the clock steps forward two hours, and the operator runs
/// the orphan sweep. The sweep must leave the blob alone: once the lock is released the upload
/// is acknowledged, and an acknowledged volume whose blob was swept would be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs libfaketime (Debian: faketime): cargo test -p coffer-tests --test it -- --ignored faults_clock:: (CI runs it)"]
async fn forward_step_never_sweeps_an_upload_in_flight() {
    let mut clock = FakeClock::starting_at(0);
    // Every payload a blob file: this is about a file renamed into place before its row
    // commits (an inline payload, docs/adr/0027, is written in the row's transaction).
    let mut relay = {
        let mut builder = RelayProcess::builder().env("COFFER_INLINE_MAX", "0");
        for (key, value) in clock.env() {
            builder = builder.env(key, &value);
        }
        builder.start().await
    };
    let admin = Admin::new(&relay);
    let ledger = Arc::new(Ledger::new());
    let mut sys = V1Client::new(&relay, Kind::System);
    sys.register_ok().await;
    sys.login().await;
    assert_eq!(upload(&ledger, &sys, 1).await, 200);
    let user_dir = relay.blob_dir().join(sys.user_id());
    let sys = Arc::new(sys);

    let lock = WriteLock::hold(&relay.database_path());
    let in_flight = {
        let (ledger, sys) = (Arc::clone(&ledger), Arc::clone(&sys));
        tokio::spawn(async move { upload(&ledger, &sys, 2).await })
    };
    // The new version's blob is in place; its row waits for the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    while !files_under(&user_dir).iter().any(|p| {
        p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("meta.v2.")
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload's blob never appeared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    step(&mut clock, 2 * HOUR, &mut relay).await;
    let swept = admin
        .call(Method::POST, "/api/v1/admin/maintenance/orphans")
        .await;
    let swept = swept.expect_json(200).clone();
    lock.release();
    assert_eq!(in_flight.await.unwrap(), 200, "the upload after the lock");
    assert_eq!(
        swept["orphan_blobs"], 0,
        "the sweep removed a blob whose row was about to commit: {swept}"
    );
    // (Back to real time: the session, never presented while the clock was ahead, is valid.)
    step(&mut clock, 0, &mut relay).await;
    ledger
        .verify_v1(&sys)
        .await
        .unwrap_or_else(|e| panic!("an acknowledged upload was lost: {e}"));
    let status = relay.terminate().await;
    assert!(status.success(), "relay exited with {status}");
    check_store(&relay.database_path(), &relay.blob_dir()).unwrap();
}
