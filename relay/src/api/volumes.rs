//! Volumes: `PUT /volumes/{name}` (upload), `GET /volumes` (own headers) and
//! `GET /volumes/{name}/download` (own backup), plus the response shape friends get too.
//!
//! An upload is checked completely before anything is written: name, header, version, exact
//! size, padding grid, hour-aligned time, quota and the Ed25519 signature over the canonical
//! header JSON ‖ blob. Size and quota are first decided from `Content-Length`, before the body
//! is buffered. The blob is durable before the row commits (see `store::blobs`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64::{self, Signature64};
use coffer_wire::time::HOUR;
use coffer_wire::v1::{ControlHeader, VolumeName, is_on_padding_grid};
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};

use super::extract::{Caller, General, System, Upload, state};
use super::json::{Fields, content_length, ok, parse_object, read_body};
use super::stream::{STREAM_ABOVE, json_with_streamed_field};
use crate::config::Limits;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::volumes::{self, PutOutcome, VolumeRow};
use crate::store::{ClientType, Db, StoreError, hour, now, users};

/// Largest stored control header (JSON text), bytes.
const MAX_HEADER_LEN: usize = 4096;
/// Upper bound of everything in an upload body besides the base64 payload.
const UPLOAD_OVERHEAD: u64 = 16 * 1024;

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

/// The outcome of a commit after a durable blob write.
#[derive(Debug)]
pub struct Committed<T> {
    /// What the handler answers with.
    pub value: T,
    /// Whether the row now points at the new blob (otherwise it is removed).
    pub stored: bool,
    /// The blob the row pointed at before, removed once the commit is durable.
    pub replaced: Option<String>,
}

/// Writes `blob` durably (fsync + rename), *then* runs `commit` with its file name in a write
/// transaction. A new blob the commit did not take is removed; a replaced one is removed after
/// the commit. This ordering is what makes a crash leave the old or the new version, never a
/// row pointing at a torn file (docs/adr/0002).
pub async fn store_durably<T: Send + 'static>(
    state: &AppState,
    user: &str,
    volume: &str,
    version: u64,
    blob: Vec<u8>,
    commit: impl FnOnce(&rusqlite::Transaction<'_>, &str) -> Result<Committed<T>, StoreError>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let blobs = state.blobs.clone();
    let (user, volume) = (user.to_owned(), volume.to_owned());
    let file = web::block(move || blobs.write(&user, &volume, version, &blob)).await??;
    let name = file.clone();
    let result = state.db.write(move |tx| commit(tx, &name)).await;
    let remove = |f: String| {
        let blobs = state.blobs.clone();
        web::block(move || blobs.remove(&f))
    };
    match result {
        Ok(c) => {
            if !c.stored {
                remove(file).await?;
            } else if let Some(old) = c.replaced {
                remove(old).await?;
            }
            Ok(c.value)
        }
        Err(e) => {
            remove(file).await?;
            Err(e.into())
        }
    }
}

/// A stored volume row, as far as serving its payload goes (v1 and v2 rows).
pub trait StoredPayload {
    /// The stored version (for `If-None-Match`).
    fn version(&self) -> u64;
    /// The blob file name (relative to the blob directory).
    fn blob_file(&self) -> &str;
}

impl StoredPayload for VolumeRow {
    fn version(&self) -> u64 {
        self.version
    }
    fn blob_file(&self) -> &str {
        &self.blob_file
    }
}

impl StoredPayload for crate::store::v2::VolumeV2 {
    fn version(&self) -> u64 {
        self.version
    }
    fn blob_file(&self) -> &str {
        &self.blob_file
    }
}

/// What a download sends: nothing new, or the payload bytes.
#[derive(Debug)]
pub enum Payload {
    /// The client's `If-None-Match` version is current: 304.
    NotModified,
    /// The blob's bytes (at most `stream::STREAM_ABOVE`).
    Bytes(Vec<u8>),
    /// A larger blob, open, with its length: streamed (`stream.rs`).
    File(std::fs::File, u64),
}

