//! Protocol v2 (`docs/protocol-v2.md`).

use coffer_wire::v2::MAX_GRANT_ENTRIES;
use serde_json::json;

use super::super::schema::{base64, base64_exact, exact, nullable, reference, request, uuid_in};
use super::super::{BodyLimit, Caller, Operation, Tag};
use super::invite_created;
use crate::api::v2::grants::GRANT_BODY_LIMIT;
use crate::api::v2::volumes::MAX_HEADER;
use crate::limits::Class;
use crate::state::AppState;

const SMALL: BodyLimit = BodyLimit::Bytes(AppState::SMALL_BODY_LIMIT);

fn op(id: &'static str, summary: &'static str, caller: Caller, bucket: Option<Class>) -> Operation {
    Operation::new(id, Tag::V2, summary, caller, bucket)
}

fn volume_path(op: Operation) -> Operation {
    op.path("name", reference("V2VolumeName"), "The volume name.")
}

fn owner_path(op: Operation) -> Operation {
    op.path(
        "owner",
        uuid_in(),
        "The system whose grant is read (not a UUID: 403).",
    )
}

/// `GET /api/v2/pins`.
pub fn pins() -> Operation {
    let pin = nullable(json!({
        "type": "string",
        "pattern": "^sha256/[A-Za-z0-9+/]{43}=$",
    }));
    op("v2Pins", "Announced certificate pins", Caller::Public, None)
        .no_database()
        .describe(
            "The SPKI pins of the current certificate and, once the operator prepared one, of \
             the next; null without TLS or without a next certificate.",
        )
        .ok(
            200,
            "The pins.",
            exact(json!({ "current": pin, "next": pin })),
        )
}

/// `POST /api/v2/register`.
pub fn register() -> Operation {
    op(
        "v2Register",
        "Register a v2 account",
        Caller::Public,
        Some(Class::Register),
    )
    .describe("With a key-binding signature: the signing key signs the labelled pair of keys.")
    .body(
        request(
            &[
                "client_type",
                "public_signing_key",
                "public_exchange_key",
                "key_binding_signature",
            ],
            json!({
                "client_type": reference("ClientType"),
                "public_signing_key": reference("Key32"),
                "public_exchange_key": reference("Key32"),
                "key_binding_signature": reference("Signature64"),
                "handle": reference("HandleIn"),
            }),
        ),
        SMALL,
    )
    .ok(
        201,
        "Registered.",
        exact(json!({ "user_id": reference("Uuid") })),
    )
    .err(
        400,
        "a field is missing or malformed, the handle is shorter than 2 characters, the \
             signing key is not an Ed25519 point, or the key-binding signature does not verify",
    )
    .err(409, "the handle is taken")
}

/// `POST /api/v2/auth/challenge`.
pub fn challenge() -> Operation {
    super::challenge("v2Challenge", Tag::V2)
}

/// `POST /api/v2/auth/token`.
pub fn token() -> Operation {
    op(
        "v2Token",
        "Log in with a signed transcript",
        Caller::Public,
        Some(Class::Auth),
    )
    .describe(
        "The signature covers the labelled transcript of the relay origin, the user id and \
             the nonce. The nonce is consumed by any attempt.",
    )
    .body(
        request(
            &["user_id", "nonce", "origin", "signature"],
            json!({
                "user_id": uuid_in(),
                "nonce": { "type": "string" },
                "origin": {
                    "type": "string",
                    "description": "This relay's origin, e.g. https://127.0.0.1:8443.",
                },
                "signature": reference("Signature64"),
            }),
        ),
        SMALL,
    )
    .ok(200, "A session token.", reference("SessionToken"))
    .err(
        400,
        "a field is missing or malformed, or origin is too long",
    )
    .err(
        403,
        "the origin is not this relay's, the nonce is unknown, expired or another user's, \
             the signature does not verify, or the account is a v1 account",
    )
    .err(404, "no such user")
}

/// `DELETE /api/v2/users/me`.
pub fn delete_me() -> Operation {
    op("v2DeleteMe", "Delete the account", Caller::User, None)
        .describe(
            "Deletes the account with its pairings, grants, volumes and invites. Not \
             rate-limited.",
        )
        .empty(204, "Deleted.")
}

/// `GET /api/v2/users/by-handle/{handle}`.
pub fn by_handle() -> Operation {
    op(
        "v2UserByHandle",
        "Find a v2 account by handle",
        Caller::V2User,
        Some(Class::Discovery),
    )
    .describe("Exact, case-insensitive match only: no substring enumeration.")
    .path(
        "handle",
        json!({ "type": "string", "minLength": 1, "maxLength": 256 }),
        "The handle.",
    )
    .ok(
        200,
        "The account's public record.",
        reference("V2UserRecord"),
    )
    .err(404, "no such v2 account")
}

