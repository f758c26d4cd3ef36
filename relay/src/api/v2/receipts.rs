//! v2 fetch receipts (`docs/protocol-v2.md` §14): a friend uploads its signed receipt for a
//! version it fetched and verified; the owner lists the receipts of all its friends.
//!
//! The relay checks what it can — the bytes parse, name the caller as the friend and the path's
//! owner, a pairing exists between them, the hour is aligned and not more than an hour ahead,
//! the signature verifies under the caller's registered key — and stores the exact bytes. The
//! owner verifies every receipt again under the friend's *pinned* key: these checks keep an
//! honest relay's storage clean, they prove nothing to the owner.

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64::{self, Signature64};
use coffer_wire::v2::api::{ReceiptEnvelope, ReceiptList, ReceiptStored, UploadStatus};
use coffer_wire::v2::{MAX_RECEIPT_BYTES, Receipt};
use ed25519_dalek::VerifyingKey;

use super::{own_id_bytes, uuid_bytes};
use crate::api::auth::signature_field;
use crate::api::extract::{General, V2Friend, V2System, state};
use crate::api::json::{Fields, created, ok, read_object};
use crate::error::ApiError;
use crate::service::Refusal;
use crate::state::AppState;
use crate::storage::devices::UserCheck;
use crate::store::receipts::StoredReceipt;
use crate::store::users::User;
use crate::store::{hour, now};

/// How far ahead of the relay's clock a receipt's hour may be (clock skew), seconds.
pub const MAX_FUTURE_SECONDS: i64 = 3600;

/// `POST /api/v2/shared/{owner}/receipts` (friend) `{receipt, signature}`.
pub async fn post(
    req: HttpRequest,
    V2Friend(caller): V2Friend<General>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (owner, owner_bytes) = req
        .match_info()
        .get("owner")
        .and_then(uuid_bytes)
        .ok_or(ApiError::NotFound("Pairing not found"))?;
    let obj = read_object(&req, payload, AppState::SMALL_BODY_LIMIT, false).await?;
    let f = Fields(&obj);
    f.required("receipt")?;
    f.required("signature")?;
    let bytes = b64::decode_bounded(f.str("receipt")?, MAX_RECEIPT_BYTES).map_err(|e| {
        ApiError::bad(format!(
            "receipt: {e}; expected standard base64 of at most {MAX_RECEIPT_BYTES} bytes"
        ))
    })?;
    let receipt = Receipt::parse(&bytes).map_err(|e| ApiError::bad(e.to_string()))?;
    let signature = signature_field(&f, "signature")?;
    if receipt.friend != own_id_bytes(&caller.user_id)? || receipt.owner != owner_bytes {
        return Err(ApiError::bad(
            "The receipt's friend and owner must be you and the system in the URL",
        ));
    }
    if receipt.hour as i64 > hour(now()) + MAX_FUTURE_SECONDS {
        return Err(ApiError::bad("The receipt's hour is in the future"));
    }
    let request = ReceiptEnvelope {
        receipt: bytes,
        signature: Signature64::from_bytes(signature.to_bytes()),
    };
    let stored = StoredReceipt {
        volume_name: receipt.volume.as_str().to_owned(),
        epoch: receipt.epoch,
        version: receipt.version,
        hour: receipt.hour,
        receipt: request.receipt,
        signature: *request.signature.as_bytes(),
    };
    let message = Receipt::signed_message(&stored.receipt);
    let check: UserCheck = Box::new(move |user: &User| {
        let valid = VerifyingKey::from_bytes(&user.public_signing_key)
            .map(|k| k.verify_strict(&message, &signature).is_ok())
            .unwrap_or(false);
        if valid {
            Ok(())
        } else {
            Err(Refusal::Forbidden("Invalid receipt signature"))
        }
    });
    state
        .storage
        .put_receipt(owner, caller.user_id, stored, check)
        .await??;
    Ok(created(&ReceiptStored {
        status: UploadStatus::Stored,
    }))
}

/// Query of [`list`].
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    since: Option<u64>,
}

/// `GET /api/v2/receipts[?since=<unix seconds>]` (system): the receipts of all its friends with
/// an hour ≥ `since`, oldest first (at most the newest [`crate::store::receipts::MAX_LISTED`]).
pub async fn list(
    req: HttpRequest,
    V2System(caller): V2System<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let query = web::Query::<ListQuery>::from_query(req.query_string())
        .map_err(|_| ApiError::bad("query must be empty or ?since=<Unix seconds>"))?
        .into_inner();
    let since = query.since.unwrap_or(0);
    let owner = caller.user_id;
    let rows = state.storage.receipts_of_owner(owner, since).await?;
    let receipts = rows
        .into_iter()
        .map(|r| ReceiptEnvelope {
            receipt: r.receipt,
            signature: Signature64::from_bytes(r.signature),
        })
        .collect();
    Ok(ok(&ReceiptList { receipts }))
}
