//! Several devices of one system (`docs/protocol-v2.md` §13): the owner state (an opaque,
//! identity-signed blob stored byte for byte) and the device links that hand it to a new
//! device. Nothing here can be read by the relay: the state and the package are encrypted to
//! device keys.

use super::{DecisionFuture, Refusal, StoreFuture};
use crate::store::devices::{DeviceLink, OwnerState};
use crate::store::users::User;

/// A rule checked against the stored user inside a method's transaction (typically: a
/// signature verifies under the user's registered signing key). Its refusal is the method's.
pub type UserCheck = Box<dyn FnOnce(&User) -> Result<(), Refusal> + Send>;

/// The owner state and device links of v2 systems.
pub trait Devices {
    /// Replaces `owner`'s state with `state`, in one transaction: refused `Unauthorized("User
    /// not found")` if the account is gone, with `check`'s refusal if `check` refuses the
    /// stored user, and `Conflict` if the stored version is not lower than `state.version`
    /// (nothing written). `hour` is the coarse time recorded with it.
    fn put_owner_state(
        &self,
        owner: String,
        state: OwnerState,
        hour: i64,
        check: UserCheck,
    ) -> DecisionFuture<'_, ()>;

    /// `owner`'s stored state, byte for byte; `None` when it has none.
    fn owner_state(&self, owner: String) -> StoreFuture<'_, Option<OwnerState>>;

    /// Creates the device link `code` of `owner`, expiring at `expires_at`, after dropping
    /// every link expired at `now`; refused (`Conflict`, nothing written) when `owner` already
    /// has `max_open` live links.
    fn create_device_link(
        &self,
        code: String,
        owner: String,
        now: i64,
        expires_at: i64,
        max_open: u64,
    ) -> DecisionFuture<'_, ()>;

    /// The device link `code`, if it is live at `now`.
    fn device_link(&self, code: String, now: i64) -> StoreFuture<'_, Option<DeviceLink>>;

    /// Records a device's join on the live link `code`: its key, label and proof. Refused
    /// `NotFound` for no live link, `Conflict` if a device joined already.
    fn join_device_link(
        &self,
        code: String,
        now: i64,
        key: [u8; 32],
        label: String,
        proof: [u8; 32],
    ) -> DecisionFuture<'_, ()>;

    /// Stores the package of `owner`'s live link `code`. Refused `NotFound` for no live link of
    /// `owner`, `Conflict` if no device joined yet or a package is there already.
    fn put_device_package(
        &self,
        code: String,
        owner: String,
        now: i64,
        package: Vec<u8>,
    ) -> DecisionFuture<'_, ()>;

    /// The package of the live link `code`, served once: the link is deleted in the same
    /// transaction. Refused `NotFound` until the owner stored a package.
    fn take_device_package(&self, code: String, now: i64) -> DecisionFuture<'_, Vec<u8>>;
}
