//! Property tests for the v2 crypto core: round trips, framing, and refusal (never a panic) of
//! random, truncated, altered or misplaced input — what a hostile relay can serve.

use std::sync::OnceLock;

use coffer_client_core::identity::Identity;
use coffer_client_core::v2::{
    self, BackupError, BackupParams, Fingerprint, HeaderFields, InviteLink, InviteSecret, SealedV2,
    V2Error, VolumeKey,
};
use coffer_wire::v2::{VolumeName, padded_len, payload_len_is_valid};
use proptest::collection::vec;
use proptest::prelude::*;
use uuid::Uuid;

const OWNER: Uuid = Uuid::from_bytes([0x42; 16]);

/// One owner identity for all cases (key generation is not what is under test).
fn owner() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(Identity::generate)
}

fn vek() -> &'static VolumeKey {
    static VEK: OnceLock<VolumeKey> = OnceLock::new();
    VEK.get_or_init(VolumeKey::generate)
}

fn volume_name() -> impl Strategy<Value = VolumeName> {
    proptest::sample::select(vec![
        "meta",
        "fronts",
        "members",
        "vault",
        "org.example.notes",
        "io.plural-log.v2",
    ])
    .prop_map(|n| VolumeName::new(n).expect("valid"))
}

/// Plaintexts up to ~5 KiB, often ending in NUL bytes (v2 keeps them, unlike v1).
fn plaintext() -> impl Strategy<Value = Vec<u8>> {
    (vec(any::<u8>(), 0..5000), 0usize..40).prop_map(|(mut bytes, zeros)| {
        bytes.resize(bytes.len() + zeros, 0);
        bytes
    })
}

fn fields() -> impl Strategy<Value = HeaderFields> {
    (
        volume_name(),
        1u32..,
        1u64..=i64::MAX as u64,
        0u64..100_000_000,
    )
        .prop_map(|(volume, epoch, version, hours)| HeaderFields {
            owner: OWNER,
            volume,
            epoch,
            version,
            hour: hours * 3600,
        })
}

fn open_as(
    owner_id: Uuid,
    volume: &VolumeName,
    header: &[u8],
    signature: &[u8; 64],
    payload: &[u8],
) -> Result<Vec<u8>, V2Error> {
    v2::open(
        &owner().public_signing_key(),
        owner_id,
        volume,
        header,
        signature,
        payload,
        |_| Some(vek()),
    )
    .map(|o| o.plaintext().to_vec())
}

fn sealed(f: &HeaderFields, pt: &[u8]) -> SealedV2 {
    v2::seal(owner(), vek(), f, pt).expect("valid fields")
}

