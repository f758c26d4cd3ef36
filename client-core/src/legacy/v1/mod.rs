//! **LEGACY — only for interoperability with the existing PluralLog apps.** The hardened v2
//! protocol (to come) is the default; nothing new should use this module.
//!
//! Reads and writes volumes, upload signatures, login signatures and wrapped volume keys
//! byte-for-byte as the PluralLog System app does (`docs/protocol-v1.md` §2), checked against
//! `docs/vectors/v1.json`. End-to-end tests use it to play a v1 System app and Friend app.
//!
//! What it must never do: invent its own variant of a v1 rule (every output must match the
//! existing apps), or put key bytes, plaintext or ciphertext into errors or `Debug` output.
//!
//! v1's own weaknesses are inherited on purpose and listed in v1.md §2.12; the ones a caller
//! of this module can trip over are:
//! - **W1, nonce reuse**: the volume nonce is derived from name and version, so sealing two
//!   different plaintexts under the same VEK, name and version reuses an AES-GCM nonce. Never
//!   reuse a version with a VEK.
//! - **W4, no associated data**: a blob is not bound to its name or version;
//!   [`decrypt_volume`] re-derives the nonce to catch a blob served under another name/version.
//! - **W5, unauthenticated key exchange**: [`fkek`] trusts whatever peer key it is given.
//! - **W15, padding**: [`decrypt_volume`] strips every trailing `0x00`.

mod auth;
mod error;
mod keys;
mod upload;
mod volume;
mod wrap;

pub use auth::{NONCE_TEXT_LEN, is_nonce_text, sign_login};
pub use error::V1Error;
pub use keys::{Fkek, KEY_LEN, Vek};
pub use upload::{SealedVolume, event_tags, floor_to_hour, seal_volume, verify_upload};
pub use volume::{
    MAX_PLAINTEXT_LEN, NONCE_LEN, TAG_LEN, decrypt_volume, encrypt_volume, pad, volume_nonce,
};
pub use wrap::{WRAPPED_VEK_LEN, fkek, unwrap_vek, wrap_vek, wrap_vek_with_nonce};
