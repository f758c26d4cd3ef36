//! JSON Schemas of the `coffer_wire` types the v2 API reads and answers, derived from the types
//! themselves: each schema lists the type's fields by their Rust names (which are their JSON
//! keys: these types rename nothing), and an exhaustive pattern over the type makes a field
//! added, removed or renamed in `coffer-wire` fail to compile here, as it does in the handlers.
//! What the schemas say about each field (lengths, patterns, bounds) stays as precise as the
//! relay's own checks.

use coffer_wire::v2::api::MAX_DEVICE_LABEL_CHARS;
use coffer_wire::v2::api::{
    Challenge, ChallengeRequest, GrantEnvelope, GrantStored, Invite, OwnGrant, OwnGrantList,
    Pairing, PairingList, Pins, RedeemRequest, Redeemed, RegisterRequest, Registered,
    ReplicaPairingRequest, SessionInfo, SessionList, SessionsRevoked, SharedVolume, SignedVolume,
    TokenRequest, UserRecord, VolumeEntry, VolumeList, VolumeStored, WrappedKeyEntry,
};
use coffer_wire::v2::{MAX_GRANT_BYTES, MAX_GRANT_ENTRIES, MAX_HEADER_BYTES};
use serde_json::{Value, json};

use coffer_wire::admin::{
    self as dto, AnomalyReport, AnomalyThresholds, AnomalyTotals, Deleted, ExpireReport,
    ExpiredSessions, MaintenanceReport, OrphanPage, SessionStats, Share, ShareList, Stats,
    StatusOk, UserDetail, UserList, VolumeBreakdown,
};

use super::schema::{
    base64, base64_exact, constant, count, exact, nullable, reference, request, uuid_in,
};
use crate::api::v2::grants::GRANT_BODY_LIMIT;

/// The schema of an answer (an object with exactly these fields).
pub trait Schema {
    /// The JSON Schema.
    fn schema() -> Value;
}

/// The schema of a request body (required fields must be present; others are ignored).
pub trait RequestSchema {
    /// The JSON Schema.
    fn request_schema() -> Value;
}

/// The properties of `$ty`, one per field, keyed by the field's name. Compiles only while the
/// list names every field of the type and no other; fields after `never` are ones the relay
/// never sends (they have no property).
macro_rules! fields {
    ($ty:ident { $($field:ident: $schema:expr),* $(,)? } $(never { $($never:ident),* })?) => {{
        let _every_field = |v: &$ty| {
            let $ty { $($field: _,)* $($($never: _,)*)? } = v;
        };
        let mut properties = serde_json::Map::new();
        $(properties.insert(stringify!($field).to_owned(), $schema);)*
        Value::Object(properties)
    }};
}

/// `properties` with one more.
fn with(mut properties: Value, name: &str, schema: Value) -> Value {
    if let Some(map) = properties.as_object_mut() {
        map.insert(name.to_owned(), schema);
    }
    properties
}

/// The schema of a [`StatusOk`] around an answer with these properties.
fn status_ok(properties: Value) -> Value {
    exact(with(properties, "status", constant("ok")))
}

fn epoch() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": u32::MAX })
}

fn version() -> Value {
    json!({ "type": "integer", "minimum": 1 })
}

fn list_of(component: &str) -> Value {
    json!({ "type": "array", "items": reference(component) })
}

impl Schema for UserRecord {
    fn schema() -> Value {
        exact(fields!(UserRecord {
            user_id: reference("Uuid"),
            handle: reference("Handle"),
            client_type: reference("ClientType"),
            public_signing_key: reference("Key32"),
            public_exchange_key: reference("Key32"),
            key_binding_signature: reference("Signature64"),
        }))
    }
}

impl Schema for VolumeEntry {
    fn schema() -> Value {
        exact(fields!(VolumeEntry {
            volume: reference("V2VolumeName"),
            epoch: epoch(),
            version: version(),
            header: base64(Some(MAX_HEADER_BYTES)),
            signature: reference("Signature64"),
        }))
    }
}

