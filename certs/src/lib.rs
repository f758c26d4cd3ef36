#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod config;
mod error;
mod files;
#[cfg(feature = "generate")]
mod generate;
mod info;
mod load;
mod pairing;
mod pin;
#[cfg(feature = "generate")]
pub mod rotation;
mod store;
mod verifier;

pub use config::{
    client_config_pinned, client_config_verified_by, client_config_webpki, server_config,
    server_config_with_resolver,
};
pub use error::CertError;
#[cfg(feature = "generate")]
pub use generate::{GeneratedCert, generate_self_signed};
pub use info::{CertInfo, UtcTime, certified_key};
pub use load::{TlsMaterial, load_pem, pin_of_cert_file};
pub use pairing::RelayPairing;
#[cfg(feature = "qr")]
pub use pairing::{QrColors, qr_code};
pub use pin::SpkiPin;
#[cfg(feature = "generate")]
pub use store::load_or_generate;
pub use store::{CERT_FILE_NAME, KEY_FILE_NAME, Provenance};
pub use verifier::PinnedServerVerifier;
