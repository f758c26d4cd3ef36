//! A byte buffer for plaintext, wiped on drop at memory speed.
//!
//! `Zeroizing<Vec<u8>>` wipes with one volatile store per byte (`zeroize`'s slice impl), which
//! for a 1 MiB volume cost more than decrypting it. [`Wiped`] clears the whole allocation (spare
//! capacity included) with an ordinary fill, which compiles to one `memset`, and then hands the
//! buffer to `zeroize::optimization_barrier`: an opaque read of the memory the compiler cannot
//! see through, so the stores are not removed as dead before the free (the same guarantee
//! `zeroize` documents for that barrier).

use zeroize::Zeroizing;

/// Plaintext bytes, wiped on drop.
pub(super) struct Wiped(Vec<u8>);

impl Wiped {
    /// Takes ownership of `bytes`, to be wiped (at the latest) on drop.
    pub(super) fn from_vec(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// The vector, for in-place edits (what it holds when dropped is wiped).
    pub(super) fn vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    /// Moves the bytes into a `Zeroizing` (the allocation, spare capacity included, is then
    /// wiped by that on drop); nothing is copied.
    pub(super) fn into_zeroizing(mut self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(std::mem::take(&mut self.0))
    }

    /// Overwrites the whole allocation with zeros: afterwards the vector's length is its
    /// capacity and every byte is zero.
    fn wipe(&mut self) {
        let capacity = self.0.capacity();
        self.0.clear();
        self.0.resize(capacity, 0);
        zeroize::optimization_barrier(self.0.as_slice());
    }
}

impl std::ops::Deref for Wiped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Wiped {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl std::fmt::Debug for Wiped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiped")
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_clears_contents_and_spare_capacity() {
        let mut bytes = vec![0xa5u8; 3000];
        bytes.truncate(1000);
        let mut w = Wiped::from_vec(bytes);
        let capacity = w.0.capacity();
        assert!(capacity >= 3000);
        w.wipe();
        assert_eq!(w.0.len(), capacity);
        assert!(w.0.iter().all(|&b| b == 0));
    }

    #[test]
    fn into_zeroizing_moves_without_copying() {
        let mut w = Wiped::from_vec(vec![0; 4096]);
        w.as_mut_slice()[0] = 7;
        let ptr = w.as_ptr();
        let z = w.into_zeroizing();
        assert_eq!(z.as_ptr(), ptr);
        assert_eq!(z[0], 7);
        assert_eq!(z.len(), 4096);
    }
}
