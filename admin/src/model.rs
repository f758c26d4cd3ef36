//! What the admin API answers (v1.md §4), as the CLI reads it for its human output.
//!
//! Only the fields the tables show are declared; unknown fields are ignored, so a newer relay
//! that adds fields keeps working. `--json` output does not go through these types at all: it
//! prints the relay's object as received.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Health {
    /// `"ok"` when the relay is healthy.
    pub status: String,
    /// The relay's version.
    pub version: String,
    /// Seconds since the relay started.
    pub uptime_seconds: u64,
    /// Lowest protocol version clients may announce.
    pub min_protocol_version: i64,
}

/// One row of [`Stats::volume_breakdown`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VolumeBreakdown {
    /// Volume name.
    pub volume_name: String,
    /// How many volumes of that name are stored.
    pub count: u64,
    /// Their stored (padded) bytes.
    pub total_bytes: u64,
}

/// `GET /api/v1/admin/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
}

/// One user, as listed by `GET /api/v1/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
    /// The feature set as JSON text (a list of strings), as v1 sends it.
    #[serde(default)]
    pub feature_set: Option<String>,
}

/// `GET /api/v1/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserList {
    /// Every user.
    pub users: Vec<User>,
}

/// `GET /api/v1/admin/users/{id}`: the user and their volumes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserDetail {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// Their volumes' metadata.
    #[serde(default)]
    pub volumes: Vec<Volume>,
}

/// One stored volume's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
}

/// `GET /api/v1/admin/volumes`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VolumeList {
    /// Every stored volume.
    pub volumes: Vec<Volume>,
}

/// One sharing relationship (never its keys or wrapped VEK: the relay does not send them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Share {
    /// Relationship id.
    pub id: String,
    /// The system sharing.
    pub system_user_id: String,
    /// The friend reading.
    pub friend_user_id: String,
    /// `pending`, `active` or `revoked`.
    pub status: String,
    /// Permission flags as JSON text (an object of booleans), as v1 sends it.
    #[serde(default)]
    pub permissions: Option<String>,
    /// Creation time (ISO 8601, UTC).
    pub created_at: String,
}

/// `GET /api/v1/admin/sharing`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShareList {
    /// Every relationship.
    pub sharing: Vec<Share>,
}

/// `GET /api/v1/admin/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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

/// `POST /api/v1/admin/sessions/expire-all`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExpiredSessions {
    /// How many sessions were ended (optional in v1).
    #[serde(default)]
    pub sessions_expired: Option<u64>,
}

/// `POST /api/v1/admin/maintenance`: what was removed. v1 allows any JSON here, so every count
/// is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
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
    /// User directories the sweep covered (maintenance in steps only).
    pub user_directories: Option<u64>,
}

/// `DELETE /api/v1/admin/users/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Deleted {
    /// `"deleted"`.
    #[serde(default)]
    pub status: Option<String>,
}

/// `POST /api/v1/admin/maintenance/expire`: the first step of a maintenance run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ExpireReport {
    /// Expired login challenges deleted.
    pub expired_challenges: u64,
    /// Expired sessions deleted.
    pub expired_sessions: u64,
    /// Expired, unredeemed invites deleted.
    pub expired_invites: u64,
}

/// `POST /api/v1/admin/maintenance/orphans`: one page of the orphan sweep.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrphanPage {
    /// Orphan blob files removed in this page.
    pub orphan_blobs: u64,
    /// Their bytes.
    pub orphan_bytes: u64,
    /// User directories this page covered.
    pub dirs: u64,
    /// User directories after this page.
    pub remaining: u64,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<String>,
}

/// One row of [`AnomalyReport::anomalies`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AnomalyTotals {
    /// Failed logins.
    pub failed_logins: i64,
    /// Challenges issued.
    pub challenges: i64,
    /// Net storage growth, bytes.
    pub storage_growth_bytes: i64,
}

