//! Sharing relationships (v1.md §1.3 #13–19): request, invite + redeem, list, respond,
//! permissions, revoke. Data flows only system → friend; only the system accepts, sets
//! permissions and stores the wrapped VEK (opaque to the relay).

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64::{self, WrappedVek60};
use coffer_wire::time::isoformat;
use coffer_wire::v1::Permissions;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Caller, General, System, state};
use super::json::{Fields, created, ok, read_body, read_object};
use super::random;
use crate::error::ApiError;
use crate::service::{self, Refusal};
use crate::state::AppState;
use crate::storage::sharing::{Relationship, Response, Status};
use crate::store::{ClientType, hour, now};

fn permissions_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}

fn key_b64(bytes: &[u8]) -> Value {
    json!(b64::encode(bytes))
}

/// The sharing object of `request` and `redeem` responses (v1.md §1.3 #13).
fn sharing_object(rel: &Relationship) -> Value {
    json!({
        "id": rel.id,
        "system_user_id": rel.system_user_id,
        "friend_user_id": rel.friend_user_id,
        "friend_exchange_public_key": key_b64(&rel.friend_exchange_key),
        "status": rel.status,
        "permissions": permissions_value(&rel.permissions),
        "encrypted_vek_blob": rel.encrypted_vek_blob.as_deref().map(b64::encode),
        "created_at": isoformat(rel.created_at, 0),
        "updated_at": isoformat(rel.updated_at, 0),
    })
}

/// One entry of `GET /sharing/requests`, as seen from `side`.
fn request_entry(rel: &Relationship, side: ClientType) -> Value {
    let system_view = side == ClientType::System;
    json!({
        "id": rel.id,
        "system_user_id": rel.system_user_id,
        "friend_user_id": rel.friend_user_id,
        "friend_exchange_public_key": system_view.then(|| key_b64(&rel.friend_exchange_key)),
        "friend_handle": if system_view { rel.friend_handle.clone() } else { None },
        "system_handle": if system_view { None } else { rel.system_handle.clone() },
        "system_exchange_public_key": (!system_view).then(|| key_b64(&rel.system_exchange_key)),
        "status": rel.status,
        "permissions": permissions_value(&rel.permissions),
        "encrypted_vek_blob": rel.encrypted_vek_blob.as_deref().map(b64::encode),
        "created_at": isoformat(rel.created_at, 0),
        "updated_at": isoformat(rel.updated_at, 0),
    })
}

/// A path `{id}` that is not a UUID names no relationship.
fn path_id(req: &HttpRequest) -> Result<String, ApiError> {
    req.match_info()
        .get("id")
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(|u| u.to_string())
        .ok_or(ApiError::NotFound("Sharing relationship not found"))
}

/// `POST /api/v1/sharing/request` (friend → system).
pub async fn request(
    req: HttpRequest,
    caller: Caller<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    f.required("from_user_id")?;
    f.required("to_user_id")?;
    let from = f.uuid("from_user_id")?.to_string();
    let to = f.uuid("to_user_id")?.to_string();
    if from != caller.user_id {
        return Err(ApiError::Forbidden("from_user_id must be your own user id"));
    }
    let id = random::uuid()?.to_string();
    let now_hour = hour(now());
    let caller_type = caller.client_type;
    let result = state
        .storage
        .request_sharing(
            id,
            to,
            from,
            now_hour,
            Box::new(move |target| {
                if caller_type != ClientType::Friend || target.client_type != ClientType::System {
                    return Err(Refusal::bad(
                        "Only friend → system requests are allowed (System→Friend, System→System, and Friend→Friend are not allowed)",
                    ));
                }
                Ok(())
            }),
        )
        .await??;
    Ok(created(&sharing_object(&result)))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
}

