//! v2 registration (with the key-binding proof), login over the labelled transcript that names
//! the relay origin, and exact-handle lookup (no substring enumeration).

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64::{self, PublicKey32, Signature64};
use coffer_wire::v2::api::{
    DeviceLabel, Handle, RegisterRequest, Registered, TokenRequest, UserId,
};
use coffer_wire::v2::{key_binding_message, login_transcript, register_message};
use ed25519_dalek::{Signature, VerifyingKey};

use super::{stored_client_type, user_record, uuid_bytes, wire_client_type};
use crate::api::auth::{LoginKind, issue_token, key32, registration_gate, signature_field};
use crate::api::extract::{Auth, ClientIp, Discovery, General, Register, V2Caller, state};
use crate::api::json::{Fields, created, ok, read_object};
use crate::api::profile;
use crate::error::ApiError;
use crate::service::accounts::{self, NewAccount};
use crate::state::AppState;
use crate::store::{ClientType, users};

/// `POST /api/v2/register`.
pub async fn register(
    req: HttpRequest,
    _ip: ClientIp<Register>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    // Closed, or invite-only without a code: refused before the body is read.
    let gate = registration_gate(&state, &req);
    gate.early()?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    for name in [
        "client_type",
        "public_signing_key",
        "public_exchange_key",
        "key_binding_signature",
        "origin",
        "registration_signature",
    ] {
        f.required(name)?;
    }
    let request = register_request(&f)?;
    let (signing, exchange) = (
        *request.public_signing_key.as_bytes(),
        *request.public_exchange_key.as_bytes(),
    );
    let binding = Signature::from_bytes(request.key_binding_signature.as_bytes());
    let key = VerifyingKey::from_bytes(&signing)
        .map_err(|_| ApiError::bad("public_signing_key is not a valid Ed25519 public key"))?;
    if key
        .verify_strict(&key_binding_message(&signing, &exchange), &binding)
        .is_err()
    {
        return Err(ApiError::bad(
            "key_binding_signature does not verify: the keys are not bound",
        ));
    }
    // The registration proof (§3): only the keys' owner asks for their account, on this relay
    // (its origin is signed), with this type and handle. Checked before "already registered",
    // so someone holding only the public keys learns nothing and squats nothing.
    if !state.is_own_origin(&request.origin) {
        return Err(ApiError::bad(
            "The signed origin is not this relay's (check the relay URL, or the relay's public_origins)",
        ));
    }
    let message = register_message(
        &request.origin,
        request.client_type,
        request.handle.as_ref(),
        &signing,
        &exchange,
    )
    .ok_or(ApiError::bad("origin is too long"))?;
    let proof = Signature::from_bytes(request.registration_signature.as_bytes());
    if key.verify_strict(&message, &proof).is_err() {
        return Err(ApiError::bad(
            "registration_signature does not verify: it must be signed by these keys for this relay's origin, client type and handle",
        ));
    }
    // Derived from the keys: the same identity has the same id on every relay (§3).
    let id = UserId::derive(&signing, &exchange);
    let account = NewAccount {
        id: id.to_string(),
        public_signing_key: signing,
        public_exchange_key: exchange,
        handle: request.handle.map(|h| h.as_str().to_owned()),
        client_type: stored_client_type(request.client_type),
        protocol_version: 2,
        feature_set: "[]".into(),
        key_binding_signature: Some(*request.key_binding_signature.as_bytes()),
    };
    accounts::create(&*state.storage, account, gate).await?;
    Ok(created(&Registered { user_id: id }))
}