/// `GET /api/v1/admin/anomalies`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AnomalyReport {
    /// Everything at or over a threshold.
    pub anomalies: Vec<Anomaly>,
    /// The relay's IP policy (`off`, `keyed-hash`, `full`).
    pub ip_policy: String,
    /// The sliding window, minutes.
    pub window_minutes: u64,
    /// Totals within the window.
    pub totals: AnomalyTotals,
    /// Since when the relay process has been counting.
    pub tracking_since: String,
    /// Events not attributed (a counter map was full).
    #[serde(default)]
    pub untracked: u64,
}

/// A user id: a UUID in canonical hyphenated form, lower-cased.
///
/// Checked before it goes into a URL path, so `users show ../stats` cannot turn into a request
/// to another endpoint.
///
/// ```
/// use coffer_admin::model::UserId;
///
/// let id: UserId = "3F2504E0-4F89-41D3-9A0C-0305E82C3301".parse()?;
/// assert_eq!(id.as_str(), "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
/// assert!("../stats".parse::<UserId>().is_err());
/// # Ok::<(), coffer_admin::model::InvalidUserId>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserId(String);

/// A string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a user id: expected a UUID like 3f2504e0-4f89-41d3-9a0c-0305e82c3301 (see `coffer-admin users list`)"
)]
pub struct InvalidUserId;

impl UserId {
    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UserId {
    type Err = InvalidUserId;

    fn from_str(s: &str) -> Result<UserId, InvalidUserId> {
        let bytes = s.as_bytes();
        let well_formed = bytes.len() == 36
            && bytes.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            });
        if well_formed {
            Ok(UserId(s.to_ascii_lowercase()))
        } else {
            Err(InvalidUserId)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_ids() {
        let id: UserId = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
            .parse()
            .expect("uuid");
        assert_eq!(id.to_string(), "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
        for bad in [
            "",
            "../stats",
            "3f2504e04f8941d39a0c0305e82c3301",
            "{3f2504e0-4f89-41d3-9a0c-0305e82c3301}",
            "3f2504e0-4f89-41d3-9a0c-0305e82c330g",
            "3f2504e0-4f89-41d3-9a0c-0305e82c33011",
            "3f2504e0/4f89-41d3-9a0c-0305e82c3301",
            "3f2504e0-4f89-41d3-9a0c-0305e82c330é",
        ] {
            assert_eq!(bad.parse::<UserId>(), Err(InvalidUserId), "{bad:?}");
        }
    }

    #[test]
    fn relay_shapes_parse() {
        // The shapes relay/src/api/admin.rs and relay/src/store/stats.rs produce.
        let stats: Stats = serde_json::from_value(json!({
            "active_shares": 1, "friend_users": 2, "pending_shares": 0,
            "recent_registrations_30d": 3, "system_users": 1, "total_storage_bytes": 8192,
            "total_volumes": 2,
            "volume_breakdown": [{"count": 2, "total_bytes": 8192, "volume_name": "members"}]
        }))
        .expect("stats");
        assert_eq!(stats.volume_breakdown[0].total_bytes, 8192);

        let detail: UserDetail = serde_json::from_value(json!({
            "client_type": "system", "created_at": "2026-03-27T16:00:00+00:00",
            "feature_set": "[\"members:1\"]", "handle": null,
            "id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "protocol_version": 1,
            "storage_used_bytes": 0,
            "volumes": [{"size_bytes": 4096, "updated_at": "2026-03-27T16:00:00+00:00",
                         "user_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
                         "version": 3, "volume_name": "members"}]
        }))
        .expect("user detail");
        assert_eq!(detail.user.handle, None);
        assert_eq!(detail.volumes[0].version, 3);

        let report: MaintenanceReport = serde_json::from_value(json!({
            "expired_challenges": 1, "expired_invites": 0, "expired_sessions": 2,
            "orphan_blobs": 0, "orphan_bytes": 0, "status": "ok"
        }))
        .expect("maintenance");
        assert_eq!(report.expired_sessions, Some(2));
        let loose: MaintenanceReport =
            serde_json::from_value(json!({"status": "ok"})).expect("any JSON object");
        assert_eq!(loose, MaintenanceReport::default());

        assert!(serde_json::from_value::<Stats>(json!({"system_users": 1})).is_err());
    }
}
