//! `GET /api/v1/health`: liveness for dashboards and container health checks. Deliberately
//! without the user count the reference relay disclosed (W26).

use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::extract::state;
use super::json::ok;
use crate::error::ApiError;

/// `GET /api/v1/health`.
pub async fn health(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    Ok(ok(&json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "min_protocol_version": state.config.protocol.min_version,
        "uptime_seconds": state.started.elapsed().as_secs(),
    })))
}
