//! v1 challenge/response login (v1.md §2.3).

use crate::identity::{Identity, SIGNATURE_LEN};

/// Signs a login challenge the v1 way: Ed25519 over the UTF-8 bytes of the nonce **text
/// exactly as the relay sent it** (the 44 base64 characters), not over its decoded bytes.
///
/// v1 login signatures carry no domain separation (W10): the relay chooses the string that
/// gets signed. Pass only the `nonce` field of a `POST /auth/challenge` answer.
#[must_use]
pub fn sign_login(id: &Identity, nonce_text: &str) -> [u8; SIGNATURE_LEN] {
    id.sign(nonce_text.as_bytes())
}
