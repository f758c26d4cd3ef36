//! JSON Schemas of the `coffer_wire` types the v2 API reads and answers, derived from the types
//! themselves: each schema lists the type's fields by their Rust names (which are their JSON
//! keys: these types rename nothing), and an exhaustive pattern over the type makes a field
//! added, removed or renamed in `coffer-wire` fail to compile here, as it does in the handlers.
//! What the schemas say about each field (lengths, patterns, bounds) stays as precise as the
//! relay's own checks.

use coffer_wire::v2::api::{
    GrantEnvelope, GrantStored, Pairing, PairingList, Pins, RedeemRequest, Redeemed,
    RegisterRequest, Registered, SharedVolume, SignedVolume, TokenRequest, UserRecord, VolumeEntry,
    VolumeList, VolumeStored, WrappedKeyEntry,
};
use coffer_wire::v2::{MAX_GRANT_BYTES, MAX_GRANT_ENTRIES, MAX_HEADER_BYTES};
use serde_json::{Value, json};

use super::schema::{base64, base64_exact, exact, nullable, reference, request, uuid_in};
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
/// list names every field of the type and no other.
macro_rules! fields {
    ($ty:ident { $($field:ident: $schema:expr),* $(,)? }) => {{
        let _every_field = |v: &$ty| {
            let $ty { $($field: _),* } = v;
        };
        let mut properties = serde_json::Map::new();
        $(properties.insert(stringify!($field).to_owned(), $schema);)*
        Value::Object(properties)
    }};
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
        exact(fields!(VolumeList {
            volumes: list_of("V2VolumeEntry"),
        }))
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
            ],
            fields!(RegisterRequest {
                client_type: reference("ClientType"),
                public_signing_key: reference("Key32"),
                public_exchange_key: reference("Key32"),
                key_binding_signature: reference("Signature64"),
                handle: reference("HandleIn"),
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
