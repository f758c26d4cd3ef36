//! v1 volumes: `PUT /volumes/{name}` (upload), `GET /volumes` (own headers) and
//! `GET /volumes/{name}/download` (own backup), plus the response shape friends get too. What
//! v2 shares (durable storage, quota, the one-trip download) is `crate::service::volumes`.
//!
//! An upload is checked completely before anything is written: name, header, version, exact
//! size, padding grid, hour-aligned time, quota and the Ed25519 signature over the canonical
//! header JSON ‖ blob. Size and quota are first decided from `Content-Length`, before the body
//! is buffered. The blob is durable before the row commits (see `store::blobs`).

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64::{self, Signature64};
use coffer_wire::time::HOUR;
use coffer_wire::v1::{ControlHeader, VolumeName, is_on_padding_grid};
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};

use super::extract::{Caller, General, System, Upload, state};
use super::fetch;
use super::json::{Fields, content_length, ok, parse_object, read_body};
use crate::error::ApiError;
use crate::fetch_cache::{FetchKey, Route};
use crate::service::volumes::{
    NewVersion, check_quota, payload_reader, precheck_size, store_upload, too_large_volume,
};
use crate::service::{Refusal, Stale};
use crate::state::AppState;
use crate::storage::volumes::{PayloadReader, Served, UploadBase};
use crate::storage::{DecisionFuture, Storage};
use crate::store::volumes::VolumeRow;
use crate::store::{ClientType, hour, now};

/// Largest stored control header (JSON text), bytes.
const MAX_HEADER_LEN: usize = 4096;

/// The `{name}` path segment as a v1 volume name.
pub fn volume_name(req: &HttpRequest) -> Result<VolumeName, ApiError> {
    req.match_info()
        .get("name")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ApiError::bad("Invalid volume name"))
}

/// `If-None-Match: <integer>` — v1's (and v2's) conditional GET: the version the client has
/// (a quoted ETag or anything else is ignored, as in v1).
pub fn if_none_match(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The v1 download body of `row` without its payload; `extra` adds a field (friends get their
/// wrapped VEK).
fn v1_body(row: &VolumeRow, extra: Option<(&'static str, Value)>) -> Result<Value, ApiError> {
    let header: Value =
        serde_json::from_str(&row.control_header).map_err(|_| ApiError::Internal)?;
    let mut body = json!({
        "control_header": header,
        "signature": b64::encode(&row.signature),
    });
    if let Some((key, value)) = extra {
        body[key] = value;
    }
    Ok(body)
}

/// Serves a v1 volume that `find` authorises and finds with its payload (a storage method,
/// given how to read the payload; with an optional extra field), honouring `If-None-Match`:
/// from the fetch cache when it holds the answer to `key` (`api::fetch`), else in one storage
/// call (one blocking trip).
pub async fn serve<'s>(
    state: &'s AppState,
    req: &HttpRequest,
    key: FetchKey,
    find: impl FnOnce(
        &'s dyn Storage,
        PayloadReader,
    ) -> DecisionFuture<'s, (Served<VolumeRow>, Option<(&'static str, Value)>)>,
) -> Result<HttpResponse, ApiError> {
    let fetch = match fetch::begin(state, key, if_none_match(req)) {
        Ok(cached) => return Ok(cached),
        Err(fetch) => fetch,
    };
    let read = payload_reader(state, fetch.since());
    let (Served { row, payload }, extra) = find(state.storage.as_ref(), read).await??;
    let version = row.version;
    fetch.answer(
        state,
        version,
        payload,
        0,
        || v1_body(&row, extra),
        "encrypted_payload",
    )
}

/// Parses the stored header texts of `rows` back into JSON values.
pub fn headers(rows: &[VolumeRow]) -> Result<Vec<Value>, ApiError> {
    rows.iter()
        .map(|r| serde_json::from_str(&r.control_header).map_err(|_| ApiError::Internal))
        .collect()
}

/// `GET /api/v1/volumes`: the caller's own headers (friends own none).
pub async fn list_own(req: HttpRequest, caller: Caller<General>) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    if caller.client_type == ClientType::Friend {
        return Ok(ok(&json!({ "volumes": [] })));
    }
    let id = caller.user_id;
    let rows = state.storage.v1_volumes(id).await?;
    Ok(ok(&json!({ "volumes": headers(&rows)? })))
}

/// `GET /api/v1/volumes/{name}/download`: a system's own volume (backup / second device).
pub async fn download(
    req: HttpRequest,
    System(caller): System<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let name = volume_name(&req)?;
    let owner = caller.user_id;
    let key = FetchKey::new(Route::V1Own, &owner, &owner, name.as_str());
    let name = name.as_str().to_owned();
    serve(&state, &req, key, move |storage, read| {
        Box::pin(async move {
            let found = storage.v1_volume_for_owner(owner, name, read).await?;
            Ok(found.map(|served| (served, None)))
        })
    })
    .await
}

/// The parsed, verified parts of a v1 upload.
struct CheckedUpload {
    header_text: String,
    version: u64,
    blob: Vec<u8>,
    signature: [u8; 64],
}

