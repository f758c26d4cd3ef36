//! The admin API (v1.md §4), for the operator dashboard and `coffer-admin`. Header
//! `X-Admin-Token`; every success is JSON. It shows metadata only — never keys, wrapped VEKs,
//! tokens, nonces or content — and cannot create or change volumes or sharing.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::admin as dto;
use coffer_wire::admin::StatusOk;
use coffer_wire::time::isoformat;

use super::extract::{Admin, state};
use super::json::ok;
use super::users::delete_account;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::maintenance::{self, ORPHAN_MIN_AGE};
use crate::store::users::User;
use crate::store::volumes::blob_files_of;
use crate::store::{now, sessions, sharing, stats, users, volumes};

fn user_dto(u: &User) -> dto::User {
    dto::User {
        id: u.id.clone(),
        handle: u.handle.clone(),
        client_type: u.client_type.as_str().to_owned(),
        protocol_version: u.protocol_version,
        storage_used_bytes: u.storage_used_bytes,
        created_at: isoformat(u.created_at, 0),
        // v1's admin API returns the stored JSON text; the dashboard JSON.parses it.
        feature_set: Some(u.feature_set.clone()),
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
    let s = state.db.read(move |c| stats::stats(c, now)).await?;
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
    }))
}

/// `GET /api/v1/admin/users`.
pub async fn users(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let all = state.db.read(users::list).await?;
    Ok(ok(&dto::UserList {
        users: all.iter().map(user_dto).collect(),
    }))
}

/// `GET /api/v1/admin/users/{id}`: the user and their volumes' metadata.
pub async fn user(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let id = user_id(&req)?;
    let (user, vols) = state
        .db
        .read(move |c| Ok((users::get(c, &id)?, volumes::list_for_user(c, &id)?)))
        .await?;
    let user = user.ok_or(ApiError::NotFound("User not found"))?;
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

fn volume_dto(v: &volumes::VolumeRow) -> dto::Volume {
    dto::Volume {
        user_id: v.user_id.clone(),
        volume_name: v.volume_name.clone(),
        version: v.version,
        size_bytes: v.size_bytes,
        updated_at: isoformat(v.updated_at, 0),
    }
}

/// `GET /api/v1/admin/volumes`.
pub async fn volumes(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let all = state.db.read(volumes::list_all).await?;
    Ok(ok(&dto::VolumeList {
        volumes: all.iter().map(volume_dto).collect(),
    }))
}

/// `GET /api/v1/admin/sharing`: existence, status and flags; never the wrapped VEK or keys.
pub async fn sharing(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let all = state.db.read(sharing::list_all).await?;
    let sharing = all
        .into_iter()
        .map(|r| dto::Share {
            id: r.id,
            system_user_id: r.system_user_id,
            friend_user_id: r.friend_user_id,
            status: r.status,
            permissions: Some(r.permissions),
            created_at: isoformat(r.created_at, 0),
            updated_at: Some(isoformat(r.updated_at, 0)),
        })
        .collect();
    Ok(ok(&dto::ShareList { sharing }))
}

/// `GET /api/v1/admin/sessions`.
pub async fn sessions(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let now = now();
    let s = state.db.read(move |c| stats::session_stats(c, now)).await?;
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
    let n = state.db.write(|tx| sessions::expire_all(tx)).await?;
    tracing::info!(sessions = n, "all sessions expired by the operator");
    Ok(ok(&StatusOk::new(dto::ExpiredSessions {
        sessions_expired: Some(n),
    })))
}

/// Runs maintenance on the blocking pool.
pub async fn run_maintenance(
    state: &AppState,
    min_age: Duration,
) -> Result<maintenance::MaintenanceReport, ApiError> {
    let (db, blobs) = (state.db.clone(), state.blobs.clone());
    let report = web::block(move || maintenance::run(&db, &blobs, now(), min_age)).await??;
    state.limits.shrink();
    state.anomalies.prune(now());
    Ok(report)
}

/// `POST /api/v1/admin/maintenance` and `POST /api/v1/_maintenance` (both need the admin token).
pub async fn maintenance(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let report = run_maintenance(&state, ORPHAN_MIN_AGE).await?;
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
    let report = state
        .db
        .write(move |tx| maintenance::expire_rows(tx, now))
        .await?;
    state.limits.shrink();
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
    let (db, blobs) = (state.db.clone(), state.blobs.clone());
    let page = web::block(move || {
        blobs.sweep_page(query.after.as_deref(), limit, ORPHAN_MIN_AGE, |user| {
            db.read_blocking(|c| blob_files_of(c, user))
        })
    })
    .await??;
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