impl Schema for WrappedKeyEntry {
    fn schema() -> Value {
        exact(fields!(WrappedKeyEntry {
            volume: reference("V2VolumeName"),
            epoch: epoch(),
            wrapped_key: reference("WrappedKey60"),
        }))
    }
}

impl Schema for VolumeList {
    fn schema() -> Value {
        let mut schema = exact(fields!(VolumeList {
            volumes: list_of("V2VolumeEntry"),
            tombstones: list_of("V2TombstoneEntry"),
        }));
        // `tombstones` (§12) is left out when there are none.
        schema["required"] = json!(["volumes"]);
        schema
    }
}

impl Schema for VolumeStored {
    fn schema() -> Value {
        exact(fields!(VolumeStored {
            status: json!({ "const": "stored" }),
            epoch: epoch(),
            version: version(),
        }))
    }
}

impl Schema for SignedVolume {
    fn schema() -> Value {
        exact(fields!(SignedVolume {
            header: base64(Some(MAX_HEADER_BYTES)),
            signature: reference("Signature64"),
            payload: base64(None),
        }))
    }
}

impl RequestSchema for SignedVolume {
    fn request_schema() -> Value {
        request(
            &["header", "signature", "payload"],
            fields!(SignedVolume {
                header: base64(Some(MAX_HEADER_BYTES)),
                signature: reference("Signature64"),
                payload: base64(None),
            }),
        )
    }
}

impl Schema for SharedVolume {
    fn schema() -> Value {
        exact(fields!(SharedVolume {
            header: base64(Some(MAX_HEADER_BYTES)),
            signature: reference("Signature64"),
            payload: base64(None),
            wrapped_key: reference("WrappedKey60"),
        }))
    }
}

impl RequestSchema for ChallengeRequest {
    fn request_schema() -> Value {
        request(
            &["user_id"],
            fields!(ChallengeRequest { user_id: uuid_in() }),
        )
    }
}

impl Schema for Challenge {
    fn schema() -> Value {
        exact(fields!(Challenge {
            nonce: reference("Key32"),
            expires_at: reference("Time"),
        }))
    }
}

impl Schema for Invite {
    fn schema() -> Value {
        exact(fields!(Invite {
            code: reference("InviteCode"),
            expires_at: reference("Time"),
        }))
    }
}

impl Schema for Registered {
    fn schema() -> Value {
        exact(fields!(Registered {
            user_id: reference("Uuid"),
        }))
    }
}

impl RequestSchema for RegisterRequest {
    fn request_schema() -> Value {
        request(
            &[
                "client_type",
                "public_signing_key",
                "public_exchange_key",
                "key_binding_signature",
                "origin",
                "registration_signature",
            ],
            fields!(RegisterRequest {
                client_type: reference("ClientType"),
                public_signing_key: reference("Key32"),
                public_exchange_key: reference("Key32"),
                key_binding_signature: reference("Signature64"),
                handle: reference("HandleIn"),
                origin: json!({
                    "type": "string",
                    "description": "This relay's origin as dialled, e.g. https://127.0.0.1:8443.",
                }),
                registration_signature: reference("Signature64"),
            }),
        )
    }
}

impl RequestSchema for TokenRequest {
    fn request_schema() -> Value {
        request(
            &["user_id", "nonce", "origin", "signature"],
            fields!(TokenRequest {
                user_id: uuid_in(),
                nonce: json!({ "type": "string" }),
                origin: json!({
                    "type": "string",
                    "description": "This relay's origin, e.g. https://127.0.0.1:8443.",
                }),
                signature: reference("Signature64"),
                device_label: json!({
                    "type": ["string", "null"],
                    "minLength": 1,
                    "maxLength": MAX_DEVICE_LABEL_CHARS,
                    "description": "Optional name of this device, shown in the session list \
                        (1–64 characters, no control characters).",
                }),
            }),
        )
    }
}

