//! Deleting one volume (`docs/protocol-v2.md` §12).

use coffer_wire::v2::api::{SignedTombstone, VolumeStored};

use super::super::schema::reference;
use super::super::wire::{RequestSchema as _, Schema as _};
use super::super::{BodyLimit, Caller, Operation, Tag};
use crate::limits::Class;
use crate::state::AppState;

/// `DELETE /api/v2/volumes/{name}`.
pub fn delete_volume() -> Operation {
    Operation::new(
        "v2DeleteVolume",
        Tag::V2,
        "Delete an own volume",
        Caller::V2System,
        Some(Class::General),
    )
    .describe(
        "With the owner's signed tombstone (owner, volume, epoch, a version above the stored \
             one, hour). The payload is deleted and the storage freed; the tombstone is kept and \
             listed and served (410) in place of the volume, so versions never go back. A later \
             upload must be above the tombstone's version, and clears it.",
    )
    .path("name", reference("V2VolumeName"), "The volume name.")
    .body(
        SignedTombstone::request_schema(),
        BodyLimit::Bytes(AppState::SMALL_BODY_LIMIT),
    )
    .ok(200, "Deleted.", VolumeStored::schema())
    .err(
        400,
        "the name is invalid, or the tombstone is malformed, names another owner or volume, \
             or its hour is more than an hour ahead",
    )
    .err(401, "the account no longer exists")
    .err(403, "the signature does not verify")
    .err(404, "no such (live) volume")
    .conflict(
        "the version is not above the stored one or the epoch is older",
        "StaleV2Error",
    )
}
