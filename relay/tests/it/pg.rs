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