impl RequestSchema for RedeemRequest {
    fn request_schema() -> Value {
        request(
            &["code", "proof"],
            fields!(RedeemRequest {
                code: json!({ "type": "string" }),
                proof: base64_exact(32),
            }),
        )
    }
}

impl RequestSchema for ReplicaPairingRequest {
    fn request_schema() -> Value {
        request(
            &["system_user_id"],
            fields!(ReplicaPairingRequest {
                system_user_id: uuid_in(),
            }),
        )
    }
}

impl Schema for Redeemed {
    fn schema() -> Value {
        exact(fields!(Redeemed {
            pairing_id: reference("Uuid"),
            system_user_id: reference("Uuid"),
        }))
    }
}

impl Schema for Pairing {
    fn schema() -> Value {
        exact(fields!(Pairing {
            pairing_id: reference("Uuid"),
            system_user_id: reference("Uuid"),
            friend_user_id: reference("Uuid"),
            status: json!({ "type": "string", "enum": ["pending", "active"] }),
            code: nullable(reference("InviteCode")),
            proof: nullable(reference("Key32")),
            created_at: reference("Time"),
            peer: reference("V2UserRecord"),
        }))
    }
}

impl Schema for PairingList {
    fn schema() -> Value {
        exact(fields!(PairingList {
            pairings: json!({ "type": "array", "items": Pairing::schema() }),
        }))
    }
}

impl Schema for GrantEnvelope {
    fn schema() -> Value {
        exact(fields!(GrantEnvelope {
            grant: base64(Some(MAX_GRANT_BYTES)),
            signature: reference("Signature64"),
            wrapped_keys: list_of("V2WrappedKey"),
        }))
    }
}

impl Schema for OwnGrant {
    fn schema() -> Value {
        exact(fields!(OwnGrant {
            friend_user_id: reference("Uuid"),
            grant: base64(Some(MAX_GRANT_BYTES)),
            signature: reference("Signature64"),
        }))
    }
}

impl Schema for OwnGrantList {
    fn schema() -> Value {
        exact(fields!(OwnGrantList {
            grants: json!({ "type": "array", "items": OwnGrant::schema() }),
        }))
    }
}

impl RequestSchema for GrantEnvelope {
    fn request_schema() -> Value {
        request(
            &["grant", "signature", "wrapped_keys"],
            fields!(GrantEnvelope {
                grant: base64(Some(GRANT_BODY_LIMIT)),
                signature: reference("Signature64"),
                wrapped_keys: json!({
                    "type": "array",
                    "maxItems": MAX_GRANT_ENTRIES,
                    "items": request(
                        &["volume", "epoch", "wrapped_key"],
                        fields!(WrappedKeyEntry {
                            volume: reference("V2VolumeName"),
                            epoch: json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX }),
                            wrapped_key: reference("WrappedKey60"),
                        }),
                    ),
                }),
            }),
        )
    }
}

impl Schema for GrantStored {
    fn schema() -> Value {
        exact(fields!(GrantStored {
            status: json!({ "const": "stored" }),
            sequence: json!({ "type": "integer", "minimum": 1 }),
        }))
    }
}

impl Schema for Pins {
    fn schema() -> Value {
        let pin = nullable(json!({
            "type": "string",
            "pattern": "^sha256/[A-Za-z0-9+/]{43}=$",
        }));
        exact(fields!(Pins {
            current: pin.clone(),
            next: pin,
        }))
    }
}

// The admin API (`coffer_wire::admin`).

impl Schema for VolumeBreakdown {
    fn schema() -> Value {
        exact(fields!(VolumeBreakdown {
            volume_name: json!({ "type": "string" }),
            count: count(),
            total_bytes: count(),
        }))
    }
}

impl Schema for dto::ProtocolBreakdown {
    fn schema() -> Value {
        use dto::ProtocolBreakdown;
        exact(fields!(ProtocolBreakdown {
            protocol: admin_protocol("1 or 2."),
            users: count(),
            volumes: count(),
            storage_bytes: count(),
        }))
    }
}

