//! Schemas of the volume-deletion wire types (`docs/protocol-v2.md` §12).

use coffer_wire::v2::MAX_TOMBSTONE_BYTES;
use coffer_wire::v2::api::{SignedTombstone, TombstoneEntry, VolumeGone};
use serde_json::{Value, json};

use super::super::schema::{base64, exact, reference, request};
use super::{RequestSchema, Schema, epoch, version};

impl RequestSchema for SignedTombstone {
    fn request_schema() -> Value {
        request(
            &["tombstone", "signature"],
            fields!(SignedTombstone {
                tombstone: base64(Some(MAX_TOMBSTONE_BYTES)),
                signature: reference("Signature64"),
            }),
        )
    }
}

impl Schema for TombstoneEntry {
    fn schema() -> Value {
        exact(fields!(TombstoneEntry {
            volume: reference("V2VolumeName"),
            epoch: epoch(),
            version: version(),
            tombstone: base64(Some(MAX_TOMBSTONE_BYTES)),
            signature: reference("Signature64"),
        }))
    }
}

impl Schema for VolumeGone {
    fn schema() -> Value {
        exact(fields!(VolumeGone {
            error: json!({ "const": "gone" }),
            message: json!({ "type": "string" }),
            tombstone: base64(Some(MAX_TOMBSTONE_BYTES)),
            signature: reference("Signature64"),
        }))
    }
}
