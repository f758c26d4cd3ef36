//! The admin API (v1.md §4), for the operator dashboard and `coffer-admin`. Header
//! `X-Admin-Token`; every success is JSON. It shows metadata only — never keys, wrapped VEKs,
//! tokens, nonces or content — and cannot create or change volumes or sharing.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::admin as dto;
use coffer_wire::admin::StatusOk;
use coffer_wire::time::isoformat;

use super::admin_query::{self, List};
use super::extract::{Admin, state};
use super::json::ok;
use super::users::delete_account;
use crate::error::ApiError;
use crate::service::maintenance::{self, ORPHAN_MIN_AGE};
use crate::state::AppState;
use crate::storage::operators::{AdminShare, AdminUser, AdminVolume};
use crate::store::now;

fn user_dto(u: &AdminUser) -> dto::User {
    dto::User {
        id: u.id.clone(),
        handle: u.handle.clone(),
        client_type: u.client_type.as_str().to_owned(),
        // A v2 account speaks v2 whatever a v1 profile update announced.
        protocol_version: if u.protocol == 2 {
            u.protocol_version.max(2)
        } else {
            u.protocol_version
        },
        storage_used_bytes: u.storage_bytes,
        created_at: isoformat(u.created_at, 0),
        // v1's admin API returns the stored JSON text; the dashboard JSON.parses it.
        feature_set: Some(u.feature_set.clone()),
        protocol: Some(u.protocol),
    }
}

fn user_id(req: &HttpRequest) -> Result<String, ApiError> {
    req.match_info()
        .get("id")
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(|u| u.to_string())
        .ok_or(ApiError::NotFound("User not found"))
}

/// `GET /api/v1/admin/stats`.
pub async fn stats(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let now = now();
    let s = state.storage.stats(now).await?;
    Ok(ok(&dto::Stats {
        system_users: s.system_users,
        friend_users: s.friend_users,
        total_volumes: s.total_volumes,
        total_storage_bytes: s.total_storage_bytes,
        recent_registrations_30d: s.recent_registrations_30d,
        active_shares: s.active_shares,
        pending_shares: s.pending_shares,
        volume_breakdown: s
            .volume_breakdown
            .into_iter()
            .map(|b| dto::VolumeBreakdown {
                volume_name: b.volume_name,
                count: b.count,
                total_bytes: b.total_bytes,
            })
            .collect(),
        by_protocol: Some(vec![
            dto::ProtocolBreakdown {
                protocol: 1,
                users: s.users_by_protocol.0,
                volumes: s.storage.volumes_v1,
                storage_bytes: s.storage.bytes_v1,
            },
            dto::ProtocolBreakdown {
                protocol: 2,
                users: s.users_by_protocol.1,
                volumes: s.storage.volumes_v2,
                storage_bytes: s.storage.bytes_v2,
            },
        ]),
    }))
}

/// `GET /api/v1/admin/users`: v1 and v2 accounts, filtered and paged by the query
/// ([`admin_query`]); without a query, every user.
pub async fn users(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (filter, page) = admin_query::parse(List::Users, req.query_string())?;
    let listed = state.storage.admin_users(filter, page).await?;
    Ok(ok(&dto::UserList {
        users: listed.rows.iter().map(user_dto).collect(),
        total: Some(listed.total),
        next_offset: page.next_offset(listed.rows.len(), listed.total),
    }))
}

/// `GET /api/v1/admin/users/{id}`: the user and their volumes' metadata, v1 and v2.
pub async fn user(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let id = user_id(&req)?;
    let (user, vols) = state
        .storage
        .admin_user(id)
        .await?
        .ok_or(ApiError::NotFound("User not found"))?;
    Ok(ok(&dto::UserDetail {
        user: user_dto(&user),
        volumes: vols.iter().map(volume_dto).collect(),
    }))
}

/// `DELETE /api/v1/admin/users/{id}`: 200 JSON (the dashboard reads a body on every success).
pub async fn delete_user(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let id = user_id(&req)?;
    if !delete_account(&state, id.clone()).await? {
        return Err(ApiError::NotFound("User not found"));
    }
    Ok(ok(&dto::Deleted {
        status: Some("deleted".into()),
        id: Some(id),
    }))
}

