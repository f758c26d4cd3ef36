//! Fetch receipts (`docs/protocol-v2.md` §14).

use coffer_wire::v2::api::{ReceiptEnvelope, ReceiptList, ReceiptStored};
use serde_json::json;

use super::super::schema::uuid_in;
use super::super::wire::{RequestSchema as _, Schema as _};
use super::super::{BodyLimit, Caller, Operation, Tag};
use crate::limits::Class;
use crate::state::AppState;

/// `POST /api/v2/shared/{owner}/receipts`.
pub fn post_receipt() -> Operation {
    Operation::new(
        "v2PostReceipt",
        Tag::V2,
        "Upload a fetch receipt",
        Caller::V2Friend,
        Some(Class::General),
    )
    .describe(
        "The friend's signed receipt for a version of the owner's volume it fetched and \
             verified, kept for the owner (at most 1000 per pairing, the oldest dropped; one per \
             volume version). The relay checks that the receipt parses, names the caller and the \
             owner in the path, that they are paired, that its hour is not more than an hour \
             ahead, and its signature under the caller's registered key.",
    )
    .path("owner", uuid_in(), "The system whose volume was read.")
    .body(
        ReceiptEnvelope::request_schema(),
        BodyLimit::Bytes(AppState::SMALL_BODY_LIMIT),
    )
    .ok(201, "Stored.", ReceiptStored::schema())
    .err(
        400,
        "a field is malformed, the receipt does not parse, names others, or its hour is \
             more than an hour ahead",
    )
    .err(401, "the account no longer exists")
    .err(403, "the receipt signature does not verify")
    .err(404, "no pairing with that system (or the id is not a UUID)")
}

/// `GET /api/v2/receipts`.
pub fn list_receipts() -> Operation {
    Operation::new(
        "v2ListReceipts",
        Tag::V2,
        "List fetch receipts",
        Caller::V2System,
        Some(Class::General),
    )
    .describe(
        "The receipts the system's friends uploaded, oldest first (the newest 10000). \
             Verify each under the friend's pinned key: the relay can drop receipts, not forge \
             them.",
    )
    .query(
        "since",
        false,
        json!({ "type": "integer", "minimum": 0 }),
        "Only receipts whose hour is at least this (Unix seconds).",
    )
    .ok(200, "The receipts.", ReceiptList::schema())
    .err(400, "the query is malformed")
}
