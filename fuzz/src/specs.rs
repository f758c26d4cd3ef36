//! The directive specs of `relay_requests` inputs (`@v1-upload`, `@v2-upload`, `@v2-grant`,
//! `@v2-register`, `@v1-token`/`@v2-token`), decoded with `arbitrary` and turned into requests
//! by the harness in [`crate::relay`].

use arbitrary::Arbitrary;

// Directive specs: decoded with `arbitrary`, which yields zeros, `false` and empty values once
// the input runs out, so each field is phrased such that its zero value is the honest choice
// (a bare `@v2-upload` line uploads a valid next version).

/// The fields of a `@v1-upload` body.
#[derive(Debug, Clone, Default, Arbitrary)]
pub struct V1UploadSpec {
    /// Index into the v1 names (mod 8); 200 and above: `name_text`.
    pub(crate) volume: u8,
    pub(crate) name_text: String,
    /// Use `version` as given instead of a fresh, higher one.
    pub(crate) raw_version: bool,
    pub(crate) version: u64,
    pub(crate) modified_at_offset: i64,
    pub(crate) unaligned: bool,
    /// Blocks of 4096 (mod 3, plus one) on the padding grid, or the byte length off it.
    pub(crate) payload_len: u16,
    pub(crate) off_grid: bool,
    pub(crate) size_delta: i8,
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) bad_signature: bool,
}

/// The fields of a `@v2-upload` body.
#[derive(Debug, Clone, Default, Arbitrary)]
pub struct V2UploadSpec {
    /// Index: the v1 names, then custom names; 200 and above: `name_text`.
    pub(crate) volume: u8,
    pub(crate) name_text: String,
    /// `epoch = 1 + epoch_delta` (wrapping, so 0 is reachable).
    pub(crate) epoch_delta: u32,
    pub(crate) raw_version: bool,
    pub(crate) version: u64,
    pub(crate) hour_offset: u64,
    pub(crate) unaligned: bool,
    pub(crate) frame_len: u16,
    pub(crate) off_grid: bool,
    pub(crate) len_delta: i8,
    pub(crate) bad_hash: bool,
    pub(crate) foreign_owner: bool,
    pub(crate) bad_signature: bool,
    pub(crate) header_tail: Vec<u8>,
}

/// The fields of a `@v2-grant` body (for `fr2` unless `other_friend`).
#[derive(Debug, Clone, Default, Arbitrary)]
pub struct V2GrantSpec {
    /// `(volume index, epoch - 1)`; none: a grant for `meta` at epoch 1.
    pub(crate) entries: Vec<(u8, u32)>,
    pub(crate) other_friend: bool,
    pub(crate) bad_fingerprint: bool,
    pub(crate) raw_sequence: bool,
    pub(crate) sequence: u64,
    pub(crate) expires_at: u64,
    pub(crate) bad_signature: bool,
    /// Send `extra_keys` instead of one wrapped key per entry.
    pub(crate) keys_mismatch: bool,
    pub(crate) extra_keys: Vec<(u8, u32, u8)>,
}

/// The fields of a `@v2-register` body (a fresh key pair).
#[derive(Debug, Clone, Default, Arbitrary)]
pub struct RegisterSpec {
    /// 0: system, 1: friend, else `client_type_text`.
    pub(crate) client_type: u8,
    pub(crate) client_type_text: String,
    pub(crate) handle: Option<String>,
    pub(crate) bad_binding: bool,
    pub(crate) swap_keys: bool,
    /// Send a registration signature that does not verify.
    pub(crate) bad_registration: bool,
    /// Sign and send this origin instead of the relay's.
    pub(crate) origin: Option<String>,
}

/// The fields of a `@v1-token` / `@v2-token` body.
#[derive(Debug, Clone, Default, Arbitrary)]
pub struct TokenSpec {
    /// Send `text` as the nonce instead of a fresh challenge's.
    pub(crate) bad_nonce: bool,
    pub(crate) bad_signature: bool,
    /// Sign and send `text` as the origin (v2).
    pub(crate) bad_origin: bool,
    pub(crate) text: String,
}
