//! The admin API's JSON (v1.md §4): what the relay's admin handlers answer and what
//! `coffer-admin` reads, one definition for both.
//!
//! The relay fills every field; the reader is lenient where v1 was (the reference relay may
//! send any JSON for a maintenance report, optional counts, no `feature_set`), so those fields
//! are `Option` with a default and unknown fields are ignored: a newer relay that adds fields
//! keeps older CLIs working. Metadata only — never keys, wrapped keys, tokens or content.

use serde::{Deserialize, Serialize};

/// `{"status": "ok", ...}`: an answer that reports success next to its own fields. The relay
/// writes it; readers read the inner type directly (the status is implied by the 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusOk<T> {
    /// Always `ok`.
    pub status: OkStatus,
    /// The answer's own fields, at the same level as `status`.
    #[serde(flatten)]
    pub body: T,
}

impl<T> StatusOk<T> {
    /// `body` with `"status": "ok"`.
    pub const fn new(body: T) -> Self {
        StatusOk {
            status: OkStatus::Ok,
            body,
        }
    }
}

/// The `status` of a [`StatusOk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OkStatus {
    /// Success.
    Ok,
}

/// One row of [`Stats::volume_breakdown`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeBreakdown {
    /// Volume name.
    pub volume_name: String,
    /// How many volumes of that name are stored.
    pub count: u64,
    /// Their stored (padded) bytes.
    pub total_bytes: u64,
}

/// `GET /api/v1/admin/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Users of client type `system`.
    pub system_users: u64,
    /// Users of client type `friend`.
    pub friend_users: u64,
    /// Stored volumes.
    pub total_volumes: u64,
    /// Stored payload bytes.
    pub total_storage_bytes: u64,
    /// Registrations in the last 30 days.
    pub recent_registrations_30d: u64,
    /// Active sharing relationships.
    pub active_shares: u64,
    /// Pending sharing relationships.
    pub pending_shares: u64,
    /// Per volume name.
    pub volume_breakdown: Vec<VolumeBreakdown>,
    /// Per protocol (1, then 2): users, stored volumes and their bytes; the rows add up to
    /// the totals above. `None` from a relay that predates the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_protocol: Option<Vec<ProtocolBreakdown>>,
}

/// One row of [`Stats::by_protocol`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolBreakdown {
    /// 1 or 2.
    pub protocol: u8,
    /// Accounts of that protocol (v2: registered with a key-binding proof).
    pub users: u64,
    /// Stored volumes of that protocol.
    pub volumes: u64,
    /// Their stored (padded) bytes.
    pub storage_bytes: u64,
}

/// One user, as listed by `GET /api/v1/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// UUID.
    pub id: String,
    /// Public handle, if any.
    pub handle: Option<String>,
    /// `system` or `friend`.
    pub client_type: String,
    /// Protocol version announced at registration.
    pub protocol_version: i64,
    /// Stored bytes.
    pub storage_used_bytes: u64,
    /// Registration time (ISO 8601, UTC, floored to the hour).
    pub created_at: String,
    /// The feature set as JSON text (a list of strings), as v1 sends it (the dashboard
    /// `JSON.parse`s it).
    #[serde(default)]
    pub feature_set: Option<String>,
    /// The protocol the account speaks: 2 for an account registered through v2 (it has a
    /// key-binding proof), 1 otherwise. `None` from a relay that predates the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
}

/// `GET /api/v1/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserList {
    /// Every user (or the requested page).
    pub users: Vec<User>,
    /// How many match the filters, on every page. `None` from a relay that predates paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Where the next page starts (`null` after the last one).
    #[serde(default)]
    pub next_offset: Option<u64>,
}

/// `GET /api/v1/admin/users/{id}`: the user and their volumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDetail {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// Their volumes' metadata.
    #[serde(default)]
    pub volumes: Vec<Volume>,
}

/// One stored volume's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Owner.
    pub user_id: String,
    /// Volume name.
    pub volume_name: String,
    /// Version.
    pub version: u64,
    /// Stored (padded) bytes.
    pub size_bytes: u64,
    /// Last upload (ISO 8601, UTC).
    pub updated_at: String,
    /// 1 for a v1 volume, 2 for a v2 one. `None` from a relay that predates the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
    /// A v2 volume's key epoch (`null` for v1 volumes).
    #[serde(default)]
    pub epoch: Option<u32>,
}

/// `GET /api/v1/admin/volumes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeList {
    /// Every stored volume (or the requested page).
    pub volumes: Vec<Volume>,
    /// How many match the filters, on every page. `None` from a relay that predates paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Where the next page starts (`null` after the last one).
    #[serde(default)]
    pub next_offset: Option<u64>,
}

