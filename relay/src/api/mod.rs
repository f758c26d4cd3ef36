//! The HTTP API. **All routes are in [`ROUTES`]**, each with the function describing it for the
//! OpenAPI document ([`openapi`]); handlers live in files named after their resource. Handlers
//! extract (capability extractors authenticate and rate-limit), call the store, and map to a
//! response. Nothing here ever sees plaintext or a private key.

pub mod admin;
pub mod admin_query;
pub mod analytics;
pub mod auth;
pub mod discover;
pub mod extract;
pub mod fetch;
pub mod health;
pub mod json;
pub mod json_body;
pub mod metrics;
pub mod openapi;
pub mod pins;
pub mod profile;
pub mod random;
pub mod registration_codes;
pub mod shared;
pub mod sharing;
pub mod stream;
pub mod users;
pub mod v2;
pub mod volumes;

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, Resource, Route, web};

use self::Verb::{Delete, Get, Patch, Post, Put};
use self::openapi::ops;
use crate::error::ApiError;
use crate::metrics::RouteClass;
use crate::state::AppState;

/// An HTTP method the relay serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Verb {
    /// The actix method.
    pub fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Patch => Method::PATCH,
            Self::Delete => Method::DELETE,
        }
    }

    /// The lowercase name OpenAPI uses as the operation's key.
    pub const fn openapi_key(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Put => "put",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }
}

/// One operation of the API: the single source of both the served route ([`configure`]) and its
/// OpenAPI description ([`openapi::document`]), so no route can exist undocumented.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Method.
    pub verb: Verb,
    /// Full path, with `{param}` segments as actix and OpenAPI both write them.
    pub path: &'static str,
    /// The handler as an actix route (the method guard is added from `verb`).
    pub handler: fn() -> Route,
    /// The operation's description (see [`openapi::ops`]).
    pub describe: fn() -> openapi::Operation,
}

const fn ep(
    verb: Verb,
    path: &'static str,
    handler: fn() -> Route,
    describe: fn() -> openapi::Operation,
) -> Endpoint {
    Endpoint {
        verb,
        path,
        handler,
        describe,
    }
}

