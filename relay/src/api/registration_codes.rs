//! The operator's side of closed registration (docs/adr/0024-registration-and-operator-access.md):
//! issuing single-use registration codes for `registration.mode = "invite-only"`, and the
//! registration status. The relay keeps only each code's SHA-256; the code is shown once.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_wire::time::isoformat;
use serde_json::json;

use super::extract::{Admin, state};
use super::json::{Fields, created, ok, read_object};
use super::random;
use crate::error::ApiError;
use crate::service::invites::ceil_to_hour;
use crate::service::registration::code_hash;
use crate::state::AppState;
use crate::store::now;

/// Longest lifetime a code may be given, hours (one year).
pub const MAX_CODE_LIFETIME_HOURS: i64 = 24 * 366;

/// `POST /api/v1/admin/registration-codes` `{expires_in_hours?}` → 201 `{code, expires_at,
/// mode}`: a new single-use code (16 random bytes, URL-safe base64), valid for the given hours
/// (default `registration.code_lifetime_hours`), its expiry rounded up to the hour.
pub async fn create(
    req: HttpRequest,
    _admin: Admin,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, true).await?;
    let f = Fields(&obj);
    let hours = match obj.get("expires_in_hours") {
        None | Some(serde_json::Value::Null) => {
            state.config.registration.code_lifetime_hours as i64
        }
        Some(_) => f.int("expires_in_hours")?,
    };
    if !(1..=MAX_CODE_LIFETIME_HOURS).contains(&hours) {
        return Err(ApiError::bad(format!(
            "expires_in_hours must be between 1 and {MAX_CODE_LIFETIME_HOURS}"
        )));
    }
    let code = URL_SAFE_NO_PAD.encode(random::bytes::<16>()?);
    let now = now();
    let expires_at = ceil_to_hour(now.saturating_add(hours * 3600));
    let hash = code_hash(&code);
    let fresh = state
        .storage
        .create_registration_code(hash, now, expires_at)
        .await?;
    if !fresh {
        // 128 random bits collided: the generator is broken.
        tracing::error!("a new registration code collided with a stored one");
        return Err(ApiError::Internal);
    }
    tracing::info!("registration code issued");
    Ok(created(&json!({
        "code": code,
        "expires_at": isoformat(expires_at, 0),
        "mode": state.config.registration.mode.as_str(),
    })))
}

/// `GET /api/v1/admin/registration-codes` → `{mode, max_users, users, open_codes}`: the
/// registration rules and how many operator codes are still open (never the codes).
pub async fn status(req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let now = now();
    let counts = state.storage.registration_counts(now).await?;
    let r = &state.config.registration;
    Ok(ok(&json!({
        "mode": r.mode.as_str(),
        "max_users": r.max_users,
        "users": counts.users,
        "open_codes": counts.open_codes,
    })))
}
