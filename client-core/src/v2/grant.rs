//! Owner-signed grants (§6, P6): which volumes, at which key epoch, a friend may read.
//!
//! The relay stores and serves the exact grant bytes; a friend verifies them under the pinned
//! owner key before trusting anything the relay says about its access. The sequence check
//! against replays lives in [`super::HighWater`].

use std::fmt;

use coffer_wire::v2::{Grant, Label, labelled};
use uuid::Uuid;

use super::{Fingerprint, V2Error, verify_labelled};
use crate::identity::{Identity, SIGNATURE_LEN};

/// A grant as the owner uploads it (`PUT /grants/{friend_id}`).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedGrant {
    /// The exact grant bytes `G` (send as base64; never re-encode).
    pub bytes: Vec<u8>,
    /// `Ed25519(sk_owner, label(grant) ‖ G)`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for SignedGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedGrant")
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// A grant whose owner signature verified over its exact bytes, addressed to the expected
/// friend and fingerprint, and unexpired when checked. Only [`verify_grant`] constructs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedGrant {
    grant: Grant,
    bytes: Vec<u8>,
    signature: [u8; SIGNATURE_LEN],
}

impl VerifiedGrant {
    /// The parsed grant.
    #[must_use]
    pub fn grant(&self) -> &Grant {
        &self.grant
    }
    /// The exact bytes that were signed.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The owner's signature.
    #[must_use]
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }
    /// The owner.
    #[must_use]
    pub fn owner(&self) -> Uuid {
        Uuid::from_bytes(self.grant.owner)
    }
    /// The friend.
    #[must_use]
    pub fn friend(&self) -> Uuid {
        Uuid::from_bytes(self.grant.friend)
    }
    /// The sequence number.
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.grant.sequence
    }
    /// The epoch granted for `volume`, if it is granted.
    #[must_use]
    pub fn epoch_of(&self, volume: &str) -> Option<u32> {
        self.grant.epoch_of(volume)
    }
}

fn grant_message(bytes: &[u8]) -> Vec<u8> {
    let mut msg = labelled(Label::Grant);
    msg.extend_from_slice(bytes);
    msg
}

/// Encodes and signs a grant.
///
/// # Errors
/// [`V2Error::MalformedGrant`] if the encoding would not parse (duplicate volumes, epoch 0,
/// sequence 0 or above `i64::MAX`, too many entries): nothing a reader would refuse is signed.
pub fn sign_grant(identity: &Identity, grant: &Grant) -> Result<SignedGrant, V2Error> {
    let bytes = grant.to_bytes();
    Grant::parse(&bytes)?;
    let signature = identity.sign(&grant_message(&bytes));
    Ok(SignedGrant { bytes, signature })
}

/// Verifies a served grant. Checks, in order: the owner's signature over the exact bytes; the
/// parse; that owner, friend and friend fingerprint are the expected ones; the expiry
/// (`expires_at` ≠ 0 and `now` ≥ `expires_at` means expired).
///
/// # Errors
/// [`V2Error::InvalidSigningKey`], [`V2Error::BadSignature`], [`V2Error::MalformedGrant`],
/// [`V2Error::GrantNotForMe`], [`V2Error::GrantExpired`].
pub fn verify_grant(
    owner_signing_key: &[u8; 32],
    bytes: &[u8],
    signature: &[u8; SIGNATURE_LEN],
    expected_owner: Uuid,
    expected_friend: Uuid,
    expected_friend_fingerprint: &Fingerprint,
    now_unix: u64,
) -> Result<VerifiedGrant, V2Error> {
    verify_labelled(owner_signing_key, &grant_message(bytes), signature)?;
    let grant = Grant::parse(bytes)?;
    if grant.owner != *expected_owner.as_bytes()
        || grant.friend != *expected_friend.as_bytes()
        || Fingerprint::from_bytes(grant.friend_fingerprint) != *expected_friend_fingerprint
    {
        return Err(V2Error::GrantNotForMe);
    }
    if grant.expires_at != 0 && now_unix >= grant.expires_at {
        return Err(V2Error::GrantExpired {
            expires_at: grant.expires_at,
        });
    }
    Ok(VerifiedGrant {
        grant,
        bytes: bytes.to_vec(),
        signature: *signature,
    })
}

#[cfg(test)]
mod tests {
    use coffer_wire::v2::{GrantEntry, VolumeName};

    use super::*;

    const OWNER: Uuid = Uuid::from_bytes([1; 16]);
    const FRIEND: Uuid = Uuid::from_bytes([2; 16]);

    fn grant(fp: Fingerprint, expires_at: u64) -> Grant {
        Grant {
            owner: *OWNER.as_bytes(),
            friend: *FRIEND.as_bytes(),
            friend_fingerprint: *fp.as_bytes(),
            sequence: 3,
            expires_at,
            entries: vec![GrantEntry {
                volume: VolumeName::new("meta").expect("valid"),
                epoch: 2,
            }],
        }
    }

    #[test]
    fn verify_checks() {
        let owner = Identity::generate();
        let fp = Identity::generate().fingerprint();
        let pk = owner.public_signing_key();
        let signed = sign_grant(&owner, &grant(fp, 1000)).expect("valid grant");
        let ok = verify_grant(
            &pk,
            &signed.bytes,
            &signed.signature,
            OWNER,
            FRIEND,
            &fp,
            999,
        )
        .expect("verifies");
        assert_eq!(ok.epoch_of("meta"), Some(2));
        assert_eq!((ok.owner(), ok.friend(), ok.sequence()), (OWNER, FRIEND, 3));
        let check = |owner, friend, fp: &Fingerprint, now| {
            verify_grant(
                &pk,
                &signed.bytes,
                &signed.signature,
                owner,
                friend,
                fp,
                now,
            )
            .err()
        };
        assert_eq!(
            check(OWNER, FRIEND, &fp, 1000),
            Some(V2Error::GrantExpired { expires_at: 1000 })
        );
        let other = Identity::generate().fingerprint();
        assert_eq!(
            check(OWNER, FRIEND, &other, 0),
            Some(V2Error::GrantNotForMe)
        );
        assert_eq!(check(OWNER, OWNER, &fp, 0), Some(V2Error::GrantNotForMe));
        assert_eq!(check(FRIEND, FRIEND, &fp, 0), Some(V2Error::GrantNotForMe));
        let mut altered = signed.bytes.clone();
        altered[5] ^= 1;
        assert_eq!(
            verify_grant(&pk, &altered, &signed.signature, OWNER, FRIEND, &fp, 0).err(),
            Some(V2Error::BadSignature)
        );
        // Never expires.
        let forever = sign_grant(&owner, &grant(fp, 0)).expect("valid grant");
        assert!(
            verify_grant(
                &pk,
                &forever.bytes,
                &forever.signature,
                OWNER,
                FRIEND,
                &fp,
                u64::MAX
            )
            .is_ok()
        );
    }

    #[test]
    fn unparseable_grants_are_not_signed() {
        let owner = Identity::generate();
        let mut g = grant(Fingerprint::from_bytes([0; 32]), 0);
        g.sequence = 0;
        assert!(matches!(
            sign_grant(&owner, &g),
            Err(V2Error::MalformedGrant(_))
        ));
    }
}
