//! v2 grants: the system uploads an owner-signed grant with one wrapped key per granted volume;
//! the relay serves a friend only the volumes whose *current* epoch its live grant names.

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64::{self, Signature64, WrappedVek60};
use coffer_wire::v2::api::{GrantEnvelope, GrantStored, UploadStatus, VolumeList, WrappedKeyEntry};
use coffer_wire::v2::{Grant, Label, VolumeName, fingerprint_bytes, labelled};
use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use super::volumes::{list_entry, or_gone, path_volume, serve};
use super::{own_id_bytes, uuid_bytes};
use crate::api::auth::signature_field;
use crate::api::extract::{General, V2Friend, V2System, state};
use crate::api::json::{Fields, ok, read_object};
use crate::error::ApiError;
use crate::fetch_cache::{FetchKey, Route};
use crate::service::Refusal;
use crate::state::AppState;
use crate::storage::grants::{GrantParties, LiveGrant, PairingKind, WrappedKeys};
use crate::storage::volumes::SharedV2;
use crate::store::grants::StoredGrant;
use crate::store::{hour, now};

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
    let check = move |parties: &GrantParties<'_>| {
        let mut message = labelled(Label::Grant);
        message.extend_from_slice(&parties.grant.grant_bytes);
        let valid = VerifyingKey::from_bytes(&parties.owner.public_signing_key)
            .map(|k| k.verify_strict(&message, &signature).is_ok())
            .unwrap_or(false);
        if !valid {
            return Err(Refusal::Forbidden("Invalid grant signature"));
        }
        // A replica request (no invite code, §6): the grant must name the keys of the friend
        // that asked.
        if let PairingKind::ReplicaRequest(asked) = parties.pairing {
            let named = asked.is_some_and(|f| {
                fingerprint == fingerprint_bytes(&f.public_signing_key, &f.public_exchange_key)
            });
            if !named {
                return Err(Refusal::Forbidden(FINGERPRINT_MISMATCH));
            }
        }
        Ok(())
    };
    state
        .storage
        .put_v2_grant(owner, friend, stored, keys, hour(now), Box::new(check))
        .await??;
    Ok(ok(&GrantStored {
        status: UploadStatus::Stored,
        sequence,
    }))
}

/// The live grant a friend holds from `owner`: as stored, parsed, its wrapped keys.
async fn live_grant(state: &AppState, owner: &str, friend: &str) -> Result<LiveGrant, ApiError> {
    let (o, fr) = (owner.to_owned(), friend.to_owned());
    Ok(state.storage.live_v2_grant(o, fr).await??)
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
    let LiveGrant { stored, keys, .. } = live_grant(&state, &owner, &caller.user_id).await?;
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
    let LiveGrant { grant, .. } = live_grant(&state, &owner, &caller.user_id).await?;
    let (rows, deleted) = state.storage.v2_volumes(owner).await?;
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
    // Grant, wrapped key, row and blob in one storage call (or none: `api::fetch`).
    let served = serve(&state, &req, cache_key, move |storage, read| {
        Box::pin(async move {
            let found = storage
                .v2_volume_for_friend(owner, friend, name.as_str().to_owned(), read)
                .await?;
            Ok(found.map(|shared: SharedV2| {
                (shared.served, (Some(shared.wrapped_key), shared.expires_at))
            }))
        })
    })
    .await;
    // A deleted volume: its tombstone, if the friend's live grant names it.
    or_gone(served, || state.storage.v2_tombstone_for_friend(o, f, n)).await
}
