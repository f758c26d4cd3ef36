//! v2 registration (with the key-binding proof), login over the labelled transcript that names
//! the relay origin, and exact-handle lookup (no substring enumeration).

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64;
use coffer_wire::v2::{key_binding_message, login_transcript};
use ed25519_dalek::VerifyingKey;
use serde_json::json;

use super::{own_id_bytes, user_record, uuid_bytes};
use crate::api::auth::{LoginKind, body_uuid, issue_token, key32, signature_field};
use crate::api::extract::{Auth, ClientIp, Discovery, General, Register, V2Caller, state};
use crate::api::json::{Fields, created, ok, read_object};
use crate::api::{profile, random};
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
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    for name in [
        "client_type",
        "public_signing_key",
        "public_exchange_key",
        "key_binding_signature",
    ] {
        f.required(name)?;
    }
    let client_type = ClientType::parse(f.str("client_type")?)
        .ok_or_else(|| ApiError::bad("client_type must be 'system' or 'friend'"))?;
    let handle = profile::handle(f.opt_str("handle")?)?;
    if handle.as_ref().is_some_and(|h| h.chars().count() < 2) {
        return Err(ApiError::bad("Handle must be 2 to 64 characters"));
    }
    let signing = key32(&f, "public_signing_key")?;
    let exchange = key32(&f, "public_exchange_key")?;
    let binding = signature_field(&f, "key_binding_signature")?;
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
    let id = random::uuid()?.to_string();
    let account = NewAccount {
        id: id.clone(),
        public_signing_key: signing,
        public_exchange_key: exchange,
        handle,
        client_type,
        protocol_version: 2,
        feature_set: "[]".into(),
        key_binding_signature: Some(binding.to_bytes()),
    };
    accounts::register(&state.db, account).await?;
    Ok(created(&json!({ "user_id": id })))
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
    let user_id = body_uuid(&f, "user_id")?;
    let nonce_text = f.str("nonce")?.to_owned();
    let origin = f.str("origin")?.to_owned();
    let signature = signature_field(&f, "signature")?;
    if !state.is_own_origin(&origin) {
        return Err(ApiError::Forbidden(
            "The signed origin is not this relay's (check the relay URL, or the relay's public_origins)",
        ));
    }
    // A malformed nonce names no challenge; `issue_token` refuses it after consuming nothing.
    let nonce = b64::decode_exact::<32>(&nonce_text).unwrap_or([0; 32]);
    let id_bytes = own_id_bytes(&user_id)?;
    let transcript =
        login_transcript(&origin, &id_bytes, &nonce).ok_or(ApiError::bad("origin is too long"))?;
    issue_token(
        &state,
        ip.ip,
        user_id,
        nonce_text,
        LoginKind::V2,
        move |key| key.verify_strict(&transcript, &signature).is_ok(),
    )
    .await
}

async fn lookup(
    state: &AppState,
    find: impl FnOnce(&rusqlite::Connection) -> Result<Option<users::User>, crate::store::StoreError>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    match state.db.read(find).await? {
        Some(user) if user.is_v2() => Ok(ok(&user_record(&user))),
        _ => Err(ApiError::NotFound("User not found")),
    }
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
    lookup(&state, move |c| users::by_handle(c, &handle)).await
}

/// `GET /api/v2/users/{id}`.
pub async fn by_id(req: HttpRequest, _caller: V2Caller<General>) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (id, _) = req
        .match_info()
        .get("id")
        .and_then(uuid_bytes)
        .ok_or(ApiError::NotFound("User not found"))?;
    lookup(&state, move |c| users::get(c, &id)).await
}
