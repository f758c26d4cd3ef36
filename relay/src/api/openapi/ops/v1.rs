//! Protocol v1 (`docs/protocol-v1.md`), byte-compatible with the PluralLog apps.

use serde_json::json;

use super::super::schema::{base64, count, exact, int64, nullable, reference, request, uuid_in};
use super::super::{BodyLimit, Caller, Operation, Tag};
use super::{invite_created, v1_name};
use crate::api::auth::MAX_NONCE_LEN;
use crate::api::discover::MAX_QUERY_CHARS;
use crate::limits::Class;
use crate::paillier::{MAX_COUNTERS, MAX_VALUES};
use crate::state::AppState;

const SMALL: BodyLimit = BodyLimit::Bytes(AppState::SMALL_BODY_LIMIT);

fn op(id: &'static str, summary: &'static str, caller: Caller, bucket: Option<Class>) -> Operation {
    Operation::new(id, Tag::V1, summary, caller, bucket)
}

/// `GET /api/v1/health`.
pub fn health() -> Operation {
    op("v1Health", "Liveness", Caller::Public, None)
        .no_database()
        .describe("For dashboards and health checks; not subject to the protocol-version gate.")
        .ok(
            200,
            "The relay is up.",
            exact(json!({
                "status": { "const": "ok" },
                "version": { "type": "string", "minLength": 1 },
                "min_protocol_version": int64(),
                "uptime_seconds": count(),
            })),
        )
}

/// `POST /api/v1/register`.
pub fn register() -> Operation {
    op(
        "v1Register",
        "Register an account",
        Caller::Public,
        Some(Class::Register),
    )
    .describe("Registers public keys only; the relay never sees a private key.")
    .body(
        request(
            &[
                "public_signing_key",
                "public_exchange_key",
                "client_type",
                "protocol_version",
                "feature_set",
            ],
            json!({
                "public_signing_key": reference("Key32"),
                "public_exchange_key": reference("Key32"),
                "client_type": reference("ClientType"),
                "protocol_version": int64(),
                "feature_set": reference("FeatureSet"),
                "handle": reference("HandleIn"),
            }),
        ),
        SMALL,
    )
    .ok(
        201,
        "Registered.",
        exact(json!({
            "user_id": reference("Uuid"),
            "server_min_version": int64(),
        })),
    )
    .err(
        400,
        "a field is missing or malformed, or the signing key is not an Ed25519 point",
    )
    .err(409, "the handle is taken")
    .err(426, "protocol_version is below the relay's minimum")
    .registration_gated()
}

/// `POST /api/v1/auth/challenge`.
pub fn challenge() -> Operation {
    super::challenge("v1Challenge", Tag::V1)
}

/// `POST /api/v1/auth/token`.
pub fn token() -> Operation {
    op(
        "v1Token",
        "Log in with a signed challenge",
        Caller::Public,
        Some(Class::Auth),
    )
    .describe("The Ed25519 signature covers the nonce text. The nonce is consumed by any attempt.")
    .body(
        request(
            &["user_id", "nonce", "signature"],
            json!({
                "user_id": uuid_in(),
                "nonce": {
                    "type": "string",
                    "description": format!(
                        "The nonce of a challenge (longer than {MAX_NONCE_LEN} bytes names none)."
                    ),
                },
                "signature": reference("Signature64"),
            }),
        ),
        SMALL,
    )
    .ok(200, "A session token.", reference("SessionToken"))
    .err(400, "a field is missing or malformed")
    .err(
        403,
        "the nonce is unknown, expired or another user's, the signature does not verify, or \
             the account is a v2 account",
    )
    .err(404, "no such user")
}

/// `PATCH /api/v1/users/me`.
pub fn update_me() -> Operation {
    op(
        "v1UpdateMe",
        "Update the profile",
        Caller::User,
        Some(Class::General),
    )
    .body(
        request(
            &[],
            json!({
                "handle": reference("HandleIn"),
                "protocol_version": int64(),
                "feature_set": reference("FeatureSet"),
            }),
        ),
        SMALL,
    )
    .ok(
        200,
        "Updated.",
        exact(json!({ "status": { "const": "updated" } })),
    )
    .err(400, "a present field is malformed")
    .err(409, "the handle is taken")
}

