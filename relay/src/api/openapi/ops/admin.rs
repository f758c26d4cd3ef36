//! The admin API (`X-Admin-Token`) and `/metrics`.

use serde_json::json;

use super::super::schema::{count, exact, nullable, reference, uuid_in};
use super::super::{Caller, Operation, Tag};
use crate::api::admin::MAX_SWEEP_PAGE;
use crate::limits::Class;

fn op(id: &'static str, summary: &'static str) -> Operation {
    Operation::new(id, Tag::Admin, summary, Caller::Admin, Some(Class::Admin))
}

fn maintenance_op(id: &'static str, summary: &'static str) -> Operation {
    op(id, summary)
        .describe(
            "Deletes expired challenges, sessions and unredeemed invites, then blob files no \
             volume points at (older than ten minutes).",
        )
        .writes()
        .ok(200, "What was removed.", reference("MaintenanceReport"))
}

/// `POST /api/v1/_maintenance`.
pub fn legacy_maintenance() -> Operation {
    maintenance_op(
        "adminLegacyMaintenance",
        "Run maintenance (the reference relay's path, now admin-only)",
    )
}

/// `GET /api/v1/admin/stats`.
pub fn stats() -> Operation {
    op("adminStats", "Overview counts").ok(
        200,
        "Counts and sizes.",
        exact(json!({
            "system_users": count(),
            "friend_users": count(),
            "total_volumes": count(),
            "total_storage_bytes": count(),
            "recent_registrations_30d": count(),
            "active_shares": count(),
            "pending_shares": count(),
            "volume_breakdown": {
                "type": "array",
                "items": exact(json!({
                    "volume_name": { "type": "string" },
                    "count": count(),
                    "total_bytes": count(),
                })),
            },
        })),
    )
}

/// `GET /api/v1/admin/users`.
pub fn users() -> Operation {
    op("adminUsers", "List users").ok(
        200,
        "Every user's metadata.",
        exact(json!({ "users": { "type": "array", "items": reference("AdminUser") } })),
    )
}

fn user_path(op: Operation) -> Operation {
    op.path("id", uuid_in(), "The user.")
}

/// `GET /api/v1/admin/users/{id}`.
pub fn user() -> Operation {
    let mut detail = super::super::schema::components()
        .remove("AdminUser")
        .unwrap_or_default();
    detail["properties"]["volumes"] = json!({ "type": "array", "items": reference("AdminVolume") });
    if let Some(required) = detail["required"].as_array_mut() {
        required.push(json!("volumes"));
    }
    user_path(op("adminUser", "One user and their volumes"))
        .ok(200, "The user's metadata and v1 volumes.", detail)
        .err(404, "no such user (or the id is not a UUID)")
}

/// `DELETE /api/v1/admin/users/{id}`.
pub fn delete_user() -> Operation {
    user_path(op("adminDeleteUser", "Delete a user"))
        .describe("Deletes the account like the user's own deletion does.")
        .writes()
        .ok(
            200,
            "Deleted.",
            exact(json!({ "status": { "const": "deleted" }, "id": reference("Uuid") })),
        )
        .err(404, "no such user (or the id is not a UUID)")
}

/// `GET /api/v1/admin/volumes`.
pub fn volumes() -> Operation {
    op("adminVolumes", "List v1 volumes").ok(
        200,
        "Every v1 volume's metadata.",
        exact(json!({ "volumes": { "type": "array", "items": reference("AdminVolume") } })),
    )
}

/// `GET /api/v1/admin/sharing`.
pub fn sharing() -> Operation {
    op("adminSharing", "List sharing relationships")
        .describe("Existence, status and flags; never the wrapped VEK or keys.")
        .ok(
            200,
            "Every relationship.",
            exact(json!({
                "sharing": {
                    "type": "array",
                    "items": exact(json!({
                        "id": reference("Uuid"),
                        "system_user_id": reference("Uuid"),
                        "friend_user_id": reference("Uuid"),
                        "status": { "type": "string", "enum": ["pending", "active"] },
                        "permissions": {
                            "type": "string",
                            "description": "The stored permissions as JSON text.",
                        },
                        "created_at": reference("Time"),
                        "updated_at": reference("Time"),
                    })),
                },
            })),
        )
}

/// `GET /api/v1/admin/sessions`.
pub fn sessions() -> Operation {
    op("adminSessions", "Session, challenge and invite counts").ok(
        200,
        "The counts.",
        exact(json!({
            "active_sessions": count(),
            "pending_challenges": count(),
            "active_invites": count(),
            "redeemed_invites": count(),
        })),
    )
}

