//! Protocol v2, several devices of one system (`docs/protocol-v2.md` §13).

use coffer_wire::v2::api::{MAX_DEVICE_LABEL_BYTES, MAX_DEVICE_PACKAGE_BYTES};
use coffer_wire::v2::{MAX_OWNER_STATE_BYTES, OWNER_STATE_HEADER_LEN};
use serde_json::{Value, json};

use super::super::schema::{base64, base64_exact, constant, exact, nullable, reference, request};
use super::super::{BodyLimit, Caller, Operation, Tag};
use crate::api::v2::devices::{OWNER_STATE_BODY_LIMIT, PACKAGE_BODY_LIMIT};
use crate::limits::Class;
use crate::state::AppState;

fn op(id: &'static str, summary: &'static str, caller: Caller, bucket: Option<Class>) -> Operation {
    Operation::new(id, Tag::V2, summary, caller, bucket)
}

fn code_path(op: Operation) -> Operation {
    op.path(
        "code",
        reference("InviteCode"),
        "The link's code (case-insensitive).",
    )
}

fn envelope(payload_limit: usize) -> Value {
    json!({
        "header": base64_exact(OWNER_STATE_HEADER_LEN),
        "signature": reference("Signature64"),
        "payload": base64(Some(payload_limit)),
    })
}

fn label() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": MAX_DEVICE_LABEL_BYTES })
}

fn join_request() -> Value {
    json!({
        "device_key": reference("Key32"),
        "label": label(),
        "proof": base64_exact(32),
    })
}

/// `PUT /api/v2/owner-state`.
pub fn put_owner_state() -> Operation {
    op(
        "v2PutOwnerState",
        "Store the owner state",
        Caller::V2System,
        Some(Class::General),
    )
    .describe(
        "The system's encrypted key state shared by its devices: an identity-signed header \
         and an opaque payload (key slots, encrypted state), stored byte for byte when its \
         version is above the stored one.",
    )
    .body(
        request(
            &["header", "signature", "payload"],
            envelope(MAX_OWNER_STATE_BYTES),
        ),
        BodyLimit::Bytes(OWNER_STATE_BODY_LIMIT),
    )
    .ok(
        200,
        "Stored.",
        exact(json!({
            "status": constant("stored"),
            "version": { "type": "integer", "minimum": 1 },
        })),
    )
    .err(
        400,
        "a field is malformed, the header names another owner, or the payload's length or \
         hash differs from the header's",
    )
    .err(401, "the account no longer exists")
    .err(403, "the signature does not verify")
    .err(
        409,
        "the relay holds a version at least as high (the answer names none: fetch the state)",
    )
}

/// `GET /api/v2/owner-state`.
pub fn get_owner_state() -> Operation {
    op(
        "v2GetOwnerState",
        "Read the owner state",
        Caller::V2System,
        Some(Class::General),
    )
    .ok(
        200,
        "The stored state, byte for byte.",
        exact(envelope(MAX_OWNER_STATE_BYTES)),
    )
    .err(404, "the account has no owner state")
}

/// `POST /api/v2/device-links`.
pub fn create_device_link() -> Operation {
    op(
        "v2CreateDeviceLink",
        "Create a device link",
        Caller::V2System,
        Some(Class::General),
    )
    .describe("A code for linking another device, valid ten minutes; the link's secret never reaches the relay.")
    .ignores_body(AppState::SMALL_BODY_LIMIT)
    .ok(
        201,
        "The code.",
        exact(json!({ "code": reference("InviteCode"), "expires_at": reference("Time") })),
    )
    .err(409, "too many open device links")
}

/// `GET /api/v2/device-links/{code}`.
pub fn get_device_link() -> Operation {
    code_path(op(
        "v2GetDeviceLink",
        "Read a device link",
        Caller::V2System,
        Some(Class::General),
    ))
    .ok(
        200,
        "The link and the joining device's request, once it arrived.",
        exact(json!({
            "code": reference("InviteCode"),
            "expires_at": reference("Time"),
            "join": nullable(exact(join_request())),
        })),
    )
    .err(404, "no such unexpired link of the caller")
}

/// `POST /api/v2/device-links/{code}/join`.
pub fn join_device_link() -> Operation {
    code_path(op(
        "v2JoinDeviceLink",
        "Join a device link",
        Caller::Public,
        Some(Class::Register),
    ))
    .describe(
        "The joining device's X25519 key, label and a proof keyed by the link's secret, \
         which the linking device checks.",
    )
    .body(
        request(&["device_key", "label", "proof"], join_request()),
        BodyLimit::Bytes(AppState::SMALL_BODY_LIMIT),
    )
    .empty(204, "Recorded.")
    .err(400, "a field is malformed")
    .err(404, "no such unexpired link")
    .err(409, "a device already joined the link")
}

/// `PUT /api/v2/device-links/{code}/package`.
pub fn put_device_package() -> Operation {
    code_path(op(
        "v2PutDevicePackage",
        "Store the package for a joining device",
        Caller::V2System,
        Some(Class::General),
    ))
    .describe("Encrypted to the joining device's key; opaque to the relay.")
    .body(
        request(
            &["package"],
            json!({ "package": base64(Some(MAX_DEVICE_PACKAGE_BYTES)) }),
        ),
        BodyLimit::Bytes(PACKAGE_BODY_LIMIT),
    )
    .empty(204, "Stored.")
    .err(400, "the package is malformed")
    .err(404, "no such unexpired link of the caller")
    .err(
        409,
        "no device joined yet, or the link already holds a package",
    )
}

/// `GET /api/v2/device-links/{code}/package`.
pub fn get_device_package() -> Operation {
    code_path(op(
        "v2GetDevicePackage",
        "Fetch the package (once)",
        Caller::Public,
        Some(Class::Register),
    ))
    .describe("Served once: the link is deleted as the package is served.")
    .writes()
    .ok(
        200,
        "The package.",
        exact(json!({ "package": base64(Some(MAX_DEVICE_PACKAGE_BYTES)) })),
    )
    .err(404, "no such link, or no package yet")
}
