//! Invite codes (a System's, for a friend: v1 sharing and v2 pairing) and the operator's
//! registration codes (docs/adr/0024-registration-and-operator-access.md).

use super::{StoreError, StoreFuture};
pub use crate::store::invites::Invite;
pub use crate::store::registration::CodeKind;

/// The registration rules' view of the stored codes, inside the transaction that stores the
/// account ([`super::users::Users::create_user`]): what the gate reads, and spending the code
/// it accepted. Asked only what the gate needs, in its order.
pub trait CodeBook {
    /// Every account, v1 and v2, systems and friends.
    fn user_count(&mut self) -> Result<u64, StoreError>;

    /// Forgets expired registration codes, used or not (they can register no one any more).
    fn forget_expired_codes(&mut self, now: i64) -> Result<(), StoreError>;

    /// Whether an unused, unexpired operator code has this SHA-256.
    fn operator_code_open(&mut self, hash: &[u8; 32], now: i64) -> Result<bool, StoreError>;

    /// The invite `code` (either protocol), if it exists.
    fn invite(&mut self, code: &str) -> Result<Option<Invite>, StoreError>;

    /// Whether a code with this SHA-256 was used already (of any kind).
    fn code_used(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError>;

    /// Marks the code used at `now` (to the hour): an operator code's own expiry stays; an
    /// invite code is remembered until `expires_at`, so it registers one account only.
    fn mark_code_used(
        &mut self,
        hash: &[u8; 32],
        kind: CodeKind,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;
}

/// The registration numbers the operator sees (never a code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationCounts {
    /// Every account.
    pub users: u64,
    /// Operator codes neither used nor expired.
    pub open_codes: u64,
}

/// Invites and registration codes.
pub trait Invites {
    /// Stores the invite `code` of `system` for `protocol` (1 or 2), valid until `expires_at`,
    /// unless the system already holds `max_open` unredeemed, unexpired ones (`false`, nothing
    /// stored).
    fn create_invite(
        &self,
        code: String,
        system: String,
        now: i64,
        expires_at: i64,
        max_open: u64,
        protocol: i64,
    ) -> StoreFuture<'_, bool>;

    /// Stores a new operator registration code by its SHA-256, valid until `expires_at`.
    /// `false` when that hash is stored already (nothing changes).
    fn create_registration_code(
        &self,
        hash: [u8; 32],
        now: i64,
        expires_at: i64,
    ) -> StoreFuture<'_, bool>;

    /// The user count and the open operator codes at `now`, read together.
    fn registration_counts(&self, now: i64) -> StoreFuture<'_, RegistrationCounts>;
}