/// `GET /api/v2/users/{id}`.
pub fn by_id() -> Operation {
    op(
        "v2UserById",
        "Read a v2 account's public record",
        Caller::V2User,
        Some(Class::General),
    )
    .path("id", uuid_in(), "The account.")
    .ok(
        200,
        "The account's public record.",
        reference("V2UserRecord"),
    )
    .err(404, "no such v2 account (or the id is not a UUID)")
}

/// `GET /api/v2/volumes`.
pub fn list_volumes() -> Operation {
    op(
        "v2ListVolumes",
        "List own volumes",
        Caller::V2System,
        Some(Class::General),
    )
    .ok(
        200,
        "Metadata and the exact signed headers.",
        exact(json!({
            "volumes": { "type": "array", "items": reference("V2VolumeEntry") },
        })),
    )
}

/// `PUT /api/v2/volumes/{name}`.
pub fn upload() -> Operation {
    volume_path(op(
        "v2Upload",
        "Upload a volume version",
        Caller::V2System,
        Some(Class::Upload),
    ))
    .describe(
        "The header bytes name the owner, volume, epoch, version, hour, payload length and \
             SHA-256; the owner signs the labelled header. A new version must be newer, and \
             its epoch not older. The payload length is on the Padmé grid.",
    )
    .body(
        request(
            &["header", "signature", "payload"],
            json!({
                "header": base64(Some(MAX_HEADER)),
                "signature": reference("Signature64"),
                "payload": base64(None),
            }),
        ),
        BodyLimit::Upload,
    )
    .ok(
        200,
        "Stored.",
        exact(json!({
            "status": { "const": "stored" },
            "epoch": { "type": "integer", "minimum": 1, "maximum": u32::MAX },
            "version": { "type": "integer", "minimum": 1 },
        })),
    )
    .err(
        400,
        "the name is invalid, or the header, payload or signature is malformed or does not \
             match (owner, name, length, grid, hash)",
    )
    .err(401, "the account no longer exists")
    .err(403, "the signature does not verify")
    .conflict(
        "the version is not newer or the epoch is older than the stored one",
        "StaleV2Error",
    )
    .err(
        413,
        "the payload exceeds the volume size limit or the quota",
    )
}

fn volume_body() -> serde_json::Value {
    json!({
        "header": base64(Some(MAX_HEADER)),
        "signature": reference("Signature64"),
        "payload": base64(None),
    })
}

/// `GET /api/v2/volumes/{name}`.
pub fn get_volume() -> Operation {
    volume_path(op(
        "v2GetVolume",
        "Download an own volume",
        Caller::V2System,
        Some(Class::General),
    ))
    .conditional()
    .ok(200, "The volume.", exact(volume_body()))
    .err(400, "the name is invalid")
    .err(404, "no such volume")
}

/// `POST /api/v2/invites`.
pub fn create_invite() -> Operation {
    invite_created(
        op(
            "v2CreateInvite",
            "Create an invite code",
            Caller::V2System,
            Some(Class::General),
        )
        .describe("The code for a pairing link; the link's secret never reaches the relay."),
    )
}

/// `POST /api/v2/invites/redeem`.
pub fn redeem() -> Operation {
    op(
        "v2Redeem",
        "Redeem an invite code",
        Caller::V2User,
        Some(Class::General),
    )
    .describe(
        "With a proof keyed by the link's secret, which the system checks; creates a \
             pending pairing.",
    )
    .body(
        request(
            &["code", "proof"],
            json!({ "code": { "type": "string" }, "proof": base64_exact(32) }),
        ),
        SMALL,
    )
    .ok(
        201,
        "The pending pairing.",
        exact(json!({
            "pairing_id": reference("Uuid"),
            "system_user_id": reference("Uuid"),
        })),
    )
    .err(
        400,
        "a field is missing or malformed, or the caller is not a friend",
    )
    .err(404, "no such v2 invite code")
    .err(409, "already paired with this system")
    .err(410, "the code was redeemed or has expired")
}

