//! SIGKILL during v2 uploads and during key rotation (issue 7, faults), with the real clients
//! of `client-core` against the real relay binary, restarted on the same port and data
//! directory after every crash.
//!
//! What the tests prove:
//! - **Uploads** (`sigkill_during_v2_uploads_loses_nothing_acknowledged`): three systems publish
//!   concurrently; the relay is killed at a varying moment, four times. After each restart every
//!   upload the relay acknowledged is served byte for byte (a later version only if it is one
//!   that was really sent, never torn or mixed), a friend reads every volume and gets the
//!   plaintext of exactly that version, the systems publish on, and the stopped relay's store is
//!   consistent (integrity check, every row's blob present, quotas exact, no orphans).
//! - **Rotation** (`sigkill_at_every_request_of_a_revocation`): a system with two friends that
//!   stay and one that is revoked per round. The relay is killed at the 1st, 2nd, … request of
//!   the revocation (before it is sent, and in some rounds a few milliseconds into it), until a
//!   revocation completes with no kill left to fire. After each restart the system app is
//!   reopened from its key store and finishes the interrupted rotation. Then: every
//!   acknowledged upload is intact; the revoked friend is refused by the relay and — the real
//!   guarantee — its old keys open none of the current versions (every volume moved to a newer
//!   epoch); the friends that stay read every volume they were granted, with the latest
//!   plaintext, under the new epoch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use coffer_client_core::client::{
    ClientConfig, ClientError, Fetched, FriendClient, SystemClient, relay_for,
};
use coffer_client_core::storage::KeyStore;
use coffer_client_core::transport::RelayHttp;
use coffer_client_core::v2::{self, Side, WrapKey};
use coffer_tests::faults::{FaultyRelay, KillAt, KillSwitch, Ledger, stop_and_check};
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{config_for, evil_friend, friend, identity_of, pair, system, uid, vol};
use coffer_wire::v2::VolumeName;
use rand::RngExt as _;
use uuid::Uuid;

type System = SystemClient<FaultyRelay<RelayHttp>>;

/// A document of about `size` bytes that names itself.
fn doc(tag: &str, size: usize) -> Vec<u8> {
    let pad = "x".repeat(size.saturating_sub(40));
    format!("{{\"schema_version\":2,\"tag\":\"{tag}\",\"pad\":\"{pad}\"}}").into_bytes()
}

/// The `tag` of a [`doc`].
fn tag_of(plaintext: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(plaintext).unwrap();
    v["tag"].as_str().unwrap().to_owned()
}

/// The system app over a counting, recording connection, opened from its key store (as after
/// an app restart: nothing in memory survives).
fn open_system(
    config: &ClientConfig,
    store: &Arc<dyn KeyStore>,
    switch: &KillSwitch,
    ledger: &Arc<Ledger>,
    id: Uuid,
) -> System {
    let relay = FaultyRelay::new(
        relay_for(config, store).unwrap(),
        switch.clone(),
        Arc::clone(ledger),
        id,
    );
    SystemClient::with_relay(relay, Arc::clone(store)).unwrap()
}

/// Restarts after a crash. The first request on a connection pooled before the crash can still
/// fail; a real app retries a network error, and so does this.
async fn retry_network<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    for attempt in 1..=3 {
        match f().await {
            Ok(v) => return v,
            Err(ClientError::Network { .. }) if attempt < 3 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{what}: {e:?}"),
        }
    }
    unreachable!()
}

/// Stops the relay gracefully and checks its store from outside; no orphan may be left (the
/// start-up sweep ran, and nothing was interrupted since).
async fn stop_and_check_store(relay: &mut RelayProcess, label: &str) {
    let report = stop_and_check(relay, label).await;
    assert!(report.volume_rows > 0, "{label}: no volume rows at all");
}

// ---- uploads -----------------------------------------------------------------------------

