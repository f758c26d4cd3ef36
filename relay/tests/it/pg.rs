//! The PostgreSQL foundation (relay/src/pg) against a real PostgreSQL server.
//!
//! Ignored by default: they need a server. `.ci/run` starts one with `scripts/postgres.sh up`
//! and runs them with `--ignored pg::`, the URL of a role that may create databases in
//! `COFFER_TEST_POSTGRES_URL`. Run without it, each test fails and says so (never passes).
//! Every test works in a database of its own, dropped at its end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_relay::pg::migrations::{self, MIGRATIONS};
use coffer_relay::pg::watch::PgWatch;
use coffer_relay::pg::{self, PgSettings};
use coffer_relay::store::StoreError;
use tokio_postgres::NoTls;

use crate::pg_server::{drop_database, fresh_database};

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn a_fresh_database_migrates_once_and_two_instances_can_race() {
    let (url, name) = fresh_database().await;
    // Two relay instances starting together: both succeed, one migrates.
    let (mut a, mut b) = (client(&url).await, client(&url).await);
    let (ra, rb) = tokio::join!(migrations::migrate(&mut a), migrations::migrate(&mut b));
    ra.unwrap();
    rb.unwrap();
    assert_eq!(migrations::current(&a).await.unwrap(), migrations::latest());
    // Again: nothing to do.
    migrations::migrate(&mut a).await.unwrap();
    let rows = a
        .query_one("SELECT count(*) FROM coffer_schema", &[])
        .await
        .unwrap();
    assert_eq!(rows.get::<_, i64>(0), 1);
    drop((a, b));
    drop_database(&name).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn newer_and_foreign_databases_are_refused_untouched() {
    let (url, name) = fresh_database().await;
    let mut c = client(&url).await;
    migrations::migrate(&mut c).await.unwrap();
    c.execute("UPDATE coffer_schema SET version = version + 1", &[])
        .await
        .unwrap();
    let err = migrations::migrate(&mut c).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, supported } if found == supported + 1),
        "{err:?}"
    );
    drop(c);
    drop_database(&name).await;

    let (url, name) = fresh_database().await;
    let mut c = client(&url).await;
    c.batch_execute("CREATE TABLE notes (x int)").await.unwrap();
    let err = migrations::migrate(&mut c).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Foreign(m) if m.contains("not a Coffer relay database")),
        "{err:?}"
    );
    assert_eq!(migrations::current(&c).await.unwrap(), 0, "nothing created");
    drop(c);
    drop_database(&name).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn a_failed_migration_rolls_back_whole() {
    let (url, name) = fresh_database().await;
    let mut c = client(&url).await;
    let broken = [
        MIGRATIONS[0],
        "CREATE TABLE half_done (x int); SELECT 1 / 0;",
    ];
    let err = migrations::migrate_with(&mut c, &broken).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(migrations::current(&c).await.unwrap(), 1);
    let half: bool = c
        .query_one("SELECT to_regclass('half_done') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!half, "the failed step left nothing behind");
    drop(c);
    drop_database(&name).await;
}

async fn add_user(c: &tokio_postgres::Client, id: &str, handle: &str) {
    c.execute(
        "INSERT INTO users (id, public_signing_key, public_exchange_key, handle, client_type, \
         protocol_version, feature_set, created_at) VALUES ($1, $2, $2, $3, 'system', 1, '', 0)",
        &[&id, &vec![7u8; 32], &handle],
    )
    .await
    .unwrap();
}

#[tokio::test]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn the_schema_keeps_the_sqlite_rules() {
    let (url, name) = fresh_database().await;
    let mut c = client(&url).await;
    migrations::migrate(&mut c).await.unwrap();
    add_user(&c, "u1", "Alice").await;
    // Handles are unique without regard to ASCII case, as SQLite's NOCASE.
    let dup = c
        .execute(
            "INSERT INTO users (id, public_signing_key, public_exchange_key, handle, \
             client_type, protocol_version, feature_set, created_at) \
             VALUES ('u2', $1, $1, 'aLICE', 'friend', 1, '', 0)",
            &[&vec![7u8; 32]],
        )
        .await
        .unwrap_err();
    let err = StoreError::from(dup);
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("23505") && !m.contains("LICE")),
        "a unique violation, without the value: {err}"
    );
    // Key lengths are checked.
    assert!(
        c.execute(
            "INSERT INTO users (id, public_signing_key, public_exchange_key, client_type, \
             protocol_version, feature_set, created_at) VALUES ('u3', $1, $1, 'system', 1, '', 0)",
            &[&vec![7u8; 31]],
        )
        .await
        .is_err()
    );
    // An inline payload goes with its row, replaced or cascaded away with the account.
    c.batch_execute(
        "INSERT INTO inline_payloads VALUES ('inline:a', '\\x01'), ('inline:b', '\\x02');
         INSERT INTO volumes VALUES ('u1', 'meta', 1, '{}', 'inline:a', decode(repeat('00', 64), 'hex'), 1, 0);
         UPDATE volumes SET blob_file = 'inline:b', version = 2 WHERE user_id = 'u1';",
    )
    .await
    .unwrap();
    let left: Vec<String> = c
        .query("SELECT blob_file FROM inline_payloads", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, ["inline:b"]);
    c.batch_execute(
        "INSERT INTO auth_sessions (token_hash, user_id, expires_at, session_id) \
         VALUES (decode(repeat('11', 32), 'hex'), 'u1', 99, 's1');
         DELETE FROM users WHERE id = 'u1';",
    )
    .await
    .unwrap();
    for table in ["inline_payloads", "volumes", "auth_sessions"] {
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table} emptied by the account's deletion");
    }
    drop(c);
    drop_database(&name).await;
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn notifications_move_the_generations_of_every_listener() {
    let (url, name) = fresh_database().await;
    let mut c = client(&url).await;
    migrations::migrate(&mut c).await.unwrap();
    let settings = PgSettings::parse(&url).unwrap();
    let watch = Arc::new(PgWatch::default());
    // Deaf until connected: no generation repeats, so nothing cached could be served.
    assert_ne!(watch.auth_generation(), watch.auth_generation());
    watch.listen(settings);
    until("the listener", || watch.is_listening()).await;

    add_user(&c, "owner-a", "a").await;
    add_user(&c, "owner-b", "b").await;
    let auth = watch.auth_generation();
    assert_eq!(
        auth,
        watch.auth_generation(),
        "stable while nothing changes"
    );
    let (a, b) = (
        watch.fetch_generation("owner-a"),
        watch.fetch_generation("owner-b"),
    );
    c.batch_execute(
        "INSERT INTO volumes VALUES ('owner-a', 'meta', 1, '{}', 'f1', decode(repeat('00', 64), 'hex'), 1, 0)",
    )
    .await
    .unwrap();
    until("owner-a's fetch generation", || {
        watch.fetch_generation("owner-a") != a
    })
    .await;
    if coffer_relay::store::fetch_watch::bucket_of("owner-a")
        != coffer_relay::store::fetch_watch::bucket_of("owner-b")
    {
        assert_eq!(
            watch.fetch_generation("owner-b"),
            b,
            "another owner's stays"
        );
    }
    assert_eq!(
        watch.auth_generation(),
        auth,
        "a volume is not an auth change"
    );

    c.batch_execute(
        "INSERT INTO auth_sessions (token_hash, user_id, expires_at, session_id) \
         VALUES (decode(repeat('22', 32), 'hex'), 'owner-b', 99, 's2')",
    )
    .await
    .unwrap();
    c.batch_execute("UPDATE auth_sessions SET revoked = true")
        .await
        .unwrap();
    until("the auth generation", || watch.auth_generation() != auth).await;

    // The listener's connection killed: deaf (every lookup misses) until it is back, and
    // everything moves when it is.
    let before = watch.fetch_generation("owner-b");
    c.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'coffer-relay' AND query LIKE 'LISTEN%'",
    )
    .await
    .unwrap();
    until("the listener to notice", || !watch.is_listening()).await;
    until("the listener to come back", || watch.is_listening()).await;
    assert_ne!(watch.fetch_generation("owner-b"), before);
    drop(c);
    drop_database(&name).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn a_database_that_does_not_answer_is_unavailable_not_an_error() {
    // A loopback port nothing listens on (the server's own port + 1 is not guaranteed free,
    // so ask the kernel for one and close it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = PgSettings::parse(&format!("postgres://u:p@127.0.0.1:{port}/db")).unwrap();
    let driver = pg::Driver::start().unwrap();
    let pool = settings.pool(&driver).unwrap();
    let err = pg::connection(&pool).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    // And a real server is reachable through the same path.
    let (url, name) = fresh_database().await;
    let pool = PgSettings::parse(&url).unwrap().pool(&driver).unwrap();
    let conn = pg::connection(&pool).await.unwrap();
    let one: i32 = conn.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    drop((conn, pool));
    drop_database(&name).await;
}

