//! Randomness for tokens, nonces, ids and invite codes: straight from the operating system.

use rand::TryRng as _;
use rand::rngs::SysRng;

use crate::error::ApiError;

/// `N` bytes from the OS generator. Failure (no entropy source) is a 500, never a weak value.
pub fn bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut out = [0u8; N];
    SysRng.try_fill_bytes(&mut out).map_err(|_| {
        tracing::error!("the operating system's random generator failed");
        ApiError::Internal
    })?;
    Ok(out)
}

/// A random UUIDv4 from OS randomness.
pub fn uuid() -> Result<uuid::Uuid, ApiError> {
    Ok(uuid::Builder::from_random_bytes(bytes::<16>()?).into_uuid())
}

/// The invite alphabet: no 0/O, 1/I/L ambiguity (v1.md §1.3 #18).
const INVITE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A 12-character invite code (60 bits). 32 divides 256, so `byte % 32` is unbiased.
pub fn invite_code() -> Result<String, ApiError> {
    Ok(bytes::<12>()?
        .iter()
        .map(|b| char::from(INVITE_ALPHABET[usize::from(b % 32)]))
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let code = invite_code().unwrap();
        assert_eq!(code.len(), 12);
        assert!(code.bytes().all(|c| INVITE_ALPHABET.contains(&c)));
        assert_ne!(bytes::<32>().unwrap(), bytes::<32>().unwrap());
        assert_eq!(uuid().unwrap().get_version_num(), 4);
    }
}
