//! Fault injection for the `faults_*` suites: what clients know about their writes
//! ([`ledger`]), crashing the relay at a chosen request ([`kill`]), checking what a stopped
//! relay left on disk and holding its database's write lock ([`store`]), a small tmpfs to fill
//! ([`tmpfs`]) and a wall clock to move ([`clock`]).
//!
//! Every fault test ends the same way: restart the relay, [`Ledger::verify_v2`] /
//! [`Ledger::verify_v1`] (every acknowledged write served byte for byte), stop it, and
//! [`check_store`] (integrity check, no row without its blob, quotas exact).

pub mod clock;
pub mod kill;
pub mod ledger;
pub mod store;
pub mod tmpfs;

pub use clock::{FakeClock, relay_clock};
pub use kill::{FaultyRelay, KillAt, KillSwitch, sigkill};
pub use ledger::Ledger;
pub use store::{StoreReport, WriteLock, check_store, stop_and_check};
pub use tmpfs::{Tmpfs, require_root};
