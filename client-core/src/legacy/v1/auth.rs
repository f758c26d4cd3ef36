//! v1 challenge/response login (v1.md §2.3).

use super::V1Error;
use crate::identity::{Identity, SIGNATURE_LEN};

/// Length of a v1 challenge nonce's text: standard padded base64 of 32 bytes.
pub const NONCE_TEXT_LEN: usize = 44;

/// Whether `text` is what a v1 relay's challenge nonce looks like (v1.md §1.3 #3): exactly 44
/// characters of standard padded base64 that decode, canonically, to 32 bytes.
pub fn is_nonce_text(text: &str) -> bool {
    text.len() == NONCE_TEXT_LEN && coffer_wire::b64::decode_exact::<32>(text).is_ok()
}

/// Signs a login challenge the v1 way: Ed25519 over the UTF-8 bytes of the nonce **text
/// exactly as the relay sent it** (the 44 base64 characters), not over its decoded bytes.
///
/// v1 login signatures carry no domain separation (W10): the relay chooses the string that
/// gets signed. So this signs only what a challenge nonce looks like ([`is_nonce_text`]): an
/// app that uses one identity for both protocols cannot be made to sign a v2 transcript, a
/// JSON document or any other chosen text through it.
///
/// # Errors
/// [`V1Error::NotANonce`] for anything but 44 characters of canonical base64 of 32 bytes.
pub fn sign_login(id: &Identity, nonce_text: &str) -> Result<[u8; SIGNATURE_LEN], V1Error> {
    if !is_nonce_text(nonce_text) {
        return Err(V1Error::NotANonce);
    }
    Ok(id.sign(nonce_text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_NONCE: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

    #[test]
    fn a_challenge_nonce_is_signed() {
        let id = Identity::generate();
        let sig = sign_login(&id, VECTOR_NONCE).expect("a nonce");
        assert_eq!(sig, id.sign(VECTOR_NONCE.as_bytes()));
        let random = coffer_wire::b64::encode(&[0xa5; 32]);
        assert!(sign_login(&id, &random).is_ok());
    }

    #[test]
    fn anything_else_is_refused() {
        let id = Identity::generate();
        let refused = [
            "",
            "hello",
            r#"{"user_id":"x","nonce":"y"}"#,
            // A v2-looking transcript label.
            "coffer-v2/login https://relay.example.org",
            // 43 and 45 characters.
            &VECTOR_NONCE[..43],
            &format!("{VECTOR_NONCE}A"),
            // Right length, wrong alphabet (URL-safe base64, spaces, unpadded).
            "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWe_-=",
            "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWe  =",
            "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJAA",
            // Non-canonical: the last character's unused bits set.
            "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJB=",
            // 33 bytes.
            "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJCr",
            // Too long by far.
            &"A".repeat(10_000),
        ];
        for text in refused {
            assert_eq!(sign_login(&id, text), Err(V1Error::NotANonce), "{text:.60}");
        }
    }
}
