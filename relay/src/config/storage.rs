//! `[storage]`: where payloads are kept (docs/adr/0027-inline-small-volumes-and-login-writes.md).

use serde::Deserialize;

/// The default `storage.inline_max`: the storage benchmark's crossover (docs/adr/0027).
pub const DEFAULT_INLINE_MAX: u64 = 64 * 1024;

/// The largest `storage.inline_max` allowed: an inline payload is read whole, never streamed.
pub const INLINE_MAX_LIMIT: u64 = 256 * 1024;

/// Payload storage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Payloads of at most this many bytes are stored in the database, in the transaction of
    /// their row (one fsync for a batch of uploads); larger ones are blob files, fsynced before
    /// the row commits. 0 = every payload a file. At most 262144. Changing it moves nothing:
    /// each stored version stays where it was written until it is replaced.
    pub inline_max: u64,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            inline_max: DEFAULT_INLINE_MAX,
        }
    }
}
