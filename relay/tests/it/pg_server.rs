//! A throw-away database on the test PostgreSQL server (`COFFER_TEST_POSTGRES_URL`, a role
//! that may create databases; `scripts/postgres.sh up` prints one). Without the variable a
//! test fails and says so: these tests are `#[ignore]`d, run by `.ci/run` with `--ignored pg::`.

use tokio_postgres::NoTls;

pub(crate) fn admin_url() -> String {
    std::env::var("COFFER_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "COFFER_TEST_POSTGRES_URL is not set: these tests need a PostgreSQL server. Start \
             one with `scripts/postgres.sh up` and export the URL it prints"
        )
    })
}

/// How test databases are created: with ICU's root collation, not the server's `C.UTF-8`
/// default, so that a query ordering text without `COLLATE "C"` (SQLite's byte order) fails
/// a test here instead of on an operator's server.
pub(crate) const COLLATION: &str =
    "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und' LOCALE 'C.UTF-8'";

/// A new, empty database; its URL.
pub(crate) async fn fresh_database() -> (String, String) {
    let admin = admin_url();
    let (client, conn) = tokio_postgres::connect(&admin, NoTls).await.unwrap();
    tokio::spawn(conn);
    let name = format!("coffer_t_{:016x}", rand_u64());
    client
        .batch_execute(&format!("CREATE DATABASE {name} {COLLATION}"))
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    (format!("{base}/{name}"), name)
}

/// Drops the database. `WITH (FORCE)` ends its sessions, but not one it may not signal: an
/// autovacuum worker that just started on the fresh database (SQLSTATE 42501) or a session
/// ending (55006). Those are waited out: a few tries, 200 ms apart.
pub(crate) async fn drop_database(name: &str) {
    let (client, conn) = tokio_postgres::connect(&admin_url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    let mut tries = 0;
    loop {
        match client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
        {
            Ok(()) => return,
            Err(_) if tries < 25 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("DROP DATABASE {name}: {e}"),
        }
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}
