//! The pairing proof (§5, P5): the friend proves, with the invite secret the relay never saw,
//! that the keys in its redeem request are its own.
//!
//! `key = HKDF-SHA256(secret, info = label(pairing-key))`,
//! `proof = HMAC-SHA256(key, label(pairing-proof) ‖ str8(code) ‖ friend_id ‖ friend_pk ‖ friend_xpk)`.

use coffer_wire::v2::{Label, labelled};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use uuid::Uuid;

use super::{InviteSecret, PublicIdentity, V2Error, hkdf32};

fn proof_mac(
    secret: &InviteSecret,
    code: &str,
    friend_id: Uuid,
    friend: &PublicIdentity,
) -> Result<Hmac<Sha256>, V2Error> {
    let code_len = u8::try_from(code.len())
        .ok()
        .filter(|&len| len > 0)
        .ok_or(V2Error::InvalidArgument("invite code must be 1-255 bytes"))?;
    let key = hkdf32(secret.expose_secret(), &labelled(Label::PairingKey));
    let mut mac = <Hmac<Sha256>>::new_from_slice(&key[..])
        .map_err(|_| V2Error::InvalidArgument("HMAC key"))?;
    mac.update(&labelled(Label::PairingProof));
    mac.update(&[code_len]);
    mac.update(code.as_bytes());
    mac.update(friend_id.as_bytes());
    mac.update(&friend.signing_key);
    mac.update(&friend.exchange_key);
    Ok(mac)
}

/// The friend's proof for `POST /invites/redeem`, over its own id and public keys.
///
/// # Errors
/// [`V2Error::InvalidArgument`] if `code` is empty or longer than 255 bytes.
pub fn pairing_proof(
    secret: &InviteSecret,
    code: &str,
    friend_id: Uuid,
    friend: &PublicIdentity,
) -> Result<[u8; 32], V2Error> {
    Ok(proof_mac(secret, code, friend_id, friend)?
        .finalize()
        .into_bytes()
        .into())
}

/// The system's check of a redeemed invite: does `proof` (as the relay relays it) match the
/// friend id and keys the relay presents? Constant time. `false` means the relay (or someone
/// who does not know the secret) supplied the keys: do not pair.
#[must_use]
pub fn verify_pairing_proof(
    secret: &InviteSecret,
    code: &str,
    friend_id: Uuid,
    friend: &PublicIdentity,
    proof: &[u8],
) -> bool {
    proof_mac(secret, code, friend_id, friend).is_ok_and(|mac| mac.verify_slice(proof).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_binds_every_input() {
        let secret = InviteSecret::generate();
        let friend = PublicIdentity::new([1; 32], [2; 32]);
        let id = Uuid::from_bytes([3; 16]);
        let proof = pairing_proof(&secret, "ABCD2345EFGH", id, &friend).expect("valid code");
        assert!(verify_pairing_proof(
            &secret,
            "ABCD2345EFGH",
            id,
            &friend,
            &proof
        ));
        assert!(!verify_pairing_proof(
            &secret,
            "ABCD2345EFGX",
            id,
            &friend,
            &proof
        ));
        assert!(!verify_pairing_proof(
            &secret,
            "ABCD2345EFGH",
            Uuid::from_bytes([4; 16]),
            &friend,
            &proof
        ));
        let substituted = PublicIdentity::new([1; 32], [9; 32]);
        assert!(!verify_pairing_proof(
            &secret,
            "ABCD2345EFGH",
            id,
            &substituted,
            &proof
        ));
        assert!(!verify_pairing_proof(
            &InviteSecret::generate(),
            "ABCD2345EFGH",
            id,
            &friend,
            &proof
        ));
        assert!(!verify_pairing_proof(
            &secret,
            "ABCD2345EFGH",
            id,
            &friend,
            &proof[..31]
        ));
        assert!(!verify_pairing_proof(&secret, "", id, &friend, &proof));
        assert!(pairing_proof(&secret, &"A".repeat(256), id, &friend).is_err());
    }
}
