//! The grants a system has given, read back by the system itself (`docs/protocol-v2.md`
//! §12): the exact signed bytes, so that a device can show each friend's current access after
//! verifying the owner signature.

use super::StoreFuture;
use crate::store::own_grants::OwnGrantRow;

/// What a system reads back about the grants it gave.
pub trait OwnGrants {
    /// Every stored grant `owner` has given (one per pairing), as (friend id, grant bytes,
    /// signature), ordered by friend.
    fn grants_given(&self, owner: String) -> StoreFuture<'_, Vec<OwnGrantRow>>;
}
