//! The admin API (v1.md §4), for the operator dashboard and `coffer-admin`. Header
//! `X-Admin-Token`; every success is JSON. It shows metadata only — never keys, wrapped VEKs,
//! tokens, nonces or content — and cannot create or change volumes or sharing.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::time::isoformat;
use serde_json::{Value, json};

use super::extract::{Admin, state};
use super::json::ok;
use super::users::delete_account;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::maintenance::{self, ORPHAN_MIN_AGE};
use crate::store::users::User;
use crate::store::volumes::blob_files_of;
use crate::store::{now, sessions, sharing, stats, users, volumes};

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "handle": u.handle,
        "client_type": u.client_type.as_str(),
        "protocol_version": u.protocol_version,
        "storage_used_bytes": u.storage_used_bytes,
        "created_at": isoformat(u.created_at, 0),
        // v1's admin API returns the stored JSON text; the dashboard JSON.parses it.
        "feature_set": u.feature_set,
    })
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
    Ok(ok(&state.db.read(move |c| stats::stats(c, now)).await?))
}

/// `GET /api/v1/admin/users`.
pub async fn users(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let all = state.db.read(users::list).await?;
    Ok(ok(
        &json!({ "users": all.iter().map(user_json).collect::<Vec<_>>() }),
    ))
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
    let mut body = user_json(&user);
    body["volumes"] = json!(vols.iter().map(volume_json).collect::<Vec<_>>());
    Ok(ok(&body))
}

/// `DELETE /api/v1/admin/users/{id}`: 200 JSON (the dashboard reads a body on every success).
pub async fn delete_user(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let id = user_id(&req)?;
    if !delete_account(&state, id.clone()).await? {
        return Err(ApiError::NotFound("User not found"));
    }
    Ok(ok(&json!({ "status": "deleted", "id": id })))
}

fn volume_json(v: &volumes::VolumeRow) -> Value {
    json!({
        "user_id": v.user_id,
        "volume_name": v.volume_name,
        "version": v.version,
        "size_bytes": v.size_bytes,
        "updated_at": isoformat(v.updated_at, 0),
    })
}

/// `GET /api/v1/admin/volumes`.
pub async fn volumes(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let all = state.db.read(volumes::list_all).await?;
    Ok(ok(
        &json!({ "volumes": all.iter().map(volume_json).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/v1/admin/sharing`: existence, status and flags; never the wrapped VEK or keys.
pub async fn sharing(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let all = state.db.read(sharing::list_all).await?;
    let rows: Vec<Value> = all
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "system_user_id": r.system_user_id,
                "friend_user_id": r.friend_user_id,
                "status": r.status,
                "permissions": r.permissions,
                "created_at": isoformat(r.created_at, 0),
                "updated_at": isoformat(r.updated_at, 0),
            })
        })
        .collect();
    Ok(ok(&json!({ "sharing": rows })))
}

/// `GET /api/v1/admin/sessions`.
pub async fn sessions(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let now = now();
    Ok(ok(&state
        .db
        .read(move |c| stats::session_stats(c, now))
        .await?))
}

/// `POST /api/v1/admin/sessions/expire-all`: every client logs in again.
pub async fn expire_all(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let n = state.db.write(|tx| sessions::expire_all(tx)).await?;
    tracing::info!(sessions = n, "all sessions expired by the operator");
    Ok(ok(&json!({ "status": "ok", "sessions_expired": n })))
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
    let mut body = serde_json::to_value(&report).map_err(|_| ApiError::Internal)?;
    body["status"] = json!("ok");
    Ok(ok(&body))
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
    Ok(ok(&json!({
        "status": "ok",
        "expired_challenges": report.expired_challenges,
        "expired_sessions": report.expired_sessions,
        "expired_invites": report.expired_invites,
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
    Ok(ok(&json!({
        "status": "ok",
        "orphan_blobs": page.report.files_removed,
        "orphan_bytes": page.report.bytes_removed,
        "dirs": page.dirs,
        "remaining": page.remaining,
        "next": page.next,
    })))
}

/// `GET /api/v1/admin/anomalies`: challenge floods, repeated failed logins and unusual storage
/// growth within the sliding window (in-memory counters); sources only as `ip_policy` allows.
pub async fn anomalies(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let report = state.anomalies.report(now(), state.ip_labels.policy());
    Ok(ok(
        &serde_json::to_value(&report).map_err(|_| ApiError::Internal)?
    ))
}
