//! v2 pairing: invites, redeem with a proof the relay cannot forge (keyed by a secret it never
//! sees), the pairing list, and unpairing (which also ends the grant at once).

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64;
use coffer_wire::v2::api::{
    self as wire, Invite, InviteCode, PairingId, PairingList, PairingStatus, RedeemRequest,
    Redeemed, RelayTime, ReplicaPairingRequest,
};

use super::{stored_user_id, user_record, uuid_bytes};
use crate::api::extract::{General, V2Caller, V2Friend, V2System, state};
use crate::api::json::{Fields, created, ok, read_body, read_object};
use crate::api::random;
use crate::error::ApiError;
use crate::service;
use crate::state::AppState;
use crate::storage::pairings::Redemption;
use crate::store::now;

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
    Ok(created(&Invite {
        code: InviteCode::new(&code).map_err(|_| ApiError::Internal)?,
        expires_at: RelayTime::from_unix_seconds(expires_at),
    }))
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
    // A code outside the invite alphabet names no invite.
    let request = RedeemRequest {
        code: InviteCode::new(&code).map_err(|_| ApiError::NotFound("Invalid invite code"))?,
        proof,
    };
    let (code, proof) = (request.code.as_str().to_owned(), request.proof);
    let id = random::uuid()?;
    let system = state
        .storage
        .redeem_invite(Redemption {
            code,
            pairing_id: id.to_string(),
            friend: caller.user_id,
            friend_type: caller.client_type,
            proof,
            now: now(),
        })
        .await??;
    Ok(created(&Redeemed {
        pairing_id: PairingId::from_uuid(id),
        system_user_id: stored_user_id(&system)?,
    }))
}

pub use crate::storage::pairings::MAX_PENDING_REPLICA_REQUESTS;

/// `POST /api/v2/pairings/replica` (friend) `{system_user_id}`: asks for a pairing with a
/// system on one more of its relays, without an invite (docs/protocol-v2.md §6). The pairing
/// stays pending, with neither code nor proof, until the system's grant (naming this friend's
/// keys) activates it. 201 with the new pairing; 200 with the existing one if the two are
/// paired here already.
pub async fn request_replica(
    req: HttpRequest,
    V2Friend(caller): V2Friend<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    f.required("system_user_id")?;
    let (system, _) = uuid_bytes(f.str("system_user_id")?)
        .ok_or_else(|| ApiError::bad("system_user_id must be a UUID"))?;
    let request = ReplicaPairingRequest {
        system_user_id: stored_user_id(&system)
            .map_err(|_| ApiError::bad("system_user_id must be a UUID"))?,
    };
    let id = random::uuid()?.to_string();
    let now = now();
    let friend = caller.user_id;
    let (pairing_id, is_new) = state
        .storage
        .request_replica_pairing(id, system, friend, now)
        .await??;
    let answer = Redeemed {
        pairing_id: pairing_id.parse().map_err(|_| ApiError::Internal)?,
        system_user_id: request.system_user_id,
    };
    Ok(if is_new {
        created(&answer)
    } else {
        ok(&answer)
    })
}

/// `GET /api/v2/pairings`: the caller's pairings, with the peer's public record; the system also
/// sees the code and the friend's proof, to check against the secret it kept.
pub async fn list(
    req: HttpRequest,
    V2Caller(caller): V2Caller<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let me = caller.user_id.clone();
    let rows = state.storage.pairings_with_peers(me).await?;
    let mut pairings = Vec::with_capacity(rows.len());
    for (peer, p) in rows {
        let Some(peer) = peer.as_ref().and_then(user_record) else {
            continue;
        };
        let system_view = p.system_user_id == caller.user_id;
        pairings.push(wire::Pairing {
            pairing_id: p.id.parse().map_err(|_| ApiError::Internal)?,
            system_user_id: stored_user_id(&p.system_user_id)?,
            friend_user_id: stored_user_id(&p.friend_user_id)?,
            status: match p.status.as_str() {
                "pending" => PairingStatus::Pending,
                "active" => PairingStatus::Active,
                _ => PairingStatus::Unknown,
            },
            // A replica request has neither (§6): the grant names the friend's fingerprint.
            code: match p.code.as_deref() {
                Some(code) if system_view => {
                    Some(InviteCode::new(code).map_err(|_| ApiError::Internal)?)
                }
                _ => None,
            },
            proof: p.proof.filter(|_| system_view),
            created_at: Some(RelayTime::from_unix_seconds(p.created_at)),
            peer,
        });
    }
    Ok(ok(&PairingList { pairings }))
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
    state.storage.unpair(id, caller.user_id).await??;
    Ok(HttpResponse::NoContent().finish())
}
