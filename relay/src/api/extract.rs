//! Capability extractors: a handler that takes `System<Upload>` can only run for an
//! authenticated system user whose upload bucket had a token left. The rate-limit class is part
//! of the handler's signature, so it cannot be forgotten.

use std::marker::PhantomData;
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;
use crate::limits::{Class, Key};
use crate::state::AppState;
use crate::storage::sessions::{Lookup, SessionUser};
use crate::store::{ClientType, now};

/// A rate-limit class marker.
pub trait RateClass: 'static {
    /// The class, or `None` for routes v1 does not limit.
    const CLASS: Option<Class>;
}

macro_rules! classes {
    ($($(#[$doc:meta])* $name:ident => $class:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl RateClass for $name {
            const CLASS: Option<Class> = $class;
        }
    )*};
}

classes! {
    /// `register` bucket.
    Register => Some(Class::Register);
    /// `auth` bucket.
    Auth => Some(Class::Auth);
    /// `upload` bucket.
    Upload => Some(Class::Upload);
    /// `general` bucket.
    General => Some(Class::General);
    /// `discovery` bucket.
    Discovery => Some(Class::Discovery);
    /// No bucket (v1 does not limit account deletion).
    Unlimited => None;
}

/// The relay state from a request.
pub fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!("AppState missing from the app");
            ApiError::Internal
        })
}

/// SHA-256 of a session token: what the database stores.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// An authenticated caller, rate-limited in class `C`.
#[derive(Debug)]
pub struct Caller<C> {
    /// UUID text.
    pub user_id: String,
    /// System or friend.
    pub client_type: ClientType,
    /// Feature set JSON of the caller.
    pub feature_set: String,
    /// Whether the account was registered through v2.
    pub is_v2: bool,
    /// The public id of the session the request came with (`None` only for a session row
    /// written outside the relay).
    pub session_id: Option<String>,
    class: PhantomData<C>,
}

async fn authenticate(req: HttpRequest) -> Result<(web::Data<AppState>, SessionUser), ApiError> {
    let state = state(&req)?;
    // Exactly "Bearer <token>", as the reference relay (case-sensitive scheme).
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty() && t.len() <= 512)
        .ok_or(ApiError::Unauthorized(
            "Missing or invalid Authorization header",
        ))?;
    let hash = token_hash(token);
    let now = now();
    // The generation first: a session read from the database is cached under the generation
    // that was current *before* the read (`store::auth_watch`).
    let generation = state.storage.auth_generation();
    if let Some(user) = state.sessions.get(&hash, now, generation) {
        touch(&state, hash, &user, now);
        return Ok((state, user));
    }
    match state.storage.session(hash, now).await? {
        Lookup::Valid(user) => {
            state.sessions.insert(hash, user.clone(), generation);
            touch(&state, hash, &user, now);
            Ok((state, user))
        }
        Lookup::Unknown => Err(ApiError::Unauthorized("Invalid session token")),
        Lookup::Revoked => Err(ApiError::SessionRevoked),
        Lookup::Expired => {
            state.sessions.remove(&hash);
            state.storage.drop_session(hash).await?;
            Err(ApiError::Unauthorized("Session expired"))
        }
    }
}

/// Records the session's last use, to the hour: one write per session per hour at most (the
/// cached hour is moved first, so concurrent requests do not each write), written in the
/// background (no request waits for it) and without flushing the session cache. A failed write
/// is logged and retried by the next request's hour check only once the entry is re-read.
fn touch(state: &web::Data<AppState>, hash: [u8; 32], user: &SessionUser, now: i64) {
    let hour = crate::store::hour(now);
    if user.last_used_at >= hour {
        return;
    }
    state.sessions.touch(&hash, hour);
    let state = web::Data::clone(state);
    actix_web::rt::spawn(async move {
        if let Err(e) = state.storage.touch_session(hash, hour).await {
            tracing::warn!("could not record a session's last use: {e}");
        }
    });
}

impl<C: RateClass> FromRequest for Caller<C> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (state, user) = authenticate(req).await?;
            if let Some(class) = C::CLASS {
                let key = Key::User(user.user_id.clone());
                let shared = state.storage.shared_rates();
                state.limits.check_shared(shared, class, key).await??;
            }
            Ok(Caller {
                user_id: user.user_id,
                client_type: user.client_type,
                feature_set: user.feature_set,
                is_v2: user.is_v2,
                session_id: user.session_id,
                class: PhantomData,
            })
        })
    }
}

macro_rules! typed_caller {
    ($(#[$doc:meta])* $name:ident, |$c:ident| $allowed:expr, $msg:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<C>(pub Caller<C>);

        impl<C: RateClass> FromRequest for $name<C> {
            type Error = ApiError;
            type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                let caller = Caller::<C>::from_request(req, payload);
                Box::pin(async move {
                    let $c = caller.await?;
                    if !($allowed) {
                        return Err(ApiError::Forbidden($msg));
                    }
                    Ok($name($c))
                })
            }
        }
    };
}

