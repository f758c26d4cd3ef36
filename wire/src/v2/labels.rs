//! Domain-separation labels (P9). Every signed, derived or authenticated input starts with one.

/// A v2 label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Key-binding signature.
    KeyBinding,
    /// Fingerprint hash.
    Fingerprint,
    /// Safety-number derivation.
    SafetyNumber,
    /// Login transcript signature.
    Login,
    /// Per-version volume subkey (HKDF info).
    VolumeKey,
    /// Volume AEAD associated data.
    VolumeAad,
    /// Volume header signature.
    VolumeHeader,
    /// Pairing MAC key (HKDF info).
    PairingKey,
    /// Pairing proof MAC input.
    PairingProof,
    /// Grant signature.
    Grant,
    /// Key-wrapping key (HKDF info).
    WrapKey,
    /// Wrapped-VEK AEAD associated data.
    WrapAad,
    /// Owner-signed restore statement.
    Restore,
    /// Identity backup AEAD associated data.
    BackupAad,
    /// Fetch receipt signature (a friend's statement that it read a version).
    Receipt,
    /// Owner-state header signature (§13).
    OwnerState,
    /// Owner-state AEAD associated data (§13).
    OwnerStateAad,
    /// Device key slot: key-wrapping key (HKDF info, §13).
    DeviceSlotKey,
    /// Device key slot AEAD associated data (§13).
    DeviceSlotAad,
    /// Device-link proof MAC key (HKDF info, §13).
    DeviceLinkKey,
    /// Device-link proof MAC input (§13).
    DeviceLinkProof,
    /// Device-link package AEAD associated data (§13).
    DeviceLinkPackage,
    /// Volume tombstone signature (§12: one volume deleted).
    Tombstone,
    /// Deterministic user id (§3: the same keys have the same id on every relay).
    UserId,
    /// Registration proof (§3: the keys' owner asks this relay, by origin, for this account).
    Register,
    /// Volume payload digest (§4: BLAKE3 input, `payload_hash` of the header).
    VolumePayload,
    /// Owner-state payload digest (§13: BLAKE3 input, `payload_hash` of the header).
    OwnerStatePayload,
}

impl Label {
    /// Every label (a test checks they are distinct and prefix-free).
    pub const ALL: [Label; 27] = [
        Self::KeyBinding,
        Self::Fingerprint,
        Self::SafetyNumber,
        Self::Login,
        Self::VolumeKey,
        Self::VolumeAad,
        Self::VolumeHeader,
        Self::PairingKey,
        Self::PairingProof,
        Self::Grant,
        Self::WrapKey,
        Self::WrapAad,
        Self::Restore,
        Self::BackupAad,
        Self::Receipt,
        Self::OwnerState,
        Self::OwnerStateAad,
        Self::DeviceSlotKey,
        Self::DeviceSlotAad,
        Self::DeviceLinkKey,
        Self::DeviceLinkProof,
        Self::DeviceLinkPackage,
        Self::Tombstone,
        Self::UserId,
        Self::Register,
        Self::VolumePayload,
        Self::OwnerStatePayload,
    ];

    /// The label text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::KeyBinding => "coffer-v2/key-binding",
            Self::Fingerprint => "coffer-v2/fingerprint",
            Self::SafetyNumber => "coffer-v2/safety-number",
            Self::Login => "coffer-v2/login",
            Self::VolumeKey => "coffer-v2/volume-key",
            Self::VolumeAad => "coffer-v2/volume-aad",
            Self::VolumeHeader => "coffer-v2/volume-header",
            Self::PairingKey => "coffer-v2/pairing-key",
            Self::PairingProof => "coffer-v2/pairing-proof",
            Self::Grant => "coffer-v2/grant",
            Self::WrapKey => "coffer-v2/wrap-key",
            Self::WrapAad => "coffer-v2/wrap-aad",
            Self::Restore => "coffer-v2/restore",
            Self::BackupAad => "coffer-v2/backup-aad",
            Self::Receipt => "coffer-v2/receipt",
            Self::OwnerState => "coffer-v2/owner-state",
            Self::OwnerStateAad => "coffer-v2/owner-state-aad",
            Self::DeviceSlotKey => "coffer-v2/device-slot-key",
            Self::DeviceSlotAad => "coffer-v2/device-slot-aad",
            Self::DeviceLinkKey => "coffer-v2/device-link-key",
            Self::DeviceLinkProof => "coffer-v2/device-link-proof",
            Self::DeviceLinkPackage => "coffer-v2/device-link-package",
            Self::Tombstone => "coffer-v2/tombstone",
            Self::UserId => "coffer-v2/user-id",
            Self::Register => "coffer-v2/register",
            Self::VolumePayload => "coffer-v2/volume-payload",
            Self::OwnerStatePayload => "coffer-v2/owner-state-payload",
        }
    }
}

/// `UTF-8(label) ‖ 0x00`, the start of every labelled input.
pub fn labelled(label: Label) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(label.as_str().as_bytes());
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_and_prefix_free() {
        for a in Label::ALL {
            assert!(a.as_str().starts_with("coffer-v2/"));
            for b in Label::ALL {
                if a != b {
                    assert!(!labelled(a).starts_with(&labelled(b)), "{a:?} / {b:?}");
                }
            }
        }
    }
}