/// Against the real server (`COFFER_TEST_POSTGRES_URL`): `--check-config` says it is
/// reachable and has no schema yet; after a relay ran on it, that the schema is current.
#[test]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
fn check_config_reports_the_schema() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, name) = rt.block_on(fresh_database());
    let dir = tempfile::tempdir().unwrap();
    let check = || {
        let out = crate::cli::relay()
            .args(["--data-dir", dir.path().to_str().unwrap(), "--check-config"])
            .env("COFFER_STORAGE_BACKEND", "postgres")
            .env("COFFER_POSTGRES_URL", &url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}");
        text
    };
    assert!(check().contains("no Coffer schema yet"));
    let store = rt.block_on(coffer_relay::pg::store::PgStore::open(
        &coffer_relay::pg::PgSettings::parse(&url).unwrap(),
    ));
    drop(store.unwrap());
    let text = check();
    assert!(text.contains("(current)"), "{text}");
    rt.block_on(drop_database(&name));
}

/// A pooled connection opened while serving on one runtime (an actix worker's) keeps working
/// after that runtime has stopped: in a graceful shutdown each worker stops in turn while its
/// neighbours finish their requests (a v1 crash test on PostgreSQL saw a 503 from this).
#[test]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
fn pooled_connections_outlive_the_runtime_that_opened_them() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let main = runtime();
    let (url, name) = main.block_on(fresh_database());
    let driver = pg::Driver::start().unwrap();
    let pool = PgSettings::parse(&url)
        .unwrap()
        .with_pool_size(1)
        .pool(&driver)
        .unwrap();
    // Worker A takes a connection and is still using it when worker B stops: the
    // connection was opened while B was serving, and must not go with B.
    let worker_b = runtime();
    let conn = worker_b.block_on(async {
        let conn = pg::connection(&pool).await.unwrap();
        conn.query_one("SELECT 1", &[]).await.unwrap();
        conn
    });
    drop(worker_b);
    let worker_a = runtime();
    let two: i32 = worker_a.block_on(async {
        conn.query_one("SELECT 2", &[])
            .await
            .expect("the connection outlives the runtime that opened it")
            .get(0)
    });
    assert_eq!(two, 2);
    drop((conn, pool));
    main.block_on(drop_database(&name));
}

