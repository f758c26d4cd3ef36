//! A user's own sessions (`docs/protocol-v2.md` §11).

use coffer_wire::v2::api::{SessionList, SessionsRevoked};

use super::super::schema::uuid_in;
use super::super::wire::Schema as _;
use super::super::{Caller, Operation, Tag};
use crate::limits::Class;
use crate::state::AppState;

fn op(id: &'static str, summary: &'static str) -> Operation {
    Operation::new(id, Tag::V2, summary, Caller::V2User, Some(Class::General))
}

/// `GET /api/v2/sessions`.
pub fn list() -> Operation {
    op("v2Sessions", "List own sessions")
        .describe(
            "The caller's live sessions, oldest first: a random public id (never the token), \
             the device label its login sent, its protocol, its creation and last-use hours, \
             and which one is the caller's.",
        )
        .ok(200, "The sessions.", SessionList::schema())
}

/// `DELETE /api/v2/sessions/{id}`.
pub fn revoke() -> Operation {
    op("v2RevokeSession", "Revoke one own session")
        .describe("Its token is refused from its next request on.")
        .path("id", uuid_in(), "The session's public id.")
        .writes()
        .empty(204, "Revoked.")
        .err(
            404,
            "no such session of the caller (another user's session id included; or the id is \
             not a UUID)",
        )
}

/// `DELETE /api/v2/sessions/current`.
pub fn logout() -> Operation {
    op("v2Logout", "Log out (revoke the current session)")
        .describe("The token of this request is refused from the next request on.")
        .writes()
        .empty(204, "Logged out.")
        .err(
            404,
            "the session has no public id (a row written outside the relay)",
        )
}

/// `POST /api/v2/sessions/revoke-others`.
pub fn revoke_others() -> Operation {
    op("v2RevokeOtherSessions", "Revoke every other own session")
        .describe("Every session of the caller but this request's ends at once.")
        .ignores_body(AppState::SMALL_BODY_LIMIT)
        .ok(200, "How many sessions ended.", SessionsRevoked::schema())
}