/// One download in **one** trip to the blocking pool: `lookup` authorises and finds the row
/// and anything to send with it (an `Err(ApiError)` answers as is), then the blob it names is
/// read, unless `since` (the
/// client's `If-None-Match`) is already current. Each trip costs thread hand-offs that
/// dominated a small download's CPU (docs/BENCHMARKS.md), so they are not split.
///
/// If an upload replaced the blob between the row read and the file read, the lookup runs
/// once more on a fresh snapshot ([`Db::renew_snapshot`]: the closure's read transaction
/// would otherwise show the same replaced row again); a row still pointing at a missing file
/// is a 500 (and logged).
pub async fn read_with_blob<R: StoredPayload + Send + 'static, E: Send + 'static>(
    state: &AppState,
    since: Option<u64>,
    lookup: impl Fn(&rusqlite::Connection) -> Result<Result<(R, E), ApiError>, StoreError>
    + Send
    + 'static,
) -> Result<(R, E, Payload), ApiError> {
    let blobs = state.blobs.clone();
    let max = state.config.limits.max_volume_size;
    state
        .db
        .read(move |c| {
            for attempt in 0..2 {
                if attempt > 0 {
                    Db::renew_snapshot(c)?;
                }
                let (row, extra) = match lookup(c)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                if since.is_some_and(|seen| seen >= row.version()) {
                    return Ok(Ok((row, extra, Payload::NotModified)));
                }
                if let Some((file, len)) = blobs.open_blob(row.blob_file(), max)? {
                    let payload = if len > STREAM_ABOVE {
                        Payload::File(file, len)
                    } else {
                        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                        std::io::Read::read_to_end(
                            &mut std::io::Read::take(file, len),
                            &mut bytes,
                        )?;
                        Payload::Bytes(bytes)
                    };
                    return Ok(Ok((row, extra, payload)));
                }
            }
            tracing::error!("a volume row points at a missing blob file");
            Ok(Err(ApiError::Internal))
        })
        .await?
}