/// A relay on PostgreSQL keeps its session and fetch caches off (ADR 0032 decision 9): its
/// generations are not exact, so anything held could only be a miss (or, without the
/// generations, a stale answer).
#[tokio::test]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn a_relay_on_postgresql_keeps_its_caches_off() {
    use coffer_relay::config::{Config, IpPolicy};
    use coffer_relay::fetch_cache::{FetchKey, Route};
    use coffer_relay::ip_policy::IpLabels;
    use coffer_relay::state::{AppState, Pins};
    use coffer_relay::storage::watch::Watch as _;
    use coffer_relay::store::blobs::BlobStore;

    let (url, name) = fresh_database().await;
    let store = coffer_relay::pg::store::PgStore::open(&PgSettings::parse(&url).unwrap())
        .await
        .unwrap();
    assert!(!store.exact());
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    let blobs = BlobStore::open(&config.blob_path()).unwrap();
    let state = AppState::new(
        config,
        Arc::new(store),
        Arc::new(blobs),
        IpLabels::ephemeral(IpPolicy::Off),
        Pins::default(),
    );
    let generation = state.storage.fetch_generation("o");
    let key = || FetchKey::new(Route::V1Own, "o", "o", "members");
    state.fetch_cache.insert(
        key(),
        generation,
        1,
        Some(bytes::Bytes::from_static(b"{}")),
        0,
    );
    assert!(state.fetch_cache.get(&key(), generation, None, 0).is_none());
    let user = coffer_relay::store::sessions::SessionUser {
        user_id: "o".into(),
        client_type: coffer_relay::store::ClientType::System,
        feature_set: "[]".into(),
        is_v2: false,
        expires_at: i64::MAX,
        session_id: None,
        last_used_at: 0,
    };
    state.sessions.insert([1; 32], user, 1);
    assert!(state.sessions.is_empty());
    drop(state);
    drop_database(&name).await;
}