/// `GET /api/v2/pairings`.
pub fn pairings() -> Operation {
    op(
        "v2Pairings",
        "List pairings",
        Caller::V2User,
        Some(Class::General),
    )
    .describe(
        "The caller's pairings with the peer's public record; the system also sees the code \
             and the friend's proof.",
    )
    .ok(
        200,
        "The pairings.",
        exact(json!({
            "pairings": {
                "type": "array",
                "items": exact(json!({
                    "pairing_id": reference("Uuid"),
                    "system_user_id": reference("Uuid"),
                    "friend_user_id": reference("Uuid"),
                    "status": { "type": "string", "enum": ["pending", "active"] },
                    "code": nullable(reference("InviteCode")),
                    "proof": nullable(reference("Key32")),
                    "created_at": reference("Time"),
                    "peer": reference("V2UserRecord"),
                })),
            },
        })),
    )
}

/// `DELETE /api/v2/pairings/{id}`.
pub fn unpair() -> Operation {
    op("v2Unpair", "Unpair", Caller::V2User, Some(Class::General))
        .describe("Either side; the grant and wrapped keys go with it.")
        .path("id", uuid_in(), "The pairing.")
        .empty(204, "Unpaired.")
        .err(403, "the caller is not a party to the pairing")
        .err(404, "no such pairing (or the id is not a UUID)")
}

/// `PUT /api/v2/grants/{friend_id}`.
pub fn put_grant() -> Operation {
    op(
        "v2PutGrant",
        "Store a grant",
        Caller::V2System,
        Some(Class::General),
    )
    .describe(
        "An owner-signed, sequence-numbered grant with one wrapped key per granted volume \
             and epoch; activates the pairing.",
    )
    .path("friend_id", uuid_in(), "The paired friend.")
    .body(
        request(
            &["grant", "signature", "wrapped_keys"],
            json!({
                "grant": base64(Some(GRANT_BODY_LIMIT)),
                "signature": reference("Signature64"),
                "wrapped_keys": {
                    "type": "array",
                    "maxItems": MAX_GRANT_ENTRIES,
                    "items": request(
                        &["volume", "epoch", "wrapped_key"],
                        json!({
                            "volume": reference("V2VolumeName"),
                            "epoch": { "type": "integer", "minimum": 0, "maximum": u32::MAX },
                            "wrapped_key": reference("WrappedKey60"),
                        }),
                    ),
                },
            }),
        ),
        BodyLimit::Bytes(GRANT_BODY_LIMIT),
    )
    .ok(
        200,
        "Stored.",
        exact(json!({
            "status": { "const": "stored" },
            "sequence": { "type": "integer", "minimum": 1 },
        })),
    )
    .err(
        400,
        "a field is malformed, the grant names others, has expired, or its entries differ \
             from wrapped_keys",
    )
    .err(401, "the account no longer exists")
    .err(403, "the grant signature does not verify")
    .err(404, "no pairing with that friend (or the id is not a UUID)")
    .conflict(
        "the sequence is not newer than the stored one",
        "StaleGrantError",
    )
}

/// `GET /api/v2/shared/{owner}/grant`.
pub fn get_grant() -> Operation {
    owner_path(op(
        "v2GetGrant",
        "Read the live grant",
        Caller::V2Friend,
        Some(Class::General),
    ))
    .ok(
        200,
        "The signed grant and the friend's wrapped keys.",
        exact(json!({
            "grant": base64(Some(GRANT_BODY_LIMIT)),
            "signature": reference("Signature64"),
            "wrapped_keys": { "type": "array", "items": reference("V2WrappedKey") },
        })),
    )
    .err(403, "no live grant from that system")
}

/// `GET /api/v2/shared/{owner}/volumes`.
pub fn shared_list() -> Operation {
    owner_path(op(
        "v2SharedList",
        "List granted volumes",
        Caller::V2Friend,
        Some(Class::General),
    ))
    .describe("The owner's volumes whose current epoch the live grant names.")
    .ok(
        200,
        "The volumes.",
        exact(json!({
            "volumes": { "type": "array", "items": reference("V2VolumeEntry") },
        })),
    )
    .err(403, "no live grant from that system")
}

/// `GET /api/v2/shared/{owner}/volumes/{name}`.
pub fn shared_get() -> Operation {
    let mut body = volume_body();
    body["wrapped_key"] = reference("WrappedKey60");
    volume_path(owner_path(op(
        "v2SharedGet",
        "Download a granted volume",
        Caller::V2Friend,
        Some(Class::General),
    )))
    .describe("The volume and the friend's wrapped key for its current epoch.")
    .conditional()
    .ok(200, "The volume.", exact(body))
    .err(400, "the name is invalid")
    .err(
        403,
        "no live grant from that system, or it does not name the volume's current epoch",
    )
    .err(404, "no such volume")
}
