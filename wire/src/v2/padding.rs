//! Padmé padding with a 1 KiB floor (P10): sizes leak O(log log n) bits, overhead ≤ 12 %.

/// Smallest padded frame.
pub const MIN_PADDED: u64 = 1024;

/// Padmé (Nikitin et al., PETS 2019): round `len` up so only its top ⌊log2 ⌊log2 len⌋⌋ + 1 bits
/// may be set.
pub fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = 63 - u64::from(len.leading_zeros()); // ⌊log2 len⌋
    let s = 64 - u64::from(e.leading_zeros()); // ⌊log2 e⌋ + 1
    let z = e - s;
    let mask = (1u64 << z) - 1;
    len.checked_add(mask).map_or(!mask, |v| v & !mask)
}

/// The padded frame length for a frame (length prefix + plaintext) of `frame_len` bytes.
pub fn padded_len(frame_len: u64) -> u64 {
    padme(frame_len).max(MIN_PADDED)
}

/// Whether a payload length (nonce + ciphertext + tag) is on the v2 grid.
pub fn payload_len_is_valid(payload_len: u64) -> bool {
    payload_len
        .checked_sub(super::AEAD_OVERHEAD)
        .is_some_and(|padded| padded >= MIN_PADDED && padded_len(padded) == padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // From the Padmé paper's definition: 1025 → E=10, S=4, z=6 → 1088.
        assert_eq!(padme(1025), 1088);
        assert_eq!(padme(1024), 1024);
        assert_eq!(padme(1_000_000), 1_015_808);
        assert_eq!(padded_len(5), 1024);
        assert!(payload_len_is_valid(1024 + 28));
        assert!(payload_len_is_valid(1088 + 28));
        assert!(!payload_len_is_valid(1025 + 28));
        assert!(!payload_len_is_valid(1000 + 28));
        assert!(!payload_len_is_valid(3));
    }

    proptest::proptest! {
        #[test]
        fn invariants(len in 0u64..(1 << 40)) {
            let p = padded_len(len);
            proptest::prop_assert!(p >= len);
            proptest::prop_assert!(p >= MIN_PADDED);
            // ≤ 12 % overhead above the floor.
            if len > MIN_PADDED {
                proptest::prop_assert!((p - len) as f64 <= len as f64 * 0.12);
            }
            // Idempotent: every padded length is on the grid.
            proptest::prop_assert_eq!(padded_len(p), p);
            proptest::prop_assert!(payload_len_is_valid(p + 28));
        }
    }
}
