//! A user's own sessions (docs/protocol-v2.md §11): list them, revoke one, revoke all but the
//! current one, log out. Revocation deletes the session row, which moves the auth generation
//! before the answer is sent: the revoked token gets 401 from its very next request.

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::v2::api::{
    DeviceLabel, MAX_LIST_ENTRIES, RelayTime, SessionId, SessionInfo, SessionList, SessionProtocol,
    SessionsRevoked,
};

use crate::api::extract::{General, V2Caller, state};
use crate::api::json::{ok, read_body};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::now;
use crate::store::own_sessions::OwnSession;
use crate::store::sessions::Protocol;

/// The wire entry of a stored session; `None` for a stored id or label the wire refuses.
fn entry(s: &OwnSession, current: Option<&str>) -> Option<SessionInfo> {
    let device_label = match s.device_label.as_deref() {
        Some(l) => Some(DeviceLabel::new(l).ok()?),
        None => None,
    };
    Some(SessionInfo {
        session_id: s.session_id.parse().ok()?,
        device_label,
        protocol: match s.protocol {
            Protocol::V1 => SessionProtocol::V1,
            Protocol::V2 => SessionProtocol::V2,
        },
        created_at: RelayTime::from_unix_seconds(s.created_at),
        last_used_at: RelayTime::from_unix_seconds(s.last_used_at),
        current: current == Some(s.session_id.as_str()),
    })
}

/// `GET /api/v2/sessions`: the caller's live sessions, oldest first.
pub async fn list(
    req: HttpRequest,
    V2Caller(caller): V2Caller<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let user = caller.user_id.clone();
    let now = now();
    let rows = state
        .storage
        .own_sessions(user, now, MAX_LIST_ENTRIES)
        .await?;
    let current = caller.session_id.as_deref();
    let sessions = rows.iter().filter_map(|s| entry(s, current)).collect();
    Ok(ok(&SessionList { sessions }))
}

/// `DELETE /api/v2/sessions/{id}`: ends one of the caller's sessions (204). Another user's
/// session id is answered like an unknown one (404).
pub async fn revoke(
    req: HttpRequest,
    V2Caller(caller): V2Caller<General>,
) -> Result<HttpResponse, ApiError> {
    const NOT_FOUND: ApiError = ApiError::NotFound("Session not found");
    let state = state(&req)?;
    let id: SessionId = req
        .match_info()
        .get("id")
        .and_then(|t| t.parse().ok())
        .ok_or(NOT_FOUND)?;
    let (user, id) = (caller.user_id, id.to_string());
    let found = state.storage.revoke_own_session(user, id).await?;
    if found {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(NOT_FOUND)
    }
}

/// `DELETE /api/v2/sessions/current`: logout, server-side (204). The token is refused from
/// the next request on.
pub async fn logout(
    req: HttpRequest,
    V2Caller(caller): V2Caller<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let Some(id) = caller.session_id else {
        // A session row written outside the relay has no public id; it cannot be named.
        return Err(ApiError::NotFound("Session not found"));
    };
    let user = caller.user_id;
    state.storage.revoke_own_session(user, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v2/sessions/revoke-others`: ends every session of the caller but this one;
/// answers how many.
pub async fn revoke_others(
    req: HttpRequest,
    V2Caller(caller): V2Caller<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let _ignored = read_body(&req, payload, AppState::SMALL_BODY_LIMIT).await?;
    let (user, keep) = (caller.user_id, caller.session_id.unwrap_or_default());
    let revoked = state.storage.revoke_other_sessions(user, keep).await?;
    Ok(ok(&SessionsRevoked { revoked }))
}
