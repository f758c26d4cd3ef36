//! Registration and public-key challenge login (v1.md §1.3 #2–4, §2.2–2.3).
//!
//! Challenges are single-use: any `auth/token` attempt consumes the nonce it names, whatever the
//! outcome, so a captured or guessed nonce is worth one try. Session tokens are 48 random bytes;
//! only their SHA-256 is stored.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use coffer_wire::b64::{PublicKey32, Signature64};
use coffer_wire::time::isoformat;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::json;

use super::extract::{Auth, ClientIp, Register, state, token_hash};
use super::json::{Fields, created, ok, read_object};
use super::{profile, random};
use crate::error::ApiError;
use crate::service::Refusal;
use crate::service::accounts::{self, NewAccount};
use crate::service::registration::Gate;
use crate::state::AppState;
use crate::storage::sessions::{Challenge, NewSession, Protocol};
use crate::store::{ClientType, now};

/// Longest nonce text accepted in `auth/token` (ours are 44 characters).
pub const MAX_NONCE_LEN: usize = 128;

/// A required 32-byte key field (strict base64).
pub fn key32(fields: &Fields<'_>, name: &str) -> Result<[u8; 32], ApiError> {
    let text = fields.str(name)?;
    PublicKey32::from_b64(text)
        .map(|k| *k.as_bytes())
        .map_err(|e| {
            ApiError::bad(format!(
                "{name}: invalid key encoding ({e}); expected standard base64 of 32 bytes"
            ))
        })
}

/// The registration rules with the request's `X-Registration-Code` (v1 and v2 alike; a header,
/// so v1's body stays as the apps send it).
pub fn registration_gate(state: &AppState, req: &HttpRequest) -> Gate {
    Gate::new(
        &state.config.registration,
        req.headers()
            .get("x-registration-code")
            .map(|v| v.as_bytes()),
    )
}

/// `POST /api/v1/register`.
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
        "public_signing_key",
        "public_exchange_key",
        "client_type",
        "protocol_version",
        "feature_set",
    ] {
        f.required(name)?;
    }
    let client_type = ClientType::parse(f.str("client_type")?)
        .ok_or_else(|| ApiError::bad("client_type must be 'system' or 'friend'"))?;
    let protocol_version = f.int("protocol_version")?;
    let min = state.config.protocol.min_version;
    if protocol_version < min {
        return Err(ApiError::UpgradeRequired(format!(
            "This server requires protocol version {min}+"
        )));
    }
    let feature_set = profile::feature_set(f.required("feature_set")?)?;
    let handle = profile::handle(f.opt_str("handle")?)?;
    let signing = key32(&f, "public_signing_key")?;
    let exchange = key32(&f, "public_exchange_key")?;
    // Refuse keys that are not curve points: nothing could ever verify against them.
    VerifyingKey::from_bytes(&signing)
        .map_err(|_| ApiError::bad("public_signing_key is not a valid Ed25519 public key"))?;

    let id = random::uuid()?.to_string();
    let account = NewAccount {
        id: id.clone(),
        public_signing_key: signing,
        public_exchange_key: exchange,
        handle,
        client_type,
        protocol_version,
        feature_set,
        key_binding_signature: None,
    };
    accounts::create(&*state.storage, account, gate).await?;
    Ok(created(
        &json!({ "user_id": id, "server_min_version": min }),
    ))
}

/// A required UUID field, as hyphenated text.
pub fn body_uuid(f: &Fields<'_>, name: &str) -> Result<String, ApiError> {
    f.uuid(name).map(|u| u.to_string())
}

/// `POST /api/v1/auth/challenge`.
pub async fn challenge(
    req: HttpRequest,
    ip: ClientIp<Auth>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    if f.0.get("user_id").is_none_or(serde_json::Value::is_null) {
        return Err(ApiError::bad("Missing user_id"));
    }
    let user_id = body_uuid(&f, "user_id")?;
    let user_for_anomalies = user_id.clone();
    let nonce = STANDARD.encode(random::bytes::<32>()?);
    let now = now();
    let expires_at = now.saturating_add(state.config.limits.challenge_lifetime_secs as i64);
    let max = state.config.limits.max_challenges_per_user;
    // A read, not a write: the embedded store keeps challenges in memory (docs/adr/0027).
    let found = state
        .storage
        .issue_challenge(user_id, nonce.clone(), expires_at, max, now)
        .await?;
    let source = state.source(ip.ip);
    state.anomalies.challenge(
        now,
        found.then_some(user_for_anomalies.as_str()),
        source.as_ref(),
    );
    if !found {
        return Err(ApiError::NotFound("User not found"));
    }
    Ok(ok(
        &json!({ "nonce": nonce, "expires_at": isoformat(expires_at, 0) }),
    ))
}

/// Why a token request failed, decided inside the transaction.
enum TokenOutcome {
    Issued,
    UnknownUser,
    /// Refused; the account exists (so the failure is counted per user).
    Refused(Refusal),
}

/// Which login a token request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// v1: the signature covers the nonce text; v2 accounts are refused.
    V1,
    /// v2: the signature covers the labelled transcript; v1 accounts are refused.
    V2,
}

