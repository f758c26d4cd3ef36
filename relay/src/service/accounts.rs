//! Registering an account: the part v1 and v2 share once each has checked its own fields
//! (v1: protocol version and feature set; v2: the key-binding proof).

use super::registration::Gate;
use super::{Refusal, ServiceError};
use crate::storage::Storage;
use crate::storage::users::{NewUser, User};
use crate::store::{ClientType, hour, now};

/// Keys that already have a v2 account here (409): their id is derived from them, so the
/// account exists and the client logs in instead (docs/protocol-v2.md §3).
pub const ALREADY_REGISTERED: Refusal = Refusal::ConflictWith {
    code: "already_registered",
    message: "These keys already have an account on this relay: log in instead",
};

/// An account to create, checked by its protocol's handler.
#[derive(Debug)]
pub struct NewAccount {
    /// The new user id: random for v1, derived from the keys for v2 (`UserId::derive`).
    pub id: String,
    /// Ed25519 public key (a valid curve point).
    pub public_signing_key: [u8; 32],
    /// X25519 public key.
    pub public_exchange_key: [u8; 32],
    /// Optional handle, normalised.
    pub handle: Option<String>,
    /// System or friend.
    pub client_type: ClientType,
    /// 1 for v1 accounts (as sent), 2 for v2.
    pub protocol_version: i64,
    /// The v1 feature set, as stored JSON text (`[]` for v2).
    pub feature_set: String,
    /// The v2 key-binding signature (none for v1).
    pub key_binding_signature: Option<[u8; 64]>,
}

/// Stores the account if `gate` lets it in (checked in the same transaction: the user cap and
/// a single-use code cannot be overtaken); a taken handle is refused (409), and nothing is
/// written. An id that exists already (a v2 account's keys registered twice: its id is
/// derived from them) is refused first, before the gate's checks in here (user cap, code)
/// and the handle, with
/// [`ALREADY_REGISTERED`]: no code is spent on it, and the answer does not depend on the handle
/// sent.
pub async fn create(
    storage: &dyn Storage,
    account: NewAccount,
    gate: Gate,
) -> Result<(), ServiceError> {
    let client_type = account.client_type;
    let v2 = account.key_binding_signature.is_some();
    let user = User {
        id: account.id,
        public_signing_key: account.public_signing_key,
        public_exchange_key: account.public_exchange_key,
        handle: account.handle,
        client_type,
        protocol_version: account.protocol_version,
        feature_set: account.feature_set,
        storage_used_bytes: 0,
        created_at: hour(now()),
        key_binding_signature: account.key_binding_signature,
    };
    let now = now();
    match storage.create_user(user, gate, now).await?? {
        NewUser::Created => {}
        NewUser::IdTaken => return Err(ALREADY_REGISTERED.into()),
        NewUser::HandleTaken => {
            return Err(Refusal::Conflict("Handle already taken".into()).into());
        }
    }
    if v2 {
        tracing::info!(client_type = client_type.as_str(), "v2 user registered");
    } else {
        tracing::info!(client_type = client_type.as_str(), "user registered");
    }
    Ok(())
}
