//! Aggregates for the admin API (v1.md §4). Counts and sizes only: no keys, no content.

use rusqlite::Connection;
use serde::Serialize;

use super::{StoreError, challenges, invites, sessions};

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
    /// Stored volumes.
    pub total_volumes: u64,
    /// Sum of stored payload sizes.
    pub total_storage_bytes: u64,
    /// Registrations in the last 30 days (hour resolution).
    pub recent_registrations_30d: u64,
    /// Active relationships.
    pub active_shares: u64,
    /// Pending relationships.
    pub pending_shares: u64,
    /// Per volume name.
    pub volume_breakdown: Vec<VolumeBreakdown>,
}

fn count(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(sql, params, |r| r.get(0))?;
    Ok(n as u64)
}

/// Computes the overview.
pub fn stats(conn: &Connection, now: i64) -> Result<Stats, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT volume_name, count(*), coalesce(sum(size_bytes), 0) FROM volumes GROUP BY volume_name ORDER BY volume_name",
    )?;
    let breakdown = stmt
        .query_map([], |r| {
            Ok(VolumeBreakdown {
                volume_name: r.get(0)?,
                count: r.get::<_, i64>(1)? as u64,
                total_bytes: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
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
        total_volumes: breakdown.iter().map(|b| b.count).sum(),
        total_storage_bytes: breakdown.iter().map(|b| b.total_bytes).sum(),
        recent_registrations_30d: count(
            conn,
            "SELECT count(*) FROM users WHERE created_at >= ?1",
            [now - 30 * 86_400],
        )?,
        active_shares: count(
            conn,
            "SELECT count(*) FROM sharing WHERE status = 'active'",
            [],
        )?,
        pending_shares: count(
            conn,
            "SELECT count(*) FROM sharing WHERE status = 'pending'",
            [],
        )?,
        volume_breakdown: breakdown,
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
    /// Stored payload bytes, v1 and v2.
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
    let (v1_count, v1_bytes): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(size_bytes), 0) FROM volumes",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (v2_count, v2_bytes): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(size_bytes), 0) FROM volumes_v2",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Gauges {
        storage_bytes: (v1_bytes.max(0) + v2_bytes.max(0)) as u64,
        volumes_v1: v1_count as u64,
        volumes_v2: v2_count as u64,
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
