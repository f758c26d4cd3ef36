//! Several devices of one system (`docs/protocol-v2.md` §13): the owner state (an opaque,
//! identity-signed blob the relay stores byte for byte and replaces only with a higher
//! version) and device links (a code, the joining device's key and proof, the encrypted
//! package for it). The relay can read none of it: the state and the package are encrypted
//! to device keys, the link's secret never reaches it.

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64::{self, PublicKey32, Signature64};
use coffer_wire::v2::api::{
    DeviceJoinRequest, DeviceLink, DeviceLinkStatus, DevicePackage, InviteCode,
    MAX_DEVICE_LABEL_BYTES, MAX_DEVICE_PACKAGE_BYTES, OwnerStateEnvelope, OwnerStateStored,
    RelayTime, UploadStatus,
};
use coffer_wire::v2::{
    Label, MAX_OWNER_STATE_BYTES, OwnerStateHeader, labelled, owner_state_payload_hash,
};
use ed25519_dalek::VerifyingKey;

use super::own_id_bytes;
use crate::api::auth::signature_field;
use crate::api::extract::{ClientIp, General, Register, V2System, state};
use crate::api::json::{Fields, created, ok, read_body, read_object};
use crate::api::random;
use crate::error::ApiError;
use crate::service::Refusal;
use crate::state::AppState;
use crate::storage::devices::UserCheck;
use crate::store::devices::OwnerState;
use crate::store::{hour, now, users};

/// Largest `PUT /owner-state` body (the payload as base64, plus the small fields).
pub const OWNER_STATE_BODY_LIMIT: usize = MAX_OWNER_STATE_BYTES / 3 * 4 + 8 * 1024;
/// How long a device link lives, seconds.
pub const DEVICE_LINK_LIFETIME: i64 = 600;
/// Most unexpired device links per account.
pub const MAX_OPEN_DEVICE_LINKS: u64 = 4;
/// Largest package body.
pub const PACKAGE_BODY_LIMIT: usize = MAX_DEVICE_PACKAGE_BYTES * 2;

/// `PUT /api/v2/owner-state` (system) `{header, signature, payload}`.
pub async fn put_state(
    req: HttpRequest,
    V2System(caller): V2System<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, OWNER_STATE_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    for name in ["header", "signature", "payload"] {
        f.required(name)?;
    }
    let header_bytes = b64::decode_bounded(f.str("header")?, 256)
        .map_err(|_| ApiError::bad("header must be standard base64"))?;
    let header =
        OwnerStateHeader::parse(&header_bytes).map_err(|e| ApiError::bad(e.to_string()))?;
    let signature = signature_field(&f, "signature")?;
    let body = b64::decode_bounded(f.str("payload")?, MAX_OWNER_STATE_BYTES).map_err(|_| {
        ApiError::bad(format!(
            "payload must be standard base64 of at most {MAX_OWNER_STATE_BYTES} bytes"
        ))
    })?;
    if header.owner != own_id_bytes(&caller.user_id)? {
        return Err(ApiError::bad("The owner state's owner must be you"));
    }
    if header.payload_len as usize != body.len()
        || owner_state_payload_hash(&body) != header.payload_hash
    {
        return Err(ApiError::bad(
            "The payload's length or hash differs from the header's",
        ));
    }
    let owner = caller.user_id.clone();
    let version = header.version;
    let mut message = labelled(Label::OwnerState);
    message.extend_from_slice(&header_bytes);
    let stored = OwnerState {
        version,
        header: header_bytes,
        signature: signature.to_bytes(),
        payload: body,
    };
    let check: UserCheck = Box::new(move |user: &users::User| {
        let valid = VerifyingKey::from_bytes(&user.public_signing_key)
            .map(|k| k.verify_strict(&message, &signature).is_ok())
            .unwrap_or(false);
        if valid {
            Ok(())
        } else {
            Err(Refusal::Forbidden("Invalid owner-state signature"))
        }
    });
    state
        .storage
        .put_owner_state(owner, stored, hour(now()), check)
        .await??;
    Ok(ok(&OwnerStateStored {
        status: UploadStatus::Stored,
        version,
    }))
}