/// What the uploaders learned: per (system, volume) every tag attempted and the tag of each
/// acknowledged version.
#[derive(Default)]
struct Tags {
    attempted: BTreeMap<(Uuid, String), Vec<String>>,
    acked: BTreeMap<(Uuid, String), BTreeMap<u64, String>>,
    failures: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_v2_uploads_loses_nothing_acknowledged() {
    let started = Instant::now();
    let mut relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let ledger = Arc::new(Ledger::new());
    let switch = KillSwitch::new();
    let volumes = [vol("meta"), vol("members"), vol("journal")];
    let (reader, _) = friend(&config).await;

    let mut systems = Vec::new();
    for _ in 0..3 {
        let (registered, store) = system(&config).await;
        let id = registered.user_id();
        let s = open_system(&config, &store, &switch, &ledger, id);
        for v in &volumes {
            s.publish(v, &doc(&format!("{id}-{v}-0"), 2000))
                .await
                .unwrap();
        }
        pair(&s, &reader, &volumes).await;
        systems.push(Arc::new(s));
    }
    let tags = Arc::new(std::sync::Mutex::new(Tags::default()));
    for s in &systems {
        for v in &volumes {
            let key = (s.user_id(), v.to_string());
            let tag = format!("{}-{v}-0", s.user_id());
            let mut t = tags.lock().unwrap();
            t.attempted
                .entry(key.clone())
                .or_default()
                .push(tag.clone());
            t.acked.entry(key).or_default().insert(1, tag);
        }
    }
    // What the reader last got per (system, volume): (version, tag).
    let mut seen: BTreeMap<(Uuid, String), (u64, String)> = BTreeMap::new();

    for round in 1..=4u32 {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for s in &systems {
            let (s, stop, tags, volumes) = (
                Arc::clone(s),
                Arc::clone(&stop),
                Arc::clone(&tags),
                volumes.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut n = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let v = &volumes[rand::rng().random_range(0..volumes.len())];
                    let tag = format!("{}-{v}-r{round}n{n}", s.user_id());
                    let key = (s.user_id(), v.to_string());
                    tags.lock()
                        .unwrap()
                        .attempted
                        .entry(key.clone())
                        .or_default()
                        .push(tag.clone());
                    let size = rand::rng().random_range(1_000..96_000);
                    match s.publish(v, &doc(&tag, size)).await {
                        Ok(p) => {
                            let mut t = tags.lock().unwrap();
                            t.acked.entry(key).or_default().insert(p.version, tag);
                        }
                        Err(ClientError::Network { .. }) => break,
                        Err(e) => {
                            tags.lock().unwrap().failures.push(format!("{tag}: {e:?}"));
                            break;
                        }
                    }
                }
            }));
        }
        let delay = 300 + 300 * u64::from(round) + rand::rng().random_range(0..300);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        relay.kill().await;
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        relay.restart_on_same_port().await;
        let label = format!("round {round}");
        {
            let t = tags.lock().unwrap();
            assert!(t.failures.is_empty(), "{label}: {:?}", t.failures);
        }

        for s in &systems {
            let owner = s.user_id();
            let served = ledger
                .verify_v2(&owner.to_string(), s.relay())
                .await
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            for v in &volumes {
                let key = (owner, v.to_string());
                let version = served[v.as_str()];
                let fetched = retry_network("reader fetch", || reader.fetch(owner, v)).await;
                let t = tags.lock().unwrap();
                let got = match fetched {
                    Fetched::Updated {
                        version: got_version,
                        plaintext,
                        ..
                    } => {
                        assert_eq!(got_version, version, "{label}: {key:?}");
                        tag_of(&plaintext)
                    }
                    Fetched::Deleted { .. } => panic!("{label}: {key:?} reported deleted"),
                    Fetched::NotModified => {
                        let (last, tag) = &seen[&key];
                        assert_eq!(*last, version, "{label}: {key:?} not modified");
                        tag.clone()
                    }
                };
                // The plaintext is the one published as that version: the acknowledged one,
                // or (above it) one whose answer the crash swallowed.
                match t.acked[&key].get(&version) {
                    Some(acked) => assert_eq!(&got, acked, "{label}: {key:?} v{version}"),
                    None => assert!(
                        t.attempted[&key].contains(&got),
                        "{label}: {key:?} v{version} decrypts to {got}, never published"
                    ),
                }
                seen.insert(key, (version, got));
            }
            // And the system publishes on after the crash.
            let v = &volumes[0];
            let tag = format!("{owner}-{v}-after{round}");
            let plaintext = doc(&tag, 3000);
            let p = retry_network("publish after restart", || s.publish(v, &plaintext)).await;
            let mut t = tags.lock().unwrap();
            let key = (owner, v.to_string());
            t.attempted
                .entry(key.clone())
                .or_default()
                .push(tag.clone());
            t.acked.entry(key).or_default().insert(p.version, tag);
        }
        eprintln!(
            "{label}: killed after {delay} ms; {} uploads acknowledged so far",
            ledger.acked_count()
        );
    }
    assert!(
        ledger.acked_count() > 40,
        "too few acknowledged uploads ({}) for the crashes to have hit any",
        ledger.acked_count()
    );
    stop_and_check_store(&mut relay, "after the last round").await;
    eprintln!("v2 uploads under SIGKILL: {:?}", started.elapsed());
}

