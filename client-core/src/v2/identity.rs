//! The v2 methods of [`Identity`] (§2, §3): key binding, fingerprint, v2 login signature.
//!
//! They live here rather than in `identity.rs` because each signs a v2-labelled message: the
//! identity itself stays protocol-neutral and never signs caller-chosen bytes.

use coffer_wire::v2::api::{ClientType, Handle};
use coffer_wire::v2::{key_binding_message, login_transcript, register_message};
use uuid::Uuid;

use super::{Fingerprint, PublicIdentity, V2Error};
use crate::identity::{Identity, SIGNATURE_LEN};

/// Longest origin the login transcript carries (`str16`).
const MAX_ORIGIN_LEN: usize = u16::MAX as usize;

impl Identity {
    /// The key-binding signature sent at registration:
    /// `Ed25519(sk, label(key-binding) ‖ pk ‖ xpk)` (proof of possession of the signing key
    /// and binding of the exchange key to it).
    #[must_use]
    pub fn key_binding_signature(&self) -> [u8; SIGNATURE_LEN] {
        self.sign(&key_binding_message(
            &self.public_signing_key(),
            &self.public_exchange_key(),
        ))
    }

    /// This identity's public keys.
    #[must_use]
    pub fn public_identity(&self) -> PublicIdentity {
        PublicIdentity::new(self.public_signing_key(), self.public_exchange_key())
    }

    /// This identity's fingerprint (what peers pin, and what the invite link carries).
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.public_identity().fingerprint()
    }

    /// Signs a v2 login challenge:
    /// `Ed25519(sk, label(login) ‖ str16(origin) ‖ user_id ‖ nonce)`, where `origin` is the
    /// origin this client dialled (`https://host:port`, no trailing slash) — never one the relay
    /// suggested, or a phishing relay could relay the challenge.
    ///
    /// # Errors
    /// [`V2Error::InvalidArgument`] for an empty origin, one longer than 65535 bytes, or one
    /// ending in `/`.
    pub fn sign_login_v2(
        &self,
        origin: &str,
        user_id: Uuid,
        nonce: &[u8; 32],
    ) -> Result<[u8; SIGNATURE_LEN], V2Error> {
        if origin.is_empty() || origin.len() > MAX_ORIGIN_LEN || origin.ends_with('/') {
            return Err(V2Error::InvalidArgument(
                "login origin must be https://host:port without a trailing slash",
            ));
        }
        let transcript = login_transcript(origin, user_id.as_bytes(), nonce).ok_or(
            V2Error::InvalidArgument("login origin is longer than 65535 bytes"),
        )?;
        Ok(self.sign(&transcript))
    }

    /// Signs a v2 registration (§3):
    /// `Ed25519(sk, label(register) ‖ str16(origin) ‖ u8(client type) ‖ str16(handle) ‖ pk ‖ xpk)`,
    /// where `origin` is the relay origin this client dialled. The relay refuses a registration
    /// without it, so nobody holding only these public keys can register them first, and the
    /// signature is worth nothing on another relay or for another type or handle.
    ///
    /// # Errors
    /// [`V2Error::InvalidArgument`] for an empty origin, one longer than 65535 bytes, or one
    /// ending in `/`.
    pub fn sign_registration_v2(
        &self,
        origin: &str,
        client_type: ClientType,
        handle: Option<&Handle>,
    ) -> Result<[u8; SIGNATURE_LEN], V2Error> {
        if origin.is_empty() || origin.len() > MAX_ORIGIN_LEN || origin.ends_with('/') {
            return Err(V2Error::InvalidArgument(
                "registration origin must be https://host:port without a trailing slash",
            ));
        }
        let message = register_message(
            origin,
            client_type,
            handle,
            &self.public_signing_key(),
            &self.public_exchange_key(),
        )
        .ok_or(V2Error::InvalidArgument(
            "registration origin is longer than 65535 bytes",
        ))?;
        Ok(self.sign(&message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, VerifyingKey};

    #[test]
    fn registration_signature_is_bound_to_origin_type_and_handle() {
        let id = Identity::generate();
        let (pk, xpk) = (id.public_signing_key(), id.public_exchange_key());
        let handle = Handle::new("alice").expect("valid handle");
        let sig = id
            .sign_registration_v2("https://r:1", ClientType::Friend, Some(&handle))
            .expect("valid origin");
        let key = VerifyingKey::from_bytes(&pk).expect("valid key");
        let verifies = |origin: &str, client_type, handle: Option<&Handle>| {
            let message =
                register_message(origin, client_type, handle, &pk, &xpk).expect("short origin");
            key.verify_strict(&message, &Signature::from_bytes(&sig))
                .is_ok()
        };
        assert!(verifies("https://r:1", ClientType::Friend, Some(&handle)));
        assert!(!verifies("https://r:2", ClientType::Friend, Some(&handle)));
        assert!(!verifies("https://r:1", ClientType::System, Some(&handle)));
        assert!(!verifies("https://r:1", ClientType::Friend, None));
        for bad in ["", "https://r:1/"] {
            assert!(
                id.sign_registration_v2(bad, ClientType::System, None)
                    .is_err()
            );
        }
    }

    #[test]
    fn binding_verifies_and_is_bound_to_both_keys() {
        let id = Identity::generate();
        let sig = id.key_binding_signature();
        let public = id.public_identity();
        assert_eq!(public.verify_key_binding(&sig), Ok(()));
        let mut swapped = public;
        swapped.exchange_key = Identity::generate().public_exchange_key();
        assert_eq!(swapped.verify_key_binding(&sig), Err(V2Error::BadSignature));
        assert_eq!(id.fingerprint(), public.fingerprint());
        assert_ne!(id.fingerprint(), swapped.fingerprint());
    }

    #[test]
    fn login_is_labelled_and_checks_origin() {
        let id = Identity::generate();
        let user = Uuid::from_bytes([5; 16]);
        let sig = id
            .sign_login_v2("https://relay.example:8443", user, &[9; 32])
            .expect("valid origin");
        let transcript = login_transcript("https://relay.example:8443", user.as_bytes(), &[9; 32])
            .expect("short");
        assert_eq!(
            super::super::verify_labelled(&id.public_signing_key(), &transcript, &sig),
            Ok(())
        );
        for bad in ["", "https://relay.example/"] {
            assert!(id.sign_login_v2(bad, user, &[9; 32]).is_err());
        }
        assert!(
            id.sign_login_v2(&"a".repeat(70_000), user, &[9; 32])
                .is_err()
        );
    }
}
