//! Fetch receipts (§14): a friend signs, for every version it fetched and verified, who read
//! what and in which hour; the owner verifies the receipts the relay kept under the friend's
//! pinned key. The relay can drop a receipt, not forge or alter one.

use std::fmt;

use coffer_wire::v2::{Receipt, VolumeName};
use uuid::Uuid;

use super::{V2Error, verify_labelled};
use crate::identity::{Identity, SIGNATURE_LEN};

/// A receipt as the friend uploads it (`POST /shared/{owner}/receipts`).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedReceipt {
    /// The exact receipt bytes `R` (send as base64; never re-encode).
    pub bytes: Vec<u8>,
    /// `Ed25519(sk_friend, label(receipt) ‖ R)`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for SignedReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedReceipt")
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// The receipt for `friend` having read `version` (at key `epoch`) of `owner`'s `volume` at
/// `now_unix` (floored to the hour), signed with the friend's identity.
///
/// # Errors
/// [`V2Error::Malformed`] if the encoding would not parse (epoch or version 0, a version above
/// `i64::MAX`): nothing a reader would refuse is signed.
pub fn sign_receipt(
    identity: &Identity,
    owner: Uuid,
    friend: Uuid,
    volume: &VolumeName,
    epoch: u32,
    version: u64,
    now_unix: u64,
) -> Result<SignedReceipt, V2Error> {
    let receipt = Receipt {
        owner: *owner.as_bytes(),
        friend: *friend.as_bytes(),
        volume: volume.clone(),
        epoch,
        version,
        hour: now_unix - now_unix % 3600,
    };
    let bytes = receipt.to_bytes();
    Receipt::parse(&bytes).map_err(|_| V2Error::Malformed("fetch receipt fields are invalid"))?;
    let signature = identity.sign(&Receipt::signed_message(&bytes));
    Ok(SignedReceipt { bytes, signature })
}

/// Verifies a receipt the relay served: the signature over the exact bytes under the friend's
/// key (the one the owner pinned at pairing), then the parse, then that it names
/// `expected_owner`. Which friend it names is for the caller to compare with the key's owner.
///
/// # Errors
/// [`V2Error::InvalidSigningKey`], [`V2Error::BadSignature`], [`V2Error::Malformed`] (does not
/// parse, or names another owner).
pub fn verify_receipt(
    friend_signing_key: &[u8; 32],
    bytes: &[u8],
    signature: &[u8; SIGNATURE_LEN],
    expected_owner: Uuid,
) -> Result<Receipt, V2Error> {
    verify_labelled(
        friend_signing_key,
        &Receipt::signed_message(bytes),
        signature,
    )?;
    let receipt =
        Receipt::parse(bytes).map_err(|_| V2Error::Malformed("fetch receipt is malformed"))?;
    if receipt.owner != *expected_owner.as_bytes() {
        return Err(V2Error::Malformed("fetch receipt names another owner"));
    }
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: Uuid = Uuid::from_bytes([1; 16]);
    const FRIEND: Uuid = Uuid::from_bytes([2; 16]);

    fn meta() -> VolumeName {
        VolumeName::new("meta").expect("valid")
    }

    #[test]
    fn sign_then_verify_floors_the_hour() {
        let friend = Identity::generate();
        let signed =
            sign_receipt(&friend, OWNER, FRIEND, &meta(), 2, 7, 1_774_612_345).expect("signs");
        let r = verify_receipt(
            &friend.public_signing_key(),
            &signed.bytes,
            &signed.signature,
            OWNER,
        )
        .expect("verifies");
        assert_eq!((r.epoch, r.version, r.hour), (2, 7, 1_774_609_200));
        assert_eq!(r.friend, *FRIEND.as_bytes());
    }

    #[test]
    fn forged_altered_or_misaddressed_receipts_fail() {
        let friend = Identity::generate();
        let other = Identity::generate();
        let signed =
            sign_receipt(&friend, OWNER, FRIEND, &meta(), 1, 3, 1_774_609_200).expect("signs");
        // Signed by a key that is not the pinned friend's.
        let forged =
            sign_receipt(&other, OWNER, FRIEND, &meta(), 1, 3, 1_774_609_200).expect("signs");
        assert_eq!(
            verify_receipt(
                &friend.public_signing_key(),
                &forged.bytes,
                &forged.signature,
                OWNER
            ),
            Err(V2Error::BadSignature)
        );
        // One byte of the version altered.
        let mut altered = signed.bytes.clone();
        let at = altered.len() - 9;
        altered[at] ^= 1;
        assert_eq!(
            verify_receipt(
                &friend.public_signing_key(),
                &altered,
                &signed.signature,
                OWNER
            ),
            Err(V2Error::BadSignature)
        );
        // Another owner's receipt.
        assert!(matches!(
            verify_receipt(
                &friend.public_signing_key(),
                &signed.bytes,
                &signed.signature,
                FRIEND
            ),
            Err(V2Error::Malformed(_))
        ));
        assert!(sign_receipt(&friend, OWNER, FRIEND, &meta(), 0, 1, 0).is_err());
    }
}
