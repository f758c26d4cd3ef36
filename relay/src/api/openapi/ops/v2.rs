//! Protocol v2 (`docs/protocol-v2.md`).

use coffer_wire::v2::api::{
    GrantEnvelope, GrantStored, OwnGrantList, PairingList, Pins, RedeemRequest, Redeemed,
    RegisterRequest, Registered, ReplicaPairingRequest, SharedVolume, SignedVolume, TokenRequest,
    VolumeList, VolumeStored,
};
use serde_json::json;

use super::super::schema::{reference, uuid_in};
use super::super::wire::{RequestSchema as _, Schema as _};
use super::super::{BodyLimit, Caller, Operation, Tag};
use super::invite_created;
use crate::api::v2::grants::GRANT_BODY_LIMIT;
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
    op("v2Pins", "Announced certificate pins", Caller::Public, None)
        .no_database()
        .describe(
            "The SPKI pins of the current certificate and, once the operator prepared one, of \
             the next; null without TLS or without a next certificate.",
        )
        .ok(200, "The pins.", Pins::schema())
}

/// `POST /api/v2/register`.
pub fn register() -> Operation {
    op(
        "v2Register",
        "Register a v2 account",
        Caller::Public,
        Some(Class::Register),
    )
    .describe(
        "With a key-binding signature: the signing key signs the labelled pair of keys. The \
         account's id is derived from its keys (the first 16 bytes of SHA-256 over the \
         labelled keys, as a version-8 UUID), so the same keys have the same id on every \
         relay. And with a registration signature: the signing key signs the labelled relay \
         origin the client dialled (one of this relay's origins), the client type, the handle \
         and the keys, so nobody holding only the public keys can register them first, and a \
         signature made for one relay, type or handle is refused for another (checked before \
         `already_registered`).",
    )
    .body(RegisterRequest::request_schema(), SMALL)
    .ok(201, "Registered.", Registered::schema())
    .err(
        400,
        "a field is missing or malformed, the handle is shorter than 2 characters, the \
             signing key is not an Ed25519 point, the key-binding signature does not verify, \
             the signed origin is not this relay's, or the registration signature does not \
             verify",
    )
    .conflict("the handle is taken", "ConflictError")
    .conflict(
        "`already_registered`: these keys already have an account on this relay (checked \
         after registration.mode, before the user cap, the registration code's validity and \
         the handle; no code is spent): log in instead",
        "AlreadyRegisteredError",
    )
    .registration_gated()
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
    .body(TokenRequest::request_schema(), SMALL)
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
        VolumeList::schema(),
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
             payload digest (BLAKE3 of a label and the payload, protocol-v2 §4), which the \
             relay recomputes; the owner signs the labelled header. A new version must be \
             newer, and its epoch not older. The payload length is on the Padmé grid.",
    )
    .body(SignedVolume::request_schema(), BodyLimit::Upload)
    .ok(200, "Stored.", VolumeStored::schema())
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

/// `GET /api/v2/volumes/{name}`.
pub fn get_volume() -> Operation {
    volume_path(op(
        "v2GetVolume",
        "Download an own volume",
        Caller::V2System,
        Some(Class::General),
    ))
    .conditional()
    .ok(200, "The volume.", SignedVolume::schema())
    .err(400, "the name is invalid")
    .err(404, "no such volume")
    .ok(
        410,
        "The volume was deleted: the owner's signed tombstone (§12).",
        coffer_wire::v2::api::VolumeGone::schema(),
    )
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
    .body(RedeemRequest::request_schema(), SMALL)
    .ok(201, "The pending pairing.", Redeemed::schema())
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
    .ok(200, "The pairings.", PairingList::schema())
}

/// `POST /api/v2/pairings/replica`.
pub fn request_replica() -> Operation {
    op(
        "v2RequestReplicaPairing",
        "Ask for a pairing on one more of a system's relays",
        Caller::V2Friend,
        Some(Class::General),
    )
    .describe(
        "The friend, paired with the system on another of its relays, asks for a pairing \
             here without an invite: a pending pairing with neither code nor proof, which the \
             system's grant (naming this friend's registered keys) activates. A grant never \
             creates a pairing, so a friend's unpair stays final. At most 64 such pending \
             requests per friend.",
    )
    .body(ReplicaPairingRequest::request_schema(), SMALL)
    .ok(201, "The pending pairing.", Redeemed::schema())
    .ok(
        200,
        "The two are paired here already: that pairing.",
        Redeemed::schema(),
    )
    .err(400, "system_user_id is missing or not a UUID")
    .err(
        403,
        "the caller is not a v2 friend, or has 64 pending replica requests",
    )
    .err(404, "no v2 system account of that id here")
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
             and epoch; activates the pairing. Needs a pairing: a grant never creates one. On \
             a replica request (a pairing without invite code, which the friend asked for \
             with POST /api/v2/pairings/replica) the grant's friend_fingerprint must name the \
             friend's registered keys.",
    )
    .path("friend_id", uuid_in(), "The paired friend.")
    .body(
        GrantEnvelope::request_schema(),
        BodyLimit::Bytes(GRANT_BODY_LIMIT),
    )
    .ok(200, "Stored.", GrantStored::schema())
    .err(
        400,
        "a field is malformed, the grant names others, has expired, or its entries differ \
             from wrapped_keys",
    )
    .err(401, "the account no longer exists")
    .err(403, "the grant signature does not verify")
    .err(
        403,
        "on a replica request, the grant's friend_fingerprint is not that of the friend's \
         registered keys",
    )
    .err(404, "no pairing with that friend (or the id is not a UUID)")
    .conflict(
        "the sequence is not newer than the stored one",
        "StaleGrantError",
    )
}

/// `GET /api/v2/grants`.
pub fn own_grants() -> Operation {
    op(
        "v2OwnGrants",
        "List own grants",
        Caller::V2System,
        Some(Class::General),
    )
    .describe(
        "Every grant the caller has given (expired ones included), as signed, so that a \
         device can verify and show each friend's current access (protocol-v2 §12).",
    )
    .ok(200, "The signed grants.", OwnGrantList::schema())
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
        GrantEnvelope::schema(),
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
    .ok(200, "The volumes.", VolumeList::schema())
    .err(403, "no live grant from that system")
}

/// `GET /api/v2/shared/{owner}/volumes/{name}`.
pub fn shared_get() -> Operation {
    volume_path(owner_path(op(
        "v2SharedGet",
        "Download a granted volume",
        Caller::V2Friend,
        Some(Class::General),
    )))
    .describe("The volume and the friend's wrapped key for its current epoch.")
    .conditional()
    .ok(200, "The volume.", SharedVolume::schema())
    .err(400, "the name is invalid")
    .err(
        403,
        "no live grant from that system, or it does not name the volume's current epoch",
    )
    .err(404, "no such volume")
    .ok(
        410,
        "The volume was deleted: the owner's signed tombstone (§12).",
        coffer_wire::v2::api::VolumeGone::schema(),
    )
}
