//! The HTTP API. **All routes are in [`configure`]**; handlers live in files named after their
//! resource. Handlers extract (capability extractors authenticate and rate-limit), call the
//! store, and map to a response. Nothing here ever sees plaintext or a private key.

pub mod admin;
pub mod analytics;
pub mod auth;
pub mod discover;
pub mod extract;
pub mod health;
pub mod json;
pub mod metrics;
pub mod pins;
pub mod profile;
pub mod random;
pub mod shared;
pub mod sharing;
pub mod users;
pub mod v2;
pub mod volumes;

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, Resource, web};

use crate::error::ApiError;
use crate::metrics::RouteClass;
use crate::state::AppState;

/// The route table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch, post, put};
    cfg.service(
        web::scope("/api/v1")
            .service(resource("/health").route(get().to(health::health)))
            .service(resource("/register").route(post().to(auth::register)))
            .service(resource("/auth/challenge").route(post().to(auth::challenge)))
            .service(resource("/auth/token").route(post().to(auth::token)))
            .service(
                resource("/users/me")
                    .route(patch().to(users::update_me))
                    .route(delete().to(users::delete_me)),
            )
            .service(resource("/volumes").route(get().to(volumes::list_own)))
            .service(resource("/volumes/{name}").route(put().to(volumes::upload)))
            .service(resource("/volumes/{name}/download").route(get().to(volumes::download)))
            .service(resource("/shared/{system_user_id}/volumes").route(get().to(shared::list)))
            .service(
                resource("/shared/{system_user_id}/volumes/{name}").route(get().to(shared::get)),
            )
            .service(resource("/discover").route(get().to(discover::discover)))
            .service(resource("/sharing/request").route(post().to(sharing::request)))
            .service(resource("/sharing/requests").route(get().to(sharing::list)))
            .service(resource("/sharing/respond").route(post().to(sharing::respond)))
            .service(resource("/sharing/invite").route(post().to(sharing::invite)))
            .service(resource("/sharing/redeem").route(post().to(sharing::redeem)))
            .service(resource("/sharing/{id}/permissions").route(patch().to(sharing::permissions)))
            .service(resource("/sharing/{id}").route(delete().to(sharing::delete)))
            .service(resource("/analytics/aggregate").route(post().to(analytics::aggregate)))
            // The reference relay's unauthenticated maintenance endpoint, now admin-only (W26).
            .service(resource("/_maintenance").route(post().to(admin::maintenance)))
            .service(resource("/admin/stats").route(get().to(admin::stats)))
            .service(resource("/admin/users").route(get().to(admin::users)))
            .service(
                resource("/admin/users/{id}")
                    .route(get().to(admin::user))
                    .route(delete().to(admin::delete_user)),
            )
            .service(resource("/admin/volumes").route(get().to(admin::volumes)))
            .service(resource("/admin/sharing").route(get().to(admin::sharing)))
            .service(resource("/admin/sessions").route(get().to(admin::sessions)))
            .service(resource("/admin/sessions/expire-all").route(post().to(admin::expire_all)))
            .service(resource("/admin/maintenance").route(post().to(admin::maintenance)))
            // Maintenance in steps, for progress: expire rows, then sweep orphans page by page.
            .service(
                resource("/admin/maintenance/expire").route(post().to(admin::maintenance_expire)),
            )
            .service(
                resource("/admin/maintenance/orphans").route(post().to(admin::maintenance_orphans)),
            )
            .service(resource("/admin/anomalies").route(get().to(admin::anomalies))),
    )
    .service(
        web::scope("/api/v2")
            .service(resource("/pins").route(get().to(pins::pins)))
            .service(resource("/register").route(post().to(v2::accounts::register)))
            // Challenges are the same single-use nonces as v1; what is signed differs.
            .service(resource("/auth/challenge").route(post().to(auth::challenge)))
            .service(resource("/auth/token").route(post().to(v2::accounts::token)))
            .service(resource("/users/me").route(delete().to(users::delete_me)))
            .service(resource("/users/by-handle/{handle}").route(get().to(v2::accounts::by_handle)))
            .service(resource("/users/{id}").route(get().to(v2::accounts::by_id)))
            .service(resource("/volumes").route(get().to(v2::volumes::list_own)))
            .service(
                resource("/volumes/{name}")
                    .route(put().to(v2::volumes::upload))
                    .route(get().to(v2::volumes::get_own)),
            )
            .service(resource("/invites").route(post().to(v2::pairing::create_invite)))
            .service(resource("/invites/redeem").route(post().to(v2::pairing::redeem)))
            .service(resource("/pairings").route(get().to(v2::pairing::list)))
            .service(resource("/pairings/{id}").route(delete().to(v2::pairing::delete)))
            .service(resource("/grants/{friend_id}").route(put().to(v2::grants::put)))
            .service(resource("/shared/{owner}/grant").route(get().to(v2::grants::get_grant)))
            .service(resource("/shared/{owner}/volumes").route(get().to(v2::grants::list_shared)))
            .service(
                resource("/shared/{owner}/volumes/{name}").route(get().to(v2::grants::get_shared)),
            ),
    )
    .service(resource("/metrics").route(get().to(metrics::metrics)))
    .default_service(web::to(not_found));
}

