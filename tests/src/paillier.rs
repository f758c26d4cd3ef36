//! Just enough Paillier (python-paillier's arithmetic and serialisation) to check
//! `POST /api/v1/analytics/aggregate` (v1.md §1.3 #20, §2.10): the test encrypts, the relay adds,
//! the test decrypts.
//!
//! Keys: the Mersenne primes 2^521−1 and 2^607−1 (n ≈ 1128 bits) — public, fixed, never secret;
//! the only point is that the relay's homomorphic sum decrypts to the sum of the plaintexts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use num_bigint::BigUint;
use serde_json::{Value, json};

/// python-paillier's `EncodedNumber.BASE`: a value is `mantissa · 16^exponent`.
pub const BASE: u32 = 16;

/// A Paillier key pair with `g = n + 1`.
#[derive(Debug, Clone)]
pub struct Paillier {
    /// The public modulus.
    pub n: BigUint,
    n2: BigUint,
    phi: BigUint,
    mu: BigUint,
}

impl Paillier {
    /// A key pair from two distinct primes.
    pub fn from_primes(p: &BigUint, q: &BigUint) -> Paillier {
        let one = BigUint::from(1u32);
        let n = p * q;
        let n2 = &n * &n;
        let phi = (p - &one) * (q - &one);
        let mu = (&phi % &n).modinv(&n).expect("phi is invertible mod n");
        Paillier { n, n2, phi, mu }
    }

    /// The fixed test key: p = 2^521 − 1, q = 2^607 − 1.
    pub fn test_key() -> Paillier {
        let one = BigUint::from(1u32);
        let p = (&one << 521u32) - &one;
        let q = (&one << 607u32) - &one;
        Paillier::from_primes(&p, &q)
    }

    /// n².
    pub fn n_squared(&self) -> &BigUint {
        &self.n2
    }

    /// `{"n": "<decimal>"}` as the friend sends it.
    pub fn public_key_json(&self) -> Value {
        json!({"n": self.n.to_str_radix(10)})
    }

    /// `(1 + m·n) · r^n mod n²`.
    pub fn encrypt(&self, m: u64, r: u64) -> BigUint {
        let gm = (BigUint::from(1u32) + BigUint::from(m) * &self.n) % &self.n2;
        let rn = BigUint::from(r).modpow(&self.n, &self.n2);
        (gm * rn) % &self.n2
    }

    /// `L(c^φ mod n²) · φ⁻¹ mod n`.
    pub fn decrypt(&self, c: &BigUint) -> BigUint {
        let u = c.modpow(&self.phi, &self.n2);
        let l = (u - BigUint::from(1u32)) / &self.n;
        (l * &self.mu) % &self.n
    }

    /// python-paillier's `decrease_exponent_to`: `c^(16^(from − to))`, the ciphertext of the
    /// same value with a mantissa scaled to exponent `to` (< `from`).
    pub fn lower_exponent(&self, c: &BigUint, from: i64, to: i64) -> BigUint {
        assert!(to <= from, "can only lower an exponent");
        let factor = BigUint::from(BASE).pow(u32::try_from(from - to).expect("small difference"));
        c.modpow(&factor, &self.n2)
    }
}

/// An `EncryptedNumber` as the counters carry it: base64 of
/// `{"ciphertext": "<decimal>", "exponent": <int>}` (python `json.dumps` spacing).
pub fn encode_number(ciphertext: &BigUint, exponent: i64) -> String {
    let text = format!(
        "{{\"ciphertext\": \"{}\", \"exponent\": {exponent}}}",
        ciphertext.to_str_radix(10)
    );
    STANDARD.encode(text)
}

/// Parses an aggregate: base64 of `{"ciphertext": "<decimal>", "exponent": <int>}`.
pub fn decode_number(b64: &str) -> (BigUint, i64) {
    let bytes = STANDARD
        .decode(b64)
        .unwrap_or_else(|e| panic!("aggregate {b64:?} is not base64: {e}"));
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "aggregate is not JSON: {e}: {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    let c = v["ciphertext"]
        .as_str()
        .and_then(|s| BigUint::parse_bytes(s.as_bytes(), 10))
        .unwrap_or_else(|| panic!("aggregate ciphertext is not a decimal string: {v}"));
    let e = v["exponent"]
        .as_i64()
        .unwrap_or_else(|| panic!("aggregate exponent is not an integer: {v}"));
    (c, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homomorphic_sum_round_trip() {
        let k = Paillier::test_key();
        assert!(k.n.bits() > 1100 && k.n.bits() < 1200);
        let a = k.encrypt(17, 12345);
        let b = k.encrypt(25, 67890);
        assert_eq!(k.decrypt(&a), BigUint::from(17u32));
        assert_eq!(
            k.decrypt(&((&a * &b) % k.n_squared())),
            BigUint::from(42u32)
        );
        // 17·16^0 + 25·16^-1 at exponent -1 = 17·16 + 25.
        let aligned = k.lower_exponent(&a, 0, -1);
        assert_eq!(
            k.decrypt(&((aligned * &b) % k.n_squared())),
            BigUint::from(17u32 * 16 + 25)
        );
        let (c, e) = decode_number(&encode_number(&a, -3));
        assert_eq!((c, e), (a, -3));
    }
}
