//! Paillier ciphertext addition for `POST /analytics/aggregate` (v1.md §2.10), compatible with
//! python-paillier's `EncryptedNumber`: `base64(JSON {"ciphertext": "<decimal>", "exponent": e})`.
//!
//! Only public operations: the relay multiplies ciphertexts modulo n², it never holds a private
//! key and learns nothing. The friend chooses the modulus, so every size is bounded (W19): the
//! modulus, the number of counters and values, and the exponent alignment work.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use num_bigint::BigUint;
use num_traits::Zero as _;
use serde_json::Value;

/// Largest modulus accepted, bits.
pub const MAX_MODULUS_BITS: u64 = 4096;
/// Smallest modulus accepted, bits (smaller is a toy, or an attempt at something odd).
pub const MIN_MODULUS_BITS: u64 = 64;
/// Most counters per request.
pub const MAX_COUNTERS: usize = 64;
/// Most ciphertexts per request, over all counters.
pub const MAX_VALUES: usize = 256;
/// Largest exponent difference aligned (python-paillier multiplies by 16^diff).
pub const MAX_EXPONENT_DIFF: i64 = 32;
/// python-paillier's encoding base.
const BASE: u32 = 16;

/// Why a request was refused as a whole.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaillierError {
    /// The modulus is missing, not a decimal string, even, or out of range.
    #[error(
        "public_key.n must be a decimal string of an odd modulus between {MIN_MODULUS_BITS} and {MAX_MODULUS_BITS} bits"
    )]
    BadModulus,
    /// Too many counters or values.
    #[error("at most {MAX_COUNTERS} counters and {MAX_VALUES} values in total")]
    TooMany,
    /// `counters` is not an object of lists of strings.
    #[error("counters must be an object mapping names to lists of strings")]
    BadCounters,
}

/// A public key: n and n².
#[derive(Debug)]
pub struct PublicKey {
    n: BigUint,
    n_square: BigUint,
}

impl PublicKey {
    /// Parses `{"n": "<decimal>"}`.
    pub fn from_json(value: &Value) -> Result<Self, PaillierError> {
        let text = value
            .get("n")
            .and_then(Value::as_str)
            .ok_or(PaillierError::BadModulus)?;
        // 4096 bits is at most 1234 decimal digits.
        if text.is_empty() || text.len() > 1240 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PaillierError::BadModulus);
        }
        let n = BigUint::parse_bytes(text.as_bytes(), 10).ok_or(PaillierError::BadModulus)?;
        let bits = n.bits();
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) || !n.bit(0) {
            return Err(PaillierError::BadModulus);
        }
        let n_square = &n * &n;
        Ok(Self { n, n_square })
    }
}

/// An encrypted number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedNumber {
    ciphertext: BigUint,
    exponent: i64,
}

impl EncryptedNumber {
    /// Parses python-paillier's serialisation; `None` if malformed or not a valid ciphertext.
    pub fn parse(key: &PublicKey, text: &str) -> Option<Self> {
        if text.len() > 8192 {
            return None;
        }
        let json: Value = serde_json::from_slice(&STANDARD.decode(text).ok()?).ok()?;
        let digits = json.get("ciphertext")?.as_str()?;
        if digits.is_empty() || digits.len() > 2600 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let ciphertext = BigUint::parse_bytes(digits.as_bytes(), 10)?;
        let exponent = json.get("exponent")?.as_i64()?;
        // `unsigned_abs`: `abs` of i64::MIN overflows, a panic (500) in debug builds and an
        // accepted exponent in release ones (test `extreme_exponents_are_refused`).
        if ciphertext.is_zero() || ciphertext >= key.n_square || exponent.unsigned_abs() > 1 << 20 {
            return None;
        }
        Some(Self {
            ciphertext,
            exponent,
        })
    }

