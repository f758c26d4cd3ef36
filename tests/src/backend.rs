//! The metadata store the e2e suites run their relays on (issue 14: the same suites against
//! every back end, parameterised, not copied).
//!
//! `COFFER_TEST_BACKEND` in the test process's environment chooses it:
//! - unset or `sqlite`: each relay's own SQLite database in its data directory (the default);
//! - `postgres`: each relay gets a fresh database on the PostgreSQL server of
//!   `COFFER_TEST_POSTGRES_URL` (a role that may create databases; `scripts/postgres.sh up`
//!   prints one), dropped when the relay's [`crate::relay::RelayProcess`] is.
//!
//! Anything else is a mistake the run fails on, never a silent fallback to SQLite.
//!
//! `COFFER_TEST_BLOBS` chooses the blob store the same way:
//! - unset or `files`: each relay's own blob directory (the default);
//! - `s3`: the S3 bucket of `COFFER_S3_ENDPOINT`, `COFFER_S3_REGION`, `COFFER_S3_BUCKET` and
//!   `COFFER_S3_CREDENTIALS_FILE` (`scripts/garage.sh up` prints them), shared by every relay
//!   of the run (each user's blobs are under its own prefix).

use tokio_postgres::NoTls;

/// The back end of this test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// A shared database server.
    Postgres,
}

/// The back end `COFFER_TEST_BACKEND` names (panics on a value it does not know).
pub fn selected() -> Backend {
    match std::env::var("COFFER_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("COFFER_TEST_BACKEND={other}: expected sqlite or postgres"),
    }
}

/// The blob store of this test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blobs {
    /// Each relay's own blob directory.
    Files,
    /// A shared S3 bucket.
    S3,
}

/// The blob store `COFFER_TEST_BLOBS` names (panics on a value it does not know).
pub fn blobs() -> Blobs {
    match std::env::var("COFFER_TEST_BLOBS").as_deref() {
        Err(_) | Ok("") | Ok("files") => Blobs::Files,
        Ok("s3") => Blobs::S3,
        Ok(other) => panic!("COFFER_TEST_BLOBS={other}: expected files or s3"),
    }
}

/// The relay environment for the S3 bucket of this run (panics, saying how to get them, when
/// a variable is missing).
pub fn s3_env() -> Vec<(String, String)> {
    let mut env = vec![("COFFER_BLOBS_BACKEND".to_owned(), "s3".to_owned())];
    for name in [
        "COFFER_S3_ENDPOINT",
        "COFFER_S3_REGION",
        "COFFER_S3_BUCKET",
        "COFFER_S3_CREDENTIALS_FILE",
    ] {
        let value = std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "COFFER_TEST_BLOBS=s3 needs {name}: start Garage with `scripts/garage.sh up` and \
                 export the variables it prints"
            )
        });
        env.push((name.to_owned(), value));
    }
    env
}

/// A database of one relay on the test PostgreSQL server; dropped with this value.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

fn admin_url() -> String {
    std::env::var("COFFER_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "COFFER_TEST_BACKEND=postgres needs COFFER_TEST_POSTGRES_URL, the URL of a role that \
             may create databases (scripts/postgres.sh up prints one)"
        )
    })
}

/// Runs `f` on a runtime of its own, on a thread of its own: usable from `Drop` and from
/// inside another runtime.
fn on_own_runtime<T: Send + 'static>(
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the test database")
            .block_on(f())
    })
    .join()
    .expect("the test database thread")
}

impl PgDatabase {
    /// Creates a fresh, empty database.
    pub fn create() -> Self {
        let admin_url = admin_url();
        let name = format!("coffer_e2e_{}", hex::encode(rand::random::<[u8; 8]>()));
        let (admin, db) = (admin_url.clone(), name.clone());
        on_own_runtime(move || {
            Box::pin(async move {
                let (client, conn) = tokio_postgres::connect(&admin, NoTls)
                    .await
                    .expect("connect to COFFER_TEST_POSTGRES_URL");
                tokio::spawn(conn);
                client
                    // ICU's root collation, not C: an ordering that forgets `COLLATE "C"`
                    // shows (relay/tests/it/pg_server.rs).
                    .batch_execute(&format!(
                        "CREATE DATABASE {db} TEMPLATE template0 LOCALE_PROVIDER icu \
                         ICU_LOCALE 'und' LOCALE 'C.UTF-8'"
                    ))
                    .await
                    .expect("CREATE DATABASE (the role needs CREATEDB)");
            })
        });
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }

    /// The relay's `COFFER_POSTGRES_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl PgDatabase {
    /// How many volume rows (v1 and v2) keep their payload inline and how many in a blob file
    /// (PostgreSQL's [`crate::faults::store::payload_places`]).
    pub fn payload_places(&self) -> (u64, u64) {
        let url = self.url.clone();
        on_own_runtime(move || {
            Box::pin(async move {
                let (client, conn) = tokio_postgres::connect(&url, NoTls)
                    .await
                    .expect("connect to the relay's database");
                tokio::spawn(conn);
                let row = client
                    .query_one(
                        "SELECT count(*) FILTER (WHERE blob_file LIKE 'inline:%'), \
                         count(*) FILTER (WHERE blob_file NOT LIKE 'inline:%') FROM \
                         (SELECT blob_file FROM volumes UNION ALL \
                          SELECT blob_file FROM volumes_v2) AS rows",
                        &[],
                    )
                    .await
                    .expect("count the payload places");
                let count = |i| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
                (count(0), count(1))
            })
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, db) = (self.admin_url.clone(), self.name.clone());
        on_own_runtime(move || {
            Box::pin(async move {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin, NoTls).await {
                    tokio::spawn(conn);
                    // FORCE: a relay still connected (a killed one's connections linger).
                    // An autovacuum worker it may not end is waited out (relay/tests/it/
                    // pg_server.rs); a database left behind goes with the throw-away server.
                    for _ in 0..25 {
                        let dropped = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                            .await;
                        if dropped.is_ok() {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
            })
        });
    }
}

/// How many volume rows (v1 and v2) keep their payload inline in the database and how many in
/// a blob file (`coffer_relay::store::inline`). Read-only; safe beside a running relay (WAL).
pub fn sqlite_payload_places(db: &std::path::Path) -> (u64, u64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("open {} read-only: {e}", db.display()));
    let (inline, files): (i64, i64) = conn
        .query_row(
            "SELECT count(*) FILTER (WHERE blob_file GLOB 'inline:*'), \
             count(*) FILTER (WHERE blob_file NOT GLOB 'inline:*') FROM \
             (SELECT blob_file FROM volumes UNION ALL SELECT blob_file FROM volumes_v2)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or_else(|e| panic!("query {}: {e}", db.display()));
    (
        u64::try_from(inline).unwrap_or(0),
        u64::try_from(files).unwrap_or(0),
    )
}
