//! Shared helpers of the Coffer fuzz targets (`fuzz_targets/*.rs`): input slicing, fixed test
//! identities, and the in-process relay harness of `relay_requests`.
//!
//! Nothing here is used outside fuzzing; the crate is not a member of the main workspace.

pub mod answer;
pub mod relay;
pub mod request;
pub mod specs;

/// The input as text, if it is UTF-8 (text parsers see only what a caller could hand them).
pub fn text_of(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The first eight bytes (zero-padded) as a little-endian integer.
pub fn le_u64(data: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    for (dst, src) in bytes.iter_mut().zip(data) {
        *dst = *src;
    }
    u64::from_le_bytes(bytes)
}

/// Splits `data` at the first `sep`: `(head, tail)`; without one, all of it is the head.
pub fn split_once<'a>(data: &'a [u8], sep: &[u8]) -> (&'a [u8], &'a [u8]) {
    match data.windows(sep.len()).position(|w| w == sep) {
        Some(at) => (&data[..at], &data[at + sep.len()..]),
        None => (data, &[]),
    }
}

/// A tiny decoder for the case-structured targets, simple enough that seed files are written
/// by hand or by `fuzz/seeds.py`: a selector byte, fixed-width big-endian integers, fixed
/// arrays, `u16`-length-prefixed byte strings, and the rest. Reads past the end yield zeros or
/// what is left, never a failure, so every input means something.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `data` from its start.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        head
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// `N` bytes, zero-filled past the end.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let got = self.take(N);
        out[..got.len()].copy_from_slice(got);
        out
    }

    /// Big-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }

    /// Big-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }

    /// A flag: the low bit of one byte.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// `u16` big-endian length, then that many bytes (fewer if the input ends).
    pub fn bytes(&mut self) -> &'a [u8] {
        let len = u16::from_be_bytes(self.array());
        self.take(usize::from(len))
    }

    /// [`Self::bytes`] as text (invalid UTF-8 becomes empty: text parsers take `&str`).
    pub fn str(&mut self) -> &'a str {
        std::str::from_utf8(self.bytes()).unwrap_or_default()
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.data;
        self.data = &[];
        rest
    }

    /// [`Self::rest`] as text (invalid UTF-8 becomes empty).
    pub fn rest_str(&mut self) -> &'a str {
        std::str::from_utf8(self.rest()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_never_fails() {
        let mut r = Reader::new(&[7, 0, 2, b'h', b'i', 1, 2, 3]);
        assert_eq!(r.u8(), 7);
        assert_eq!(r.str(), "hi");
        assert_eq!(r.u32(), 0x0102_0300);
        assert_eq!(r.bytes(), b"");
        assert_eq!(r.rest(), b"");
        assert_eq!(r.u64(), 0);
    }
}
