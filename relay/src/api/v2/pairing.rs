//! v2 pairing: invites, redeem with a proof the relay cannot forge (keyed by a secret it never
//! sees), the pairing list, and unpairing (which also ends the grant at once).

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64;
use coffer_wire::time::isoformat;
use serde_json::{Value, json};

use super::{user_record, uuid_bytes};
use crate::api::extract::{General, V2Caller, V2System, state};
use crate::api::json::{Fields, created, ok, read_body, read_object};
use crate::api::random;
use crate::error::ApiError;
use crate::service::{self, Decision, Refusal};
use crate::state::AppState;
use crate::store::pairings::{self as store, Pairing};
use crate::store::{StoreError, hour, invites, now, users};

/// `POST /api/v2/invites` (system): a code for the link; the link's secret never reaches us.
pub async fn create_invite(
    req: HttpRequest,
    V2System(caller): V2System<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let _ignored = read_body(&req, payload, AppState::SMALL_BODY_LIMIT).await?;
    let code = random::invite_code()?;
    let expires_at = service::invites::create(&state, &caller.user_id, &code, 2).await?;
    Ok(created(
        &json!({ "code": code, "expires_at": isoformat(expires_at, 0) }),
    ))
}

/// `POST /api/v2/invites/redeem` (friend) `{code, proof}`.
pub async fn redeem(
    req: HttpRequest,
    V2Caller(caller): V2Caller<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    f.required("code")?;
    f.required("proof")?;
    let code = f.str("code")?.trim().to_ascii_uppercase();
    let proof = b64::decode_exact::<32>(f.str("proof")?)
        .map_err(|e| ApiError::bad(format!("proof: {e}; expected standard base64 of 32 bytes")))?;
    if code.len() > 64 {
        return Err(ApiError::NotFound("Invalid invite code"));
    }
    let id = random::uuid()?.to_string();
    let now = now();
    let result = state
        .db
        .write(move |tx| -> Decision<(String, String)> {
            let invite = match service::invites::open(tx, &code, 2, caller.client_type, now)? {
                Ok(invite) => invite,
                Err(refused) => return Ok(Err(refused)),
            };
            let pairing = Pairing {
                id: id.clone(),
                system_user_id: invite.system_user_id.clone(),
                friend_user_id: caller.user_id.clone(),
                status: "pending".into(),
                code: invite.code.clone(),
                proof,
                created_at: hour(now),
            };
            if !store::create_pairing(tx, &pairing)? {
                return Ok(Err(Refusal::Conflict(
                    "You are already paired with this system".into(),
                )));
            }
            invites::mark_redeemed(tx, &invite.code, &caller.user_id, hour(now))?;
            Ok(Ok((id, invite.system_user_id)))
        })
        .await??;
    Ok(created(
        &json!({ "pairing_id": result.0, "system_user_id": result.1 }),
    ))
}

/// `GET /api/v2/pairings`: the caller's pairings, with the peer's public record; the system also
/// sees the code and the friend's proof, to check against the secret it kept.
pub async fn list(
    req: HttpRequest,
    V2Caller(caller): V2Caller<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let me = caller.user_id.clone();
    let rows = state
        .db
        .read(move |c| {
            store::pairings_of(c, &me)?
                .into_iter()
                .map(|p| {
                    let peer = if p.system_user_id == me {
                        &p.friend_user_id
                    } else {
                        &p.system_user_id
                    };
                    Ok((users::get(c, peer)?, p))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await?;
    let entries: Vec<Value> = rows
        .into_iter()
        .filter_map(|(peer, p)| {
            let peer = peer?;
            let system_view = p.system_user_id == caller.user_id;
            Some(json!({
                "pairing_id": p.id,
                "system_user_id": p.system_user_id,
                "friend_user_id": p.friend_user_id,
                "status": p.status,
                "code": system_view.then_some(&p.code),
                "proof": system_view.then(|| b64::encode(&p.proof)),
                "created_at": isoformat(p.created_at, 0),
                "peer": user_record(&peer),
            }))
        })
        .collect();
    Ok(ok(&json!({ "pairings": entries })))
}

/// `DELETE /api/v2/pairings/{id}` (either side): unpair; the grant and wrapped keys go with it,
/// so the relay stops serving that friend at once. 204.
pub async fn delete(
    req: HttpRequest,
    V2Caller(caller): V2Caller<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (id, _) = req
        .match_info()
        .get("id")
        .and_then(uuid_bytes)
        .ok_or(ApiError::NotFound("Pairing not found"))?;
    state
        .db
        .write(move |tx| {
            let Some(p) = store::pairing(tx, &id)? else {
                return Ok(Err(Refusal::NotFound("Pairing not found")));
            };
            if p.system_user_id != caller.user_id && p.friend_user_id != caller.user_id {
                return Ok(Err(Refusal::Forbidden(
                    "You are not a party to this pairing",
                )));
            }
            store::delete_pairing(tx, &id)?;
            Ok(Ok(()))
        })
        .await??;
    Ok(HttpResponse::NoContent().finish())
}