/// Consumes the challenge `nonce` (whatever happens next), checks it belongs to `user_id` and is
/// live, checks the account's protocol, runs `verify` with the user's signing key, and issues a
/// session token with a random public session id (and, for v2, the client's `device_label`,
/// already validated). Shared by v1 and v2 logins. A refusal is counted for the anomaly report
/// (per user if the account exists, per source `ip`).
pub async fn issue_token(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    user_id: String,
    nonce: String,
    kind: LoginKind,
    device_label: Option<String>,
    verify: impl FnOnce(&VerifyingKey) -> bool + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let token = URL_SAFE_NO_PAD.encode(random::bytes::<48>()?);
    let hash = token_hash(&token);
    let new_session = NewSession {
        session_id: random::uuid()?.to_string(),
        device_label,
        protocol: match kind {
            LoginKind::V1 => Protocol::V1,
            LoginKind::V2 => Protocol::V2,
        },
        now: now(),
    };
    let user_for_anomalies = user_id.clone();
    let user_for_insert = user_id.clone();
    let now = now();
    let expires_at = now.saturating_add(state.config.limits.session_lifetime_secs as i64);
    // A nonce longer than ours names no challenge.
    if nonce.len() > MAX_NONCE_LEN {
        failed_login(state, ip, now, None);
        return Err(ApiError::Forbidden("Invalid or expired challenge nonce"));
    }
    // The challenge is consumed first, whatever happens next. Everything up to the signature
    // is checked beside other requests (on a reader, or with the account's key held in memory
    // where the store keeps it: docs/adr/0035); only an accepted login reaches the writer,
    // with its one insert (docs/adr/0027).
    let login_user = user_id.clone();
    let checked = state
        .storage
        .check_login(
            user_id,
            nonce,
            Box::new(move |account, challenge| {
                login_rule(account.is_v2, kind, &login_user, challenge, now)?;
                let verified = account.signing_key.as_ref().is_some_and(verify);
                if !verified {
                    return Err(Refusal::Forbidden("Invalid signature"));
                }
                Ok(())
            }),
        )
        .await?;
    let outcome = match checked {
        None => TokenOutcome::UnknownUser,
        Some(Err(refused)) => TokenOutcome::Refused(refused),
        Some(Ok(())) => {
            let opened = state
                .storage
                .open_session(hash, user_for_insert, expires_at, new_session)
                .await?;
            if opened {
                TokenOutcome::Issued
            } else {
                // Deleted since the read.
                TokenOutcome::UnknownUser
            }
        }
    };
    let failed = |user: Option<&str>| failed_login(state, ip, now, user);
    match outcome {
        TokenOutcome::Issued => Ok(ok(
            &json!({ "token": token, "expires_at": isoformat(expires_at, 0) }),
        )),
        TokenOutcome::UnknownUser => {
            failed(None);
            Err(ApiError::NotFound("User not found"))
        }
        TokenOutcome::Refused(refused) => {
            failed(Some(user_for_anomalies.as_str()));
            Err(refused.into())
        }
    }
}

/// The login's rules before the signature: the account's protocol, then the challenge (one
/// outstanding, the account's own, live at `now`).
fn login_rule(
    is_v2: bool,
    kind: LoginKind,
    user_id: &str,
    challenge: Option<Challenge>,
    now: i64,
) -> Result<(), Refusal> {
    match (kind, is_v2) {
        // Its key signs only labelled v2 transcripts (W10): never a bare v1 nonce.
        (LoginKind::V1, true) => {
            return Err(Refusal::Forbidden(
                "This account uses protocol v2: log in through /api/v2/auth/token",
            ));
        }
        (LoginKind::V2, false) => {
            return Err(Refusal::Forbidden(
                "This account was registered with protocol v1: log in through /api/v1/auth/token",
            ));
        }
        _ => {}
    }
    let Some(challenge) = challenge else {
        return Err(Refusal::Forbidden("Invalid or expired challenge nonce"));
    };
    if challenge.user_id != user_id {
        return Err(Refusal::Forbidden("Challenge does not belong to this user"));
    }
    if challenge.expires_at <= now {
        return Err(Refusal::Forbidden("Challenge expired"));
    }
    Ok(())
}

/// Counts a refused login for the anomaly report (per user if the account exists).
fn failed_login(state: &AppState, ip: Option<std::net::IpAddr>, now: i64, user: Option<&str>) {
    let source = state.source(ip);
    state.anomalies.failed_login(now, user, source.as_ref());
}

/// A signature field: strict base64 of exactly 64 bytes.
pub fn signature_field(f: &Fields<'_>, name: &str) -> Result<Signature, ApiError> {
    Signature64::from_b64(f.str(name)?)
        .map(|s| Signature::from_bytes(s.as_bytes()))
        .map_err(|e| {
            ApiError::bad(format!(
                "{name}: invalid encoding ({e}); expected standard base64 of 64 bytes"
            ))
        })
}

/// `POST /api/v1/auth/token`.
pub async fn token(
    req: HttpRequest,
    ip: ClientIp<Auth>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    for name in ["user_id", "nonce", "signature"] {
        f.required(name)?;
    }
    let user_id = body_uuid(&f, "user_id")?;
    let nonce = f.str("nonce")?.to_owned();
    let signature = signature_field(&f, "signature")?;
    let signed = nonce.clone();
    issue_token(
        &state,
        ip.ip,
        user_id,
        nonce,
        LoginKind::V1,
        None,
        move |key| key.verify_strict(signed.as_bytes(), &signature).is_ok(),
    )
    .await
}