/// A shared rate-limit bucket (docs/adr/0033) of `class`, client `key` and `per_minute`.
fn bucket(class: i16, key: u8, per_minute: u32) -> coffer_relay::storage::rates::SharedBucket {
    coffer_relay::storage::rates::SharedBucket {
        class,
        key: [key; 16],
        per_minute: std::num::NonZeroU32::new(per_minute).unwrap(),
    }
}

async fn pg_store(url: &str) -> coffer_relay::pg::store::PgStore {
    coffer_relay::pg::store::PgStore::open(&PgSettings::parse(url).unwrap())
        .await
        .unwrap()
}

/// A shared bucket holds its configured burst, refuses the next take with the wait until a
/// token is back (within one interval), and serves again once it is; other keys and classes
/// have buckets of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn a_shared_rate_bucket_refuses_after_its_budget_and_refills() {
    use coffer_relay::storage::rates::Rates as _;
    let (url, name) = fresh_database().await;
    let store = pg_store(&url).await;
    let rates = store.shared_rates().expect("PostgreSQL shares its buckets");
    // 20 a minute: one token every 3 s, a burst of 20.
    let b = bucket(2, 1, 20);
    let started = Instant::now();
    for i in 0..20 {
        assert_eq!(
            rates.take(b).await.unwrap(),
            Ok(()),
            "token {i} of the burst"
        );
    }
    let wait = rates
        .take(b)
        .await
        .unwrap()
        .expect_err("the 21st take is refused");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the burst took {:?}, longer than one interval: this machine is too slow for the test",
        started.elapsed()
    );
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(3),
        "{wait:?}"
    );
    assert_eq!(
        rates.take(bucket(2, 2, 20)).await.unwrap(),
        Ok(()),
        "another key"
    );
    assert_eq!(
        rates.take(bucket(1, 1, 20)).await.unwrap(),
        Ok(()),
        "another class"
    );
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    assert_eq!(rates.take(b).await.unwrap(), Ok(()), "a token came back");
    assert!(rates.take(b).await.unwrap().is_err(), "only one");
    drop(store);
    drop_database(&name).await;
}

