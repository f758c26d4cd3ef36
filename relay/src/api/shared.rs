//! What a friend reads: `GET /shared/{system}/volumes[/{name}]` (v1.md §1.3 #10–11). The relay
//! serves only volumes the live relationship's permissions unlock; `chat` never.

use actix_web::{HttpRequest, HttpResponse};
use coffer_wire::b64;
use coffer_wire::v1::VolumeName;
use serde_json::json;

use super::extract::{Friend, General, state};
use super::json::ok;
use super::profile::feature_names;
use super::volumes::{headers, serve, volume_name};
use crate::error::ApiError;
use crate::fetch_cache::{FetchKey, Route};

const NO_RELATIONSHIP: &str = "No active sharing relationship";

/// The path's system id (a malformed one is simply not a relationship of the caller).
fn path_system(req: &HttpRequest) -> Result<String, ApiError> {
    req.match_info()
        .get("system_user_id")
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(|u| u.to_string())
        .ok_or(ApiError::Forbidden(NO_RELATIONSHIP))
}

/// `GET /api/v1/shared/{system_user_id}/volumes`.
pub async fn list(
    req: HttpRequest,
    Friend(caller): Friend<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let system = path_system(&req)?;
    let (permissions, rows) = state
        .storage
        .v1_volumes_for_friend(system, caller.user_id.clone())
        .await??;
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
/// wrapped VEK. Relationship, permission, row and blob are read in one storage call (one
/// blocking trip).
pub async fn get(
    req: HttpRequest,
    Friend(caller): Friend<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let name = volume_name(&req)?;
    let system = path_system(&req)?;
    let friend = caller.user_id;
    let key = FetchKey::new(Route::V1Shared, &friend, &system, name.as_str());
    serve(&state, &req, key, move |storage, read| {
        Box::pin(async move {
            let found = storage
                .v1_volume_for_friend(system, friend, name, read)
                .await?;
            Ok(found.map(|(served, vek)| {
                let vek = vek.as_deref().map(b64::encode);
                (served, Some(("encrypted_vek_blob", json!(vek))))
            }))
        })
    })
    .await
}