/// **The route table.** Resources are registered in the order their path first appears here,
/// which decides which of two overlapping patterns wins (`/api/v2/users/me` before
/// `/api/v2/users/{id}`).
#[rustfmt::skip]
pub static ROUTES: &[Endpoint] = &[
    // Protocol v1, byte-compatible with the PluralLog apps.
    ep(Get, "/api/v1/health", || web::route().to(health::health), ops::v1::health),
    ep(Post, "/api/v1/register", || web::route().to(auth::register), ops::v1::register),
    ep(Post, "/api/v1/auth/challenge", || web::route().to(auth::challenge), ops::v1::challenge),
    ep(Post, "/api/v1/auth/token", || web::route().to(auth::token), ops::v1::token),
    ep(Patch, "/api/v1/users/me", || web::route().to(users::update_me), ops::v1::update_me),
    ep(Delete, "/api/v1/users/me", || web::route().to(users::delete_me), ops::v1::delete_me),
    ep(Get, "/api/v1/volumes", || web::route().to(volumes::list_own), ops::v1::list_volumes),
    ep(Put, "/api/v1/volumes/{name}", || web::route().to(volumes::upload), ops::v1::upload),
    ep(Get, "/api/v1/volumes/{name}/download", || web::route().to(volumes::download), ops::v1::download),
    ep(Get, "/api/v1/shared/{system_user_id}/volumes", || web::route().to(shared::list), ops::v1::shared_list),
    ep(Get, "/api/v1/shared/{system_user_id}/volumes/{name}", || web::route().to(shared::get), ops::v1::shared_get),
    ep(Get, "/api/v1/discover", || web::route().to(discover::discover), ops::v1::discover),
    ep(Post, "/api/v1/sharing/request", || web::route().to(sharing::request), ops::v1::sharing_request),
    ep(Get, "/api/v1/sharing/requests", || web::route().to(sharing::list), ops::v1::sharing_list),
    ep(Post, "/api/v1/sharing/respond", || web::route().to(sharing::respond), ops::v1::sharing_respond),
    ep(Post, "/api/v1/sharing/invite", || web::route().to(sharing::invite), ops::v1::sharing_invite),
    ep(Post, "/api/v1/sharing/redeem", || web::route().to(sharing::redeem), ops::v1::sharing_redeem),
    ep(Patch, "/api/v1/sharing/{id}/permissions", || web::route().to(sharing::permissions), ops::v1::sharing_permissions),
    ep(Delete, "/api/v1/sharing/{id}", || web::route().to(sharing::delete), ops::v1::sharing_delete),
    ep(Post, "/api/v1/analytics/aggregate", || web::route().to(analytics::aggregate), ops::v1::aggregate),
    // The reference relay's unauthenticated maintenance endpoint, now admin-only (W26).
    ep(Post, "/api/v1/_maintenance", || web::route().to(admin::maintenance), ops::admin::legacy_maintenance),
    // The admin API.
    ep(Get, "/api/v1/admin/stats", || web::route().to(admin::stats), ops::admin::stats),
    ep(Get, "/api/v1/admin/users", || web::route().to(admin::users), ops::admin::users),
    ep(Get, "/api/v1/admin/users/{id}", || web::route().to(admin::user), ops::admin::user),
    ep(Delete, "/api/v1/admin/users/{id}", || web::route().to(admin::delete_user), ops::admin::delete_user),
    ep(Get, "/api/v1/admin/volumes", || web::route().to(admin::volumes), ops::admin::volumes),
    ep(Get, "/api/v1/admin/sharing", || web::route().to(admin::sharing), ops::admin::sharing),
    ep(Get, "/api/v1/admin/sessions", || web::route().to(admin::sessions), ops::admin::sessions),
    ep(Post, "/api/v1/admin/sessions/expire-all", || web::route().to(admin::expire_all), ops::admin::expire_all),
    ep(Post, "/api/v1/admin/maintenance", || web::route().to(admin::maintenance), ops::admin::maintenance),
    // Maintenance in steps, for progress: expire rows, then sweep orphans page by page.
    ep(Post, "/api/v1/admin/maintenance/expire", || web::route().to(admin::maintenance_expire), ops::admin::maintenance_expire),
    ep(Post, "/api/v1/admin/maintenance/orphans", || web::route().to(admin::maintenance_orphans), ops::admin::maintenance_orphans),
    ep(Get, "/api/v1/admin/anomalies", || web::route().to(admin::anomalies), ops::admin::anomalies),
    // Closed registration (ADR 0024).
    ep(Post, "/api/v1/admin/registration-codes", || web::route().to(registration_codes::create), ops::access::create_registration_code),
    ep(Get, "/api/v1/admin/registration-codes", || web::route().to(registration_codes::status), ops::access::registration_status),
    // Protocol v2.
    ep(Get, "/api/v2/pins", || web::route().to(pins::pins), ops::v2::pins),
    ep(Post, "/api/v2/register", || web::route().to(v2::accounts::register), ops::v2::register),
    // Challenges are the same single-use nonces as v1; what is signed differs.
    ep(Post, "/api/v2/auth/challenge", || web::route().to(auth::challenge), ops::v2::challenge),
    ep(Post, "/api/v2/auth/token", || web::route().to(v2::accounts::token), ops::v2::token),
    ep(Delete, "/api/v2/users/me", || web::route().to(users::delete_me), ops::v2::delete_me),
    ep(Get, "/api/v2/users/by-handle/{handle}", || web::route().to(v2::accounts::by_handle), ops::v2::by_handle),
    ep(Get, "/api/v2/users/{id}", || web::route().to(v2::accounts::by_id), ops::v2::by_id),
    ep(Get, "/api/v2/volumes", || web::route().to(v2::volumes::list_own), ops::v2::list_volumes),
    ep(Put, "/api/v2/volumes/{name}", || web::route().to(v2::volumes::upload), ops::v2::upload),
    ep(Get, "/api/v2/volumes/{name}", || web::route().to(v2::volumes::get_own), ops::v2::get_volume),
    ep(Delete, "/api/v2/volumes/{name}", || web::route().to(v2::delete::delete), ops::tombstones::delete_volume),
    ep(Post, "/api/v2/invites", || web::route().to(v2::pairing::create_invite), ops::v2::create_invite),
    ep(Post, "/api/v2/invites/redeem", || web::route().to(v2::pairing::redeem), ops::v2::redeem),
    ep(Get, "/api/v2/pairings", || web::route().to(v2::pairing::list), ops::v2::pairings),
    ep(Post, "/api/v2/pairings/replica", || web::route().to(v2::pairing::request_replica), ops::v2::request_replica),
    ep(Get, "/api/v2/sessions", || web::route().to(v2::sessions::list), ops::sessions::list),
    ep(Post, "/api/v2/sessions/revoke-others", || web::route().to(v2::sessions::revoke_others), ops::sessions::revoke_others),
    ep(Delete, "/api/v2/sessions/current", || web::route().to(v2::sessions::logout), ops::sessions::logout),
    ep(Delete, "/api/v2/sessions/{id}", || web::route().to(v2::sessions::revoke), ops::sessions::revoke),
    ep(Delete, "/api/v2/pairings/{id}", || web::route().to(v2::pairing::delete), ops::v2::unpair),
    ep(Get, "/api/v2/grants", || web::route().to(v2::owner::list), ops::v2::own_grants),
    ep(Put, "/api/v2/grants/{friend_id}", || web::route().to(v2::grants::put), ops::v2::put_grant),
    ep(Get, "/api/v2/shared/{owner}/grant", || web::route().to(v2::grants::get_grant), ops::v2::get_grant),
    ep(Get, "/api/v2/shared/{owner}/volumes", || web::route().to(v2::grants::list_shared), ops::v2::shared_list),
    ep(Get, "/api/v2/shared/{owner}/volumes/{name}", || web::route().to(v2::grants::get_shared), ops::v2::shared_get),
    ep(Post, "/api/v2/shared/{owner}/receipts", || web::route().to(v2::receipts::post), ops::receipts::post_receipt),
    ep(Get, "/api/v2/receipts", || web::route().to(v2::receipts::list), ops::receipts::list_receipts),
    ep(Put, "/api/v2/owner-state", || web::route().to(v2::devices::put_state), ops::v2_devices::put_owner_state),
    ep(Get, "/api/v2/owner-state", || web::route().to(v2::devices::get_state), ops::v2_devices::get_owner_state),
    ep(Post, "/api/v2/device-links", || web::route().to(v2::devices::create_link), ops::v2_devices::create_device_link),
    ep(Get, "/api/v2/device-links/{code}", || web::route().to(v2::devices::get_link), ops::v2_devices::get_device_link),
    ep(Post, "/api/v2/device-links/{code}/join", || web::route().to(v2::devices::join), ops::v2_devices::join_device_link),
    ep(Put, "/api/v2/device-links/{code}/package", || web::route().to(v2::devices::put_package), ops::v2_devices::put_device_package),
    ep(Get, "/api/v2/device-links/{code}/package", || web::route().to(v2::devices::get_package), ops::v2_devices::get_device_package),
    // Operations.
    ep(Get, "/metrics", || web::route().to(metrics::metrics), ops::admin::metrics),
];

/// Registers [`ROUTES`]: one resource per distinct path (its unknown methods get a JSON 405),
/// and a JSON 404 for everything else.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    for endpoint in ROUTES {
        if !paths.contains(&endpoint.path) {
            paths.push(endpoint.path);
        }
    }
    for path in paths {
        let resource = ROUTES
            .iter()
            .filter(|e| e.path == path)
            .fold(resource(path), |resource, e| {
                resource.route((e.handler)().method(e.verb.method()))
            });
        cfg.service(resource);
    }
    cfg.default_service(web::to(not_found));
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
pub fn version_gated(path: &str) -> bool {
    path != "/api/v1/health" && path != "/metrics" && !path.starts_with("/api/v1/admin/")
}

/// The edge of every request: CORS and preflight, the protocol-version gate, the upgrade hint,
/// the request metrics, and the request log (`[request_log]`: a line without ids or bodies, and
/// without the client address unless `ip_policy` allows it).
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
    let route = pattern.as_deref().unwrap_or("<unmatched>");
    // The request's own line, as `[request_log]` says (the summary counts it otherwise).
    if !state
        .request_log
        .record(res.request().method(), route, status, elapsed)
    {
        return Ok(res);
    }
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