    /// Serialises like python-paillier (`json.dumps` default separators).
    pub fn serialise(&self) -> String {
        STANDARD.encode(format!(
            "{{\"ciphertext\": \"{}\", \"exponent\": {}}}",
            self.ciphertext, self.exponent
        ))
    }

    /// Brings the exponent down to `target` (python-paillier `decrease_exponent_to`).
    fn lower_to(&self, key: &PublicKey, target: i64) -> Option<Self> {
        let diff = self.exponent.checked_sub(target)?;
        if !(0..=MAX_EXPONENT_DIFF).contains(&diff) {
            return None;
        }
        let factor = BigUint::from(BASE).pow(u32::try_from(diff).ok()?);
        // python-paillier refuses factors above its max_int = n // 3 - 1.
        if factor >= &key.n / 3u32 {
            return None;
        }
        Some(Self {
            ciphertext: self.ciphertext.modpow(&factor, &key.n_square),
            exponent: target,
        })
    }

    /// Homomorphic addition.
    pub fn add(&self, other: &Self, key: &PublicKey) -> Option<Self> {
        let target = self.exponent.min(other.exponent);
        let (a, b) = (self.lower_to(key, target)?, other.lower_to(key, target)?);
        Some(Self {
            ciphertext: (a.ciphertext * b.ciphertext) % &key.n_square,
            exponent: target,
        })
    }
}

/// Sums every counter; a counter that cannot be summed (empty, malformed value, exponents too
/// far apart) becomes `null`, as in v1.
pub fn aggregate(
    key: &PublicKey,
    counters: &Value,
) -> Result<serde_json::Map<String, Value>, PaillierError> {
    let map = counters.as_object().ok_or(PaillierError::BadCounters)?;
    if map.len() > MAX_COUNTERS {
        return Err(PaillierError::TooMany);
    }
    let mut total = 0usize;
    let mut lists = Vec::with_capacity(map.len());
    for (name, values) in map {
        let values = values.as_array().ok_or(PaillierError::BadCounters)?;
        total += values.len();
        if total > MAX_VALUES || name.len() > 128 {
            return Err(PaillierError::TooMany);
        }
        let texts = values
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .ok_or(PaillierError::BadCounters)?;
        lists.push((name.clone(), texts));
    }
    let mut out = serde_json::Map::new();
    for (name, texts) in lists {
        let sum = texts
            .iter()
            .map(|t| EncryptedNumber::parse(key, t))
            .try_fold(None::<EncryptedNumber>, |acc, n| {
                let n = n?;
                Some(Some(match acc {
                    None => n,
                    Some(acc) => acc.add(&n, key)?,
                }))
            })
            .flatten();
        out.insert(
            name,
            sum.map_or(Value::Null, |s| Value::String(s.serialise())),
        );
    }
    Ok(out)
}

