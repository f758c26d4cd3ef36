//! Wrapping volume keys for one friend (§6, P1, P5).
//!
//! One [`WrapKey`] per (owner, friend) pair: HKDF of the raw X25519 secret, bound to both ids
//! and both fingerprints. Each wrapped key is additionally bound to its volume and epoch through
//! the associated data, so a relay cannot hand a friend volume A's key as volume B's, or an old
//! epoch's key as the current one.

use std::fmt;

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut as _, Nonce, Tag};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use coffer_wire::v2::{Label, VolumeName, labelled};
use subtle::ConstantTimeEq as _;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{
    Fingerprint, NONCE_LEN, PublicIdentity, TAG_LEN, V2Error, VolumeKey, hkdf32, put_str8,
};
use crate::identity::Identity;
use crate::random;

/// Length of a wrapped volume key: nonce 12 ‖ ciphertext 32 ‖ tag 16.
pub const WRAPPED_KEY_LEN: usize = NONCE_LEN + 32 + TAG_LEN;

/// Which end of a pairing the caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The system: owns the volumes, wraps keys.
    Owner,
    /// The friend: unwraps them.
    Friend,
}

/// The key-encryption key of one (owner, friend) pair. Both ends derive the same key: the owner
/// from its secret and the friend's public keys, the friend from its secret and the owner's.
///
/// Secret: zeroized on drop, `Debug` shows only the two (public) ids.
pub struct WrapKey {
    key: Zeroizing<[u8; 32]>,
    owner: Uuid,
    friend: Uuid,
}

impl WrapKey {
    /// Derives the pair's key:
    /// `HKDF-SHA256(X25519(x_self, x_peer), info = label(wrap-key) ‖ owner ‖ friend ‖ fp_owner ‖ fp_friend)`.
    ///
    /// Whoever supplies the peer's keys decides who can unwrap, so `peer` is checked against
    /// `pinned_peer`, the fingerprint pinned at pairing (P5), before anything is derived.
    ///
    /// # Errors
    /// [`V2Error::KeyChanged`] if `peer` does not match the pin; [`V2Error::LowOrderExchangeKey`]
    /// if the shared secret is all zeros.
    pub fn derive(
        own: &Identity,
        side: Side,
        owner: Uuid,
        friend: Uuid,
        peer: &PublicIdentity,
        pinned_peer: &Fingerprint,
    ) -> Result<WrapKey, V2Error> {
        peer.check_pin(pinned_peer)?;
        let shared = own.x25519(&peer.exchange_key);
        if bool::from(shared.as_bytes().ct_eq(&[0u8; 32])) {
            return Err(V2Error::LowOrderExchangeKey);
        }
        let (fp_owner, fp_friend) = match side {
            Side::Owner => (own.fingerprint(), peer.fingerprint()),
            Side::Friend => (peer.fingerprint(), own.fingerprint()),
        };
        let mut info = labelled(Label::WrapKey);
        info.extend_from_slice(owner.as_bytes());
        info.extend_from_slice(friend.as_bytes());
        info.extend_from_slice(fp_owner.as_bytes());
        info.extend_from_slice(fp_friend.as_bytes());
        Ok(WrapKey {
            key: hkdf32(shared.as_bytes(), &info),
            owner,
            friend,
        })
    }

    /// The owner of the pair.
    #[must_use]
    pub fn owner(&self) -> Uuid {
        self.owner
    }

    /// The friend of the pair.
    #[must_use]
    pub fn friend(&self) -> Uuid {
        self.friend
    }

    /// `label(wrap-aad) ‖ owner ‖ friend ‖ str8(volume) ‖ u32(epoch)`.
    fn aad(&self, volume: &VolumeName, epoch: u32) -> Vec<u8> {
        let mut aad = labelled(Label::WrapAad);
        aad.extend_from_slice(self.owner.as_bytes());
        aad.extend_from_slice(self.friend.as_bytes());
        put_str8(&mut aad, volume);
        aad.extend_from_slice(&epoch.to_be_bytes());
        aad
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&*self.key).into())
    }

    /// Wraps `vek` (the key of `volume` at `epoch`) under a fresh random nonce.
    ///
    /// # Panics
    /// Only if the operating system cannot supply randomness.
    #[must_use]
    pub fn wrap(&self, volume: &VolumeName, epoch: u32, vek: &VolumeKey) -> [u8; WRAPPED_KEY_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        random::fill(&mut nonce);
        self.danger_wrap_with_nonce(volume, epoch, vek, nonce)
    }

    /// [`Self::wrap`] under a caller-chosen nonce. **Only for generating
    /// `docs/vectors/v2.json`**: a repeated nonce under one pair key breaks AES-GCM.
    #[doc(hidden)]
    #[must_use]
    pub fn danger_wrap_with_nonce(
        &self,
        volume: &VolumeName,
        epoch: u32,
        vek: &VolumeKey,
        nonce: [u8; NONCE_LEN],
    ) -> [u8; WRAPPED_KEY_LEN] {
        let mut out = [0u8; WRAPPED_KEY_LEN];
        let (nonce_out, rest) = out.split_at_mut(NONCE_LEN);
        let (body, tag_out) = rest.split_at_mut(32);
        nonce_out.copy_from_slice(&nonce);
        // Copied only to be encrypted over in place.
        body.copy_from_slice(vek.expose_secret());
        let tag = self
            .cipher()
            .encrypt_inout_detached(
                &Nonce::<Aes256Gcm>::from(nonce),
                &self.aad(volume, epoch),
                InOutBuf::from(body),
            )
            .expect("AES-GCM never refuses a 32-byte message");
        tag_out.copy_from_slice(&tag);
        out
    }

    /// Unwraps the key of `volume` at `epoch`.
    ///
    /// # Errors
    /// [`V2Error::WrappedKeyLength`] unless 60 bytes; [`V2Error::UnwrapFailed`] if it was
    /// altered, wrapped for another pair, volume or epoch, or under other keys.
    pub fn unwrap(
        &self,
        volume: &VolumeName,
        epoch: u32,
        wrapped: &[u8],
    ) -> Result<VolumeKey, V2Error> {
        let wrong = V2Error::WrappedKeyLength { len: wrapped.len() };
        let wrapped = <&[u8; WRAPPED_KEY_LEN]>::try_from(wrapped).map_err(|_| wrong.clone())?;
        let (nonce, rest) = wrapped
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(wrong.clone())?;
        let (body, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or(wrong.clone())?;
        let mut vek = VolumeKey::zeroed();
        // Decrypted straight into the key's storage; dropped (wiped) on failure.
        let buffer = InOutBuf::new(body, vek.bytes_mut()).map_err(|_| wrong)?;
        self.cipher()
            .decrypt_inout_detached(
                nonce.into(),
                &self.aad(volume, epoch),
                buffer,
                &Tag::<Aes256Gcm>::from(*tag),
            )
            .map_err(|_| V2Error::UnwrapFailed)?;
        Ok(vek)
    }
}