// ---- rotation ----------------------------------------------------------------------------

/// A friend that stays paired, and what it last read of each volume.
struct Keeper {
    client: FriendClient,
    volumes: Vec<VolumeName>,
    last: BTreeMap<VolumeName, (u64, Vec<u8>)>,
}

struct World {
    relay: RelayProcess,
    config: ClientConfig,
    store: Arc<dyn KeyStore>,
    system_id: Uuid,
    system: System,
    switch: KillSwitch,
    ledger: Arc<Ledger>,
    keepers: Vec<Keeper>,
    volumes: Vec<VolumeName>,
    /// The plaintext of each volume's latest acknowledged publish.
    latest: BTreeMap<VolumeName, Vec<u8>>,
    published: u32,
}

impl World {
    async fn new() -> World {
        let relay = RelayProcess::start().await;
        let config = config_for(relay.url(), relay.pin());
        let (registered, store) = system(&config).await;
        let system_id = registered.user_id();
        drop(registered);
        let switch = KillSwitch::new();
        let ledger = Arc::new(Ledger::new());
        let system = open_system(&config, &store, &switch, &ledger, system_id);
        let volumes = vec![vol("meta"), vol("members"), vol("fronts"), vol("journal")];
        let mut world = World {
            relay,
            config,
            store,
            system_id,
            system,
            switch,
            ledger,
            keepers: Vec::new(),
            volumes,
            latest: BTreeMap::new(),
            published: 0,
        };
        for v in world.volumes.clone() {
            world.publish(&v).await;
        }
        for granted in [&world.volumes[..3], &world.volumes[1..]] {
            let (client, _) = friend(&world.config).await;
            pair(&world.system, &client, granted).await;
            world.keepers.push(Keeper {
                client,
                volumes: granted.to_vec(),
                last: BTreeMap::new(),
            });
        }
        world
    }

    async fn publish(&mut self, v: &VolumeName) {
        self.published += 1;
        let plaintext = doc(
            &format!("{v}-{}", self.published),
            1500 + 700 * self.published as usize % 9000,
        );
        self.system.publish(v, &plaintext).await.unwrap();
        self.latest.insert(v.clone(), plaintext);
    }