fn volume_dto(v: &AdminVolume) -> dto::Volume {
    dto::Volume {
        user_id: v.user_id.clone(),
        volume_name: v.volume_name.clone(),
        version: v.version,
        size_bytes: v.size_bytes,
        updated_at: isoformat(v.updated_at, 0),
        protocol: Some(v.protocol),
        epoch: v.epoch,
    }
}

/// `GET /api/v1/admin/volumes`: stored v1 and v2 volumes, filtered and paged by the query
/// ([`admin_query`]); without a query, every volume.
pub async fn volumes(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (filter, page) = admin_query::parse(List::Volumes, req.query_string())?;
    let listed = state.storage.admin_volumes(filter, page).await?;
    Ok(ok(&dto::VolumeList {
        volumes: listed.rows.iter().map(volume_dto).collect(),
        total: Some(listed.total),
        next_offset: page.next_offset(listed.rows.len(), listed.total),
    }))
}

fn share_dto(r: AdminShare) -> dto::Share {
    dto::Share {
        id: r.id,
        system_user_id: r.system_user_id,
        friend_user_id: r.friend_user_id,
        status: r.status,
        permissions: Some(r.permissions),
        created_at: isoformat(r.created_at, 0),
        updated_at: Some(isoformat(r.updated_at, 0)),
        protocol: Some(r.protocol),
        expires_at: r.expires_at.map(|t| isoformat(t, 0)),
    }
}

/// `GET /api/v1/admin/sharing`: v1 relationships and v2 pairings with their status, flags (v2:
/// the granted volume names) and expiry; never a wrapped VEK, grant bytes, proof or key.
pub async fn sharing(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (filter, page) = admin_query::parse(List::Sharing, req.query_string())?;
    let now = now();
    let listed = state.storage.admin_sharing(filter, page, now).await?;
    let next_offset = page.next_offset(listed.rows.len(), listed.total);
    Ok(ok(&dto::ShareList {
        sharing: listed.rows.into_iter().map(share_dto).collect(),
        total: Some(listed.total),
        next_offset,
    }))
}

/// `GET /api/v1/admin/sessions`.
pub async fn sessions(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let now = now();
    let s = state.storage.session_stats(now).await?;
    Ok(ok(&dto::SessionStats {
        active_sessions: s.active_sessions,
        pending_challenges: s.pending_challenges,
        active_invites: s.active_invites,
        redeemed_invites: s.redeemed_invites,
    }))
}

/// `POST /api/v1/admin/sessions/expire-all`: every client logs in again.
pub async fn expire_all(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let n = state.storage.expire_all_sessions().await?;
    tracing::info!(sessions = n, "all sessions expired by the operator");
    Ok(ok(&StatusOk::new(dto::ExpiredSessions {
        sessions_expired: Some(n),
    })))
}

/// Runs maintenance: the shared store's part (expiry, orphan sweep) when it is this
/// instance's turn (`None` otherwise: another instance is running it), and this instance's
/// own (rate-limit buckets, anomaly counters) always.
pub async fn run_maintenance(
    state: &AppState,
    min_age: Duration,
) -> Result<Option<maintenance::MaintenanceReport>, ApiError> {
    let report = maintenance::run(state, min_age).await?;
    shrink_limits(state).await?;
    state.anomalies.prune(now());
    Ok(report)
}

/// Drops the rate-limit buckets that are full again: this instance's in-memory ones, and on a
/// store instances share, the shared ones (every instance's maintenance does; deleting a full
/// bucket changes no limit, so running it twice does no harm).
async fn shrink_limits(state: &AppState) -> Result<(), ApiError> {
    state.limits.shrink();
    if let Some(shared) = state.storage.shared_rates() {
        shared.forget_full_buckets().await?;
    }
    Ok(())
}

/// `POST /api/v1/admin/maintenance` and `POST /api/v1/_maintenance` (both need the admin token).
pub async fn maintenance(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let Some(report) = run_maintenance(&state, ORPHAN_MIN_AGE).await? else {
        return Err(ApiError::Conflict(
            "maintenance is running on another relay instance; try again when it has finished"
                .to_owned(),
        ));
    };
    tracing::info!(?report, "maintenance run");
    Ok(ok(&StatusOk::new(dto::MaintenanceReport {
        expired_challenges: Some(report.expired_challenges),
        expired_sessions: Some(report.expired_sessions),
        expired_invites: Some(report.expired_invites),
        orphan_blobs: Some(report.orphan_blobs),
        orphan_bytes: Some(report.orphan_bytes),
        user_directories: None,
    })))
}