impl Schema for Stats {
    fn schema() -> Value {
        exact(fields!(Stats {
            system_users: count(),
            friend_users: count(),
            total_volumes: count(),
            total_storage_bytes: count(),
            recent_registrations_30d: count(),
            active_shares: count(),
            pending_shares: count(),
            volume_breakdown: json!({ "type": "array", "items": VolumeBreakdown::schema() }),
            by_protocol: json!({ "type": "array", "items": dto::ProtocolBreakdown::schema() }),
        }))
    }
}

/// The properties of an admin user record (the `AdminUser` component and the detail answer).
fn admin_user_properties() -> Value {
    use dto::User;
    fields!(User {
        id: reference("Uuid"),
        handle: reference("Handle"),
        client_type: reference("ClientType"),
        protocol_version: super::schema::int64(),
        storage_used_bytes: count(),
        created_at: reference("Time"),
        feature_set: json!({
            "type": "string",
            "description": "The stored feature set as JSON text (v1's admin API).",
        }),
        protocol: admin_protocol(
            "2 for an account registered through v2 (it has a key-binding proof), 1 otherwise."
        ),
    })
}

/// `protocol` of an admin row: 1 or 2.
fn admin_protocol(description: &str) -> Value {
    json!({ "type": "integer", "enum": [1, 2], "description": description })
}

/// `total` of an admin list: the rows matching the filters, on every page.
fn admin_total() -> Value {
    json!({ "type": "integer", "minimum": 0, "description": "Rows matching the filters (all pages)." })
}

/// `next_offset` of an admin list: the `offset` of the next page, `null` after the last one.
fn admin_next_offset() -> Value {
    nullable(
        json!({ "type": "integer", "minimum": 1, "description": "The offset of the next page." }),
    )
}

impl Schema for dto::User {
    fn schema() -> Value {
        exact(admin_user_properties())
    }
}

impl Schema for UserList {
    fn schema() -> Value {
        exact(fields!(UserList {
            users: list_of("AdminUser"),
            total: admin_total(),
            next_offset: admin_next_offset(),
        }))
    }
}

impl Schema for UserDetail {
    fn schema() -> Value {
        let _every_field = |v: &UserDetail| {
            let UserDetail {
                user: _,
                volumes: _,
            } = v;
        };
        exact(with(
            admin_user_properties(),
            "volumes",
            list_of("AdminVolume"),
        ))
    }
}

impl Schema for dto::Volume {
    fn schema() -> Value {
        use dto::Volume;
        exact(fields!(Volume {
            user_id: reference("Uuid"),
            volume_name: json!({ "anyOf": [reference("V1VolumeName"), reference("V2VolumeName")] }),
            version: version(),
            size_bytes: count(),
            updated_at: reference("Time"),
            protocol: admin_protocol("1 for a v1 volume, 2 for a v2 volume."),
            epoch: nullable(epoch()),
        }))
    }
}

impl Schema for dto::VolumeList {
    fn schema() -> Value {
        use dto::VolumeList;
        exact(fields!(VolumeList {
            volumes: list_of("AdminVolume"),
            total: admin_total(),
            next_offset: admin_next_offset(),
        }))
    }
}

impl Schema for Deleted {
    fn schema() -> Value {
        exact(fields!(Deleted {
            status: constant("deleted"),
            id: reference("Uuid"),
        }))
    }
}

impl Schema for ShareList {
    fn schema() -> Value {
        let share = exact(fields!(Share {
            id: reference("Uuid"),
            system_user_id: reference("Uuid"),
            friend_user_id: reference("Uuid"),
            status: json!({
                "type": "string",
                "enum": ["pending", "active", "expired", "revoked"],
                "description": "v1: pending or active. v2: pending (no grant yet), active, \
                    expired (now >= the grant's expires_at) or revoked (the grant covers no volume).",
            }),
            permissions: json!({
                "type": "string",
                "description": "JSON text of an object of booleans: v1, the stored flags; v2, \
                    the volume names the grant covers, each true ({} while pending).",
            }),
            created_at: reference("Time"),
            updated_at: reference("Time"),
            protocol: admin_protocol("1 for a v1 relationship, 2 for a v2 pairing."),
            expires_at: nullable(reference("Time")),
        }));
        exact(fields!(ShareList {
            sharing: json!({ "type": "array", "items": share }),
            total: admin_total(),
            next_offset: admin_next_offset(),
        }))
    }
}