/// `GET /api/v1/sharing/requests?status=pending|active|all` (default pending).
pub async fn list(req: HttpRequest, caller: Caller<General>) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let query = web::Query::<ListQuery>::from_query(req.query_string())
        .map_err(|_| ApiError::bad("Invalid query string"))?
        .into_inner();
    let statuses: &'static [Status] = match query.status.as_deref() {
        None | Some("pending") => &[Status::Pending],
        Some("active") => &[Status::Active],
        Some("all") => &[Status::Pending, Status::Active],
        Some(_) => return Err(ApiError::bad("status must be pending, active or all")),
    };
    let (id, side) = (caller.user_id, caller.client_type);
    let rows = state
        .storage
        .sharing_relationships(id, side, statuses)
        .await?;
    let entries: Vec<Value> = rows.iter().map(|r| request_entry(r, side)).collect();
    Ok(ok(&json!({ "requests": entries })))
}

fn permissions_text(value: Option<&Value>) -> Result<String, ApiError> {
    let permissions = match value {
        None | Some(Value::Null) => Permissions::default(),
        Some(v) => Permissions::from_json(v).map_err(|e| ApiError::bad(e.to_string()))?,
    };
    serde_json::to_string(&permissions).map_err(|_| ApiError::Internal)
}

/// `POST /api/v1/sharing/respond` (system): accept with a wrapped VEK and permissions, or reject.
pub async fn respond(
    req: HttpRequest,
    System(caller): System<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    f.required("request_id")?;
    f.required("accepted")?;
    let id = f.uuid("request_id")?.to_string();
    let accepted = f.bool("accepted")?;
    let accept = if accepted {
        f.required("encrypted_vek_blob")?;
        let blob = WrappedVek60::from_b64(f.str("encrypted_vek_blob")?).map_err(|e| {
            ApiError::bad(format!(
                "encrypted_vek_blob: {e}; expected standard base64 of 60 bytes"
            ))
        })?;
        Response::Accept {
            wrapped_vek: blob.as_bytes().to_vec(),
            permissions: permissions_text(obj.get("permissions"))?,
        }
    } else {
        Response::Reject
    };
    let now_hour = hour(now());
    state
        .storage
        .respond_sharing(id, caller.user_id, accept, now_hour)
        .await??;
    Ok(ok(
        &json!({ "status": if accepted { "accepted" } else { "rejected" } }),
    ))
}

/// `PATCH /api/v1/sharing/{id}/permissions` (system).
pub async fn permissions(
    req: HttpRequest,
    System(caller): System<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let id = path_id(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let value = Fields(&obj).required("permissions")?;
    let text = permissions_text(Some(value))?;
    let now_hour = hour(now());
    state
        .storage
        .set_sharing_permissions(id, caller.user_id, text, now_hour)
        .await??;
    Ok(ok(&json!({ "status": "updated" })))
}

/// `DELETE /api/v1/sharing/{id}` (either party): revoke or leave. 204.
pub async fn delete(req: HttpRequest, caller: Caller<General>) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let id = path_id(&req)?;
    state.storage.delete_sharing(id, caller.user_id).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/sharing/invite` (system). The template sends no body.
pub async fn invite(
    req: HttpRequest,
    System(caller): System<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let _ignored = read_body(&req, payload, AppState::SMALL_BODY_LIMIT).await?;
    let code = random::invite_code()?;
    let expires_at = service::invites::create(&state, &caller.user_id, &code, 1).await?;
    Ok(created(
        &json!({ "code": code, "expires_at": isoformat(expires_at, 0) }),
    ))
}

/// `POST /api/v1/sharing/redeem` (friend): single use; creates a pending relationship.
pub async fn redeem(
    req: HttpRequest,
    caller: Caller<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    if f.0.get("code").is_none_or(Value::is_null) {
        return Err(ApiError::bad("Missing code"));
    }
    let code = f.str("code")?.trim().to_ascii_uppercase();
    if code.len() > 64 {
        return Err(ApiError::NotFound("Invalid invite code"));
    }
    let id = random::uuid()?.to_string();
    let now = now();
    let caller_type = caller.client_type;
    let rel = state
        .storage
        .redeem_sharing_invite(
            code,
            caller.user_id,
            id,
            now,
            Box::new(move |invite| service::invites::check_open(invite, 1, caller_type, now)),
        )
        .await??;
    Ok(created(&sharing_object(&rel)))
}
