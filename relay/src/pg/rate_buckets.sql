-- Schema version 2: the rate-limit buckets every relay instance shares (docs/adr/0033).
-- One row per limited client (or user) and class, keyed by a hash; `tat` is the bucket's
-- theoretical arrival time (GCRA), in microseconds since the Unix epoch on the database's
-- clock. A row whose `tat` has passed is a full bucket, which maintenance deletes.
CREATE UNLOGGED TABLE rate_buckets (
    class SMALLINT NOT NULL,
    key BYTEA NOT NULL,
    tat BIGINT NOT NULL,
    CHECK (octet_length(key) = 16),
    PRIMARY KEY (class, key)
);
