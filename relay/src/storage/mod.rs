//! The storage port: what handlers and the service layer may ask of storage, named by domain
//! nouns, with no database or file type in sight (docs/adr/0030-storage-port.md).
//!
//! Two interfaces, chosen independently by the operator:
//! - [`Storage`], the metadata: users, sessions and challenges, volumes, sharing, pairings,
//!   grants, devices, invites, stats and maintenance, and the rate-limit buckets instances
//!   share ([`rates`]). Adapter today: SQLite
//!   ([`crate::store::port::SqliteStore`]); each noun is one trait in its own module, and
//!   [`Storage`] is all of them.
//! - [`blobs::Blobs`], the payload bytes: files in the data directory
//!   ([`crate::store::blobs::BlobStore`]) or an S3-compatible object store
//!   ([`crate::s3::S3Blobs`]), `[blobs] backend`.
//!
//! The rules every adapter keeps, whatever it is built on:
//! - **One method, one transaction.** A method's checks and its writes see one snapshot and
//!   commit together, and a write is answered only once it is durable. A method that must
//!   decide on stored state (a signature checked against the stored key, a version that must
//!   grow) takes that decision inside its transaction, through a domain callback where the rule
//!   is the handler's, never a database handle.
//! - **Refusals are values.** A domain refusal is [`Decision`]'s inner `Err(Refusal)`; an
//!   outer `Err(StoreError)` means storage itself failed (answered 500/503/507 at the edge).
//! - **Blobs before rows.** Metadata and blobs never call each other: the service layer writes
//!   a blob durably, then commits the row that names it, then removes what the row replaced.
//!   A method that drops rows naming blobs answers the blob names for the caller to remove.
//! - **Owned arguments.** Futures are `'static`-friendly: an adapter may move its arguments to
//!   another thread (SQLite runs on the blocking pool) or send them over a socket (PostgreSQL).
//!
//! Methods return a boxed future ([`StoreFuture`]) so that the port is object-safe:
//! [`crate::state::AppState`] holds an `Arc<dyn Storage>`, chosen at start-up from
//! `[storage] backend`. The box is one allocation per call; every call already hands off to a
//! blocking thread or a socket (docs/BENCHMARKS.md).

use std::future::Future;
use std::pin::Pin;

pub use crate::service::{Decision, Refusal};
pub use crate::store::StoreError;

pub mod blobs;
pub mod devices;
pub mod grants;
pub mod invites;
pub mod operators;
pub mod own_grants;
pub mod own_sessions;
pub mod pairings;
pub mod rates;
pub mod receipts;
pub mod sessions;
pub mod sharing;
pub mod tombstones;
pub mod users;
pub mod volumes;
pub mod watch;

/// What a storage method returns: a boxed, `Send` future of its result.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A storage method whose outcome may be a domain refusal ([`Decision`]).
pub type DecisionFuture<'a, T> = StoreFuture<'a, Result<T, Refusal>>;

/// Everything the relay stores about users, sessions, volumes and grants: the union of the
/// per-noun traits. Implemented by every type that implements them all.
pub trait Storage:
    devices::Devices
    + grants::Grants
    + invites::Invites
    + operators::Operators
    + own_grants::OwnGrants
    + own_sessions::OwnSessions
    + pairings::Pairings
    + rates::Rates
    + receipts::Receipts
    + sessions::Sessions
    + sharing::Sharing
    + tombstones::Tombstones
    + users::Users
    + volumes::Volumes
    + watch::Watch
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
{
}

impl<T> Storage for T where
    T: devices::Devices
        + grants::Grants
        + invites::Invites
        + operators::Operators
        + own_grants::OwnGrants
        + own_sessions::OwnSessions
        + pairings::Pairings
        + rates::Rates
        + receipts::Receipts
        + sessions::Sessions
        + sharing::Sharing
        + tombstones::Tombstones
        + users::Users
        + volumes::Volumes
        + watch::Watch
        + Send
        + Sync
        + std::fmt::Debug
        + 'static
{
}
