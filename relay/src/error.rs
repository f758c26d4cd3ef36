//! The HTTP edge error: one JSON shape, `{"error": code, "message": text}`, for every failure.
//!
//! Conversion from internal errors happens here and only here: the store's, the domain's
//! refusals (`service::Refusal`), the rate limiter's and the admin-token verifier's. Messages
//! are fixed texts or describe the caller's own input; they never contain secrets, tokens,
//! ciphertext or paths.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::admin_token::VerifyError;
use crate::limits::{Limit, RateLimited};
use crate::response::json_response;
use crate::service::{Refusal, ServiceError, Stale};
use crate::store::StoreError;

/// The header of a 429 that names the limit hit and the setting that raises it, e.g.
/// `auth; limit=30/min; per=address; setting=rate.auth; env=COFFER_RATE_AUTH`. A header, not
/// the message, so v1's error body stays word for word (docs/adr/0003-rate-limits.md).
pub const RATE_LIMIT_HEADER: &str = "coffer-rate-limit";

/// Everything a handler can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or violates a rule of the protocol.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid session or admin token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 401 for a session its owner revoked (docs/protocol-v2.md §11): distinct from an unknown
    /// or expired one, after which a client logs in again by itself; after this one it does not.
    #[error("Session revoked: sign in again")]
    SessionRevoked,
    /// 403: authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 403 with a code of its own (`registration_closed`, `user_cap_reached`).
    #[error("{message}")]
    Denied {
        /// The body's `error`.
        code: &'static str,
        /// The body's `message`.
        message: &'static str,
    },
    /// 404: the thing does not exist (or the route does not).
    #[error("{0}")]
    NotFound(&'static str),
    /// 405: the route exists, the method does not.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// 409: conflicts with stored state.
    #[error("{0}")]
    Conflict(String),
    /// 409 with a code of its own (`already_registered`).
    #[error("{message}")]
    ConflictWith {
        /// The body's `error`.
        code: &'static str,
        /// The body's `message`.
        message: &'static str,
    },
    /// 409 for a write not newer than the stored one; carries the stored position so clients
    /// can resume.
    #[error(transparent)]
    Stale(Stale),
    /// 408: the request body did not arrive in time (`[server]` transfer timeout).
    #[error("{0}")]
    RequestTimeout(&'static str),
    /// 410: an invite that was used or has expired.
    #[error("{0}")]
    Gone(&'static str),
    /// 413: body, volume or quota too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 426: the client's protocol version is below the relay's minimum.
    #[error("{0}")]
    UpgradeRequired(String),
    /// 429: a rate limit was hit. The body is v1's, word for word; the limit and the setting
    /// that raises it go in the `Coffer-Rate-Limit` header.
    #[error("Too many requests. Please wait and try again.")]
    RateLimited {
        /// How long until a request of this class will be accepted again.
        retry_after: Duration,
        /// The configured limit that was hit (`None`: the admin-token verifier was busy).
        limit: Option<Limit>,
    },
    /// 503: the database's write lock was held elsewhere past the busy timeout (an operator's
    /// tool); nothing was written, and the same request succeeds once the lock is released.
    #[error("The relay's database is busy. Please try again shortly.")]
    Unavailable {
        /// When to try again (sent as `Retry-After`).
        retry_after: Duration,
    },
    /// 507: the disk is full.
    #[error("The relay is out of storage space. Please try again later.")]
    InsufficientStorage,
    /// 500: a bug or an I/O failure; details go to the log, not to the client.
    #[error("Internal server error")]
    Internal,
}

impl ApiError {
    /// The stable machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::SessionRevoked => "session_revoked",
            Self::Forbidden(_) => "forbidden",
            Self::Denied { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) | Self::Stale(_) => "conflict",
            Self::ConflictWith { code, .. } => code,
            Self::RequestTimeout(_) => "request_timeout",
            Self::Gone(_) => "gone",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UpgradeRequired(_) => "upgrade_required",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::InsufficientStorage => "insufficient_storage",
            Self::Internal => "internal",
        }
    }

    /// Shorthand for a 400 with a message.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::SessionRevoked => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::Denied { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::ConflictWith { .. } | Self::Stale(_) => StatusCode::CONFLICT,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Gone(_) => StatusCode::GONE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpgradeRequired(_) => StatusCode::UPGRADE_REQUIRED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({ "error": self.code(), "message": self.to_string() });
        if let Self::Stale(stale) = self {
            for (field, value) in stale.current() {
                body[field] = json!(value);
            }
        }
        let mut response = json_response(self.status_code(), &body);
        if let Self::RateLimited {
            limit: Some(limit), ..
        } = self
            && let Ok(value) = HeaderValue::from_str(&limit.hint())
        {
            response
                .headers_mut()
                .insert(HeaderName::from_static(RATE_LIMIT_HEADER), value);
        }
        if let Self::RateLimited { retry_after, .. } | Self::Unavailable { retry_after } = self {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
        }
        response
    }
}

