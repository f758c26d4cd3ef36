//! v2 grants: the system uploads an owner-signed grant with one wrapped key per granted volume;
//! the relay serves a friend only the volumes whose *current* epoch its live grant names.

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64::{self, Signature64, WrappedVek60};
use coffer_wire::v2::api::{GrantEnvelope, GrantStored, UploadStatus, VolumeList, WrappedKeyEntry};
use coffer_wire::v2::{Grant, Label, VolumeName, fingerprint_bytes, labelled};
use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use super::volumes::{list_entry, own_volume, path_volume, serve};
use super::{own_id_bytes, uuid_bytes};
use crate::api::auth::signature_field;
use crate::api::extract::{General, V2Friend, V2System, state};
use crate::api::json::{Fields, ok, read_object};
use crate::error::ApiError;
use crate::fetch_cache::{FetchKey, Route};
use crate::service::{Decision, Refusal, Stale};
use crate::state::AppState;
use crate::store::grants::{self, StoredGrant};
use crate::store::tombstones::{tombstone, tombstones_of};
use crate::store::volumes::v2 as store;
use crate::store::{StoreError, hour, now, pairings, users};

/// Largest grant request body.
pub const GRANT_BODY_LIMIT: usize = 256 * 1024;

fn parse_wrapped(value: &Value) -> Result<Vec<WrappedKeyEntry>, ApiError> {
    let bad = || ApiError::bad("wrapped_keys must be a list of {volume, epoch, wrapped_key}");
    let items = value
        .as_array()
        .filter(|a| a.len() <= coffer_wire::v2::MAX_GRANT_ENTRIES)
        .ok_or_else(bad)?;
    items
        .iter()
        .map(|item| {
            let obj = item.as_object().ok_or_else(bad)?;
            let f = Fields(obj);
            let volume =
                VolumeName::new(f.str("volume")?).map_err(|e| ApiError::bad(e.to_string()))?;
            let epoch = u32::try_from(f.int("epoch")?).map_err(|_| bad())?;
            let wrapped = WrappedVek60::from_b64(f.str("wrapped_key")?).map_err(|e| {
                ApiError::bad(format!(
                    "wrapped_key: {e}; expected standard base64 of 60 bytes"
                ))
            })?;
            Ok(WrappedKeyEntry {
                volume,
                epoch,
                wrapped_key: wrapped,
            })
        })
        .collect()
}

/// A replica request's grant that does not name the friend's registered keys.
const FINGERPRINT_MISMATCH: &str =
    "The grant's friend fingerprint does not match the friend's registered keys";

