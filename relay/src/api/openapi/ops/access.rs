//! Closed registration (docs/adr/0024-registration-and-operator-access.md): the registration
//! code header and refusals both `register` routes document, and the admin routes that issue
//! codes.

use serde_json::json;

use super::super::schema::{count, exact, int64, nullable, reference, request};
use super::super::{BodyLimit, Caller, Operation, Tag};
use crate::api::registration_codes::MAX_CODE_LIFETIME_HOURS;
use crate::limits::Class;
use crate::service::registration::MAX_CODE_LEN;
use crate::state::AppState;

impl Operation {
    /// A registration route: the `X-Registration-Code` header and the 403s of
    /// `registration.mode` and `registration.max_users`.
    pub fn registration_gated(mut self) -> Self {
        self.forbidden_schemas
            .extend(["RegistrationClosedError", "UserCapReachedError"]);
        self.param(
            "header",
            "X-Registration-Code",
            false,
            json!({ "type": "string", "minLength": 1, "maxLength": MAX_CODE_LEN }),
            "Only with registration.mode = \"invite-only\": a single-use registration code from \
             the operator, or (friends only) an open invite code of a System on this relay; \
             each registers one account.",
        )
        .err(
            403,
            "`registration_closed`: registration.mode is \"closed\", or \"invite-only\" and the \
             X-Registration-Code header is missing, unknown, used or expired",
        )
        .err(
            403,
            "`user_cap_reached`: the relay holds registration.max_users accounts",
        )
    }
}

fn op(id: &'static str, summary: &'static str) -> Operation {
    Operation::new(id, Tag::Admin, summary, Caller::Admin, Some(Class::Admin))
}

fn mode() -> serde_json::Value {
    json!({ "type": "string", "enum": ["open", "invite-only", "closed"] })
}

/// `POST /api/v1/admin/registration-codes`.
pub fn create_registration_code() -> Operation {
    op("adminCreateRegistrationCode", "Issue a registration code")
        .describe(
            "A single-use code for registration.mode = \"invite-only\" (sent by the app or a \
             proxy as X-Registration-Code). Shown once: the relay keeps only its SHA-256. The \
             body may be empty.",
        )
        .body(
            request(
                &[],
                json!({
                    "expires_in_hours": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_CODE_LIFETIME_HOURS,
                        "description": "Default: registration.code_lifetime_hours.",
                    },
                }),
            ),
            BodyLimit::Bytes(AppState::SMALL_BODY_LIMIT),
        )
        .ok(
            201,
            "The code and its expiry (rounded up to the hour).",
            exact(json!({
                "code": { "type": "string", "pattern": "^[A-Za-z0-9_-]{22}$" },
                "expires_at": reference("Time"),
                "mode": mode(),
            })),
        )
        .err(400, "expires_in_hours is not an integer in range")
}

/// `GET /api/v1/admin/registration-codes`.
pub fn registration_status() -> Operation {
    op(
        "adminRegistrationStatus",
        "Registration rules and open codes",
    )
    .ok(
        200,
        "The mode, the cap, the accounts held (v1 and v2) and the open operator codes.",
        exact(json!({
            "mode": mode(),
            "max_users": nullable(int64()),
            "users": count(),
            "open_codes": count(),
        })),
    )
}