#[cfg(test)]
fn one() -> BigUint {
    use num_traits::One as _;
    BigUint::one()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    // Two 40-bit primes: an 80-bit toy modulus, above MIN_MODULUS_BITS.
    const P: u64 = 1_099_511_627_791;
    const Q: u64 = 1_099_511_628_401;

    fn key() -> (PublicKey, BigUint, BigUint) {
        let n = BigUint::from(P) * BigUint::from(Q);
        let lambda = BigUint::from(P - 1) * BigUint::from(Q - 1);
        let pk = PublicKey::from_json(&json!({ "n": n.to_string() })).unwrap();
        (pk, n, lambda)
    }

    fn encrypt(pk: &PublicKey, n: &BigUint, m: u64, r: u64, exponent: i64) -> String {
        // g = n + 1: g^m = 1 + m·n (mod n²).
        let gm = (one() + BigUint::from(m) * n) % &pk.n_square;
        let c = gm * BigUint::from(r).modpow(n, &pk.n_square) % &pk.n_square;
        EncryptedNumber {
            ciphertext: c,
            exponent,
        }
        .serialise()
    }

    fn decrypt(pk: &PublicKey, n: &BigUint, lambda: &BigUint, text: &str) -> (BigUint, i64) {
        let e = EncryptedNumber::parse(pk, text).unwrap();
        let l = |x: BigUint| (x - one()) / n;
        // With g = n + 1, L(g^λ mod n²) = λ mod n, so m = L(c^λ) · λ⁻¹ mod n.
        let lambda_inv = lambda.modinv(n).unwrap();
        let m = l(e.ciphertext.modpow(lambda, &pk.n_square)) * lambda_inv % n;
        (m, e.exponent)
    }

    #[test]
    fn sums_like_python_paillier() {
        let (pk, n, lambda) = key();
        let counters = json!({
            "switch_count": [encrypt(&pk, &n, 5, 17, 0), encrypt(&pk, &n, 7, 23, 0), encrypt(&pk, &n, 30, 29, 0)],
            "mixed": [encrypt(&pk, &n, 3, 31, 0), encrypt(&pk, &n, 2, 37, -1)],
            "empty": [],
            "garbage": ["not base64!"],
        });
        let out = aggregate(&pk, &counters).unwrap();
        assert_eq!(
            decrypt(&pk, &n, &lambda, out["switch_count"].as_str().unwrap()),
            (BigUint::from(42u32), 0)
        );
        // 3·16 + 2 at exponent -1 (i.e. 3 + 2/16).
        assert_eq!(
            decrypt(&pk, &n, &lambda, out["mixed"].as_str().unwrap()),
            (BigUint::from(50u32), -1)
        );
        assert_eq!(out["empty"], Value::Null);
        assert_eq!(out["garbage"], Value::Null);
    }

    #[test]
    fn extreme_exponents_are_refused() {
        let (pk, n, _) = key();
        for exponent in [
            i64::MIN,
            i64::MIN + 1,
            -(1 << 20) - 1,
            (1 << 20) + 1,
            i64::MAX,
        ] {
            let text = encrypt(&pk, &n, 1, 3, exponent);
            assert_eq!(
                EncryptedNumber::parse(&pk, &text),
                None,
                "exponent {exponent}"
            );
            let out = aggregate(&pk, &json!({ "x": [text, encrypt(&pk, &n, 1, 3, 0)] })).unwrap();
            assert_eq!(out["x"], Value::Null);
        }
        assert!(EncryptedNumber::parse(&pk, &encrypt(&pk, &n, 1, 3, -(1 << 20))).is_some());
    }

    #[test]
    fn serialisation_format() {
        let e = EncryptedNumber {
            ciphertext: BigUint::from(12345u32),
            exponent: -3,
        };
        let decoded = STANDARD.decode(e.serialise()).unwrap();
        assert_eq!(decoded, br#"{"ciphertext": "12345", "exponent": -3}"#);
    }

    #[test]
    fn bounds() {
        let big = BigUint::from(1u32) << 4100u32;
        assert_eq!(
            PublicKey::from_json(&json!({ "n": (big + 1u32).to_string() })).unwrap_err(),
            PaillierError::BadModulus
        );
        assert!(PublicKey::from_json(&json!({ "n": "1000000" })).is_err());
        assert!(PublicKey::from_json(&json!({ "n": 12345 })).is_err());
        assert!(PublicKey::from_json(&json!({ "n": "-5" })).is_err());
        let (pk, n, _) = key();
        let many: Vec<String> = (0..300).map(|i| encrypt(&pk, &n, i, 3, 0)).collect();
        assert_eq!(
            aggregate(&pk, &json!({ "x": many })).unwrap_err(),
            PaillierError::TooMany
        );
        let far = json!({ "x": [encrypt(&pk, &n, 1, 3, 0), encrypt(&pk, &n, 1, 3, -40)] });
        assert_eq!(aggregate(&pk, &far).unwrap()["x"], Value::Null);
        assert_eq!(
            aggregate(&pk, &json!([])).unwrap_err(),
            PaillierError::BadCounters
        );
    }
}