    /// One revocation with the relay killed at its `nth` request (`None`: no kill). Returns
    /// whether the kill fired.
    async fn revoke_round(&mut self, label: &str, kill: Option<(u64, KillAt)>) -> bool {
        // The friend to revoke reads everything first; its relay records the wrapped keys.
        let (doomed, doomed_relay, doomed_store) = evil_friend(&self.config).await;
        pair(&self.system, &doomed, &self.volumes).await;
        let mut doomed_epochs = BTreeMap::new();
        for v in &self.volumes {
            match doomed.fetch(self.system_id, v).await.unwrap() {
                Fetched::Updated {
                    version,
                    epoch,
                    plaintext,
                    ..
                } => {
                    assert_eq!(&plaintext[..], &self.latest[v][..], "{label}: {v}");
                    let shared = doomed_relay
                        .recorded_shared(uid(self.system_id), v, version)
                        .unwrap();
                    doomed_epochs.insert(v.clone(), (epoch, shared.wrapped_key));
                }
                Fetched::NotModified | Fetched::Deleted { .. } => {
                    unreachable!("a new friend's first fetch")
                }
            }
        }
        // A fresh version of one volume, so rotation re-encrypts something new each round.
        let v = self.volumes[self.published as usize % self.volumes.len()].clone();
        self.publish(&v).await;

        let before = self.switch.calls();
        if let Some((nth, how)) = kill {
            self.switch.arm(self.relay.pid(), nth, how);
        }
        let result = self.system.revoke(doomed.user_id()).await;
        let fired = self.switch.settle();
        let requests = self.switch.calls() - before;
        if fired {
            self.relay.kill().await;
            self.relay.restart_on_same_port().await;
            // The app was killed too: reopen from the key store and finish the rotation.
            self.system = open_system(
                &self.config,
                &self.store,
                &self.switch,
                &self.ledger,
                self.system_id,
            );
            let resumed =
                retry_network("resume the rotation", || self.system.resume_rotation()).await;
            eprintln!(
                "{label}: revoke → {}, killed, resumed: {}",
                match &result {
                    Ok(_) => "ok".to_owned(),
                    Err(e) => format!("{e:?}"),
                },
                resumed.map_or("nothing pending".to_owned(), |r| format!("{:?}", r.rotated))
            );
        } else {
            let report =
                result.unwrap_or_else(|e| panic!("{label}: revoke without a crash: {e:?}"));
            assert_eq!(report.rotated.len(), self.volumes.len(), "{label}");
            eprintln!("{label}: revoke took {requests} requests, no kill");
        }
        assert!(
            self.system.resume_rotation().await.unwrap().is_none(),
            "{label}: a rotation is still pending after it was resumed"
        );
        self.check(label, &doomed, &doomed_store, &doomed_epochs)
            .await;
        fired
    }

