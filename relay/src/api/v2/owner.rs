//! What a system reads back about itself (`docs/protocol-v2.md` §12): its stored grants, so
//! that a device can show each friend's current access after verifying the owner signature.

use actix_web::{HttpRequest, HttpResponse};
use coffer_wire::b64::Signature64;
use coffer_wire::v2::api::{OwnGrant, OwnGrantList};

use super::stored_user_id;
use crate::api::extract::{General, V2System, state};
use crate::api::json::ok;
use crate::error::ApiError;

/// `GET /api/v2/grants` (system): every grant the caller has given, as signed.
pub async fn list(
    req: HttpRequest,
    V2System(caller): V2System<General>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let owner = caller.user_id;
    let rows = state.storage.grants_given(owner).await?;
    let grants = rows
        .into_iter()
        .map(|(friend, grant, signature)| {
            Ok(OwnGrant {
                friend_user_id: stored_user_id(&friend)?,
                grant,
                signature: Signature64::from_bytes(signature),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(ok(&OwnGrantList { grants }))
}
