//! Aggregates for the admin API (v1.md §4). Counts and sizes only: no keys, no content.

use rusqlite::Connection;
use serde::Serialize;

use super::{StoreError, admin_view, challenges, invites, sessions};

/// Per volume name: how many and how many bytes.
#[derive(Debug, Serialize)]
pub struct VolumeBreakdown {
    /// Volume name.
    pub volume_name: String,
    /// Number of stored volumes with that name.
    pub count: u64,
    /// Their padded payload bytes.
    pub total_bytes: u64,
}

/// `GET /admin/stats`.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// Users with client type `system`.
    pub system_users: u64,
    /// Users with client type `friend`.
    pub friend_users: u64,
    /// Stored volumes, v1 and v2.
    pub total_volumes: u64,
    /// The storage figure ([`admin_view::storage`]), v1 and v2.
    pub total_storage_bytes: u64,
    /// Registrations in the last 30 days (hour resolution).
    pub recent_registrations_30d: u64,
    /// Active relationships, v1 and v2 (live v2 grants).
    pub active_shares: u64,
    /// Pending relationships, v1 and v2 (v2 pairings without a grant).
    pub pending_shares: u64,
    /// Per volume name, v1 and v2.
    pub volume_breakdown: Vec<VolumeBreakdown>,
    /// (v1, v2) accounts.
    pub users_by_protocol: (u64, u64),
    /// The storage figure split by protocol.
    pub storage: admin_view::Storage,
}

fn count(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(sql, params, |r| r.get(0))?;
    Ok(n as u64)
}

/// Computes the overview.
pub fn stats(conn: &Connection, now: i64) -> Result<Stats, StoreError> {
    let storage = admin_view::storage(conn)?;
    let (active_shares, pending_shares) = admin_view::share_counts(conn, now)?;
    let breakdown = admin_view::breakdown(conn)?
        .into_iter()
        .map(|(volume_name, count, total_bytes)| VolumeBreakdown {
            volume_name,
            count,
            total_bytes,
        })
        .collect();
    Ok(Stats {
        system_users: count(
            conn,
            "SELECT count(*) FROM users WHERE client_type = 'system'",
            [],
        )?,
        friend_users: count(
            conn,
            "SELECT count(*) FROM users WHERE client_type = 'friend'",
            [],
        )?,
        total_volumes: storage.volumes_v1 + storage.volumes_v2,
        total_storage_bytes: storage.bytes,
        recent_registrations_30d: count(
            conn,
            "SELECT count(*) FROM users WHERE created_at >= ?1",
            [now - 30 * 86_400],
        )?,
        active_shares,
        pending_shares,
        volume_breakdown: breakdown,
        users_by_protocol: admin_view::users_by_protocol(conn)?,
        storage,
    })
}

/// `GET /admin/sessions`.
#[derive(Debug, Serialize)]
pub struct SessionStats {
    /// Live sessions.
    pub active_sessions: u64,
    /// Unexpired challenges.
    pub pending_challenges: u64,
    /// Unredeemed, unexpired invites.
    pub active_invites: u64,
    /// Redeemed invites.
    pub redeemed_invites: u64,
}

/// Computes session/challenge/invite counts.
pub fn session_stats(conn: &Connection, now: i64) -> Result<SessionStats, StoreError> {
    let (active_invites, redeemed_invites) = invites::counts(conn, now)?;
    Ok(SessionStats {
        active_sessions: sessions::count_active(conn, now)?,
        pending_challenges: challenges::count_pending(conn, now)?,
        active_invites,
        redeemed_invites,
    })
}

/// Counts for `/metrics`, read when it is scraped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// The storage figure ([`admin_view::storage`]), v1 and v2.
    pub storage_bytes: u64,
    /// v1 volumes.
    pub volumes_v1: u64,
    /// v2 volumes.
    pub volumes_v2: u64,
    /// System users.
    pub system_users: u64,
    /// Friend users.
    pub friend_users: u64,
    /// Live sessions.
    pub active_sessions: u64,
    /// Unexpired challenges.
    pub pending_challenges: u64,
}

/// Reads the [`Gauges`].
pub fn gauges(conn: &Connection, now: i64) -> Result<Gauges, StoreError> {
    let storage = admin_view::storage(conn)?;
    Ok(Gauges {
        storage_bytes: storage.bytes,
        volumes_v1: storage.volumes_v1,
        volumes_v2: storage.volumes_v2,
        system_users: count(
            conn,
            "SELECT count(*) FROM users WHERE client_type = 'system'",
            [],
        )?,
        friend_users: count(
            conn,
            "SELECT count(*) FROM users WHERE client_type = 'friend'",
            [],
        )?,
        active_sessions: sessions::count_active(conn, now)?,
        pending_challenges: challenges::count_pending(conn, now)?,
    })
}
