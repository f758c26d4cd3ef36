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

/// A new, empty database; its URL.
pub(crate) async fn fresh_database() -> (String, String) {
    let admin = admin_url();
    let (client, conn) = tokio_postgres::connect(&admin, NoTls).await.unwrap();
    tokio::spawn(conn);
    let name = format!("coffer_t_{:016x}", rand_u64());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    (format!("{base}/{name}"), name)
}

pub(crate) async fn drop_database(name: &str) {
    let (client, conn) = tokio_postgres::connect(&admin_url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
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
