//! What a friend reads: `GET /shared/{system}/volumes[/{name}]` (v1.md §1.3 #10–11). The relay
//! serves only volumes the live relationship's permissions unlock; `chat` never.

use actix_web::{HttpRequest, HttpResponse};
use coffer_wire::b64;
use coffer_wire::v1::{Permissions, VolumeName};
use serde_json::json;

use super::extract::{Friend, General, state};
use super::json::ok;
use super::profile::feature_names;
use super::volumes::{headers, serve, volume_name};
use crate::error::ApiError;
use crate::fetch_cache::{FetchKey, Route};
use crate::service::{Decision, Refusal};
use crate::state::AppState;
use crate::store::sharing::{self, Relationship};
use crate::store::volumes;

const NO_RELATIONSHIP: &str = "No active sharing relationship";

/// The path's system id (a malformed one is simply not a relationship of the caller).
fn path_system(req: &HttpRequest) -> Result<String, ApiError> {
    req.match_info()
        .get("system_user_id")
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(|u| u.to_string())
        .ok_or(ApiError::Forbidden(NO_RELATIONSHIP))
}

/// The active relationship between `system` and `friend`, with its permissions.
fn active_between(
    c: &rusqlite::Connection,
    system: &str,
    friend: &str,
) -> Decision<(Relationship, Permissions)> {
    let Some(rel) = sharing::active_between(c, system, friend)? else {
        return Ok(Err(Refusal::Forbidden(NO_RELATIONSHIP)));
    };
    let permissions = permissions_of(&rel.permissions);
    Ok(Ok((rel, permissions)))
}

/// A relationship's stored permissions (none if unreadable).
fn permissions_of(stored: &str) -> Permissions {
    serde_json::from_str(stored)
        .ok()
        .and_then(|v| Permissions::from_json(&v).ok())
        .unwrap_or_default()
}

/// The active relationship between the path's system and the calling friend.
async fn active(
    state: &AppState,
    req: &HttpRequest,
    friend: &str,
) -> Result<(String, Relationship, Permissions), ApiError> {
    let system = path_system(req)?;
    let (s, f) = (system.clone(), friend.to_owned());
    let (rel, permissions) = state.db.read(move |c| active_between(c, &s, &f)).await??;
    Ok((system, rel, permissions))
}

/// `GET /api/v1/shared/{system_user_id}/volumes`.
pub async fn list(
    req: HttpRequest,
    Friend(caller): Friend<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (system, _, permissions) = active(&state, &req, &caller.user_id).await?;
    let rows = state
        .db
        .read(move |c| volumes::list_for_user(c, &system))
        .await?;
    let supported = feature_names(&caller.feature_set);
    let mut notes = Vec::new();
    let visible: Vec<_> = rows
        .into_iter()
        .filter(|row| {
            row.volume_name
                .parse::<VolumeName>()
                .is_ok_and(|name| permissions.allows(name))
        })
        .filter(|row| {
            let keep = supported.is_empty()
                || row.volume_name == "meta"
                || supported.contains(&row.volume_name);
            if !keep {
                notes.push(format!(
                    "Volume '{}' omitted: your client does not support it.",
                    row.volume_name
                ));
            }
            keep
        })
        .collect();
    let mut body = json!({ "volumes": headers(&visible)? });
    if !notes.is_empty() {
        body["compatibility_notes"] = json!(notes);
    }
    Ok(ok(&body))
}

/// `GET /api/v1/shared/{system_user_id}/volumes/{name}`: the volume and this relationship's
/// wrapped VEK. Relationship, permission, row and blob are read in one blocking trip.
pub async fn get(
    req: HttpRequest,
    Friend(caller): Friend<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let name = volume_name(&req)?;
    let system = path_system(&req)?;
    let friend = caller.user_id;
    let key = FetchKey::new(Route::V1Shared, &friend, &system, name.as_str());
    serve(&state, &req, key, move |c| {
        let Some(found) = volumes::friend_download(c, &system, &friend, name.as_str())? else {
            return Ok(Err(Refusal::Forbidden(NO_RELATIONSHIP)));
        };
        if !permissions_of(&found.permissions).allows(name) {
            return Ok(Err(Refusal::Forbidden(
                "This volume is not shared with you",
            )));
        }
        let Some(row) = found.volume else {
            return Ok(Err(Refusal::NotFound("Volume not found")));
        };
        let vek = found.encrypted_vek_blob.as_deref().map(b64::encode);
        Ok(Ok((row, Some(("encrypted_vek_blob", json!(vek))))))
    })
    .await
}
