//! Rate-limit buckets every relay instance of one database shares (docs/adr/0033): the
//! `register`, `auth` and `upload` limits hold across instances, so a client alternating
//! between them gets the configured budget once, not once per instance.
//!
//! A store that serves one process (SQLite) has no shared buckets: that process's in-memory
//! buckets ([`crate::limits`]) are the whole limit, and [`Rates::shared_rates`] is `None`.

use std::num::NonZeroU32;
use std::time::Duration;

use super::StoreFuture;

const MINUTE_MICROS: i64 = 60_000_000;

/// One bucket of a shared limit: a generic cell rate (GCRA) of `per_minute` tokens a minute,
/// holding at most `per_minute` (the burst of the in-memory buckets, governor's
/// `Quota::per_minute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedBucket {
    /// The limit's class, as a stable small number (the limits module assigns them).
    pub class: i16,
    /// Which client or user: a hash, never an address or an id (docs/adr/0033).
    pub key: [u8; 16],
    /// The configured rate, and the burst.
    pub per_minute: NonZeroU32,
}

impl SharedBucket {
    /// Microseconds between two tokens (the emission interval); at least one, so that a rate
    /// above 6·10^7 a minute still advances the bucket (with 0, concurrent takes whose clocks
    /// interleave were refused).
    pub fn interval_micros(&self) -> i64 {
        (MINUTE_MICROS / i64::from(self.per_minute.get())).max(1)
    }

    /// Microseconds a bucket's theoretical arrival time may run ahead of now and still take a
    /// token: one interval less than the burst's worth (a minute), exactly, whatever the
    /// rounding of the interval.
    pub fn tolerance_micros(&self) -> i64 {
        MINUTE_MICROS - self.interval_micros()
    }
}

/// The outcome of taking a token: taken, or refused with how long until one is left.
pub type Taken = Result<(), Duration>;

/// Buckets kept in the shared database.
pub trait SharedRates: Send + Sync {
    /// Takes one token from `bucket`, atomically for every instance (one statement, on the
    /// database's clock, so instances' clocks need not agree).
    fn take(&self, bucket: SharedBucket) -> StoreFuture<'_, Taken>;

    /// Deletes the buckets that are full again (a full bucket and a missing one take the same
    /// tokens), so rows live only while their client is limited: the number of rows is bounded
    /// by the clients of the last few minutes. Answers how many went.
    fn forget_full_buckets(&self) -> StoreFuture<'_, u64>;
}

/// Whether the store shares rate-limit buckets between processes.
pub trait Rates {
    /// The shared buckets, or `None`: one process uses this store, and its in-memory buckets
    /// are the limit.
    fn shared_rates(&self) -> Option<&dyn SharedRates>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(per_minute: u32) -> SharedBucket {
        SharedBucket {
            class: 0,
            key: [0; 16],
            per_minute: NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
        }
    }

    #[test]
    fn the_interval_and_the_burst_hold_for_every_rate() {
        // governor's Quota::per_minute: one token every minute/n, a burst of n.
        assert_eq!(bucket(60).interval_micros(), 1_000_000);
        assert_eq!(bucket(60).tolerance_micros(), 59_000_000);
        assert_eq!(bucket(1).tolerance_micros(), 0, "a burst of one");
        // Rounding never widens the burst beyond a minute's worth.
        assert_eq!(bucket(7).interval_micros(), 8_571_428);
        assert_eq!(bucket(7).tolerance_micros(), 60_000_000 - 8_571_428);
        // Above 6·10^7 a minute the interval would round to 0: one microsecond instead.
        assert_eq!(bucket(100_000_000).interval_micros(), 1);
        assert_eq!(bucket(u32::MAX).tolerance_micros(), 59_999_999);
    }
}