/// Checks everything about an upload body except what needs the database.
fn parse_upload(
    body: &[u8],
    name: VolumeName,
    public_key: &[u8; 32],
    max_volume: u64,
    stored: Option<u64>,
) -> Result<CheckedUpload, ApiError> {
    let obj = parse_object(body, false)?;
    let f = Fields(&obj);
    for field in ["control_header", "encrypted_payload", "signature"] {
        f.required(field)?;
    }
    let Value::Object(header_obj) = f.required("control_header")? else {
        return Err(ApiError::bad("control_header must be an object"));
    };
    match header_obj.get("volume_name") {
        Some(Value::String(n)) if n == name.as_str() => {}
        Some(Value::String(_)) => {
            return Err(ApiError::bad(
                "control_header.volume_name does not match the URL",
            ));
        }
        _ => {}
    }
    let header =
        ControlHeader::from_json_object(header_obj).map_err(|e| ApiError::bad(e.to_string()))?;
    if let Some(current) = stored.filter(|c| *c >= header.version) {
        return Err(Refusal::Stale(Stale::Version {
            current,
            got: header.version,
        })
        .into());
    }
    let blob = b64::decode_bounded(f.str("encrypted_payload")?, max_volume as usize).map_err(
        |e| match e {
            b64::B64Error::TooLong { .. } => too_large_volume(max_volume).into(),
            _ => ApiError::bad("encrypted_payload is not valid standard base64"),
        },
    )?;
    if header.size_bytes != blob.len() as u64 {
        return Err(ApiError::bad(
            "control_header.size_bytes does not equal the payload length",
        ));
    }
    if !is_on_padding_grid(blob.len() as u64) {
        return Err(ApiError::bad(
            "Payload length must be 28 + a multiple of 4096 bytes (v1 padding)",
        ));
    }
    if header.modified_at % HOUR != 0 {
        return Err(ApiError::bad(
            "control_header.modified_at must be a whole hour (Unix seconds divisible by 3600)",
        ));
    }
    let signature = Signature64::from_b64(f.str("signature")?).map_err(|e| {
        ApiError::bad(format!(
            "signature: invalid encoding ({e}); expected standard base64 of 64 bytes"
        ))
    })?;
    let verified = VerifyingKey::from_bytes(public_key)
        .map(|k| {
            k.verify_strict(
                &header.signature_input(&blob),
                &Signature::from_bytes(signature.as_bytes()),
            )
            .is_ok()
        })
        .unwrap_or(false);
    if !verified {
        return Err(ApiError::Forbidden("Invalid volume signature"));
    }
    let header_text = serde_json::to_string(&Value::Object(header_obj.clone()))
        .map_err(|_| ApiError::Internal)?;
    if header_text.len() > MAX_HEADER_LEN {
        return Err(ApiError::bad("control_header is too large"));
    }
    Ok(CheckedUpload {
        header_text,
        version: header.version,
        blob,
        signature: *signature.as_bytes(),
    })
}

/// Upload bodies up to this size are checked on the async worker that read them: for an
/// 8 KiB volume the JSON, the base64 and the signature over it cost less than the two thread
/// switches of a trip to the blocking pool and back (docs/adr/0035, measured in
/// docs/BENCHMARKS.md). Larger ones (up to the volume limit: milliseconds of hashing) go to
/// the blocking pool, so a worker never stalls the other connections it serves for long.
pub const CHECK_ON_WORKER_MAX: usize = 16 * 1024;

/// Runs `check` of an upload body of `len` bytes: in place up to [`CHECK_ON_WORKER_MAX`],
/// otherwise on the blocking pool.
pub async fn check_body<T: Send + 'static>(
    len: usize,
    check: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if len <= CHECK_ON_WORKER_MAX {
        check()
    } else {
        web::block(check).await?
    }
}

/// `PUT /api/v1/volumes/{name}`.
pub async fn upload(
    req: HttpRequest,
    System(caller): System<Upload>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let name = volume_name(&req)?;
    let limits = state.config.limits.clone();
    let user_id = caller.user_id;

    // Decide size and quota from Content-Length before reading the body.
    let (uid, n) = (user_id.clone(), name.as_str().to_owned());
    let UploadBase { user, stored } = state.storage.v1_upload_base(uid, n).await?;
    let user = user.ok_or(ApiError::Unauthorized("User not found"))?;
    let replaced_size = stored.map_or(0, |(_, size)| size);
    let used = user.storage_used_bytes;
    precheck_size(content_length(&req), &limits, used, replaced_size)?;
    let body = read_body(&req, payload, state.upload_body_limit()).await?;
    let key = user.public_signing_key;
    let max = limits.max_volume_size;
    let current = stored.map(|(v, _)| v);
    let upload = check_body(body.len(), move || {
        parse_upload(&body, name, &key, max, current)
    })
    .await?;
    let size = upload.blob.len() as u64;
    check_quota(&limits, used, replaced_size, size)?;

    let quota = limits.max_user_storage;
    let version = upload.version;
    let (header_text, signature) = (upload.header_text, upload.signature);
    let new = NewVersion {
        owner: &user_id,
        volume: name.as_str(),
        version,
        blob: upload.blob,
        replaced_size,
    };
    let owner = user_id.clone();
    let row = VolumeRow {
        user_id: owner,
        volume_name: name.as_str().to_owned(),
        version,
        control_header: header_text,
        // Named by `put_v1_volume` after the payload.
        blob_file: String::new(),
        signature,
        size_bytes: size,
        updated_at: hour(now()),
    };
    store_upload(&state, new, move |storage, payload| {
        storage.put_v1_volume(row, payload, quota)
    })
    .await?;
    Ok(ok(&json!({ "status": "stored", "version": version })))
}
