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
use crate::service::{self, Decision, Refusal};
use crate::state::AppState;
use crate::store::pairings::{self as store, Pairing};
use crate::store::{ClientType, StoreError, hour, invites, now, users};

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
    let now = now();
    let result = state
        .db
        .write(move |tx| -> Decision<(String, String)> {
            let invite = match service::invites::open(tx, &code, 2, caller.client_type, now)? {
                Ok(invite) => invite,
                Err(refused) => return Ok(Err(refused)),
            };
            let pairing = Pairing {
                id: id.to_string(),
                system_user_id: invite.system_user_id.clone(),
                friend_user_id: caller.user_id.clone(),
                status: "pending".into(),
                code: Some(invite.code.clone()),
                proof: Some(proof),
                created_at: hour(now),
            };
            if !store::create_pairing(tx, &pairing)? {
                return Ok(Err(Refusal::Conflict(
                    "You are already paired with this system".into(),
                )));
            }
            invites::mark_redeemed(tx, &invite.code, &caller.user_id, hour(now))?;
            Ok(Ok((id.to_string(), invite.system_user_id)))
        })
        .await??;
    Ok(created(&Redeemed {
        pairing_id: PairingId::from_uuid(id),
        system_user_id: stored_user_id(&result.1)?,
    }))
}

/// Most pending replica requests (no invite code) one friend may have open at once.
pub const MAX_PENDING_REPLICA_REQUESTS: u64 = 64;

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
        .db
        .write(move |tx| -> Decision<(String, bool)> {
            // Answers as GET /users/{id} would: no more than that a v2 system exists.
            let is_system = users::get(tx, &system)?
                .is_some_and(|u| u.is_v2() && u.client_type == ClientType::System);
            if !is_system {
                return Ok(Err(Refusal::NotFound("User not found")));
            }
            if let Some(p) = store::pairing_between(tx, &system, &friend)? {
                return Ok(Ok((p.id, false)));
            }
            if store::pending_replica_requests(tx, &friend)? >= MAX_PENDING_REPLICA_REQUESTS {
                return Ok(Err(Refusal::Forbidden(
                    "Too many pending replica pairing requests (64): wait for the systems' \
                     grants, or unpair some",
                )));
            }
            if !store::create_replica_request(tx, &id, &system, &friend, hour(now))? {
                return Err(StoreError::Corrupt("a pairing appeared inside a write"));
            }
            Ok(Ok((id, true)))
        })
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
