//! The crate's single source of randomness: the operating system's generator.
//!
//! No user-space PRNG sits in between (no `ThreadRng`), so a forked process or a restored VM
//! snapshot never replays key material from a copied generator state.

use rand::rngs::SysRng;
use rand_core::{Rng as _, UnwrapErr};

/// A cryptographic RNG reading straight from the OS.
///
/// # Panics
/// Drawing from it panics if the operating system cannot supply randomness (e.g. `getrandom`
/// fails). That is an environment failure, not input-dependent, and continuing without
/// randomness would be worse.
pub(crate) fn os_rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

/// Fills `dest` with OS randomness. Same panic condition as [`os_rng`].
pub(crate) fn fill(dest: &mut [u8]) {
    os_rng().fill_bytes(dest);
}