impl fmt::Debug for WrapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrapKey")
            .field("owner", &self.owner)
            .field("friend", &self.friend)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: Uuid = Uuid::from_bytes([1; 16]);
    const FRIEND: Uuid = Uuid::from_bytes([2; 16]);

    fn name(n: &str) -> VolumeName {
        VolumeName::new(n).expect("valid")
    }

    #[test]
    fn both_sides_agree_and_bindings_hold() {
        let system = Identity::generate();
        let friend = Identity::generate();
        let owner_side = WrapKey::derive(
            &system,
            Side::Owner,
            OWNER,
            FRIEND,
            &friend.public_identity(),
            &friend.fingerprint(),
        )
        .expect("contributory");
        let friend_side = WrapKey::derive(
            &friend,
            Side::Friend,
            OWNER,
            FRIEND,
            &system.public_identity(),
            &system.fingerprint(),
        )
        .expect("contributory");
        let vek = VolumeKey::generate();
        let wrapped = owner_side.wrap(&name("meta"), 3, &vek);
        assert_eq!(friend_side.unwrap(&name("meta"), 3, &wrapped), Ok(vek));
        let fail = Err(V2Error::UnwrapFailed);
        assert_eq!(friend_side.unwrap(&name("fronts"), 3, &wrapped), fail);
        assert_eq!(friend_side.unwrap(&name("meta"), 2, &wrapped), fail);
        // Same raw DH, other ids or sides: another key.
        let swapped_ids = WrapKey::derive(
            &friend,
            Side::Friend,
            FRIEND,
            OWNER,
            &system.public_identity(),
            &system.fingerprint(),
        )
        .expect("contributory");
        assert_eq!(swapped_ids.unwrap(&name("meta"), 3, &wrapped), fail);
        let wrong_side = WrapKey::derive(
            &friend,
            Side::Owner,
            OWNER,
            FRIEND,
            &system.public_identity(),
            &system.fingerprint(),
        )
        .expect("contributory");
        assert_eq!(wrong_side.unwrap(&name("meta"), 3, &wrapped), fail);
        // Same X25519 key, substituted signing key: another fingerprint, another key.
        let mut substituted = system.public_identity();
        substituted.signing_key = Identity::generate().public_signing_key();
        let pinned = system.fingerprint();
        assert_eq!(
            WrapKey::derive(&friend, Side::Friend, OWNER, FRIEND, &substituted, &pinned).err(),
            Some(V2Error::KeyChanged)
        );
        // Even with the substitute pinned, the fingerprints in the KDF give another key.
        let subst = WrapKey::derive(
            &friend,
            Side::Friend,
            OWNER,
            FRIEND,
            &substituted,
            &substituted.fingerprint(),
        )
        .expect("contributory");
        assert_eq!(subst.unwrap(&name("meta"), 3, &wrapped), fail);
        assert!(format!("{friend_side:?}").contains("<redacted>"));
    }

    #[test]
    fn refusals() {
        let own = Identity::generate();
        let peer = PublicIdentity::new([9; 32], [0; 32]);
        assert_eq!(
            WrapKey::derive(&own, Side::Owner, OWNER, FRIEND, &peer, &peer.fingerprint()).err(),
            Some(V2Error::LowOrderExchangeKey)
        );
        let peer = Identity::generate().public_identity();
        let key = WrapKey::derive(&own, Side::Owner, OWNER, FRIEND, &peer, &peer.fingerprint())
            .expect("contributory");
        for len in [0, 59, 61] {
            assert_eq!(
                key.unwrap(&name("meta"), 1, &vec![0; len]).err(),
                Some(V2Error::WrappedKeyLength { len })
            );
        }
    }
}
