//! What the operator sees and what keeps the store tidy: stats, the admin views, maintenance.
//! Metadata only: counts, sizes, coarse times, ids (docs/metadata-inventory.md).

/// Stats, admin views and maintenance.
pub trait Operators {}
