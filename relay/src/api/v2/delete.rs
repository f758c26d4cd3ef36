//! Deleting one v2 volume (`docs/protocol-v2.md` §12): `DELETE /volumes/{name}` with the
//! owner's signed tombstone, and the tombstone served in place of a deleted volume (in lists,
//! and as the body of a 410).
//!
//! The relay checks what it can — the bytes parse, name the caller and the path's volume, the
//! version is above the stored one and the epoch not below, the hour is aligned and not ahead,
//! the signature verifies under the caller's registered key — and stores the exact bytes.
//! Friends and the owner's other devices verify the tombstone under the *pinned* owner key:
//! a relay cannot fake a deletion, only withhold data (which it always could).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64::{self, Signature64};
use coffer_wire::v2::api::{TombstoneEntry, UploadStatus, VolumeGone, VolumeStored};
use coffer_wire::v2::{MAX_TOMBSTONE_BYTES, Tombstone, VolumeName};
use ed25519_dalek::VerifyingKey;

use super::own_id_bytes;
use super::receipts::MAX_FUTURE_SECONDS;
use crate::api::auth::signature_field;
use crate::api::extract::{General, V2System, state};
use crate::api::json::{Fields, json_response, ok, read_object};
use crate::error::ApiError;
use crate::service::Refusal;
use crate::state::AppState;
use crate::storage::devices::UserCheck;
use crate::storage::tombstones::DeletedVolume;
use crate::store::tombstones::TombstoneRow;
use crate::store::{hour, now, users};

/// A tombstone's list entry. `None` for a stored name the v2 rules refuse (none is stored).
pub fn entry(t: &TombstoneRow) -> Option<TombstoneEntry> {
    Some(TombstoneEntry {
        volume: VolumeName::new(&t.volume_name).ok()?,
        epoch: t.epoch,
        version: t.version,
        tombstone: t.tombstone.clone(),
        signature: Signature64::from_bytes(t.signature),
    })
}

/// 410 with the signed tombstone: the answer for a deleted volume.
pub fn gone(t: TombstoneRow) -> HttpResponse {
    json_response(
        StatusCode::GONE,
        &VolumeGone {
            error: "gone".into(),
            message: "Volume deleted by its owner".into(),
            tombstone: t.tombstone,
            signature: Signature64::from_bytes(t.signature),
        },
    )
}

/// `DELETE /api/v2/volumes/{name}` `{tombstone, signature}`: deletes the caller's volume.
pub async fn delete(
    req: HttpRequest,
    V2System(caller): V2System<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    // (Not `volumes::path_volume`: that module calls into this one.)
    let name = req
        .match_info()
        .get("name")
        .and_then(|n| VolumeName::new(n).ok())
        .ok_or_else(|| ApiError::bad("Invalid volume name"))?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    f.required("tombstone")?;
    f.required("signature")?;
    let bytes = b64::decode_bounded(f.str("tombstone")?, MAX_TOMBSTONE_BYTES).map_err(|e| {
        ApiError::bad(format!(
            "tombstone: {e}; expected standard base64 of at most {MAX_TOMBSTONE_BYTES} bytes"
        ))
    })?;
    let t = Tombstone::parse(&bytes).map_err(|e| ApiError::bad(e.to_string()))?;
    let signature = signature_field(&f, "signature")?;
    if t.owner != own_id_bytes(&caller.user_id)? {
        return Err(ApiError::bad("tombstone.owner is not your user id"));
    }
    if t.volume != name {
        return Err(ApiError::bad("tombstone.volume does not match the URL"));
    }
    if t.hour as i64 > hour(now()) + MAX_FUTURE_SECONDS {
        return Err(ApiError::bad("The tombstone's hour is in the future"));
    }
    let row = TombstoneRow {
        user_id: caller.user_id.clone(),
        volume_name: name.as_str().to_owned(),
        epoch: t.epoch,
        version: t.version,
        hour: t.hour,
        tombstone: bytes,
        signature: signature.to_bytes(),
    };
    let message = Tombstone::signed_message(&row.tombstone);
    let check: UserCheck = Box::new(move |user: &users::User| {
        let valid = VerifyingKey::from_bytes(&user.public_signing_key)
            .map(|k| k.verify_strict(&message, &signature).is_ok())
            .unwrap_or(false);
        if valid {
            Ok(())
        } else {
            Err(Refusal::Forbidden("Invalid tombstone signature"))
        }
    });
    let DeletedVolume { blob, size } = state.storage.delete_volume_signed(row, check).await??;
    // Blobs after rows: the row naming the blob is gone, so the file can go.
    state.blobs.remove(blob).await;
    state
        .anomalies
        .storage_growth(now(), &caller.user_id, -(size as i64));
    Ok(ok(&VolumeStored {
        status: UploadStatus::Stored,
        epoch: t.epoch,
        version: t.version,
    }))
}
