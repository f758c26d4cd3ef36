//! `POST /api/v1/analytics/aggregate` (friend, needs `share_mood_trends`): Paillier sums.

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::v1::{Permissions, VolumeName};
use serde_json::json;

use super::extract::{Friend, General, state};
use super::json::{Fields, ok, read_object};
use crate::error::ApiError;
use crate::paillier::{self, PublicKey};
use crate::state::AppState;

/// `POST /api/v1/analytics/aggregate`.
pub async fn aggregate(
    req: HttpRequest,
    Friend(caller): Friend<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::AGGREGATE_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    for name in ["system_user_id", "public_key", "counters"] {
        f.required(name)?;
    }
    let system = f.uuid("system_user_id")?.to_string();
    let friend = caller.user_id;
    let rel = state.storage.active_relationship(system, friend).await?;
    let rel = rel.ok_or(ApiError::Forbidden("No active sharing relationship"))?;
    let permissions = serde_json::from_str(&rel.permissions)
        .ok()
        .and_then(|v| Permissions::from_json(&v).ok())
        .unwrap_or_default();
    if !permissions.allows(VolumeName::Analytics) {
        return Err(ApiError::Forbidden("Analytics are not shared with you"));
    }
    let key = PublicKey::from_json(f.required("public_key")?)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let counters = f.required("counters")?.clone();
    // Modular exponentiation is CPU work: off the async threads.
    let sums = web::block(move || paillier::aggregate(&key, &counters))
        .await?
        .map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(ok(&json!({ "aggregates": sums })))
}