impl Schema for SessionStats {
    fn schema() -> Value {
        exact(fields!(SessionStats {
            active_sessions: count(),
            pending_challenges: count(),
            active_invites: count(),
            redeemed_invites: count(),
        }))
    }
}

impl Schema for StatusOk<ExpiredSessions> {
    fn schema() -> Value {
        status_ok(fields!(ExpiredSessions {
            sessions_expired: count(),
        }))
    }
}

impl Schema for StatusOk<MaintenanceReport> {
    fn schema() -> Value {
        status_ok(fields!(MaintenanceReport {
            expired_challenges: count(),
            expired_sessions: count(),
            expired_invites: count(),
            orphan_blobs: count(),
            orphan_bytes: count(),
        } never { user_directories }))
    }
}

impl Schema for StatusOk<ExpireReport> {
    fn schema() -> Value {
        status_ok(fields!(ExpireReport {
            expired_challenges: count(),
            expired_sessions: count(),
            expired_invites: count(),
        }))
    }
}

impl Schema for StatusOk<OrphanPage> {
    fn schema() -> Value {
        status_ok(fields!(OrphanPage {
            orphan_blobs: count(),
            orphan_bytes: count(),
            dirs: count(),
            remaining: count(),
            next: nullable(json!({ "type": "string" })),
        }))
    }
}

impl Schema for AnomalyReport {
    fn schema() -> Value {
        use dto::Anomaly;
        let anomaly = exact(fields!(Anomaly {
            kind: json!({
                "type": "string",
                "enum": ["failed_logins", "challenge_flood", "storage_growth"],
            }),
            scope: json!({ "type": "string", "enum": ["user", "source"] }),
            user_id: nullable(reference("Uuid")),
            source: nullable(json!({ "type": "string" })),
            value: json!({ "type": "integer" }),
            unit: json!({ "type": "string", "enum": ["requests", "bytes"] }),
            threshold: count(),
            first_seen: reference("Time"),
            last_seen: reference("Time"),
        }));
        exact(fields!(AnomalyReport {
            anomalies: json!({ "type": "array", "items": anomaly }),
            ip_policy: json!({ "type": "string", "enum": ["off", "keyed-hash", "full"] }),
            window_minutes: count(),
            thresholds: exact(fields!(AnomalyThresholds {
                failed_logins: count(),
                challenges: count(),
                storage_growth_bytes: count(),
            })),
            totals: exact(fields!(AnomalyTotals {
                failed_logins: json!({ "type": "integer" }),
                challenges: json!({ "type": "integer" }),
                storage_growth_bytes: json!({ "type": "integer" }),
            })),
            tracking_since: reference("Time"),
            untracked: count(),
        }))
    }
}

mod receipts;
mod tombstones;
impl Schema for SessionInfo {
    fn schema() -> Value {
        exact(fields!(SessionInfo {
            session_id: reference("Uuid"),
            device_label: json!({
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": MAX_DEVICE_LABEL_CHARS,
            }),
            protocol: json!({ "type": "string", "enum": ["v1", "v2"] }),
            created_at: reference("Time"),
            last_used_at: reference("Time"),
            current: json!({ "type": "boolean" }),
        }))
    }
}

impl Schema for SessionList {
    fn schema() -> Value {
        exact(fields!(SessionList {
            sessions: json!({ "type": "array", "items": SessionInfo::schema() }),
        }))
    }
}

impl Schema for SessionsRevoked {
    fn schema() -> Value {
        exact(fields!(SessionsRevoked { revoked: count() }))
    }
}
