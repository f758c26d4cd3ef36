//! What the admin API answers (v1.md §4), as the CLI reads it for its human output.
//!
//! The shapes the relay's admin API answers are defined once, in [`coffer_wire::admin`], and
//! re-exported here; what stays is what only the CLI needs (the health answer, a checked user id).
//! Unknown fields are ignored, so a newer relay that adds fields keeps working. `--json` output
//! does not go through these types at all: it prints the relay's object as received.

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

pub use coffer_wire::admin::{
    Anomaly, AnomalyReport, AnomalyThresholds, AnomalyTotals, Deleted, ExpireReport,
    ExpiredSessions, MaintenanceReport, OrphanPage, ProtocolBreakdown, SessionStats, Share,
    ShareList, Stats, User, UserDetail, UserList, Volume, VolumeBreakdown, VolumeList,
};

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
