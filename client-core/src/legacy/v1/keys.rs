//! The two symmetric secrets of v1: the volume key (VEK) and the per-pair key-encryption key
//! (FKEK). Both are AES-256-GCM keys.

use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit as _};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::random;

/// Length of a VEK and of an FKEK.
pub const KEY_LEN: usize = 32;

/// Defines a 32-byte AES-256 key type with the house rules for secrets: zeroized on drop,
/// redacted `Debug`, constant-time equality, a single `expose_secret` accessor.
macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = KEY_LEN;

            /// The raw key bytes: the only way to read them. Callers that copy them take over
            /// the duty to wipe the copy.
            #[must_use]
            pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
                &self.0
            }

            /// An all-zero key to be filled in place, so the secret is never built on the
            /// stack and then copied into the struct.
            pub(crate) fn zeroed() -> Self {
                Self([0u8; KEY_LEN])
            }

            /// Mutable access for in-place derivation or decryption.
            pub(crate) fn bytes_mut(&mut self) -> &mut [u8; KEY_LEN] {
                &mut self.0
            }

            /// An AES-256-GCM instance keyed with this key (its round keys wipe on drop).
            pub(crate) fn cipher(&self) -> Aes256Gcm {
                Aes256Gcm::new((&self.0).into())
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

secret_key!(
    /// Volume Encryption Key: the AES-256-GCM key of every volume of a system (v1.md §2.1).
    ///
    /// In v1 one VEK encrypts all volumes and is shared with every accepted friend (W3).
    Vek
);

secret_key!(
    /// Friend Key-Encryption Key: HKDF-SHA256 of the X25519 shared secret between a system
    /// and a friend (v1.md §2.6); it wraps the VEK. Only [`super::fkek`] creates one.
    Fkek
);

impl Vek {
    /// A fresh random VEK from operating-system randomness.
    ///
    /// # Panics
    /// Only if the operating system cannot supply randomness.
    #[must_use]
    pub fn generate() -> Vek {
        let mut vek = Vek::zeroed();
        random::fill(vek.bytes_mut());
        vek
    }

    /// Wraps stored VEK bytes (e.g. loaded from secure storage). The caller still owns its
    /// copy of `bytes` and should wipe it.
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Vek {
        Vek(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_is_by_value() {
        assert_eq!(Vek::from_bytes([7; 32]), Vek::from_bytes([7; 32]));
        assert_ne!(Vek::from_bytes([7; 32]), Vek::from_bytes([8; 32]));
        let mut last = [7; 32];
        last[31] = 0;
        assert_ne!(Vek::from_bytes([7; 32]), Vek::from_bytes(last));
        assert_ne!(Vek::generate(), Vek::generate());
    }

    #[test]
    fn zeroize_wipes() {
        let mut vek = Vek::from_bytes([0xab; 32]);
        vek.zeroize();
        assert_eq!(vek.expose_secret(), &[0u8; 32]);
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Vek::from_bytes([0xab; 32])),
            "Vek(<redacted>)"
        );
        assert_eq!(format!("{:?}", Fkek::zeroed()), "Fkek(<redacted>)");
    }
}
