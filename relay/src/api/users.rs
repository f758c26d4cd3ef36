//! `PATCH` and `DELETE /api/v1/users/me`, and the account deletion shared with the admin API.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::extract::{Caller, General, Unlimited, state};
use super::json::{Fields, ok, read_object};
use super::profile;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::users::ProfileUpdate;

/// `PATCH /api/v1/users/me`.
pub async fn update_me(
    req: HttpRequest,
    caller: Caller<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    let mut update = ProfileUpdate::default();
    if obj.contains_key("handle") {
        update.handle = Some(profile::handle(f.opt_str("handle")?)?);
    }
    if obj.contains_key("protocol_version") {
        update.protocol_version = Some(f.int("protocol_version")?);
    }
    if obj.contains_key("feature_set") {
        update.feature_set = Some(profile::feature_set(f.required("feature_set")?)?);
    }
    let id = caller.user_id;
    if !state.storage.update_profile(id, update).await? {
        return Err(ApiError::Conflict("Handle already taken".into()));
    }
    Ok(ok(&json!({ "status": "updated" })))
}

/// Deletes a user's rows (one transaction: sessions, challenges, volumes, relationships on
/// both sides and invites go with them) and then their blob directory, which no row names any
/// more (metadata never touches blob files: docs/adr/0030). Returns whether the user existed.
pub async fn delete_account(state: &AppState, user_id: String) -> Result<bool, ApiError> {
    let existed = state.storage.delete_user(user_id.clone()).await?;
    // The rows are gone, so no request can reach these blobs any more; a failure here leaves
    // orphans for the sweep, never a visible half-deleted account.
    if let Err(err) = state.blobs.remove_user(user_id).await {
        tracing::warn!(error = %err, "blob directory of a deleted account not removed; the orphan sweep will");
    }
    if existed {
        tracing::info!("account deleted");
    }
    Ok(existed)
}

/// `DELETE /api/v1/users/me`: 204, no body.
pub async fn delete_me(
    req: HttpRequest,
    caller: Caller<Unlimited>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    delete_account(&state, caller.user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