/// The v1 download body of `row` with its `blob`; `extra` adds a field (friends get their
/// wrapped VEK).
fn v1_body(
    row: &VolumeRow,
    payload: Payload,
    extra: Option<(&'static str, Value)>,
) -> Result<HttpResponse, ApiError> {
    let header: Value =
        serde_json::from_str(&row.control_header).map_err(|_| ApiError::Internal)?;
    let mut body = json!({
        "control_header": header,
        "signature": b64::encode(&row.signature),
    });
    if let Some((key, value)) = extra {
        body[key] = value;
    }
    with_payload(body, "encrypted_payload", payload)
}

/// `body` with its payload field (`field`) added: 304 when not modified, in memory when small,
/// streamed from the blob file when large.
pub fn with_payload(
    mut body: Value,
    field: &str,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    match payload {
        Payload::NotModified => Ok(HttpResponse::build(StatusCode::NOT_MODIFIED).finish()),
        Payload::Bytes(bytes) => {
            body[field] = Value::String(b64::encode(&bytes));
            Ok(ok(&body))
        }
        Payload::File(file, len) => json_with_streamed_field(body, field, file, len),
    }
}

/// Serves a v1 volume that `lookup` authorises and finds (with an optional extra field), in
/// one blocking trip ([`read_with_blob`]), honouring `If-None-Match`.
pub async fn serve(
    state: &AppState,
    req: &HttpRequest,
    lookup: impl Fn(
        &rusqlite::Connection,
    )
        -> Result<Result<(VolumeRow, Option<(&'static str, Value)>), ApiError>, StoreError>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    let (row, extra, payload) = read_with_blob(state, if_none_match(req), lookup).await?;
    v1_body(&row, payload, extra)
}

/// A volume of `owner` by name, or 404.
pub fn own_volume(
    c: &rusqlite::Connection,
    owner: &str,
    name: VolumeName,
) -> Result<Result<VolumeRow, ApiError>, StoreError> {
    Ok(volumes::get(c, owner, name.as_str())?.ok_or(ApiError::NotFound("Volume not found")))
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
    let rows = state
        .db
        .read(move |c| volumes::list_for_user(c, &id))
        .await?;
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
    serve(&state, &req, move |c| {
        Ok(own_volume(c, &owner, name)?.map(|row| (row, None)))
    })
    .await
}

/// The parsed, verified parts of an upload.
struct Upload_ {
    header_text: String,
    version: u64,
    blob: Vec<u8>,
    signature: [u8; 64],
}

/// Refuses an upload from its `Content-Length` alone when even the smallest payload that body
/// could carry exceeds the volume limit or the user's quota — before a byte is buffered.
pub fn precheck_size(
    req: &HttpRequest,
    limits: &Limits,
    used: u64,
    replaced_size: u64,
) -> Result<(), ApiError> {
    let Some(len) = content_length(req) else {
        return Ok(());
    };
    let min_payload = len.saturating_sub(UPLOAD_OVERHEAD) / 4 * 3;
    if min_payload > limits.max_volume_size {
        return Err(too_large_volume(limits.max_volume_size));
    }
    if used
        .saturating_sub(replaced_size)
        .saturating_add(min_payload)
        > limits.max_user_storage
    {
        return Err(over_quota());
    }
    Ok(())
}

/// 413 for a payload over the volume limit.
pub fn too_large_volume(max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!("Volume exceeds the maximum size of {max} bytes"))
}

/// 413 for an exceeded quota.
pub fn over_quota() -> ApiError {
    ApiError::PayloadTooLarge("Storage quota exceeded".into())
}

/// Checks everything about an upload body except what needs the database.
fn parse_upload(
    body: &[u8],
    name: VolumeName,
    public_key: &[u8; 32],
    max_volume: u64,
    stored: Option<u64>,
) -> Result<Upload_, ApiError> {
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
        return Err(ApiError::StaleVersion {
            current,
            got: header.version,
        });
    }
    let blob = b64::decode_bounded(f.str("encrypted_payload")?, max_volume as usize).map_err(
        |e| match e {
            b64::B64Error::TooLong { .. } => too_large_volume(max_volume),
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
    Ok(Upload_ {
        header_text,
        version: header.version,
        blob,
        signature: *signature.as_bytes(),
    })
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
    let (uid, n) = (user_id.clone(), name.as_str());
    let (user, stored) = state
        .db
        .read(move |c| Ok((users::get(c, &uid)?, volumes::version_and_size(c, &uid, n)?)))
        .await?;
    let user = user.ok_or(ApiError::Unauthorized("User not found"))?;
    if let Some(len) = content_length(&req) {
        let min_payload = len.saturating_sub(UPLOAD_OVERHEAD) / 4 * 3;
        if min_payload > limits.max_volume_size {
            return Err(too_large_volume(limits.max_volume_size));
        }
        let old = stored.map_or(0, |(_, size)| size);
        if user
            .storage_used_bytes
            .saturating_sub(old)
            .saturating_add(min_payload)
            > limits.max_user_storage
        {
            return Err(over_quota());
        }
    }
    let body = read_body(&req, payload, state.upload_body_limit()).await?;
    let key = user.public_signing_key;
    let max = limits.max_volume_size;
    let current = stored.map(|(v, _)| v);
    let upload = web::block(move || parse_upload(&body, name, &key, max, current)).await??;
    let size = upload.blob.len() as u64;
    if user
        .storage_used_bytes
        .saturating_sub(stored.map_or(0, |s| s.1))
        .saturating_add(size)
        > limits.max_user_storage
    {
        return Err(over_quota());
    }

    let quota = limits.max_user_storage;
    let version = upload.version;
    let header_text = upload.header_text;
    let signature = upload.signature;
    let owner = user_id.clone();
    let outcome = store_durably(
        &state,
        &owner,
        name.as_str(),
        version,
        upload.blob,
        move |tx, file| {
            let row = VolumeRow {
                user_id,
                volume_name: name.as_str().to_owned(),
                version,
                control_header: header_text,
                blob_file: file.to_owned(),
                signature,
                size_bytes: size,
                updated_at: hour(now()),
            };
            let outcome = volumes::put(tx, &row, quota)?;
            Ok(match outcome {
                PutOutcome::Stored { replaced_blob } => Committed {
                    value: Ok(version),
                    stored: true,
                    replaced: replaced_blob,
                },
                PutOutcome::Stale { current } => Committed {
                    value: Err(ApiError::StaleVersion {
                        current,
                        got: version,
                    }),
                    stored: false,
                    replaced: None,
                },
                PutOutcome::OverQuota => Committed {
                    value: Err(over_quota()),
                    stored: false,
                    replaced: None,
                },
            })
        },
    )
    .await?;
    let version = outcome?;
    let old_size = stored.map_or(0, |(_, size)| size);
    state
        .anomalies
        .storage_growth(now(), &owner, size as i64 - old_size as i64);
    Ok(ok(&json!({ "status": "stored", "version": version })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::config::{Config, IpPolicy};
    use crate::ip_policy::IpLabels;
    use crate::state::Pins;
    use crate::store::blobs::BlobStore;

    fn row(version: u64, blob_file: String, size_bytes: u64) -> VolumeRow {
        VolumeRow {
            user_id: "s".into(),
            volume_name: "meta".into(),
            version,
            control_header: "{}".into(),
            blob_file,
            signature: [0; 64],
            size_bytes,
            updated_at: 0,
        }
    }

    /// What an upload does: the new blob, the row committed, then the old blob removed.
    fn upload(db: &Db, blobs: &BlobStore, version: u64, bytes: &[u8]) {
        let file = blobs.write("s", "meta", version, bytes).unwrap();
        let new = row(version, file, bytes.len() as u64);
        let outcome = db
            .write_blocking(|tx| volumes::put(tx, &new, u64::MAX))
            .unwrap();
        if let PutOutcome::Stored {
            replaced_blob: Some(old),
        } = outcome
        {
            blobs.remove(&old);
        }
    }

    /// Caught by `coffer-bench`'s v2-mixed (a 500 among friends' fetches while their system
    /// published): the row was read, an upload replaced it and removed its blob, and the retry
    /// read the same row again from the read transaction's snapshot.
    #[actix_web::test]
    async fn a_blob_replaced_after_its_row_was_read_is_served_from_the_new_row() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let db = Db::open(&config.database_path()).unwrap();
        let blobs = BlobStore::open(&config.blob_path()).unwrap();
        db.write_blocking(|tx| {
            users::insert(
                tx,
                &users::User {
                    id: "s".into(),
                    public_signing_key: [1; 32],
                    public_exchange_key: [2; 32],
                    handle: None,
                    client_type: ClientType::System,
                    protocol_version: 1,
                    feature_set: "[]".into(),
                    storage_used_bytes: 0,
                    created_at: 0,
                    key_binding_signature: None,
                },
            )
        })
        .unwrap();
        upload(&db, &blobs, 1, b"first");
        let state = AppState::new(
            config,
            Arc::clone(&db),
            blobs.clone(),
            IpLabels::ephemeral(IpPolicy::Off),
            Pins::default(),
        );

        let raced = Arc::new(AtomicBool::new(false));
        let lookup = {
            let raced = Arc::clone(&raced);
            move |c: &rusqlite::Connection| {
                let found = volumes::get(c, "s", "meta")?.unwrap();
                // The first time, an upload lands between the row read and the file read.
                if !raced.swap(true, Ordering::SeqCst) {
                    upload(&db, &blobs, 2, b"second");
                }
                Ok(Ok((found, ())))
            }
        };
        let (found, (), payload) = read_with_blob(&state, None, lookup).await.unwrap();
        assert!(raced.load(Ordering::SeqCst));
        assert_eq!(found.version, 2);
        match payload {
            Payload::Bytes(bytes) => assert_eq!(bytes, b"second"),
            other => panic!("expected the new blob's bytes, got {other:?}"),
        }
    }
}