/// One sharing relationship (never its keys or wrapped VEK: the relay does not send them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// Relationship id.
    pub id: String,
    /// The system sharing.
    pub system_user_id: String,
    /// The friend reading.
    pub friend_user_id: String,
    /// `pending`, `active` or `revoked` (v1); `pending`, `active`, `expired` or `revoked` (v2:
    /// a pairing without a grant yet, a live grant, a grant past its expiry, a grant that
    /// covers no volume).
    pub status: String,
    /// Permission flags as JSON text (an object of booleans), as v1 sends it; for v2, the
    /// volumes the grant covers, each `true` (`{"meta":true,"org.example.notes":true}`).
    #[serde(default)]
    pub permissions: Option<String>,
    /// Creation time (ISO 8601, UTC).
    pub created_at: String,
    /// Last change (ISO 8601, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// 1 for a v1 relationship, 2 for a v2 pairing. `None` from a relay that predates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
    /// When a v2 grant expires (ISO 8601, UTC); `null` for v1, for a pending pairing and for a
    /// grant that never expires.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `GET /api/v1/admin/sharing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareList {
    /// Every relationship (or the requested page).
    pub sharing: Vec<Share>,
    /// How many match the filters, on every page. `None` from a relay that predates paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Where the next page starts (`null` after the last one).
    #[serde(default)]
    pub next_offset: Option<u64>,
}

/// `GET /api/v1/admin/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStats {
    /// Live sessions.
    pub active_sessions: u64,
    /// Unexpired login challenges.
    pub pending_challenges: u64,
    /// Unredeemed, unexpired invites.
    pub active_invites: u64,
    /// Redeemed invites.
    pub redeemed_invites: u64,
}

/// `POST /api/v1/admin/sessions/expire-all` (inside a [`StatusOk`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredSessions {
    /// How many sessions were ended (optional in v1).
    #[serde(default)]
    pub sessions_expired: Option<u64>,
}

/// `POST /api/v1/admin/maintenance` (inside a [`StatusOk`]): what was removed. v1 allows any
/// JSON here, so every count is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaintenanceReport {
    /// Expired login challenges deleted.
    pub expired_challenges: Option<u64>,
    /// Expired sessions deleted.
    pub expired_sessions: Option<u64>,
    /// Expired, unredeemed invites deleted.
    pub expired_invites: Option<u64>,
    /// Orphan blob files removed.
    pub orphan_blobs: Option<u64>,
    /// Bytes those files held.
    pub orphan_bytes: Option<u64>,
    /// User directories the sweep covered (maintenance in steps only; the relay's one-shot
    /// run does not send it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_directories: Option<u64>,
}

/// `DELETE /api/v1/admin/users/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// `"deleted"`.
    #[serde(default)]
    pub status: Option<String>,
    /// The deleted user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `POST /api/v1/admin/maintenance/expire` (inside a [`StatusOk`]): the first step of a
/// maintenance run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireReport {
    /// Expired login challenges deleted.
    pub expired_challenges: u64,
    /// Expired sessions deleted.
    pub expired_sessions: u64,
    /// Expired, unredeemed invites deleted.
    pub expired_invites: u64,
}

/// `POST /api/v1/admin/maintenance/orphans` (inside a [`StatusOk`]): one page of the orphan
/// sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanPage {
    /// Orphan blob files removed in this page.
    pub orphan_blobs: u64,
    /// Their bytes.
    pub orphan_bytes: u64,
    /// User directories this page covered.
    pub dirs: u64,
    /// User directories after this page.
    pub remaining: u64,
    /// Where the next page starts; `None` (`null`) after the last page.
    pub next: Option<String>,
}

/// One row of [`AnomalyReport::anomalies`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// `failed_logins`, `challenge_flood` or `storage_growth`.
    pub kind: String,
    /// `user` or `source`.
    pub scope: String,
    /// The user (scope `user`).
    #[serde(default)]
    pub user_id: Option<String>,
    /// The source as the relay's IP policy allows (`None`: hidden).
    #[serde(default)]
    pub source: Option<String>,
    /// Requests, or bytes for storage growth.
    pub value: i64,
    /// `requests` or `bytes`.
    pub unit: String,
    /// The threshold reached.
    pub threshold: u64,
    /// First minute with activity in the window (ISO 8601, UTC).
    pub first_seen: String,
    /// Last minute with activity in the window.
    pub last_seen: String,
}

/// Window totals of [`AnomalyReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyTotals {
    /// Failed logins.
    pub failed_logins: i64,
    /// Challenges issued.
    pub challenges: i64,
    /// Net storage growth, bytes.
    pub storage_growth_bytes: i64,
}

/// The thresholds of [`AnomalyReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyThresholds {
    /// Failed logins per source or user.
    pub failed_logins: u64,
    /// Challenges per source.
    pub challenges: u64,
    /// Net storage growth per user, bytes.
    pub storage_growth_bytes: u64,
}

/// `GET /api/v1/admin/anomalies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyReport {
    /// Everything at or over a threshold.
    pub anomalies: Vec<Anomaly>,
    /// The relay's IP policy (`off`, `keyed-hash`, `full`).
    pub ip_policy: String,
    /// The sliding window, minutes.
    pub window_minutes: u64,
    /// The thresholds in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<AnomalyThresholds>,
    /// Totals within the window.
    pub totals: AnomalyTotals,
    /// Since when the relay process has been counting.
    pub tracking_since: String,
    /// Events not attributed (a counter map was full).
    #[serde(default)]
    pub untracked: u64,
}