/// `POST /api/v1/admin/sessions/expire-all`.
pub fn expire_all() -> Operation {
    op("adminExpireAll", "End every session")
        .describe("Every client logs in again.")
        .writes()
        .ok(
            200,
            "Sessions ended.",
            exact(json!({ "status": { "const": "ok" }, "sessions_expired": count() })),
        )
}

/// `POST /api/v1/admin/maintenance`.
pub fn maintenance() -> Operation {
    maintenance_op("adminMaintenance", "Run maintenance")
}

/// `POST /api/v1/admin/maintenance/expire`.
pub fn maintenance_expire() -> Operation {
    op("adminMaintenanceExpire", "Maintenance step 1: expire rows")
        .describe("Deletes expired challenges, sessions and unredeemed invites.")
        .writes()
        .ok(
            200,
            "What was removed.",
            exact(json!({
                "status": { "const": "ok" },
                "expired_challenges": count(),
                "expired_sessions": count(),
                "expired_invites": count(),
            })),
        )
}

/// `POST /api/v1/admin/maintenance/orphans`.
pub fn maintenance_orphans() -> Operation {
    op(
        "adminMaintenanceOrphans",
        "Maintenance step 2: one page of the orphan sweep",
    )
    .describe(
        "Sweeps the user directories that sort after `after`; the answer says how many it \
             covered, how many come after, and where the next page starts (null at the end). \
             Other query parameters are refused.",
    )
    .query(
        "after",
        false,
        json!({ "type": "string", "maxLength": 128, "pattern": "^[^/\\\\]*$" }),
        "The `next` of the previous page.",
    )
    .query(
        "limit",
        false,
        json!({ "type": "integer", "minimum": 1, "maximum": MAX_SWEEP_PAGE }),
        "Directories per page (default 1000).",
    )
    .writes()
    .ok(
        200,
        "The page.",
        exact(json!({
            "status": { "const": "ok" },
            "orphan_blobs": count(),
            "orphan_bytes": count(),
            "dirs": count(),
            "remaining": count(),
            "next": nullable(json!({ "type": "string" })),
        })),
    )
    .err(
        400,
        "the query is malformed, limit is out of range, or after is not a directory name",
    )
}

/// `GET /api/v1/admin/anomalies`.
pub fn anomalies() -> Operation {
    let kinds = json!({
        "failed_logins": count(),
        "challenges": count(),
        "storage_growth_bytes": count(),
    });
    op("adminAnomalies", "Anomaly report")
        .describe(
            "Challenge floods, repeated failed logins and unusual storage growth in the sliding \
             window (in-memory counters); sources only as the IP policy allows.",
        )
        .ok(
            200,
            "The report.",
            exact(json!({
                "anomalies": {
                    "type": "array",
                    "items": exact(json!({
                        "kind": {
                            "type": "string",
                            "enum": ["failed_logins", "challenge_flood", "storage_growth"],
                        },
                        "scope": { "type": "string", "enum": ["user", "source"] },
                        "user_id": nullable(reference("Uuid")),
                        "source": nullable(json!({ "type": "string" })),
                        "value": { "type": "integer" },
                        "unit": { "type": "string", "enum": ["requests", "bytes"] },
                        "threshold": count(),
                        "first_seen": reference("Time"),
                        "last_seen": reference("Time"),
                    })),
                },
                "ip_policy": { "type": "string", "enum": ["off", "keyed-hash", "full"] },
                "window_minutes": count(),
                "thresholds": exact(kinds),
                "totals": exact(json!({
                    "failed_logins": { "type": "integer" },
                    "challenges": { "type": "integer" },
                    "storage_growth_bytes": { "type": "integer" },
                })),
                "tracking_since": reference("Time"),
                "untracked": count(),
            })),
        )
}

/// `GET /metrics`.
pub fn metrics() -> Operation {
    Operation::new(
        "metrics",
        Tag::Ops,
        "Prometheus metrics",
        Caller::MetricsReader,
        Some(Class::Admin),
    )
    .describe(
        "Aggregates only. Served to loopback clients, or with the admin token; only on the \
         loopback admin listener when one is configured.",
    )
    .other(
        200,
        "The Prometheus text format (version 0.0.4).",
        "text/plain",
        json!({ "type": "string" }),
    )
}