/// `POST /api/v1/admin/maintenance/expire`: the first step of a maintenance run in steps
/// (`coffer-admin maintenance` shows progress): expired challenges, sessions and invites.
pub async fn maintenance_expire(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let now = now();
    let report = state.storage.expire(now).await?;
    shrink_limits(&state).await?;
    state.anomalies.prune(now);
    Ok(ok(&StatusOk::new(dto::ExpireReport {
        expired_challenges: report.expired_challenges,
        expired_sessions: report.expired_sessions,
        expired_invites: report.expired_invites,
    })))
}

/// Query of [`maintenance_orphans`].
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OrphanPageQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// Largest page of [`maintenance_orphans`].
pub const MAX_SWEEP_PAGE: usize = 100_000;

/// `POST /api/v1/admin/maintenance/orphans?after=<dir>&limit=<n>`: one page of the orphan
/// sweep, over the user directories that sort after `after`; the answer says how many it covered
/// (`dirs`), how many come after it (`remaining`) and where the next page starts (`next`,
/// `null` at the end).
pub async fn maintenance_orphans(
    req: HttpRequest,
    _admin: Admin,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let query = web::Query::<OrphanPageQuery>::from_query(req.query_string())
        .map_err(|_| ApiError::bad("query must be ?after=<directory>&limit=<1..100000>"))?
        .into_inner();
    let limit = query.limit.unwrap_or(1000);
    if !(1..=MAX_SWEEP_PAGE).contains(&limit) {
        return Err(ApiError::bad("limit must be between 1 and 100000"));
    }
    if query
        .after
        .as_deref()
        .is_some_and(|a| a.len() > 128 || a.contains(['/', '\\']))
    {
        return Err(ApiError::bad(
            "after must be a directory name from a previous page",
        ));
    }
    let page = maintenance::sweep_page(&state, query.after, limit, ORPHAN_MIN_AGE).await?;
    Ok(ok(&StatusOk::new(dto::OrphanPage {
        orphan_blobs: page.report.files_removed,
        orphan_bytes: page.report.bytes_removed,
        dirs: page.dirs,
        remaining: page.remaining,
        next: page.next,
    })))
}

/// `GET /api/v1/admin/anomalies`: challenge floods, repeated failed logins and unusual storage
/// growth within the sliding window (in-memory counters); sources only as `ip_policy` allows.
pub async fn anomalies(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let r = state.anomalies.report(now(), state.ip_labels.policy());
    let anomalies = r
        .anomalies
        .into_iter()
        .map(|a| {
            Ok(dto::Anomaly {
                kind: kind_text(a.kind)?,
                scope: a.scope.to_owned(),
                user_id: a.user_id,
                source: a.source,
                value: a.value,
                unit: a.unit.to_owned(),
                threshold: a.threshold,
                first_seen: a.first_seen,
                last_seen: a.last_seen,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(ok(&dto::AnomalyReport {
        anomalies,
        ip_policy: r.ip_policy.to_owned(),
        window_minutes: r.window_minutes,
        thresholds: Some(dto::AnomalyThresholds {
            failed_logins: r.thresholds.failed_logins,
            challenges: r.thresholds.challenges,
            storage_growth_bytes: r.thresholds.storage_growth_bytes,
        }),
        totals: dto::AnomalyTotals {
            failed_logins: r.totals.failed_logins,
            challenges: r.totals.challenges,
            storage_growth_bytes: r.totals.storage_growth_bytes,
        },
        tracking_since: r.tracking_since,
        untracked: r.untracked,
    }))
}

/// An anomaly kind's wire text (its serde name, so it cannot drift from the enum).
fn kind_text(kind: crate::anomalies::Kind) -> Result<String, ApiError> {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(text)) => Ok(text),
        _ => Err(ApiError::Internal),
    }
}