/// `Retry-After` of a 503 for a busy database: about one busy timeout, by which an operator's
/// short transaction is normally over.
const BUSY_RETRY_AFTER: Duration = crate::store::BUSY_TIMEOUT;

/// `Retry-After` of a 503 while the database server is unreachable: a restart or fail-over
/// of a shared database takes seconds.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        // Classified here too: not every path (directory creation, reads) classifies its own
        // errors, and a full disk or a held lock must never surface as a bare 500.
        match err.classify() {
            StoreError::DiskFull => {
                tracing::warn!("storage full: refused a write");
                Self::InsufficientStorage
            }
            StoreError::Busy => {
                tracing::warn!("database locked by another connection past the busy timeout");
                Self::Unavailable {
                    retry_after: BUSY_RETRY_AFTER,
                }
            }
            StoreError::Unavailable(why) => {
                tracing::warn!(%why, "storage unavailable (database or object store): refused a request");
                Self::Unavailable {
                    retry_after: UNAVAILABLE_RETRY_AFTER,
                }
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                Self::Internal
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::BadRequest(message) => Self::BadRequest(message),
            Refusal::Unauthorized(message) => Self::Unauthorized(message),
            Refusal::Forbidden(message) => Self::Forbidden(message),
            Refusal::Denied { code, message } => Self::Denied { code, message },
            Refusal::NotFound(message) => Self::NotFound(message),
            Refusal::Conflict(message) => Self::Conflict(message),
            Refusal::ConflictWith { code, message } => Self::ConflictWith { code, message },
            Refusal::Stale(stale) => Self::Stale(stale),
            Refusal::Gone(message) => Self::Gone(message),
            Refusal::PayloadTooLarge(message) => Self::PayloadTooLarge(message),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Refused(refusal) => refusal.into(),
            ServiceError::Store(err) => err.into(),
        }
    }
}

