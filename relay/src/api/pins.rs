//! `GET /api/v2/pins`: the SPKI pins of the relay's current certificate and, once the operator
//! has prepared one (`coffer-admin cert next`), of the next. A client that already trusts the
//! current pin learns the next one over that trusted connection and adds it to its pins, so the
//! rotation (`coffer-admin cert rotate`) does not cut it off. Public: pins are not secrets.

use actix_web::{HttpRequest, HttpResponse};
use coffer_wire::v2::api::Pins;

use super::extract::state;
use super::json::ok;
use crate::error::ApiError;

/// `GET /api/v2/pins`.
pub async fn pins(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let pin = |p: Option<coffer_certs::SpkiPin>| p.map(|p| p.to_string());
    let pins = state.pins();
    Ok(ok(&Pins {
        current: pin(pins.current),
        next: pin(pins.next),
    }))
}