/// `DELETE /api/v1/users/me`.
pub fn delete_me() -> Operation {
    op("v1DeleteMe", "Delete the account", Caller::User, None)
        .describe(
            "Deletes the account, its sessions, volumes, relationships and invites, then its \
             blob files. Not rate-limited (as in v1).",
        )
        .empty(204, "Deleted.")
}

/// `GET /api/v1/volumes`.
pub fn list_volumes() -> Operation {
    op(
        "v1ListVolumes",
        "List own volume headers",
        Caller::User,
        Some(Class::General),
    )
    .describe("A system's own control headers; a friend owns none and gets an empty list.")
    .ok(
        200,
        "The headers.",
        exact(json!({
            "volumes": { "type": "array", "items": reference("V1ControlHeader") },
        })),
    )
}

/// `PUT /api/v1/volumes/{name}`.
pub fn upload() -> Operation {
    op(
        "v1Upload",
        "Upload a volume version",
        Caller::System,
        Some(Class::Upload),
    )
    .describe(
        "Checked completely before anything is written: name, header, version, exact size, \
             the 4096-byte padding grid (+28), an hour-aligned time, the quota and the Ed25519 \
             signature over the canonical header JSON followed by the payload. Size and quota \
             are first decided from Content-Length.",
    )
    .path("name", v1_name(), "The volume name.")
    .body(
        request(
            &["control_header", "encrypted_payload", "signature"],
            json!({
                "control_header": reference("V1ControlHeaderIn"),
                "encrypted_payload": base64(None),
                "signature": reference("Signature64"),
            }),
        ),
        BodyLimit::Upload,
    )
    .ok(
        200,
        "Stored.",
        exact(json!({
            "status": { "const": "stored" },
            "version": { "type": "integer", "minimum": 1 },
        })),
    )
    .err(
        400,
        "the name is invalid, or the header, payload or signature is malformed or does not \
             match (name, size, padding grid, whole hour)",
    )
    .err(401, "the account no longer exists")
    .err(403, "the signature does not verify")
    .conflict(
        "the version is not newer than the stored one (current_version says which is)",
        "StaleVersionError",
    )
    .err(
        413,
        "the payload exceeds the volume size limit or the quota",
    )
}

/// `GET /api/v1/volumes/{name}/download`.
pub fn download() -> Operation {
    op(
        "v1Download",
        "Download an own volume",
        Caller::System,
        Some(Class::General),
    )
    .describe("A system's own volume: backup, second device.")
    .path("name", v1_name(), "The volume name.")
    .conditional()
    .ok(200, "The volume.", reference("V1Volume"))
    .err(400, "the name is invalid")
    .err(404, "no such volume")
}

/// `GET /api/v1/shared/{system_user_id}/volumes`.
pub fn shared_list() -> Operation {
    op(
        "v1SharedList",
        "List a system's shared volume headers",
        Caller::Friend,
        Some(Class::General),
    )
    .describe(
        "The headers of the volumes the live relationship's permissions unlock (never chat), \
             without those the friend's feature set does not support.",
    )
    .path("system_user_id", uuid_in(), "The system.")
    .ok(
        200,
        "The headers.",
        json!({
            "type": "object",
            "required": ["volumes"],
            "additionalProperties": false,
            "properties": {
                "volumes": { "type": "array", "items": reference("V1ControlHeader") },
                "compatibility_notes": { "type": "array", "items": { "type": "string" } },
            },
        }),
    )
    .err(403, "no active sharing relationship with that system")
}

/// `GET /api/v1/shared/{system_user_id}/volumes/{name}`.
pub fn shared_get() -> Operation {
    op(
        "v1SharedGet",
        "Download a shared volume",
        Caller::Friend,
        Some(Class::General),
    )
    .describe("The volume and this relationship's wrapped VEK.")
    .path("system_user_id", uuid_in(), "The system.")
    .path("name", v1_name(), "The volume name.")
    .conditional()
    .ok(
        200,
        "The volume.",
        exact(json!({
            "control_header": reference("V1ControlHeader"),
            "encrypted_payload": base64(None),
            "signature": reference("Signature64"),
            "encrypted_vek_blob": nullable(reference("WrappedKey60")),
        })),
    )
    .err(400, "the name is invalid")
    .err(
        403,
        "no active sharing relationship, or the volume is not shared with the friend",
    )
    .err(404, "no such volume")
}

