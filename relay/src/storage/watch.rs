//! Change marks for the relay's in-memory caches: the session cache ([`crate::session_cache`])
//! and the fetch cache ([`crate::fetch_cache`]) keep an answer only while the generation it was
//! read under is current.
//!
//! An adapter bumps a generation when a write that could change the answer *commits* (SQLite:
//! triggers mark the running transaction, the commit publishes the marks; a shared database
//! must also publish the writes of other relay instances, e.g. by LISTEN/NOTIFY). Reading a
//! generation is a memory load: it must not touch the database.

pub use crate::store::fetch_watch::FetchGeneration;

/// Generations of cached answers.
pub trait Watch {
    /// The generation of sessions and the user columns they carry: a cached session read under
    /// an older one is stale.
    fn auth_generation(&self) -> u64;

    /// The generation of `owner`'s download answers: a cached answer read under an older one
    /// is stale.
    fn fetch_generation(&self, owner: &str) -> FetchGeneration;

    /// Whether the generations move when any writer's write commits, before that writer is
    /// answered, so that a cached answer is exact. `false` (a database other processes write
    /// to, whose changes arrive later): the relay keeps its caches off, as they could only
    /// miss.
    fn exact(&self) -> bool;
}