proptest! {
    #[test]
    fn seal_open_round_trip(f in fields(), pt in plaintext()) {
        let s = sealed(&f, &pt);
        prop_assert_eq!(s.payload.len() as u64, padded_len(pt.len() as u64 + 4) + 28);
        prop_assert!(payload_len_is_valid(s.payload.len() as u64));
        let opened = open_as(OWNER, &f.volume, &s.header_bytes, &s.signature, &s.payload);
        prop_assert_eq!(opened, Ok(pt));
    }

    #[test]
    fn frame_invariants(pt in plaintext()) {
        let frame = v2::frame_and_pad(&pt).expect("small");
        prop_assert_eq!(frame.len() as u64, padded_len(pt.len() as u64 + 4));
        prop_assert!(frame.len() >= 1024);
        prop_assert!(payload_len_is_valid(frame.len() as u64 + 28));
        prop_assert_eq!(&frame[..4], &(pt.len() as u32).to_be_bytes()[..]);
        prop_assert_eq!(&frame[4..4 + pt.len()], &pt[..]);
        prop_assert!(frame[4 + pt.len()..].iter().all(|&b| b == 0));
    }

    #[test]
    fn random_input_is_refused(
        volume in volume_name(),
        header in vec(any::<u8>(), 0..200),
        signature in any::<[u8; 64]>(),
        payload in vec(any::<u8>(), 0..2000),
    ) {
        prop_assert!(open_as(OWNER, &volume, &header, &signature, &payload).is_err());
        prop_assert!(v2::verify_header(&owner().public_signing_key(), OWNER, &volume, &header, &signature).is_err());
    }

    #[test]
    fn flipped_bits_are_refused(f in fields(), pt in plaintext(), which in 0usize..3, at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut s = sealed(&f, &pt);
        let expected = match which {
            0 => { let i = at.index(s.header_bytes.len()); s.header_bytes[i] ^= 1 << bit; V2Error::BadSignature }
            1 => { let i = at.index(64); s.signature[i] ^= 1 << bit; V2Error::BadSignature }
            _ => { let i = at.index(s.payload.len()); s.payload[i] ^= 1 << bit; V2Error::PayloadMismatch }
        };
        prop_assert_eq!(open_as(OWNER, &f.volume, &s.header_bytes, &s.signature, &s.payload), Err(expected));
    }

    #[test]
    fn truncated_input_is_refused(f in fields(), pt in plaintext(), cut in any::<prop::sample::Index>(), in_header in any::<bool>()) {
        let mut s = sealed(&f, &pt);
        let expected = if in_header {
            let len = cut.index(s.header_bytes.len());
            s.header_bytes.truncate(len);
            V2Error::BadSignature
        } else {
            let len = cut.index(s.payload.len());
            s.payload.truncate(len);
            V2Error::PayloadMismatch
        };
        prop_assert_eq!(open_as(OWNER, &f.volume, &s.header_bytes, &s.signature, &s.payload), Err(expected));
    }

    #[test]
    fn misplaced_blobs_fail_with_the_specific_error(f in fields(), other_volume in volume_name(), pt in plaintext(), other_owner in any::<[u8; 16]>()) {
        let s = sealed(&f, &pt);
        // Served under another volume's name.
        if other_volume != f.volume {
            prop_assert_eq!(open_as(OWNER, &other_volume, &s.header_bytes, &s.signature, &s.payload), Err(V2Error::WrongVolume));
        }
        // Served as another owner's volume.
        let other_owner = Uuid::from_bytes(other_owner);
        if other_owner != OWNER {
            prop_assert_eq!(open_as(other_owner, &f.volume, &s.header_bytes, &s.signature, &s.payload), Err(V2Error::WrongOwner));
        }
        // Another version's payload under this header.
        let mut next = f.clone();
        next.version = if f.version < i64::MAX as u64 { f.version + 1 } else { f.version - 1 };
        let t = sealed(&next, &pt);
        prop_assert_eq!(open_as(OWNER, &f.volume, &s.header_bytes, &s.signature, &t.payload), Err(V2Error::PayloadMismatch));
        // Signed by someone else.
        let forger = Identity::generate();
        let forged = v2::seal(&forger, vek(), &f, &pt).expect("valid");
        prop_assert_eq!(open_as(OWNER, &f.volume, &forged.header_bytes, &forged.signature, &forged.payload), Err(V2Error::BadSignature));
    }

    #[test]
    fn link_parse_never_panics(text in ".{0,400}") {
        let _ = InviteLink::parse(&text);
        let _ = InviteLink::parse(&format!("coffer://pair?{text}"));
    }

    #[test]
    fn link_round_trips(
        host in "[a-z0-9]{1,20}(\\.[a-z0-9-]{1,20}){0,3}",
        port in proptest::option::of((1u16..).prop_filter("443 is the default port", |p| *p != 443)),
        pin in proptest::option::of(any::<[u8; 32]>()),
        code in "[A-Za-z0-9_-]{1,64}",
        secret in any::<[u8; 32]>(),
        fp in any::<[u8; 32]>(),
    ) {
        let origin = match port { Some(p) => format!("https://{host}:{p}"), None => format!("https://{host}") };
        let pin = pin.map(|p| coffer_certs::SpkiPin::from_spki_der(&p));
        let link = InviteLink::new(&origin, pin, &code, InviteSecret::from_bytes(secret), Fingerprint::from_bytes(fp)).expect("valid");
        let uri = link.to_uri();
        let back = InviteLink::parse(&uri).expect("own link parses");
        prop_assert_eq!(back.relay_origin(), origin.as_str());
        prop_assert_eq!(back.pin(), pin);
        prop_assert_eq!(back.code(), code.as_str());
        prop_assert_eq!(back.secret().expose_secret(), &secret);
        prop_assert_eq!(back.system_fingerprint(), Fingerprint::from_bytes(fp));
        prop_assert_eq!(&*back.to_uri(), &*uri);
        // Any single-character deletion is refused or parses to a different, valid link — never a panic.
        for i in (0..uri.len()).step_by(7) {
            let mut cut = uri.to_string();
            cut.remove(i);
            let _ = InviteLink::parse(&cut);
        }
    }

    #[test]
    fn backup_import_of_random_bytes_never_panics(bytes in vec(any::<u8>(), 0..400), magic in any::<bool>()) {
        let mut bytes = bytes;
        if magic && bytes.len() >= 5 {
            bytes[..5].copy_from_slice(b"CFBK\x01");
        }
        prop_assert!(v2::import_backup(&bytes, "pw").is_err());
    }

    #[test]
    fn wrong_passphrase_and_corruption_are_distinct(
        state in vec(any::<u8>(), 0..200),
        pass in "[ -~]{1,30}",
        other in "[ -~]{1,30}",
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let params = BackupParams::danger_fast_for_tests();
        let file = v2::export_backup(&state, &pass, &params).expect("exports");
        prop_assert_eq!(&v2::import_backup(&file, &pass).expect("imports")[..], &state[..]);
        if other != pass {
            prop_assert_eq!(v2::import_backup(&file, &other).err(), Some(BackupError::WrongPassphrase));
        }
        let mut bad = file.clone();
        let i = at.index(bad.len());
        bad[i] ^= 1 << bit;
        prop_assert_eq!(v2::import_backup(&bad, &pass).err(), Some(BackupError::Corrupted));
    }
}

proptest! {
    /// The relay checks a replica pairing's grant against `coffer_wire::v2::fingerprint_bytes`
    /// (§6): it must be the client's `Fingerprint`, byte for byte.
    #[test]
    fn wire_fingerprint_is_the_client_fingerprint(pk in any::<[u8; 32]>(), xpk in any::<[u8; 32]>()) {
        let fingerprint = Fingerprint::from_public_keys(&pk, &xpk);
        prop_assert_eq!(
            fingerprint.as_bytes(),
            &coffer_wire::v2::fingerprint_bytes(&pk, &xpk)
        );
    }
}