/// Two instances (two pools) taking from one bucket at once: together they get the burst,
/// not a token more (beyond the refill while they ran).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn instances_racing_for_one_shared_bucket_get_its_burst_once() {
    use coffer_relay::storage::rates::Rates as _;
    let (url, name) = fresh_database().await;
    let stores = [
        Arc::new(pg_store(&url).await),
        Arc::new(pg_store(&url).await),
    ];
    let b = bucket(2, 7, 20);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = Arc::clone(&stores[i % 2]);
        tasks.push(tokio::spawn(async move {
            store.shared_rates().unwrap().take(b).await.unwrap().is_ok()
        }));
    }
    let mut taken = 0;
    for t in tasks {
        taken += usize::from(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    let refilled = (elapsed.as_secs_f64() / 3.0).floor() as usize;
    assert!(
        (20..=20 + refilled).contains(&taken),
        "{taken} of 40 taken from a burst of 20 in {elapsed:?}"
    );
    drop(stores);
    drop_database(&name).await;
}

/// Maintenance deletes the buckets that are full again (a row would otherwise stay for every
/// client ever limited) and keeps the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn full_shared_rate_buckets_are_forgotten() {
    use coffer_relay::storage::rates::Rates as _;
    let (url, name) = fresh_database().await;
    let store = pg_store(&url).await;
    let rates = store.shared_rates().unwrap();
    // Full again 1 ms after the take, and 60 s after it.
    rates.take(bucket(1, 1, 60_000)).await.unwrap().unwrap();
    rates.take(bucket(1, 2, 1)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(rates.forget_full_buckets().await.unwrap(), 1);
    let c = client(&url).await;
    let left: Vec<Vec<u8>> = c
        .query("SELECT key FROM rate_buckets", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, vec![vec![2u8; 16]]);
    // The limited client is still limited.
    assert!(rates.take(bucket(1, 2, 1)).await.unwrap().is_err());
    drop((c, store));
    drop_database(&name).await;
}

/// The relay's limits on PostgreSQL (two instances' in-memory limits over one database):
/// `auth`, `register` and `upload` hold across instances with the same refusal as one
/// instance's (the hint names the setting); `general` stays per instance and never reaches
/// the database; what is stored is a hash, not the address or the user id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn cluster_classes_hold_across_instances_and_others_stay_per_instance() {
    use coffer_relay::config::Config;
    use coffer_relay::limits::{Class, Key, RateLimits};
    use coffer_relay::storage::rates::Rates as _;
    use std::num::NonZeroU32;

    let (url, name) = fresh_database().await;
    let store = pg_store(&url).await;
    let shared = store.shared_rates();
    let mut config = Config::default();
    let two = NonZeroU32::new(2).unwrap();
    (config.rate.auth, config.rate.register, config.rate.upload) = (two, two, two);
    config.rate.general = two;
    let (a, b) = (RateLimits::new(&config), RateLimits::new(&config));
    let ip = || Key::Ip("10.0.0.1".parse().unwrap());
    let user = || Key::User("3f9c1d2e-user".into());
    for (class, key) in [
        (Class::Auth, ip()),
        (Class::Register, ip()),
        (Class::Upload, user()),
    ] {
        // A, B: the budget of 2, spent across both; then both refuse, though each
        // instance's own bucket still holds a token.
        assert_eq!(
            a.check_shared(shared, class, key.clone()).await.unwrap(),
            Ok(())
        );
        assert_eq!(
            b.check_shared(shared, class, key.clone()).await.unwrap(),
            Ok(())
        );
        for limits in [&a, &b] {
            let refused = limits
                .check_shared(shared, class, key.clone())
                .await
                .unwrap()
                .expect_err("the shared budget is spent");
            assert!(refused.retry_after >= Duration::from_secs(1));
            assert_eq!(refused.limit.class, class);
            assert_eq!(refused.limit.per_minute, 2);
        }
        assert!(
            a.refused().contains(&(class.name(), 1)),
            "{:?}",
            a.refused()
        );
    }
    // Per instance: each gives its own budget of 2.
    for limits in [&a, &b] {
        for _ in 0..2 {
            assert_eq!(
                limits
                    .check_shared(shared, Class::General, user())
                    .await
                    .unwrap(),
                Ok(())
            );
        }
        assert!(
            limits
                .check_shared(shared, Class::General, user())
                .await
                .unwrap()
                .is_err()
        );
    }
    let c = client(&url).await;
    let rows = c
        .query("SELECT class, key FROM rate_buckets ORDER BY class", &[])
        .await
        .unwrap();
    let classes: Vec<i16> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        classes,
        [1, 2, 3],
        "register, auth, upload; nothing of general"
    );
    for r in &rows {
        let key: Vec<u8> = r.get(1);
        assert_eq!(key.len(), 16);
        assert_ne!(&key[..4], &[10, 0, 0, 1], "the address is not stored");
        assert!(!key.windows(4).any(|w| w == b"3f9c"), "nor the user id");
    }
    drop((c, store));
    drop_database(&name).await;
}