    /// The checks after each round (see the module doc).
    async fn check(
        &mut self,
        label: &str,
        doomed: &FriendClient<coffer_tests::malicious::MaliciousRelay<RelayHttp>>,
        doomed_store: &Arc<dyn KeyStore>,
        doomed_epochs: &BTreeMap<VolumeName, (u32, coffer_wire::b64::WrappedVek60)>,
    ) {
        let owner = self.system_id.to_string();
        self.ledger
            .verify_v2(&owner, self.system.relay())
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));

        // The revoked friend: refused by the relay...
        assert!(
            doomed.grant(self.system_id).await.unwrap().is_none(),
            "{label}: the revoked friend still has a grant"
        );
        for v in &self.volumes {
            assert!(
                matches!(
                    doomed.fetch(self.system_id, v).await,
                    Err(ClientError::Forbidden { .. })
                ),
                "{label}: the relay still serves {v} to the revoked friend"
            );
        }
        // ...and, whatever a relay would serve it, its keys open no current version.
        let system_identity = identity_of(&self.store);
        let wrap = WrapKey::derive(
            &identity_of(doomed_store),
            Side::Friend,
            self.system_id,
            doomed.user_id(),
            &system_identity.public_identity(),
            &self.system.fingerprint(),
        )
        .unwrap();
        for (v, (epoch, wrapped)) in doomed_epochs {
            let old_key = wrap.unwrap(v, *epoch, wrapped.as_bytes()).unwrap();
            let current = match self
                .system
                .relay()
                .inner()
                .get_volume(v, None)
                .await
                .unwrap()
            {
                coffer_client_core::transport::Fetched::Modified(c) => c,
                coffer_client_core::transport::Fetched::NotModified => unreachable!(),
            };
            let header = coffer_wire::v2::Header::parse(&current.header).unwrap();
            assert!(
                header.epoch > *epoch,
                "{label}: {v} is still at epoch {} the revoked friend holds a key for",
                header.epoch
            );
            assert!(
                v2::open(
                    &system_identity.public_signing_key(),
                    self.system_id,
                    v,
                    &current.header,
                    current.signature.as_bytes(),
                    &current.payload,
                    |_| Some(&old_key),
                )
                .is_err(),
                "{label}: the revoked friend's old key opens the current {v}"
            );
        }

        // The friends that stay read every granted volume: the latest plaintext.
        for (i, keeper) in self.keepers.iter_mut().enumerate() {
            let granted: BTreeSet<_> = keeper
                .client
                .grant(self.system_id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{label}: friend {i} lost its grant"))
                .volumes
                .into_iter()
                .map(|(v, _)| v)
                .collect();
            assert_eq!(
                granted,
                keeper.volumes.iter().cloned().collect(),
                "{label}: friend {i}'s grant"
            );
            for v in &keeper.volumes {
                let plaintext = match keeper.client.fetch(self.system_id, v).await {
                    Ok(Fetched::Updated {
                        version, plaintext, ..
                    }) => {
                        keeper.last.insert(v.clone(), (version, plaintext.to_vec()));
                        plaintext.to_vec()
                    }
                    Ok(Fetched::NotModified) => keeper.last[v].1.clone(),
                    Ok(Fetched::Deleted { .. }) => panic!("{label}: friend {i} sees {v} deleted"),
                    Err(e) => panic!("{label}: friend {i} cannot read {v}: {e:?}"),
                };
                assert_eq!(
                    tag_of(&plaintext),
                    tag_of(&self.latest[v]),
                    "{label}: friend {i} reads a stale {v}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_every_request_of_a_revocation() {
    let started = Instant::now();
    let mut world = World::new().await;
    // Kill before the 1st, 2nd, … request until a revocation completes without the kill
    // firing: then every request of a revocation has been a crash point.
    let mut nth = 1;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let label = format!("before request {nth}");
        if !world
            .revoke_round(&label, Some((nth, KillAt::Before)))
            .await
        {
            break;
        }
        nth += 1;
        assert!(nth < 60, "a revocation takes implausibly many requests");
    }
    assert!(
        nth > 5,
        "a revocation of 4 volumes took only {nth} requests?"
    );
    // Inside requests: a few milliseconds after one went out.
    for delay_ms in [0u64, 1, 3, 6, 10, 20] {
        rounds += 1;
        let at = rand::rng().random_range(1..nth);
        let label = format!("{delay_ms} ms into request {at}");
        world
            .revoke_round(
                &label,
                Some((at, KillAt::During(Duration::from_millis(delay_ms)))),
            )
            .await;
    }
    // After all that, a plain publish reaches the friends under the latest epoch.
    let v = world.volumes[1].clone();
    world.publish(&v).await;
    let label = "final publish".to_owned();
    for (i, keeper) in world.keepers.iter().enumerate() {
        match keeper.client.fetch(world.system_id, &v).await.unwrap() {
            Fetched::Updated { plaintext, .. } => {
                assert_eq!(&plaintext[..], &world.latest[&v][..], "{label}: friend {i}")
            }
            Fetched::NotModified | Fetched::Deleted { .. } => {
                panic!("{label}: friend {i} sees no new version")
            }
        }
    }
    stop_and_check_store(&mut world.relay, "after all rounds").await;
    eprintln!(
        "{rounds} revocations, {} requests each, crashes at every one: {:?}",
        nth - 1,
        started.elapsed()
    );
}
