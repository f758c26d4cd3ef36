//! The v2 symmetric secrets a caller holds: volume keys and invite secrets.

use std::fmt;

use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::random;

/// Defines a 32-byte secret with the house rules: zeroized on drop, redacted `Debug`, no
/// `Clone`/`Display`/`Serialize`, constant-time equality, one `expose_secret` accessor.
macro_rules! secret32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = 32;

            /// A fresh random value from operating-system randomness.
            ///
            /// # Panics
            /// Only if the operating system cannot supply randomness.
            #[must_use]
            pub fn generate() -> Self {
                let mut key = Self([0u8; 32]);
                random::fill(&mut key.0);
                key
            }

            /// Wraps stored bytes (e.g. loaded from secure storage). The caller still owns its
            /// copy of `bytes` and should wipe it.
            #[must_use]
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw bytes: the only way to read them. Callers that copy them take over the
            /// duty to wipe the copy.
            #[must_use]
            pub fn expose_secret(&self) -> &[u8; 32] {
                &self.0
            }

            /// An all-zero value to be filled in place (never built on the stack and copied).
            pub(crate) fn zeroed() -> Self {
                Self([0u8; 32])
            }

            /// Mutable access for in-place decryption.
            pub(crate) fn bytes_mut(&mut self) -> &mut [u8; 32] {
                &mut self.0
            }
        }

        impl ConstantTimeEq for $name {
            fn ct_eq(&self, other: &Self) -> Choice {
                self.0.ct_eq(&other.0)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.ct_eq(other).into()
            }
        }

        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret32!(
    /// A volume encryption key (VEK): random, one per (volume, epoch) (P1). It never encrypts
    /// directly: every version gets its own HKDF subkey (P2). Friends receive it wrapped per
    /// pair ([`super::WrapKey`]); a new epoch (rotation, revocation) means a new key.
    VolumeKey
);

secret32!(
    /// The invite secret of a pairing link (§5): travels out of band in the link, never to the
    /// relay. Keys the friend's pairing proof; the system keeps it until the pairing is
    /// confirmed and then wipes it.
    InviteSecret
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_generation_and_redaction() {
        assert_eq!(
            VolumeKey::from_bytes([7; 32]),
            VolumeKey::from_bytes([7; 32])
        );
        let mut other = [7; 32];
        other[31] = 8;
        assert_ne!(VolumeKey::from_bytes([7; 32]), VolumeKey::from_bytes(other));
        assert_ne!(VolumeKey::generate(), VolumeKey::generate());
        assert_ne!(InviteSecret::generate(), InviteSecret::generate());
        assert_eq!(
            format!("{:?}", VolumeKey::zeroed()),
            "VolumeKey(<redacted>)"
        );
        assert_eq!(
            format!("{:#?}", InviteSecret::from_bytes([1; 32])),
            "InviteSecret(<redacted>)"
        );
        let mut key = VolumeKey::from_bytes([0xab; 32]);
        key.zeroize();
        assert_eq!(key.expose_secret(), &[0u8; 32]);
        key.bytes_mut()[0] = 1;
        assert_eq!(key.expose_secret()[0], 1);
    }
}