/// A resource whose unknown methods get a JSON 405.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("Not found"))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

const CORS: [(&str, &str); 3] = [
    ("access-control-allow-origin", "*"),
    (
        "access-control-allow-headers",
        "Content-Type, Authorization, X-Protocol-Version, X-Feature-Set, If-None-Match",
    ),
    (
        "access-control-allow-methods",
        "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    ),
];

fn add_headers(res: &mut HttpResponse, upgrade: Option<&HeaderValue>) {
    let headers = res.headers_mut();
    for (name, value) in CORS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if let Some(value) = upgrade {
        headers.insert(
            HeaderName::from_static("x-upgrade-available"),
            value.clone(),
        );
    }
}

/// Whether the protocol-version gate applies (v1: not to health, admin, or OPTIONS; nor to
/// `/metrics`, which is not an app route).
fn version_gated(path: &str) -> bool {
    path != "/api/v1/health" && path != "/metrics" && !path.starts_with("/api/v1/admin/")
}

/// The edge of every request: CORS and preflight, the protocol-version gate, the upgrade hint,
/// the request metrics, and one log line without ids or bodies (and without the client address
/// unless `ip_policy` allows it).
pub async fn edge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.into_response(ApiError::Internal.error_response_boxed()));
    };
    let upgrade = state
        .config
        .protocol
        .latest_client_version
        .as_ref()
        .and_then(|v| {
            HeaderValue::from_str(&format!("A newer client version ({v}) is available.")).ok()
        });
    let early = if req.method() == Method::OPTIONS {
        Some(HttpResponse::NoContent().finish())
    } else if version_gated(req.path()) {
        let min = state.config.protocol.min_version;
        req.headers()
            .get("x-protocol-version")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|v| *v < min)
            .map(|_| {
                ApiError::UpgradeRequired(format!(
                    "This server requires protocol version {min} or higher. Please update your app."
                ))
                .error_response_boxed()
            })
    } else {
        None
    };
    let mut res = match early {
        Some(response) => req.into_response(response),
        None => next.call(req).await?.map_into_boxed_body(),
    };
    add_headers(res.response_mut(), upgrade.as_ref());
    let pattern = res.request().match_pattern();
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.observe(
        RouteClass::of(res.request().method(), pattern.as_deref()),
        status,
        elapsed,
    );
    let route = pattern.unwrap_or_else(|| "<unmatched>".into());
    // The client address only as the operator's IP policy allows (off by default).
    let client = state
        .limits
        .client_ip(res.request())
        .and_then(|ip| state.ip_labels.shown(ip));
    match client {
        Some(client) => tracing::info!(
            method = %res.request().method(),
            route = %route,
            status,
            ms = elapsed.as_millis() as u64,
            client = %client,
            "request"
        ),
        None => tracing::info!(
            method = %res.request().method(),
            route = %route,
            status,
            ms = elapsed.as_millis() as u64,
            "request"
        ),
    }
    Ok(res)
}

impl ApiError {
    fn error_response_boxed(&self) -> HttpResponse {
        actix_web::ResponseError::error_response(self)
    }
}
