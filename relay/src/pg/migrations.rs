//! Versioned schema migrations for PostgreSQL, tracked in the table `coffer_schema`.
//!
//! The same rules as the SQLite migrations (`store/migrations.rs`): each migration runs in
//! its own transaction together with the version bump, so a crash leaves the previous version
//! or the next; a released migration is never edited; a database from a newer relay is
//! refused, and so is a database holding someone else's tables. One more rule for a shared
//! database: relay instances starting together migrate one at a time (a transaction-scoped
//! advisory lock), and each finds the work done by the one before.

use tokio_postgres::{Client, GenericClient};

use crate::store::StoreError;

/// The migrations, in order; index + 1 is the schema version each one produces.
pub const MIGRATIONS: &[&str] = &[
    // 1: the data model of SQLite schema version 10, with login challenges in a table and the
    // change notifications of every relay instance's caches.
    include_str!("schema.sql"),
    // 2: the rate-limit buckets every instance shares (docs/adr/0033). UNLOGGED: no WAL, not
    // replicated, emptied after a server crash (every client then starts from a full bucket);
    // a bucket's row lives only until it is full again (maintenance deletes it).
    include_str!("rate_buckets.sql"),
];

/// The advisory lock key migrations take (`pg_advisory_xact_lock`): "coffer" in ASCII.
const MIGRATION_LOCK: i64 = 0x636f_6666_6572;

/// The schema version this build produces.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// The database's schema version: 0 for an empty database.
pub async fn current(client: &Client) -> Result<i64, StoreError> {
    if !has_schema_table(client).await? {
        return Ok(0);
    }
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM coffer_schema", &[])
        .await?;
    Ok(row.get(0))
}

async fn has_schema_table(client: &impl GenericClient) -> Result<bool, StoreError> {
    let row = client
        .query_one("SELECT to_regclass('coffer_schema') IS NOT NULL", &[])
        .await?;
    Ok(row.get(0))
}

/// Tables in the connection's schema other than Coffer's version table.
async fn foreign_tables(client: &impl GenericClient) -> Result<i64, StoreError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() \
             AND tablename <> 'coffer_schema'",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Brings the schema to [`latest`].
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    migrate_with(client, MIGRATIONS).await
}

/// [`migrate`] with a given list (tests use a list with a failing step).
pub async fn migrate_with(client: &mut Client, migrations: &[&str]) -> Result<(), StoreError> {
    let target = migrations.len() as i64;
    loop {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let found = if has_schema_table(&tx).await? {
            let row = tx
                .query_one("SELECT coalesce(max(version), 0) FROM coffer_schema", &[])
                .await?;
            row.get::<_, i64>(0)
        } else {
            if foreign_tables(&tx).await? > 0 {
                return Err(StoreError::Foreign(
                    "the PostgreSQL database holds tables but no Coffer schema version: it is \
                     not a Coffer relay database; nothing was changed. Give the relay a \
                     database of its own (an empty one is set up on first start)"
                        .into(),
                ));
            }
            tx.batch_execute("CREATE TABLE coffer_schema (version BIGINT NOT NULL)")
                .await?;
            0
        };
        if found > target {
            return Err(StoreError::TooNew {
                found,
                supported: target,
            });
        }
        if found == target {
            tx.commit().await?;
            return Ok(());
        }
        let index = usize::try_from(found).map_err(|_| StoreError::Corrupt("schema version"))?;
        let next = found + 1;
        tx.batch_execute(migrations[index]).await?;
        tx.execute("DELETE FROM coffer_schema", &[]).await?;
        tx.execute("INSERT INTO coffer_schema (version) VALUES ($1)", &[&next])
            .await?;
        tx.commit().await?;
        tracing::info!(version = next, "PostgreSQL schema migrated");
    }
}