impl From<RateLimited> for ApiError {
    fn from(RateLimited { retry_after, limit }: RateLimited) -> Self {
        Self::RateLimited {
            retry_after,
            limit: Some(limit),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::Busy { retry_after } => Self::RateLimited {
                retry_after,
                limit: None,
            },
            VerifyError::Unavailable => {
                tracing::error!("admin token verification pool is gone");
                Self::Internal
            }
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        tracing::error!("blocking worker pool is gone");
        Self::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body(err: &ApiError) -> serde_json::Value {
        let resp = err.error_response();
        let bytes = resp.into_body().try_into_bytes().expect("in-memory body");
        assert_eq!(bytes.last(), Some(&b'\n'));
        serde_json::from_slice(&bytes).expect("JSON body")
    }

    #[test]
    fn shapes() {
        let v = body(&ApiError::Stale(Stale::Version { current: 3, got: 2 }));
        assert_eq!(v["error"], "conflict");
        assert_eq!(v["message"], "Volume version must be > 3, got 2");
        assert_eq!(v["current_version"], 3);
        let resp = ApiError::RateLimited {
            retry_after: Duration::from_millis(1500),
            limit: None,
        }
        .error_response();
        assert!(resp.headers().get(RATE_LIMIT_HEADER).is_none());
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            resp.headers().get(RETRY_AFTER).map(|v| v.as_bytes()),
            Some(&b"2"[..])
        );
        assert_eq!(body(&ApiError::Internal)["error"], "internal");
    }

    /// Domain refusals, the rate limiter and the verifier keep their statuses and bodies.
    #[test]
    fn inner_errors_convert_once() {
        let stale = ApiError::from(ServiceError::from(Refusal::Stale(Stale::V2 {
            current_version: 4,
            current_epoch: 2,
            got: 3,
        })));
        let v = body(&stale);
        assert_eq!(v["error"], "conflict");
        assert_eq!(v["current_version"], 4);
        assert_eq!(v["current_epoch"], 2);
        assert_eq!(
            v["message"],
            "Volume version must be > 4 (epoch ≥ 2), got 3"
        );
        for (refusal, status) in [
            (Refusal::bad("x"), StatusCode::BAD_REQUEST),
            (Refusal::Unauthorized("x"), StatusCode::UNAUTHORIZED),
            (Refusal::Forbidden("x"), StatusCode::FORBIDDEN),
            (Refusal::NotFound("x"), StatusCode::NOT_FOUND),
            (Refusal::Conflict("x".into()), StatusCode::CONFLICT),
            (
                Refusal::ConflictWith {
                    code: "already_registered",
                    message: "x",
                },
                StatusCode::CONFLICT,
            ),
            (
                Refusal::Stale(Stale::Grant { current: 1 }),
                StatusCode::CONFLICT,
            ),
            (Refusal::Gone("x"), StatusCode::GONE),
            (
                Refusal::PayloadTooLarge("x".into()),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
        ] {
            let text = refusal.to_string();
            let err = ApiError::from(refusal);
            assert_eq!(err.status_code(), status);
            assert_eq!(err.to_string(), text);
        }
        let limited = ApiError::from(RateLimited {
            retry_after: Duration::from_secs(3),
            limit: Limit {
                class: crate::limits::Class::Register,
                per_minute: 10,
            },
        });
        assert_eq!(limited.status_code(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            body(&limited)["message"],
            "Too many requests. Please wait and try again."
        );
        let resp = limited.error_response();
        assert_eq!(
            resp.headers()
                .get(RATE_LIMIT_HEADER)
                .and_then(|v| v.to_str().ok()),
            Some(
                "register; limit=10/min; per=address; setting=rate.register; \
                 env=COFFER_RATE_REGISTER"
            )
        );
        let busy = ApiError::from(VerifyError::Busy {
            retry_after: Duration::from_secs(1),
        });
        assert_eq!(busy.status_code(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            ApiError::from(VerifyError::Unavailable).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    fn sqlite_failure(code: i32) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    /// SQLITE_FULL, ENOSPC and a lock held elsewhere are told apart from other failures at the
    /// edge, whichever store path produced them (unclassified on purpose here).
    #[test]
    fn storage_failures_map_to_retryable_statuses() {
        for full in [
            sqlite_failure(rusqlite::ffi::SQLITE_FULL),
            StoreError::Io(std::io::Error::from_raw_os_error(28)),
            StoreError::DiskFull,
        ] {
            let err = ApiError::from(full);
            assert_eq!(err.status_code(), StatusCode::INSUFFICIENT_STORAGE);
            assert_eq!(body(&err)["error"], "insufficient_storage");
        }
        for busy in [
            sqlite_failure(rusqlite::ffi::SQLITE_BUSY),
            sqlite_failure(rusqlite::ffi::SQLITE_LOCKED),
            StoreError::Busy,
        ] {
            let err = ApiError::from(busy);
            let resp = err.error_response();
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                resp.headers().get(RETRY_AFTER).map(|v| v.as_bytes()),
                Some(&b"10"[..])
            );
            assert_eq!(body(&err)["error"], "unavailable");
        }
        for other in [
            sqlite_failure(rusqlite::ffi::SQLITE_CORRUPT),
            StoreError::Io(std::io::Error::from_raw_os_error(5)),
        ] {
            assert_eq!(
                ApiError::from(other).status_code(),
                StatusCode::INTERNAL_SERVER_ERROR
            );
        }
    }
}
