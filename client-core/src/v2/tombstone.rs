//! Volume tombstones (§12): the owner signs that one volume is deleted as of a version; friends
//! and the owner's other devices verify it under the pinned owner key, so a relay cannot fake
//! a deletion (it can only withhold, which it always could).

use std::fmt;

use coffer_wire::v2::{Tombstone, VolumeName};
use uuid::Uuid;

use super::{V2Error, verify_labelled};
use crate::identity::{Identity, SIGNATURE_LEN};

/// A tombstone as the owner sends it (`DELETE /volumes/{name}`).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedTombstone {
    /// The exact tombstone bytes `T` (send as base64; never re-encode).
    pub bytes: Vec<u8>,
    /// `Ed25519(sk_owner, label(tombstone) ‖ T)`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for SignedTombstone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedTombstone")
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// The owner's tombstone for `volume` as of `version` (at key `epoch`), at `now_unix` (floored
/// to the hour).
///
/// # Errors
/// [`V2Error::Malformed`] if the encoding would not parse (epoch or version 0, a version above
/// `i64::MAX`): nothing a reader would refuse is signed.
pub fn sign_tombstone(
    identity: &Identity,
    owner: Uuid,
    volume: &VolumeName,
    epoch: u32,
    version: u64,
    now_unix: u64,
) -> Result<SignedTombstone, V2Error> {
    let tombstone = Tombstone {
        owner: *owner.as_bytes(),
        volume: volume.clone(),
        epoch,
        version,
        hour: now_unix - now_unix % 3600,
    };
    let bytes = tombstone.to_bytes();
    Tombstone::parse(&bytes).map_err(|_| V2Error::Malformed("tombstone fields are invalid"))?;
    let signature = identity.sign(&Tombstone::signed_message(&bytes));
    Ok(SignedTombstone { bytes, signature })
}

/// Verifies a served tombstone: the signature over the exact bytes under the owner's (pinned)
/// key, then the parse, then that it names `expected_owner` and `expected_volume`.
///
/// # Errors
/// [`V2Error::InvalidSigningKey`], [`V2Error::BadSignature`], [`V2Error::Malformed`] (does not
/// parse), [`V2Error::WrongOwner`], [`V2Error::WrongVolume`].
pub fn verify_tombstone(
    owner_signing_key: &[u8; 32],
    expected_owner: Uuid,
    expected_volume: &VolumeName,
    bytes: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<Tombstone, V2Error> {
    verify_labelled(
        owner_signing_key,
        &Tombstone::signed_message(bytes),
        signature,
    )?;
    let t = Tombstone::parse(bytes).map_err(|_| V2Error::Malformed("tombstone is malformed"))?;
    if t.owner != *expected_owner.as_bytes() {
        return Err(V2Error::WrongOwner);
    }
    if t.volume != *expected_volume {
        return Err(V2Error::WrongVolume);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_refuses_others() {
        let id = Identity::generate();
        let pk = id.public_signing_key();
        let owner = Uuid::new_v4();
        let meta = VolumeName::new("meta").expect("valid");
        let other = VolumeName::new("org.example.notes").expect("valid");
        let t = sign_tombstone(&id, owner, &meta, 2, 7, 7_205).expect("signs");
        let parsed = verify_tombstone(&pk, owner, &meta, &t.bytes, &t.signature).expect("valid");
        assert_eq!((parsed.epoch, parsed.version, parsed.hour), (2, 7, 7_200));
        assert!(matches!(
            verify_tombstone(&pk, owner, &other, &t.bytes, &t.signature),
            Err(V2Error::WrongVolume)
        ));
        assert!(matches!(
            verify_tombstone(&pk, Uuid::new_v4(), &meta, &t.bytes, &t.signature),
            Err(V2Error::WrongOwner)
        ));
        let mut bad = t.signature;
        bad[0] ^= 1;
        assert!(matches!(
            verify_tombstone(&pk, owner, &meta, &t.bytes, &bad),
            Err(V2Error::BadSignature)
        ));
        let stranger = Identity::generate().public_signing_key();
        assert!(verify_tombstone(&stranger, owner, &meta, &t.bytes, &t.signature).is_err());
        assert!(sign_tombstone(&id, owner, &meta, 0, 7, 0).is_err());
    }
}
