//! v2 volumes: upload of signed header bytes + payload, the owner's own list and download.

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64::{self, Signature64, WrappedVek60};
use coffer_wire::v2::api::{
    PAYLOAD_FIELD, SharedVolume, SignedVolume, UploadStatus, VolumeEntry, VolumeList, VolumeStored,
};
use coffer_wire::v2::{
    Header, Label, MAX_HEADER_BYTES, VolumeName, labelled, payload_len_is_valid,
    volume_payload_hash,
};
use ed25519_dalek::VerifyingKey;

use super::own_id_bytes;
use crate::api::auth::signature_field;
use crate::api::extract::{General, Upload, V2System, state};
use crate::api::fetch;
use crate::api::json::content_length;
use crate::api::json::{Fields, ok, parse_object, read_body};
use crate::api::volumes::if_none_match;
use crate::error::ApiError;
use crate::fetch_cache::{FetchKey, Route};
use crate::service::volumes::{
    NewVersion, check_quota, payload_reader, precheck_size, store_upload, too_large_volume,
};
use crate::service::{Refusal, Stale};
use crate::state::AppState;
use crate::storage::volumes::{PayloadReader, Served, UploadBase};
use crate::storage::{DecisionFuture, Storage, StoreFuture};
use crate::store::tombstones::TombstoneRow;
use crate::store::volumes::v2::VolumeV2;
use crate::store::{hour, now};

/// The `{name}` path segment as a v2 volume name.
pub fn path_volume(req: &HttpRequest) -> Result<VolumeName, ApiError> {
    req.match_info()
        .get("name")
        .and_then(|n| VolumeName::new(n).ok())
        .ok_or_else(|| ApiError::bad("Invalid volume name"))
}

/// A volume's list entry: metadata plus the exact signed header. `None` for a stored name the
/// v2 rules refuse (none is stored: uploads check the name).
pub fn list_entry(v: &VolumeV2) -> Option<VolumeEntry> {
    Some(VolumeEntry {
        volume: VolumeName::new(&v.volume_name).ok()?,
        epoch: v.epoch,
        version: v.version,
        header: v.header.clone(),
        signature: Signature64::from_bytes(v.signature),
    })
}

/// Serves one stored v2 volume that `find` authorises and finds with its payload (a storage
/// method, given how to read the payload), honouring `If-None-Match: <version>`: from the
/// fetch cache when it holds the answer to `key` (`api::fetch`), else in one storage call (one
/// blocking trip): a [`SignedVolume`] to its owner, a [`SharedVolume`] to a friend `find`
/// found a wrapped key for (with the expiry of the grant that authorised it: 0 for none). The
/// payload is left empty in the serialised shape and put in by `api::fetch` (streamed from its
/// file when large).
pub async fn serve<'s>(
    state: &'s AppState,
    req: &HttpRequest,
    key: FetchKey,
    find: impl FnOnce(
        &'s dyn Storage,
        PayloadReader,
    ) -> DecisionFuture<'s, (Served<VolumeV2>, (Option<WrappedVek60>, u64))>,
) -> Result<HttpResponse, ApiError> {
    let fetch = match fetch::begin(state, key, if_none_match(req)) {
        Ok(cached) => return Ok(cached),
        Err(fetch) => fetch,
    };
    let read = payload_reader(state, fetch.since());
    let (Served { row: v, payload }, (wrapped_key, expires_at)) =
        find(state.storage.as_ref(), read).await??;
    let version = v.version;
    let body = move || {
        let (header, signature) = (v.header, Signature64::from_bytes(v.signature));
        let shape = match wrapped_key {
            None => serde_json::to_value(SignedVolume {
                header,
                signature,
                payload: Vec::new(),
            }),
            Some(wrapped_key) => serde_json::to_value(SharedVolume {
                header,
                signature,
                payload: Vec::new(),
                wrapped_key,
            }),
        };
        shape.map_err(|_| ApiError::Internal)
    };
    fetch.answer(state, version, payload, expires_at, body, PAYLOAD_FIELD)
}

/// An upload whose every field was checked: the request as the wire shape, and its header
/// parsed.
struct Checked {
    header: Header,
    volume: SignedVolume,
}

