//! The admin API (`X-Admin-Token`) and `/metrics`.

use serde_json::json;

use coffer_wire::admin::{
    AnomalyReport, Deleted, ExpireReport, ExpiredSessions, OrphanPage, SessionStats, ShareList,
    Stats, StatusOk, UserDetail, UserList, VolumeList,
};

use super::super::schema::{reference, uuid_in};
use super::super::wire::Schema as _;
use super::super::{Caller, Operation, Tag};
use crate::api::admin::MAX_SWEEP_PAGE;
use crate::api::admin_query::{List, MAX_NAME_FILTER, STATUSES};
use crate::limits::Class;
use crate::store::admin_view::MAX_PAGE;

fn op(id: &'static str, summary: &'static str) -> Operation {
    Operation::new(id, Tag::Admin, summary, Caller::Admin, Some(Class::Admin))
}

fn maintenance_op(id: &'static str, summary: &'static str) -> Operation {
    op(id, summary)
        .describe(
            "Deletes expired challenges, sessions and unredeemed invites, then blob files no \
             volume points at (older than ten minutes). Instances sharing a database run it \
             one at a time.",
        )
        .writes()
        .ok(200, "What was removed.", reference("MaintenanceReport"))
        .err(
            409,
            "another relay instance sharing the database is running maintenance",
        )
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
    op("adminStats", "Overview counts").ok(200, "Counts and sizes.", Stats::schema())
}

/// The paging and filter parameters of an admin list ([`crate::api::admin_query`]).
fn list_query(mut op: Operation, list: List) -> Operation {
    for name in list.names() {
        let (schema, text) = match *name {
            "limit" => (
                json!({ "type": "integer", "minimum": 1, "maximum": MAX_PAGE }),
                "At most this many rows (default: all).",
            ),
            "offset" => (
                json!({ "type": "integer", "minimum": 0 }),
                "Rows skipped first (default 0); the previous page's `next_offset`.",
            ),
            "protocol" => (
                json!({ "type": "integer", "enum": [1, 2] }),
                "Only v1 (1) or only v2 (2) rows.",
            ),
            "client_type" => (
                reference("ClientType"),
                "Only users (for volumes: owners) of this client type.",
            ),
            "user_id" => (
                uuid_in(),
                if list == List::Sharing {
                    "Only relationships this user is part of (either side)."
                } else if list == List::Volumes {
                    "Only this owner's volumes."
                } else {
                    "Only this user."
                },
            ),
            "volume_name" => (
                json!({ "type": "string", "minLength": 1, "maxLength": MAX_NAME_FILTER }),
                "Only volumes of this name.",
            ),
            _ => (
                json!({ "type": "string", "enum": STATUSES }),
                "Only relationships of this status.",
            ),
        };
        op = op.query(name, false, schema, text);
    }
    op.describe(
        "Without parameters the answer is the complete list (as the dashboard expects); with \
         `limit`/`offset` one page, ordered stably, with `total` (rows matching the filters) \
         and `next_offset` (null after the last page). Unknown, repeated or malformed \
         parameters are refused.",
    )
    .err(
        400,
        "an unknown, repeated or malformed query parameter, or limit out of range",
    )
}

/// `GET /api/v1/admin/users`.
pub fn users() -> Operation {
    list_query(op("adminUsers", "List users (v1 and v2)"), List::Users).ok(
        200,
        "The users' metadata (v1 and v2, with `protocol`).",
        UserList::schema(),
    )
}

fn user_path(op: Operation) -> Operation {
    op.path("id", uuid_in(), "The user.")
}

/// `GET /api/v1/admin/users/{id}`.
pub fn user() -> Operation {
    user_path(op("adminUser", "One user and their volumes"))
        .ok(
            200,
            "The user's metadata and volumes (v1 and v2).",
            UserDetail::schema(),
        )
        .err(404, "no such user (or the id is not a UUID)")
}

/// `DELETE /api/v1/admin/users/{id}`.
pub fn delete_user() -> Operation {
    user_path(op("adminDeleteUser", "Delete a user"))
        .describe("Deletes the account like the user's own deletion does.")
        .writes()
        .ok(200, "Deleted.", Deleted::schema())
        .err(404, "no such user (or the id is not a UUID)")
}

/// `GET /api/v1/admin/volumes`.
pub fn volumes() -> Operation {
    list_query(
        op("adminVolumes", "List volumes (v1 and v2)"),
        List::Volumes,
    )
    .ok(
        200,
        "The stored volumes' metadata (v1 and v2, with `protocol`).",
        VolumeList::schema(),
    )
}

/// `GET /api/v1/admin/sharing`.
pub fn sharing() -> Operation {
    list_query(
        op("adminSharing", "List sharing relationships (v1 and v2)"),
        List::Sharing,
    )
    .ok(
        200,
        "Existence, status, flags (v2: the granted volume names) and expiry of v1 \
         relationships and v2 pairings; never a wrapped VEK, grant, proof or key.",
        ShareList::schema(),
    )
}

/// `GET /api/v1/admin/sessions`.
pub fn sessions() -> Operation {
    op("adminSessions", "Session, challenge and invite counts").ok(
        200,
        "The counts.",
        SessionStats::schema(),
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
            StatusOk::<ExpiredSessions>::schema(),
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
        .ok(200, "What was removed.", StatusOk::<ExpireReport>::schema())
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
    .ok(200, "The page.", StatusOk::<OrphanPage>::schema())
    .err(
        400,
        "the query is malformed, limit is out of range, or after is not a directory name",
    )
}

/// `GET /api/v1/admin/anomalies`.
pub fn anomalies() -> Operation {
    op("adminAnomalies", "Anomaly report")
        .describe(
            "Challenge floods, repeated failed logins and unusual storage growth in the sliding \
             window (in-memory counters); sources only as the IP policy allows.",
        )
        .ok(200, "The report.", AnomalyReport::schema())
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
        "Aggregates only, with Prometheus's standard process_* families (Linux). Needs the \
         admin token (X-Admin-Token); served without it on the admin listener, which is then \
         the only place it is served, or to anyone with metrics.public = true. Coming from \
         loopback is not enough (a TLS-passthrough proxy makes every client look local).",
    )
    .other(
        200,
        "The Prometheus text format (version 0.0.4).",
        "text/plain",
        json!({ "type": "string" }),
    )
}