/// `GET /api/v1/discover`.
pub fn discover() -> Operation {
    op(
        "v1Discover",
        "Search handles",
        Caller::User,
        Some(Class::Discovery),
    )
    .describe(
        "Users of the other client type whose handle contains the query (% and _ match \
             literally), capped at the relay's result limit.",
    )
    .query(
        "handle",
        true,
        json!({ "type": "string", "minLength": 2, "maxLength": MAX_QUERY_CHARS }),
        &format!("2 to {MAX_QUERY_CHARS} characters after trimming."),
    )
    .ok(
        200,
        "The matches.",
        exact(json!({
            "results": {
                "type": "array",
                "items": exact(json!({
                    "user_id": reference("Uuid"),
                    "handle": reference("Handle"),
                    "public_signing_key": reference("Key32"),
                    "public_exchange_key": reference("Key32"),
                    "client_type": reference("ClientType"),
                    "protocol_version": int64(),
                    "feature_set": { "type": "array", "items": { "type": "string" } },
                })),
            },
        })),
    )
    .err(
        400,
        "the query string is invalid, or the query is too short or too long",
    )
}

/// `POST /api/v1/sharing/request`.
pub fn sharing_request() -> Operation {
    op(
        "v1SharingRequest",
        "Ask a system to share",
        Caller::User,
        Some(Class::General),
    )
    .describe("Friend → system only; creates a pending relationship.")
    .body(
        request(
            &["from_user_id", "to_user_id"],
            json!({ "from_user_id": uuid_in(), "to_user_id": uuid_in() }),
        ),
        SMALL,
    )
    .ok(201, "The pending relationship.", reference("SharingObject"))
    .err(
        400,
        "a field is missing or malformed, or the request is not friend → system",
    )
    .err(403, "from_user_id is not the caller")
    .err(404, "no such user")
    .err(409, "a relationship already exists")
}

/// `GET /api/v1/sharing/requests`.
pub fn sharing_list() -> Operation {
    let key_or_null = nullable(reference("Key32"));
    op(
        "v1SharingList",
        "List relationships",
        Caller::User,
        Some(Class::General),
    )
    .describe(
        "The caller's relationships, newest first. A system sees the friend's handle and \
             exchange key, a friend the system's.",
    )
    .query(
        "status",
        false,
        json!({ "type": "string", "enum": ["pending", "active", "all"] }),
        "Which relationships (default pending).",
    )
    .ok(
        200,
        "The relationships.",
        exact(json!({
            "requests": {
                "type": "array",
                "items": exact(json!({
                    "id": reference("Uuid"),
                    "system_user_id": reference("Uuid"),
                    "friend_user_id": reference("Uuid"),
                    "friend_exchange_public_key": key_or_null,
                    "friend_handle": reference("Handle"),
                    "system_handle": reference("Handle"),
                    "system_exchange_public_key": key_or_null,
                    "status": { "type": "string", "enum": ["pending", "active"] },
                    "permissions": reference("Permissions"),
                    "encrypted_vek_blob": nullable(reference("WrappedKey60")),
                    "created_at": reference("Time"),
                    "updated_at": reference("Time"),
                })),
            },
        })),
    )
    .err(
        400,
        "the query string is invalid or status is not pending, active or all",
    )
}

/// `POST /api/v1/sharing/respond`.
pub fn sharing_respond() -> Operation {
    op(
        "v1SharingRespond",
        "Accept or reject a request",
        Caller::System,
        Some(Class::General),
    )
    .describe(
        "Accepting stores the wrapped VEK (opaque to the relay) and the permissions; \
             rejecting deletes the request.",
    )
    .body(
        request(
            &["request_id", "accepted"],
            json!({
                "request_id": uuid_in(),
                "accepted": { "type": "boolean" },
                "encrypted_vek_blob": reference("WrappedKey60"),
                "permissions": { "anyOf": [reference("PermissionsIn"), { "type": "null" }] },
            }),
        ),
        SMALL,
    )
    .ok(
        200,
        "Done.",
        exact(json!({ "status": { "type": "string", "enum": ["accepted", "rejected"] } })),
    )
    .err(
        400,
        "a field is missing or malformed (encrypted_vek_blob is required to accept), or the \
             relationship is not pending",
    )
    .err(403, "the caller is not the relationship's system")
    .err(404, "no such relationship")
}

