//! One function per route of [`crate::api::ROUTES`], describing what its handler reads and
//! answers. What all routes of a kind answer (authentication, rate limits, the version gate,
//! 500/507) is added by [`super::Operation::complete`]; these list the rest, in the order the
//! handler checks it.

pub mod access;
pub mod admin;
pub mod receipts;
pub mod sessions;
pub mod tombstones;
pub mod v1;
pub mod v2;
pub mod v2_devices;

use serde_json::Value;

use coffer_wire::v2::api::{Challenge, ChallengeRequest, Invite};

use super::schema::reference;
use super::wire::{RequestSchema as _, Schema as _};
use super::{BodyLimit, Caller, Operation, Tag};
use crate::limits::Class;
use crate::state::AppState;

/// `POST /api/v{1,2}/auth/challenge` (one handler for both; the shapes are v2's wire types,
/// which v1's answer matches).
fn challenge(id: &'static str, tag: Tag) -> Operation {
    Operation::new(
        id,
        tag,
        "Request a login challenge",
        Caller::Public,
        Some(Class::Auth),
    )
    .describe(
        "A single-use random nonce for the account, valid for the relay's challenge \
             lifetime. v1 signs the nonce text; v2 signs the labelled transcript naming the \
             relay's origin.",
    )
    .body(
        ChallengeRequest::request_schema(),
        BodyLimit::Bytes(AppState::SMALL_BODY_LIMIT),
    )
    .ok(200, "The challenge.", Challenge::schema())
    .err(400, "user_id is missing or not a UUID")
    .err(404, "no such user")
}

/// What creating an invite code answers, in v1 and v2 alike (`op` names the route and says what
/// the code is for).
fn invite_created(op: Operation) -> Operation {
    op.ignores_body(AppState::SMALL_BODY_LIMIT)
        .ok(201, "The code.", Invite::schema())
        .err(409, "too many open invite codes")
}

/// The `{name}` segment of a v1 volume route.
fn v1_name() -> Value {
    reference("V1VolumeName")
}