/// `GET /api/v2/owner-state` (system): the stored state, byte for byte; 404 when none.
pub async fn get_state(
    req: HttpRequest,
    V2System(caller): V2System<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let owner = caller.user_id.clone();
    let stored = state
        .storage
        .owner_state(owner)
        .await?
        .ok_or(ApiError::NotFound("No owner state"))?;
    Ok(ok(&OwnerStateEnvelope {
        header: stored.header,
        signature: Signature64::from_bytes(stored.signature),
        payload: stored.payload,
    }))
}

fn path_code(req: &HttpRequest) -> Result<String, ApiError> {
    req.match_info()
        .get("code")
        .map(str::to_ascii_uppercase)
        .filter(|c| InviteCode::new(c).is_ok())
        .ok_or(ApiError::NotFound("No such device link"))
}

/// `POST /api/v2/device-links` (system): a code for a link that lives ten minutes.
pub async fn create_link(
    req: HttpRequest,
    V2System(caller): V2System<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let _ignored = read_body(&req, payload, AppState::SMALL_BODY_LIMIT).await?;
    let code = random::invite_code()?;
    let now = now();
    let expires_at = now.saturating_add(DEVICE_LINK_LIFETIME);
    state
        .storage
        .create_device_link(
            code.clone(),
            caller.user_id.clone(),
            now,
            expires_at,
            MAX_OPEN_DEVICE_LINKS,
        )
        .await??;
    Ok(created(&DeviceLink {
        code: InviteCode::new(&code).map_err(|_| ApiError::Internal)?,
        expires_at: RelayTime::from_unix_seconds(expires_at),
    }))
}

/// `GET /api/v2/device-links/{code}` (the system that made it): the join, once posted.
pub async fn get_link(
    req: HttpRequest,
    V2System(caller): V2System<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let code = path_code(&req)?;
    let now = now();
    let link = state
        .storage
        .device_link(code, now)
        .await?
        .filter(|l| l.user_id == caller.user_id)
        .ok_or(ApiError::NotFound("No such device link"))?;
    let join = link.join.map(|(key, label, proof)| DeviceJoinRequest {
        device_key: PublicKey32::from_bytes(key),
        label,
        proof,
    });
    Ok(ok(&DeviceLinkStatus {
        code: InviteCode::new(&link.code).map_err(|_| ApiError::Internal)?,
        expires_at: RelayTime::from_unix_seconds(link.expires_at),
        join,
    }))
}

/// `POST /api/v2/device-links/{code}/join` (no login) `{device_key, label, proof}`: 204.
pub async fn join(
    req: HttpRequest,
    _ip: ClientIp<Register>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let code = path_code(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    for name in ["device_key", "label", "proof"] {
        f.required(name)?;
    }
    let key = PublicKey32::from_b64(f.str("device_key")?).map_err(|e| {
        ApiError::bad(format!(
            "device_key: {e}; expected standard base64 of 32 bytes"
        ))
    })?;
    let label = f.str("label")?.to_owned();
    if label.is_empty()
        || label.len() > MAX_DEVICE_LABEL_BYTES
        || label.chars().any(char::is_control)
    {
        return Err(ApiError::bad(
            "label must be 1-64 bytes without control characters",
        ));
    }
    let proof = b64::decode_exact::<32>(f.str("proof")?)
        .map_err(|e| ApiError::bad(format!("proof: {e}; expected standard base64 of 32 bytes")))?;
    let now = now();
    state
        .storage
        .join_device_link(code, now, *key.as_bytes(), label, proof)
        .await??;
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /api/v2/device-links/{code}/package` (the system that made it) `{package}`: 204.
pub async fn put_package(
    req: HttpRequest,
    V2System(caller): V2System<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let code = path_code(&req)?;
    let obj = read_object(&req, payload, PACKAGE_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    f.required("package")?;
    let package =
        b64::decode_bounded(f.str("package")?, MAX_DEVICE_PACKAGE_BYTES).map_err(|_| {
            ApiError::bad(format!(
                "package must be standard base64 of at most {MAX_DEVICE_PACKAGE_BYTES} bytes"
            ))
        })?;
    let now = now();
    state
        .storage
        .put_device_package(code, caller.user_id, now, package)
        .await??;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v2/device-links/{code}/package` (no login): the package, once; the link is
/// deleted as it is served. 404 until the owner posted it.
pub async fn get_package(
    req: HttpRequest,
    _ip: ClientIp<Register>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let code = path_code(&req)?;
    let now = now();
    let package = state.storage.take_device_package(code, now).await??;
    Ok(ok(&DevicePackage { package }))
}