/// `POST /api/v1/sharing/invite`.
pub fn sharing_invite() -> Operation {
    invite_created(
        op(
            "v1SharingInvite",
            "Create an invite code",
            Caller::System,
            Some(Class::General),
        )
        .describe("A single-use code for a friend to redeem. The System app sends no body."),
    )
}

/// `POST /api/v1/sharing/redeem`.
pub fn sharing_redeem() -> Operation {
    op(
        "v1SharingRedeem",
        "Redeem an invite code",
        Caller::User,
        Some(Class::General),
    )
    .describe("Single use; creates a pending relationship with the inviting system.")
    .body(
        request(&["code"], json!({ "code": { "type": "string" } })),
        SMALL,
    )
    .ok(201, "The pending relationship.", reference("SharingObject"))
    .err(
        400,
        "code is missing or not a string, or the caller is not a friend",
    )
    .err(404, "no such v1 invite code")
    .err(409, "a relationship already exists")
    .err(410, "the code was redeemed or has expired")
}

/// `PATCH /api/v1/sharing/{id}/permissions`.
pub fn sharing_permissions() -> Operation {
    op(
        "v1SharingPermissions",
        "Change permissions",
        Caller::System,
        Some(Class::General),
    )
    .path("id", uuid_in(), "The relationship.")
    .body(
        request(
            &["permissions"],
            json!({ "permissions": reference("PermissionsIn") }),
        ),
        SMALL,
    )
    .ok(
        200,
        "Updated.",
        exact(json!({ "status": { "const": "updated" } })),
    )
    .err(
        400,
        "permissions is missing or malformed, or the relationship is not active",
    )
    .err(403, "the caller is not the relationship's system")
    .err(404, "no such relationship (or the id is not a UUID)")
}

/// `DELETE /api/v1/sharing/{id}`.
pub fn sharing_delete() -> Operation {
    op(
        "v1SharingDelete",
        "Revoke or leave a relationship",
        Caller::User,
        Some(Class::General),
    )
    .path("id", uuid_in(), "The relationship.")
    .empty(204, "Deleted.")
    .err(403, "the caller is not a party to the relationship")
    .err(404, "no such relationship (or the id is not a UUID)")
}

/// `POST /api/v1/analytics/aggregate`.
pub fn aggregate() -> Operation {
    op(
        "v1Aggregate",
        "Sum Paillier ciphertexts",
        Caller::Friend,
        Some(Class::General),
    )
    .describe(
        "Homomorphic sums of python-paillier ciphertexts under the friend's public key; \
             needs share_mood_trends. A counter that cannot be summed is null.",
    )
    .body(
        request(
            &["system_user_id", "public_key", "counters"],
            json!({
                "system_user_id": uuid_in(),
                "public_key": {
                    "type": "object",
                    "required": ["n"],
                    "properties": {
                        "n": {
                            "type": "string",
                            "pattern": "^[0-9]{1,1240}$",
                            "description": "The odd modulus (64 to 4096 bits), in decimal.",
                        },
                    },
                },
                "counters": {
                    "type": "object",
                    "maxProperties": MAX_COUNTERS,
                    "additionalProperties": {
                        "type": "array",
                        "items": { "type": "string", "maxLength": 8192 },
                    },
                    "description": format!(
                        "Counter name → base64 python-paillier ciphertexts; at most \
                         {MAX_COUNTERS} counters and {MAX_VALUES} values in total."
                    ),
                },
            }),
        ),
        BodyLimit::Bytes(AppState::AGGREGATE_BODY_LIMIT),
    )
    .ok(
        200,
        "The sums.",
        exact(json!({
            "aggregates": {
                "type": "object",
                "additionalProperties": { "type": ["string", "null"] },
            },
        })),
    )
    .err(
        400,
        "a field is missing or malformed, or there are too many counters or values",
    )
    .err(
        403,
        "no active sharing relationship, or analytics are not shared with the friend",
    )
}