typed_caller!(
    /// An authenticated system user.
    System,
    |c| c.client_type == ClientType::System,
    "Only system clients can perform this action"
);
typed_caller!(
    /// An authenticated friend user.
    Friend,
    |c| c.client_type == ClientType::Friend,
    "Only friend clients can perform this action"
);
typed_caller!(
    /// An authenticated user registered through v2 (with a key-binding proof).
    V2Caller,
    |c| c.is_v2,
    "This account was registered with protocol v1; v2 endpoints need a v2 account"
);
typed_caller!(
    /// An authenticated v2 system user.
    V2System,
    |c| c.is_v2 && c.client_type == ClientType::System,
    "Only v2 system clients can perform this action"
);
typed_caller!(
    /// An authenticated v2 friend user.
    V2Friend,
    |c| c.is_v2 && c.client_type == ClientType::Friend,
    "Only v2 friend clients can perform this action"
);

/// An unauthenticated request, rate-limited per client IP in class `C`.
#[derive(Debug)]
pub struct ClientIp<C> {
    /// The client address (see [`crate::limits`]).
    pub ip: Option<IpAddr>,
    class: PhantomData<C>,
}

impl<C: RateClass> FromRequest for ClientIp<C> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let ip = state
            .as_ref()
            .ok()
            .and_then(|state| state.limits.client_ip(req));
        Box::pin(async move {
            let state = state?;
            if let (Some(class), Some(ip)) = (C::CLASS, ip) {
                let shared = state.storage.shared_rates();
                state
                    .limits
                    .check_shared(shared, class, Key::Ip(ip))
                    .await??;
            }
            Ok(ClientIp {
                ip,
                class: PhantomData,
            })
        })
    }
}

/// Longest `X-Admin-Token` value looked at (the CLI refuses longer tokens too).
const MAX_ADMIN_TOKEN_LEN: usize = 4096;

/// The public listener's answer to admin routes when `admin.listen` is set.
const ADMIN_LISTENER_ONLY: ApiError = ApiError::Forbidden(
    "The admin API is served only on the relay's admin listener (admin.listen)",
);

/// Whether the request presents the admin token (checked by [`AdminVerifier`]).
///
/// [`AdminVerifier`]: crate::admin_token::AdminVerifier
async fn has_admin_token(state: &AppState, req: &HttpRequest) -> Result<bool, ApiError> {
    let Some(presented) = req
        .headers()
        .get("x-admin-token")
        .map(|v| v.as_bytes().to_vec())
        .filter(|t| !t.is_empty() && t.len() <= MAX_ADMIN_TOKEN_LEN)
    else {
        return Ok(false);
    };
    let presented = zeroize::Zeroizing::new(presented);
    Ok(state.admin_auth.verify(&presented).await?)
}

/// A request carrying the admin token (`X-Admin-Token`), rate-limited per IP in the admin
/// class. With `admin.listen` set, only requests on that listener qualify.
#[derive(Debug)]
pub struct Admin(());

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            if let Some(ip) = state.limits.client_ip(&req) {
                state.limits.check(Class::Admin, Key::Ip(ip))?;
            }
            if state.admin_listener.get().is_some() && !state.on_admin_listener(&req) {
                return Err(ADMIN_LISTENER_ONLY);
            }
            if !state.admin_auth.is_enabled() {
                return Err(ApiError::Unauthorized(
                    "The admin API is disabled: no admin token is configured",
                ));
            }
            if has_admin_token(&state, &req).await? {
                Ok(Admin(()))
            } else {
                Err(ApiError::Unauthorized("Missing or invalid admin token"))
            }
        })
    }
}

/// A request allowed to read `/metrics`: on the admin listener; with the admin token on the
/// main listener when there is no admin listener; or anyone when the operator opted in with
/// `metrics.public`. Looking local is no longer enough: behind a TLS-passthrough proxy on the
/// same host every internet client looks local (issue 15). Rate-limited per IP in the admin
/// class.
#[derive(Debug)]
pub struct MetricsReader(());

impl FromRequest for MetricsReader {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            if let Some(ip) = state.limits.client_ip(&req) {
                state.limits.check(Class::Admin, Key::Ip(ip))?;
            }
            if state.on_admin_listener(&req) || state.config.metrics.public {
                return Ok(MetricsReader(()));
            }
            if state.admin_listener.get().is_some() {
                return Err(ADMIN_LISTENER_ONLY);
            }
            if has_admin_token(&state, &req).await? {
                Ok(MetricsReader(()))
            } else {
                Err(ApiError::Unauthorized(
                    "Metrics need the admin token (X-Admin-Token), or the admin listener \
                     (admin.listen)",
                ))
            }
        })
    }
}
