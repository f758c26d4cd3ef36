//! [`SharedRates`] on PostgreSQL: one GCRA bucket per row of the UNLOGGED table
//! `rate_buckets`, taken from in one statement (one round trip, a prepared statement per
//! pooled connection), on the database's clock (docs/adr/0033).
//!
//! The statement inserts a fresh bucket, or moves an existing one's theoretical arrival time
//! (`tat`) on by one interval when the bucket still holds a token (`ON CONFLICT … DO UPDATE
//! … WHERE`, which locks the row: instances taking from one bucket at once are serialised).
//! A refused take changes nothing; the wait is read from the statement's snapshot. A row its
//! snapshot cannot see yet (inserted by a take that committed meanwhile) gives a wait of one
//! interval: at most one interval more than the exact one, never a token too many.

use std::time::Duration;

use super::PgStore;
use crate::storage::StoreFuture;
use crate::storage::rates::{Rates, SharedBucket, SharedRates, Taken};

/// Now on the database's clock, in microseconds since the Unix epoch.
macro_rules! now_micros {
    () => {
        "(extract(epoch FROM statement_timestamp()) * 1000000)::BIGINT"
    };
}

/// `$1` class, `$2` key, `$3` interval, `$4` tolerance (µs). Answers whether a token was taken,
/// the bucket's `tat` before the statement (when its snapshot sees the row) and now.
const TAKE: &str = concat!(
    "WITH now AS (SELECT ",
    now_micros!(),
    " AS us), \
     taken AS ( \
       INSERT INTO rate_buckets AS b (class, key, tat) \
       SELECT $1::SMALLINT, $2::BYTEA, now.us + $3::BIGINT FROM now \
       ON CONFLICT (class, key) DO UPDATE \
         SET tat = greatest(b.tat, excluded.tat - $3::BIGINT) + $3::BIGINT \
         WHERE greatest(b.tat, excluded.tat - $3::BIGINT) - (excluded.tat - $3::BIGINT) \
           <= $4::BIGINT \
       RETURNING 1 \
     ) \
     SELECT EXISTS (SELECT 1 FROM taken), \
       (SELECT tat FROM rate_buckets WHERE class = $1::SMALLINT AND key = $2::BYTEA), \
       (SELECT us FROM now)"
);

/// Deletes the full buckets.
const FORGET_FULL: &str = concat!("DELETE FROM rate_buckets WHERE tat <= ", now_micros!());

impl SharedRates for PgStore {
    fn take(&self, bucket: SharedBucket) -> StoreFuture<'_, Taken> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let statement = conn.prepare_cached(TAKE).await?;
            let interval = bucket.interval_micros();
            let tolerance = bucket.tolerance_micros();
            let key: &[u8] = &bucket.key;
            let row = conn
                .query_one(&statement, &[&bucket.class, &key, &interval, &tolerance])
                .await?;
            if row.try_get::<_, bool>(0)? {
                return Ok(Ok(()));
            }
            let before: Option<i64> = row.try_get(1)?;
            let now: i64 = row.try_get(2)?;
            let wait = before.map_or(interval, |tat| tat - tolerance - now);
            let wait = u64::try_from(wait.clamp(0, interval)).unwrap_or(0);
            Ok(Err(Duration::from_micros(wait)))
        })
    }

    fn forget_full_buckets(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let deleted = conn.execute(FORGET_FULL, &[]).await?;
            Ok(deleted)
        })
    }
}

impl Rates for PgStore {
    fn shared_rates(&self) -> Option<&dyn SharedRates> {
        Some(self)
    }
}
