//! `GET /api/v1/discover?handle=…` (v1.md §1.3 #12): cross-type handle search. Kept for the v1
//! apps, with `%`/`_` matched literally (no wildcard enumeration, W24) and a result cap. Results
//! carry `public_signing_key`, which the System app requires.

use actix_web::{HttpRequest, HttpResponse, web};
use coffer_wire::b64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Caller, Discovery, state};
use super::json::ok;
use crate::error::ApiError;
use crate::storage::users::ClientType;

/// Longest accepted query, characters.
pub const MAX_QUERY_CHARS: usize = 64;

#[derive(Deserialize)]
struct Query {
    handle: Option<String>,
}

/// `GET /api/v1/discover`.
pub async fn discover(
    req: HttpRequest,
    caller: Caller<Discovery>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let query = web::Query::<Query>::from_query(req.query_string())
        .map_err(|_| ApiError::bad("Invalid query string"))?
        .into_inner();
    let q = query.handle.unwrap_or_default().trim().to_owned();
    let len = q.chars().count();
    if len < 2 {
        return Err(ApiError::bad("Search query must be at least 2 characters"));
    }
    if len > MAX_QUERY_CHARS {
        return Err(ApiError::bad("Search query is too long"));
    }
    let other = match caller.client_type {
        ClientType::System => ClientType::Friend,
        ClientType::Friend => ClientType::System,
    };
    let limit = state.config.limits.max_discovery_results;
    let found = state.storage.discover(q, other, limit).await?;
    let results: Vec<Value> = found
        .into_iter()
        .map(|u| {
            json!({
                "user_id": u.id,
                "handle": u.handle,
                "public_signing_key": b64::encode(&u.public_signing_key),
                "public_exchange_key": b64::encode(&u.public_exchange_key),
                "client_type": u.client_type.as_str(),
                "protocol_version": u.protocol_version,
                "feature_set": serde_json::from_str::<Value>(&u.feature_set).unwrap_or_else(|_| json!([])),
            })
        })
        .collect();
    Ok(ok(&json!({ "results": results })))
}
