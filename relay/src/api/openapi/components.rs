//! The component schemas of the document: shared shapes, and the wire types' schemas
//! (`super::wire`), built from the primitives in `super::schema`.

use coffer_wire::admin::{MaintenanceReport, StatusOk};
use coffer_wire::v1::{MAX_EVENT_TAG_LEN, MAX_EVENT_TAGS, Permissions};
use coffer_wire::v2::api::{UserRecord, VolumeEntry, WrappedKeyEntry};
use serde_json::{Map, Value, json};

use super::schema::{
    UUID_LOWER, base64, base64_exact, count, exact, nullable, reference, v1_volume_names,
    v2_volume_name,
};
use super::wire::Schema as _;
use crate::api::profile::{MAX_FEATURE_LEN, MAX_FEATURES, MAX_HANDLE_CHARS};

/// The component schemas shared by several operations.
pub fn components() -> Map<String, Value> {
    let mut c = Map::new();
    let mut add = |name: &str, schema: Value| {
        c.insert(name.to_owned(), schema);
    };
    add(
        "Uuid",
        json!({ "type": "string", "format": "uuid", "pattern": UUID_LOWER }),
    );
    add(
        "Time",
        json!({
            "type": "string",
            "format": "date-time",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]{6})?\\+00:00$",
            "description": "UTC, as Python's datetime.isoformat() writes it.",
        }),
    );
    add("Key32", base64_exact(32));
    add("Signature64", base64_exact(64));
    add("WrappedKey60", base64_exact(60));
    add(
        "ClientType",
        json!({ "type": "string", "enum": ["system", "friend"] }),
    );
    add(
        "InviteCode",
        json!({
            "type": "string",
            "pattern": "^[A-HJ-NP-Z2-9]{12}$",
            "description": "12 characters of an alphabet without 0/O and 1/I/L.",
        }),
    );
    add(
        "SessionToken",
        json!({
            "type": "object",
            "required": ["token", "expires_at"],
            "additionalProperties": false,
            "properties": {
                "token": {
                    "type": "string",
                    "pattern": "^[A-Za-z0-9_-]{64}$",
                    "description": "48 random bytes, URL-safe base64 without padding. Send as \
                        `Authorization: Bearer <token>`.",
                },
                "expires_at": reference("Time"),
            },
        }),
    );
    add(
        "V1VolumeName",
        json!({ "type": "string", "enum": v1_volume_names() }),
    );
    add("V2VolumeName", v2_volume_name());
    add(
        "FeatureSet",
        json!({
            "type": "array",
            "maxItems": MAX_FEATURES,
            "items": { "type": "string", "maxLength": MAX_FEATURE_LEN },
            "description": format!(
                "At most {MAX_FEATURES} strings of at most {MAX_FEATURE_LEN} bytes, such as \
                 \"meta:1\" (the volume name before the colon)."
            ),
        }),
    );
    add(
        "HandleIn",
        json!({
            "type": ["string", "null"],
            "maxLength": 4096,
            "description": format!(
                "Trimmed and cut to {MAX_HANDLE_CHARS} characters; empty means none; control \
                 characters and texts over 4096 bytes are refused."
            ),
        }),
    );
    add(
        "Handle",
        json!({ "type": ["string", "null"], "maxLength": MAX_HANDLE_CHARS }),
    );
    let flags: Map<String, Value> = Permissions::FLAGS
        .iter()
        .map(|f| ((*f).to_owned(), json!({ "type": ["boolean", "null"] })))
        .collect();
    add(
        "PermissionsIn",
        json!({
            "type": "object",
            "properties": flags,
            "description": "The seven share_* flags; a missing or null flag is false, unknown \
                keys are ignored.",
        }),
    );
    let stored_flags: Map<String, Value> = Permissions::FLAGS
        .iter()
        .map(|f| ((*f).to_owned(), json!({ "type": "boolean" })))
        .collect();
    add(
        "Permissions",
        json!({
            "type": "object",
            "properties": stored_flags,
            "additionalProperties": false,
            "description": "All seven flags once accepted; an empty object while pending.",
        }),
    );
    add(
        "V1ControlHeaderIn",
        json!({
            "type": "object",
            "required": ["volume_name", "version", "modified_at", "size_bytes"],
            "properties": {
                "volume_name": reference("V1VolumeName"),
                "version": { "type": "integer", "minimum": 1, "maximum": i64::MAX },
                "modified_at": {
                    "type": "integer",
                    "minimum": 0,
                    "multipleOf": 3600,
                    "description": "Unix seconds, a whole hour.",
                },
                "size_bytes": count(),
                "event_tags": {
                    "type": ["array", "null"],
                    "maxItems": MAX_EVENT_TAGS,
                    "items": { "type": "string", "maxLength": MAX_EVENT_TAG_LEN },
                },
            },
            "description": "Signed as canonical JSON of the five fields, followed by the payload \
                bytes; other keys are stored and echoed but not signed.",
        }),
    );
    add(
        "V1ControlHeader",
        json!({
            "type": "object",
            "required": ["volume_name", "version", "modified_at", "size_bytes"],
            "properties": {
                "volume_name": reference("V1VolumeName"),
                "version": { "type": "integer", "minimum": 1 },
                "modified_at": { "type": "integer", "minimum": 0 },
                "size_bytes": count(),
                "event_tags": {
                    "type": ["array", "null"],
                    "items": { "type": "string" },
                },
            },
            "description": "The control header as uploaded (extra keys included).",
        }),
    );
    add(
        "V1Volume",
        exact(json!({
            "control_header": reference("V1ControlHeader"),
            "encrypted_payload": base64(None),
            "signature": reference("Signature64"),
        })),
    );
    add(
        "SharingObject",
        exact(json!({
            "id": reference("Uuid"),
            "system_user_id": reference("Uuid"),
            "friend_user_id": reference("Uuid"),
            "friend_exchange_public_key": reference("Key32"),
            "status": { "type": "string", "enum": ["pending", "active"] },
            "permissions": reference("Permissions"),
            "encrypted_vek_blob": nullable(reference("WrappedKey60")),
            "created_at": reference("Time"),
            "updated_at": reference("Time"),
        })),
    );
    add("V2UserRecord", UserRecord::schema());
    add("V2VolumeEntry", VolumeEntry::schema());
    add(
        "V2TombstoneEntry",
        coffer_wire::v2::api::TombstoneEntry::schema(),
    );
    add("V2WrappedKey", WrappedKeyEntry::schema());
    add("AdminUser", coffer_wire::admin::User::schema());
    add("AdminVolume", coffer_wire::admin::Volume::schema());
    add("MaintenanceReport", StatusOk::<MaintenanceReport>::schema());
    c
}