/// Everything about an upload that needs no database: header shape, owner, name, size, grid,
/// hash and the owner's signature over the exact header bytes.
fn check_upload(
    body: &[u8],
    owner: [u8; 16],
    name: &VolumeName,
    key: &[u8; 32],
    max: u64,
    stored: Option<(u32, u64)>,
) -> Result<Checked, ApiError> {
    let obj = parse_object(body, false)?;
    let f = Fields(&obj);
    for field in ["header", "signature", "payload"] {
        f.required(field)?;
    }
    let header_bytes = b64::decode_bounded(f.str("header")?, MAX_HEADER_BYTES).map_err(|_| {
        ApiError::bad(format!(
            "header must be standard base64 of at most {MAX_HEADER_BYTES} bytes"
        ))
    })?;
    let header = Header::parse(&header_bytes).map_err(|e| ApiError::bad(e.to_string()))?;
    if header.owner != owner {
        return Err(ApiError::bad("header.owner is not your user id"));
    }
    if &header.volume != name {
        return Err(ApiError::bad("header.volume does not match the URL"));
    }
    if let Some((epoch, version)) = stored
        && (version >= header.version || epoch > header.epoch)
    {
        return Err(Refusal::Stale(Stale::V2 {
            current_version: version,
            current_epoch: epoch,
            got: header.version,
        })
        .into());
    }
    let payload = b64::decode_bounded(f.str("payload")?, max as usize).map_err(|e| match e {
        b64::B64Error::TooLong { .. } => too_large_volume(max).into(),
        _ => ApiError::bad("payload is not valid standard base64"),
    })?;
    if header.payload_len != payload.len() as u64 {
        return Err(ApiError::bad(
            "header.payload_len does not equal the payload length",
        ));
    }
    if !payload_len_is_valid(header.payload_len) {
        return Err(ApiError::bad(
            "payload length is not on the v2 padding grid (Padmé, at least 1 KiB, + 28)",
        ));
    }
    if volume_payload_hash(&payload) != header.payload_hash {
        return Err(ApiError::bad(
            "header.payload_hash does not match the payload",
        ));
    }
    let signature = signature_field(&f, "signature")?;
    let mut message = labelled(Label::VolumeHeader);
    message.extend_from_slice(&header_bytes);
    let valid = VerifyingKey::from_bytes(key)
        .map(|k| k.verify_strict(&message, &signature).is_ok())
        .unwrap_or(false);
    if !valid {
        return Err(ApiError::Forbidden("Invalid volume signature"));
    }
    Ok(Checked {
        header,
        volume: SignedVolume {
            header: header_bytes,
            signature: Signature64::from_bytes(signature.to_bytes()),
            payload,
        },
    })
}

/// `PUT /api/v2/volumes/{name}`: a new version (or the first version of a new epoch).
pub async fn upload(
    req: HttpRequest,
    V2System(caller): V2System<Upload>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let name = path_volume(&req)?;
    let limits = state.config.limits.clone();
    let (uid, n) = (caller.user_id.clone(), name.as_str().to_owned());
    let UploadBase { user, stored } = state.storage.v2_upload_base(uid, n).await?;
    let user = user.ok_or(ApiError::Unauthorized("User not found"))?;
    let replaced_size = stored.map_or(0, |s| s.2);
    let used = user.storage_used_bytes;
    precheck_size(content_length(&req), &limits, used, replaced_size)?;
    let body = read_body(&req, payload, state.upload_body_limit()).await?;
    let owner = own_id_bytes(&caller.user_id)?;
    let (key, max, name2) = (
        user.public_signing_key,
        limits.max_volume_size,
        name.clone(),
    );
    let current = stored.map(|(e, v, _)| (e, v));
    let checked = crate::api::volumes::check_body(body.len(), move || {
        check_upload(&body, owner, &name2, &key, max, current)
    })
    .await?;
    let size = checked.volume.payload.len() as u64;
    check_quota(&limits, used, replaced_size, size)?;
    let (epoch, version) = (checked.header.epoch, checked.header.version);
    let quota = limits.max_user_storage;
    let row_user = caller.user_id.clone();
    let (header_bytes, signature) = (checked.volume.header, *checked.volume.signature.as_bytes());
    let volume_name = name.as_str().to_owned();
    let new = NewVersion {
        owner: &caller.user_id,
        volume: name.as_str(),
        version,
        blob: checked.volume.payload,
        replaced_size,
    };
    let row = VolumeV2 {
        user_id: row_user,
        volume_name,
        epoch,
        version,
        header: header_bytes,
        signature,
        // Named by `put_v2_volume` after the payload.
        blob_file: String::new(),
        size_bytes: size,
        updated_at: hour(now()),
    };
    store_upload(&state, new, move |storage, payload| {
        storage.put_v2_volume(row, payload, quota)
    })
    .await?;
    Ok(ok(&VolumeStored {
        status: UploadStatus::Stored,
        epoch,
        version,
    }))
}

/// `GET /api/v2/volumes`: the caller's own volumes.
pub async fn list_own(
    req: HttpRequest,
    V2System(caller): V2System<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let id = caller.user_id;
    let (rows, deleted) = state.storage.v2_volumes(id).await?;
    Ok(ok(&VolumeList {
        volumes: rows.iter().filter_map(list_entry).collect(),
        tombstones: deleted.iter().filter_map(super::delete::entry).collect(),
    }))
}

/// `GET /api/v2/volumes/{name}`: the caller's own volume (second device, rotation).
pub async fn get_own(
    req: HttpRequest,
    V2System(caller): V2System<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let name = path_volume(&req)?;
    let owner = caller.user_id;
    let (o, n) = (owner.clone(), name.as_str().to_owned());
    let key = FetchKey::new(Route::V2Own, &owner, &owner, name.as_str());
    let served = serve(&state, &req, key, move |storage, read| {
        Box::pin(async move {
            let found = storage
                .v2_volume_for_owner(owner, name.as_str().to_owned(), read)
                .await?;
            Ok(found.map(|served| (served, (None, 0))))
        })
    })
    .await;
    or_gone(served, || state.storage.v2_tombstone_for_owner(o, n)).await
}

/// What a download answered, or — if it answered 404 and `tombstone` (a storage method) finds
/// one — the 410 with that tombstone (`super::delete::gone`). Only the not-found path costs
/// the extra read.
pub async fn or_gone<'s>(
    served: Result<HttpResponse, ApiError>,
    tombstone: impl FnOnce() -> StoreFuture<'s, Option<TombstoneRow>>,
) -> Result<HttpResponse, ApiError> {
    match served {
        Err(ApiError::NotFound(message)) => match tombstone().await? {
            Some(t) => Ok(super::delete::gone(t)),
            None => Err(ApiError::NotFound(message)),
        },
        other => other,
    }
}
