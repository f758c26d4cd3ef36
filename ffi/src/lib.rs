#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

uniffi::setup_scaffolding!();

mod config;
mod delete;
mod devices;
mod error;
mod friend;
mod identity;
mod link;
mod logging;
mod owner;
mod pin;
mod progress;
mod receipts;
mod records;
mod relays;
mod runtime;
mod sessions;
mod storage;
mod system;
mod v1;

/// The eight v1 volume names (bound to foreign languages as the enum `VolumeName`).
pub use coffer_wire::v1::VolumeName;
pub use config::ClientConfig;
pub use error::CofferError;
pub use friend::FriendClient;
pub use identity::Identity;
pub use link::InviteLink;
pub use logging::{LogLevel, Logger, set_logger};
pub use pin::SpkiPin;
pub use progress::{CancellationToken, ProgressListener};
pub use receipts::{Receipt, ReceiptRejection, Receipts, RejectedReceipt};
pub use records::{
    FetchResult, GrantView, PairedSystem, PairingRequest, Published, RotationReport, VolumeEpoch,
    VolumeInfo,
};
pub use relays::{
    FetchedFrom, FollowReport, RelayEntry, RelayRefusal, RelayRepair, RepairReport, ReplicaResult,
    ReplicaStatus, ReplicatedPublish,
};
pub use sessions::SessionInfo;
pub use storage::{KeyStorage, KeyStorageError};
pub use system::SystemClient;
pub use v1::{
    ControlHeaderRecord, SealedVolumeRecord, Vek, v1_decrypt_volume, v1_floor_to_hour,
    v1_seal_volume, v1_sign_login, v1_unwrap_vek, v1_verify_upload, v1_volume_nonce, v1_wrap_vek,
};

#[cfg(test)]
mod tests;