/// The fields of a registration, checked one by one in v1's order and with its messages.
fn register_request(f: &Fields<'_>) -> Result<RegisterRequest, ApiError> {
    let client_type = ClientType::parse(f.str("client_type")?)
        .ok_or_else(|| ApiError::bad("client_type must be 'system' or 'friend'"))?;
    let handle = profile::handle(f.opt_str("handle")?)?;
    if handle.as_ref().is_some_and(|h| h.chars().count() < 2) {
        return Err(ApiError::bad("Handle must be 2 to 64 characters"));
    }
    let handle = handle
        .map(|h| Handle::new(&h))
        .transpose()
        .map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(RegisterRequest {
        client_type: wire_client_type(client_type),
        handle,
        public_signing_key: PublicKey32::from_bytes(key32(f, "public_signing_key")?),
        public_exchange_key: PublicKey32::from_bytes(key32(f, "public_exchange_key")?),
        key_binding_signature: Signature64::from_bytes(
            signature_field(f, "key_binding_signature")?.to_bytes(),
        ),
        origin: f.str("origin")?.to_owned(),
        registration_signature: Signature64::from_bytes(
            signature_field(f, "registration_signature")?.to_bytes(),
        ),
    })
}

/// `POST /api/v2/auth/token`: the signature covers `label ‖ origin ‖ user id ‖ nonce`.
pub async fn token(
    req: HttpRequest,
    ip: ClientIp<Auth>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    for name in ["user_id", "nonce", "origin", "signature"] {
        f.required(name)?;
    }
    let request = token_request(&f)?;
    if !state.is_own_origin(&request.origin) {
        return Err(ApiError::Forbidden(
            "The signed origin is not this relay's (check the relay URL, or the relay's public_origins)",
        ));
    }
    let transcript = login_transcript(&request.origin, request.user_id.as_bytes(), &request.nonce)
        .ok_or(ApiError::bad("origin is too long"))?;
    let signature = Signature::from_bytes(request.signature.as_bytes());
    // The challenge is looked up by the nonce's text as sent (a malformed one names none).
    let nonce_text = f.str("nonce")?.to_owned();
    issue_token(
        &state,
        ip.ip,
        request.user_id.to_string(),
        nonce_text,
        LoginKind::V2,
        request.device_label.map(|l| l.as_str().to_owned()),
        move |key| key.verify_strict(&transcript, &signature).is_ok(),
    )
    .await
}

/// The fields of a login, checked one by one in v1's order and with its messages. A malformed
/// nonce names no challenge: it is kept as zeros here, and `issue_token` refuses its text after
/// consuming nothing.
fn token_request(f: &Fields<'_>) -> Result<TokenRequest, ApiError> {
    let user_id = UserId::from_uuid(f.uuid("user_id")?);
    let nonce = b64::decode_exact::<32>(f.str("nonce")?).unwrap_or([0; 32]);
    let origin = f.str("origin")?.to_owned();
    let signature = signature_field(f, "signature")?;
    let device_label = f
        .opt_str("device_label")?
        .map(DeviceLabel::new)
        .transpose()
        .map_err(|e| ApiError::bad(format!("device_label: {e}")))?;
    Ok(TokenRequest {
        user_id,
        nonce,
        origin,
        signature: Signature64::from_bytes(signature.to_bytes()),
        device_label,
    })
}

/// The public record of `found`, or 404.
fn record(found: Option<users::User>) -> Result<HttpResponse, ApiError> {
    found
        .as_ref()
        .and_then(user_record)
        .map(|record| ok(&record))
        .ok_or(ApiError::NotFound("User not found"))
}

/// `GET /api/v2/users/by-handle/{handle}`: exact (case-insensitive) match only.
pub async fn by_handle(
    req: HttpRequest,
    _caller: V2Caller<Discovery>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let handle = req
        .match_info()
        .get("handle")
        .unwrap_or_default()
        .to_owned();
    if handle.is_empty() || handle.len() > 256 {
        return Err(ApiError::NotFound("User not found"));
    }
    record(state.storage.user_by_handle(handle).await?)
}

/// `GET /api/v2/users/{id}`.
pub async fn by_id(req: HttpRequest, _caller: V2Caller<General>) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (id, _) = req
        .match_info()
        .get("id")
        .and_then(uuid_bytes)
        .ok_or(ApiError::NotFound("User not found"))?;
    record(state.storage.user(id).await?)
}