/// Figures, no assertions (docs/adr/0033): one shared check on PostgreSQL (the local bucket,
/// then the GCRA statement through the pool) against the local governor check alone, with
/// 1, 4 and 16 concurrent requests, distinct clients and one hot client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn shared_rate_check_costs() {
    use coffer_relay::config::Config;
    use coffer_relay::limits::{Class, Key, RateLimits};
    use coffer_relay::storage::rates::Rates as _;

    const OPS: usize = 2000;
    let (url, name) = fresh_database().await;
    let store = Arc::new(pg_store(&url).await);
    let mut config = Config::default();
    config.rate.auth = std::num::NonZeroU32::new(1_000_000).unwrap();
    let client_ip = |i: usize| Key::Ip(std::net::Ipv4Addr::from(0x0a00_0000 + i as u32).into());

    let limits = RateLimits::new(&config);
    let started = Instant::now();
    for i in 0..OPS * 50 {
        limits.check(Class::Auth, client_ip(i % 10_000)).unwrap();
    }
    let local = started.elapsed() / (OPS * 50) as u32;
    println!("rate check, local governor bucket: {local:?} per check (one thread)");

    for hot in [false, true] {
        for tasks in [1usize, 4, 16] {
            let limits = Arc::new(RateLimits::new(&config));
            let started = Instant::now();
            let mut handles = Vec::new();
            for t in 0..tasks {
                let (limits, store) = (Arc::clone(&limits), Arc::clone(&store));
                handles.push(tokio::spawn(async move {
                    for i in 0..OPS / tasks {
                        let key = if hot {
                            client_ip(0)
                        } else {
                            client_ip(t * OPS + i)
                        };
                        limits
                            .check_shared(store.shared_rates(), Class::Auth, key)
                            .await
                            .unwrap()
                            .unwrap();
                    }
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
            let took = started.elapsed();
            let done = (OPS / tasks) * tasks;
            let per_second = done as f64 / took.as_secs_f64();
            let mean = took * tasks as u32 / done as u32;
            println!(
                "rate check, shared on PostgreSQL ({}, {tasks} concurrent): \
                 {per_second:.0} checks/s, {mean:?} mean latency, {:.0}x the local check",
                if hot {
                    "one hot client"
                } else {
                    "distinct clients"
                },
                mean.as_secs_f64() / local.as_secs_f64()
            );
        }
    }
    drop(store);
    drop_database(&name).await;
}

/// Maintenance runs on one instance at a time (issue 14): two stores on one database are two
/// instances; while one holds its turn the other gets none, and once the turn is dropped (or
/// its instance dies: the session lock ends with the connection) the other gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
async fn maintenance_runs_on_one_instance_at_a_time() {
    use coffer_relay::storage::operators::Operators as _;

    let (url, name) = fresh_database().await;
    let settings = PgSettings::parse(&url).unwrap();
    let a = coffer_relay::pg::store::PgStore::open(&settings)
        .await
        .unwrap();
    let b = coffer_relay::pg::store::PgStore::open(&settings)
        .await
        .unwrap();
    let turn = a
        .maintenance_turn()
        .await
        .unwrap()
        .expect("the first asks: its turn");
    assert!(
        b.maintenance_turn().await.unwrap().is_none(),
        "another instance's turn while A holds it"
    );
    assert!(
        a.maintenance_turn().await.unwrap().is_none(),
        "not even A twice: the turn is the database's, one at a time"
    );
    drop(turn);
    let started = Instant::now();
    let next = loop {
        if let Some(turn) = b.maintenance_turn().await.unwrap() {
            break turn;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "B gets the turn within 5 s of A dropping it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(next);
    drop((a, b));
    drop_database(&name).await;
}
