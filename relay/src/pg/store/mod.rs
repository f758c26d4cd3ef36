//! The PostgreSQL adapter of the storage port ([`crate::storage`]): each noun's trait in its
//! own module here, in PostgreSQL's SQL (docs/adr/0032-postgresql.md).
//!
//! The rules every method keeps (the port's, restated for this adapter):
//! - **One method, one transaction**: a method takes a pooled connection, opens one
//!   transaction (READ COMMITTED), and commits once; a write is answered after its commit,
//!   which PostgreSQL makes durable (`synchronous_commit` is the server's, on by default).
//! - **Checks that must not be overtaken** lock what they read before deciding: the owner's
//!   `users` row (`SELECT … FOR UPDATE`, see [`lock_user`]) serialises one account's
//!   quota, version and grant decisions across every relay instance; a rule over the whole
//!   relay (the user cap) takes a transaction-scoped advisory lock ([`lock_relay_wide`]).
//!   Conditional statements (`… WHERE version < $n`, `INSERT … ON CONFLICT DO NOTHING`)
//!   answer races the same way SQLite's single writer does.
//! - **Errors by kind**: a lost server is [`StoreError::Unavailable`] (answered 503 with
//!   `Retry-After`), a serialisation failure or deadlock [`StoreError::Busy`]; no value ever
//!   reaches an error message (`impl From<tokio_postgres::Error> for StoreError`).
//! - **Coarse times** are the caller's (the service floors them); this adapter stores what it
//!   is given, as SQLite's does.

mod devices;
mod grants;
mod invites;
mod operators;
mod own_grants;
mod own_sessions;
mod pairings;
mod rates;
mod receipts;
mod sessions;
mod sharing;
mod tombstones;
mod users;
mod volumes;
mod watch;

use std::sync::Arc;

use deadpool_postgres::{GenericClient, Object, Pool};

use super::watch::PgWatch;
use super::{Driver, PgSettings, connection, migrations};
use crate::store::StoreError;

/// The advisory-lock key of relay-wide decisions (the registration gate's user cap and its
/// single-use codes). Distinct from the migration lock's key.
const RELAY_WIDE_LOCK: i64 = 0x636f_6666_6572_0002;

/// The advisory-lock key of the maintenance turn (a session lock: one instance runs the
/// expiry and the orphan sweep at a time).
pub(crate) const MAINTENANCE_LOCK: i64 = 0x636f_6666_6572_0003;

/// The PostgreSQL adapter: a connection pool, and the generations that keep this instance's
/// caches out of the way (watch.rs).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
    /// Kept for the pool's connections (dropped after it, field order).
    _driver: Arc<Driver>,
    watch: Arc<PgWatch>,
}

impl PgStore {
    /// Connects and brings the schema to the latest version (once across racing instances).
    /// Must be called inside a Tokio runtime.
    pub async fn open(settings: &PgSettings) -> Result<Self, StoreError> {
        let driver = Arc::new(Driver::start()?);
        let pool = settings.pool(&driver)?;
        {
            let mut conn = connection(&pool).await?;
            migrations::migrate(&mut conn).await?;
        }
        // Strict: the caches are not trusted on PostgreSQL (watch.rs), so no listener runs.
        let watch = Arc::new(PgWatch::default());
        Ok(Self {
            pool,
            _driver: driver,
            watch,
        })
    }

    /// A pooled connection ([`StoreError::Unavailable`] when the server cannot be reached
    /// within [`super::CONNECT_TIMEOUT`]).
    pub(crate) async fn conn(&self) -> Result<Object, StoreError> {
        connection(&self.pool).await
    }
}

/// Locks the account `id`'s row until the transaction ends, so that one account's
/// check-then-write decisions (quota, versions, grants) are taken one at a time across every
/// instance. `false`: no such account.
pub(crate) async fn lock_user(tx: &impl GenericClient, id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .is_some())
}

/// Takes the relay-wide advisory lock until the transaction ends.
pub(crate) async fn lock_relay_wide(tx: &impl GenericClient) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&RELAY_WIDE_LOCK])
        .await?;
    Ok(())
}

/// A count or size column (BIGINT, never negative by the schema's checks) as `u64`.
pub(crate) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A `u64` argument as BIGINT, saturating (limits and sizes far below `i64::MAX`).
pub(crate) fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