/// `PUT /api/v2/grants/{friend_id}` (system): needs a pairing with the friend (404 "Pairing not
/// found" otherwise; a grant never creates one). On a *replica request* (a pairing the friend
/// asked for without an invite, docs/protocol-v2.md §6) the grant's `friend_fingerprint` must
/// name the friend's registered keys; the grant then activates it like any pairing.
pub async fn put(
    req: HttpRequest,
    V2System(caller): V2System<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (friend, friend_bytes) = req
        .match_info()
        .get("friend_id")
        .and_then(uuid_bytes)
        .ok_or(ApiError::NotFound("Pairing not found"))?;
    let obj = read_object(&req, payload, GRANT_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    for name in ["grant", "signature", "wrapped_keys"] {
        f.required(name)?;
    }
    let bytes = b64::decode_bounded(f.str("grant")?, GRANT_BODY_LIMIT)
        .map_err(|_| ApiError::bad("grant must be standard base64"))?;
    let grant = Grant::parse(&bytes).map_err(|e| ApiError::bad(e.to_string()))?;
    let signature = signature_field(&f, "signature")?;
    let mut request = GrantEnvelope {
        grant: bytes,
        signature: Signature64::from_bytes(signature.to_bytes()),
        wrapped_keys: parse_wrapped(f.required("wrapped_keys")?)?,
    };
    if grant.owner != own_id_bytes(&caller.user_id)? || grant.friend != friend_bytes {
        return Err(ApiError::bad(
            "The grant's owner and friend must be you and the friend in the URL",
        ));
    }
    let now = now();
    if grant.expires_at != 0 && grant.expires_at <= now as u64 {
        return Err(ApiError::bad("The grant has already expired"));
    }
    request.wrapped_keys.sort_by(|a, b| a.volume.cmp(&b.volume));
    let matches = request.wrapped_keys.len() == grant.entries.len()
        && request
            .wrapped_keys
            .iter()
            .zip(&grant.entries)
            .all(|(k, e)| k.volume == e.volume && k.epoch == e.epoch);
    if !matches {
        return Err(ApiError::bad(
            "wrapped_keys must hold exactly one key per granted volume and epoch",
        ));
    }
    let owner = caller.user_id.clone();
    let stored = StoredGrant {
        sequence: grant.sequence,
        expires_at: grant.expires_at,
        grant_bytes: request.grant,
        signature: signature.to_bytes(),
    };
    let keys: WrappedKeys = request
        .wrapped_keys
        .into_iter()
        .map(|k| {
            (
                k.volume.as_str().to_owned(),
                k.epoch,
                *k.wrapped_key.as_bytes(),
            )
        })
        .collect();
    let sequence = grant.sequence;
    let fingerprint = grant.friend_fingerprint;
    state
        .db
        .write(move |tx| -> Decision<()> {
            let Some(pairing) = pairings::pairing_between(tx, &owner, &friend)? else {
                return Ok(Err(Refusal::NotFound("Pairing not found")));
            };
            let Some(user) = users::get(tx, &owner)? else {
                return Ok(Err(Refusal::Unauthorized("User not found")));
            };
            let mut message = labelled(Label::Grant);
            message.extend_from_slice(&stored.grant_bytes);
            let valid = VerifyingKey::from_bytes(&user.public_signing_key)
                .map(|k| k.verify_strict(&message, &signature).is_ok())
                .unwrap_or(false);
            if !valid {
                return Ok(Err(Refusal::Forbidden("Invalid grant signature")));
            }
            // A replica request (no invite code, §6): the grant must name the keys of the
            // friend that asked.
            if pairing.code.is_none() {
                let named = users::get(tx, &friend)?.is_some_and(|f| {
                    fingerprint == fingerprint_bytes(&f.public_signing_key, &f.public_exchange_key)
                });
                if !named {
                    return Ok(Err(Refusal::Forbidden(FINGERPRINT_MISMATCH)));
                }
            }
            Ok(
                grants::put_grant(tx, &pairing.id, &stored, &keys, hour(now))?
                    .map_err(|current| Refusal::Stale(Stale::Grant { current })),
            )
        })
        .await??;
    Ok(ok(&GrantStored {
        status: UploadStatus::Stored,
        sequence,
    }))
}

/// The live grant a friend holds from `owner`: pairing, parsed grant, wrapped keys.
async fn live_grant(
    state: &AppState,
    owner: &str,
    friend: &str,
) -> Result<(StoredGrant, Grant, WrappedKeys), ApiError> {
    let (o, fr) = (owner.to_owned(), friend.to_owned());
    Ok(state.db.read(move |c| live_grant_in(c, &o, &fr)).await??)
}

/// The wrapped keys of a grant: (volume, epoch, wrapped key).
type WrappedKeys = Vec<(String, u32, [u8; 60])>;

/// The live (stored, unexpired) grant from `owner` to `friend`, parsed, with its wrapped keys.
fn live_grant_in(
    c: &rusqlite::Connection,
    owner: &str,
    friend: &str,
) -> Decision<(StoredGrant, Grant, WrappedKeys)> {
    const NONE: &str = "No live grant from this system";
    let Some(p) = pairings::pairing_between(c, owner, friend)? else {
        return Ok(Err(Refusal::Forbidden(NONE)));
    };
    let Some(stored) = grants::grant(c, &p.id)? else {
        return Ok(Err(Refusal::Forbidden(NONE)));
    };
    if stored.expires_at != 0 && stored.expires_at <= now() as u64 {
        return Ok(Err(Refusal::Forbidden(
            "The grant from this system has expired",
        )));
    }
    let keys = grants::grant_keys(c, &p.id)?;
    let Ok(grant) = Grant::parse(&stored.grant_bytes) else {
        return Err(StoreError::Corrupt("a stored grant does not parse"));
    };
    Ok(Ok((stored, grant, keys)))
}

fn path_owner(req: &HttpRequest) -> Result<String, ApiError> {
    req.match_info()
        .get("owner")
        .and_then(uuid_bytes)
        .map(|(s, _)| s)
        .ok_or(ApiError::Forbidden("No live grant from this system"))
}

/// A stored wrapped key in its wire shape (`None` for a stored name the v2 rules refuse; none
/// is stored: uploads check the names).
fn key_entry((volume, epoch, wrapped): &(String, u32, [u8; 60])) -> Option<WrappedKeyEntry> {
    Some(WrappedKeyEntry {
        volume: VolumeName::new(volume).ok()?,
        epoch: *epoch,
        wrapped_key: WrappedVek60::from_bytes(*wrapped),
    })
}

/// `GET /api/v2/shared/{owner}/grant` (friend).
pub async fn get_grant(
    req: HttpRequest,
    V2Friend(caller): V2Friend<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let owner = path_owner(&req)?;
    let (stored, _, keys) = live_grant(&state, &owner, &caller.user_id).await?;
    Ok(ok(&GrantEnvelope {
        grant: stored.grant_bytes,
        signature: Signature64::from_bytes(stored.signature),
        wrapped_keys: keys.iter().filter_map(key_entry).collect(),
    }))
}

/// `GET /api/v2/shared/{owner}/volumes` (friend): volumes whose current epoch is granted.
pub async fn list_shared(
    req: HttpRequest,
    V2Friend(caller): V2Friend<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let owner = path_owner(&req)?;
    let (_, grant, _) = live_grant(&state, &owner, &caller.user_id).await?;
    let (rows, deleted) = state
        .db
        .read(move |c| Ok((store::volumes_of(c, &owner)?, tombstones_of(c, &owner)?)))
        .await?;
    let volumes = rows
        .iter()
        .filter(|v| grant.epoch_of(&v.volume_name) == Some(v.epoch))
        .filter_map(list_entry)
        .collect();
    // A friend sees the tombstone of a volume its live grant names, and no other.
    let tombstones = deleted
        .iter()
        .filter(|t| grant.epoch_of(&t.volume_name).is_some())
        .filter_map(super::delete::entry)
        .collect();
    Ok(ok(&VolumeList {
        volumes,
        tombstones,
    }))
}

/// A volume the friend's live grant does not serve, stored or not.
const NOT_SHARED: Refusal = Refusal::Forbidden("This volume is not shared with you");

/// `GET /api/v2/shared/{owner}/volumes/{name}` (friend): the volume and its wrapped key.
pub async fn get_shared(
    req: HttpRequest,
    V2Friend(caller): V2Friend<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let owner = path_owner(&req)?;
    let name = path_volume(&req)?;
    let friend = caller.user_id;
    let (o, f, n) = (owner.clone(), friend.clone(), name.as_str().to_owned());
    let cache_key = FetchKey::new(Route::V2Shared, &friend, &owner, name.as_str());
    // Grant, wrapped key, row and blob in one blocking trip (or none: `api::fetch`).
    let served = serve(&state, &req, cache_key, move |c| {
        let (stored, grant, keys) = match live_grant_in(c, &owner, &friend)? {
            Ok(live) => live,
            Err(refused) => return Ok(Err(refused)),
        };
        // Decided from the grant before the volume is looked up, so a name the grant does not
        // name reads the same whether the owner stores it or not (no existence oracle).
        if grant.epoch_of(name.as_str()).is_none() {
            return Ok(Err(NOT_SHARED));
        }
        let v = match own_volume(c, &owner, &name)? {
            Ok(v) => v,
            Err(missing) => return Ok(Err(missing)),
        };
        let key = grant
            .epoch_of(&v.volume_name)
            .filter(|e| *e == v.epoch)
            .and_then(|epoch| keys.iter().find(|k| k.0 == v.volume_name && k.1 == epoch));
        Ok(match key {
            Some(key) => Ok((
                v,
                (Some(WrappedVek60::from_bytes(key.2)), stored.expires_at),
            )),
            None => Err(NOT_SHARED),
        })
    })
    .await;
    // A deleted volume: its tombstone, if the friend's live grant names it.
    super::delete::or_gone(&state, served, move |c| {
        let named =
            matches!(live_grant_in(c, &o, &f)?, Ok((_, grant, _)) if grant.epoch_of(&n).is_some());
        Ok(if named { tombstone(c, &o, &n)? } else { None })
    })
    .await
}
