//! Property tests for the v1 crypto: round trips, padding, and refusal (never a panic) of
//! random, truncated, altered or misplaced input.

use coffer_client_core::identity::Identity;
use coffer_client_core::legacy::v1::{self, V1Error, Vek};
use coffer_wire::v1::VolumeName;
use proptest::collection::vec;
use proptest::prelude::*;

fn volume_name() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(VolumeName::ALL.map(VolumeName::as_str).to_vec())
}

/// Plaintexts up to ~3 blocks whose last byte is not NUL (v1 cannot represent trailing NULs).
fn plaintext() -> impl Strategy<Value = Vec<u8>> {
    (vec(any::<u8>(), 0..12_300), 1u8..=255).prop_map(|(mut bytes, last)| {
        if !bytes.is_empty() {
            *bytes.last_mut().expect("non-empty") = last;
        }
        bytes
    })
}

fn vek() -> impl Strategy<Value = Vek> {
    any::<[u8; 32]>().prop_map(Vek::from_bytes)
}

proptest! {
    #[test]
    fn encrypt_decrypt_round_trip(vek in vek(), name in volume_name(), version in any::<u64>(), pt in plaintext()) {
        let blob = v1::encrypt_volume(&vek, name, version, &pt);
        prop_assert_eq!(blob.len(), v1::pad(&pt).len() + 28);
        prop_assert_eq!(&blob[..12], &v1::volume_nonce(name, version)[..]);
        let opened = v1::decrypt_volume(&vek, name, version, &blob).expect("own blob opens");
        prop_assert_eq!(&opened[..], &pt[..]);
    }

    #[test]
    fn padding_invariants(pt in vec(any::<u8>(), 0..20_000)) {
        let padded = v1::pad(&pt);
        prop_assert_eq!(padded.len() % 4096, 0);
        prop_assert!(padded.len() >= pt.len());
        prop_assert!(padded.len() < pt.len() + 4096);
        prop_assert_eq!(&padded[..pt.len()], &pt[..]);
        prop_assert!(padded[pt.len()..].iter().all(|&b| b == 0));
    }

    #[test]
    fn random_blobs_are_refused(vek in vek(), name in ".{0,12}", version in any::<u64>(), blob in vec(any::<u8>(), 0..9_000)) {
        prop_assert!(v1::decrypt_volume(&vek, &name, version, &blob).is_err());
    }

    #[test]
    fn random_blobs_with_the_right_nonce_fail_authentication(
        vek in vek(), name in volume_name(), version in any::<u64>(), body in vec(any::<u8>(), 16..9_000)
    ) {
        let mut blob = v1::volume_nonce(name, version).to_vec();
        blob.extend_from_slice(&body);
        prop_assert_eq!(
            v1::decrypt_volume(&vek, name, version, &blob),
            Err(V1Error::VolumeAuthentication)
        );
    }

    #[test]
    fn truncated_blobs_are_refused(vek in vek(), version in 1u64..1000, pt in plaintext(), cut in any::<prop::sample::Index>()) {
        let blob = v1::encrypt_volume(&vek, "journal", version, &pt);
        let len = cut.index(blob.len()); // strictly shorter than the blob
        let result = v1::decrypt_volume(&vek, "journal", version, &blob[..len]);
        if len < 28 {
            prop_assert_eq!(result, Err(V1Error::VolumeTooShort { len }));
        } else {
            prop_assert_eq!(result, Err(V1Error::VolumeAuthentication));
        }
    }

    #[test]
    fn bit_flips_are_refused(vek in vek(), version in 1u64..1000, pt in plaintext(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut blob = v1::encrypt_volume(&vek, "fronts", version, &pt);
        let i = at.index(blob.len());
        blob[i] ^= 1 << bit;
        let expected = if i < 12 { V1Error::VolumeNonceMismatch } else { V1Error::VolumeAuthentication };
        prop_assert_eq!(v1::decrypt_volume(&vek, "fronts", version, &blob), Err(expected));
    }

    #[test]
    fn blob_under_another_name_or_version_is_refused(
        vek in vek(), name in volume_name(), other_name in volume_name(),
        version in any::<u64>(), other_version in any::<u64>(), pt in plaintext()
    ) {
        prop_assume!((name, version) != (other_name, other_version));
        let blob = v1::encrypt_volume(&vek, name, version, &pt);
        prop_assert_eq!(
            v1::decrypt_volume(&vek, other_name, other_version, &blob),
            Err(V1Error::VolumeNonceMismatch)
        );
    }

    #[test]
    fn a_wrong_vek_is_refused(a in vek(), b in vek(), pt in plaintext()) {
        prop_assume!(a != b);
        let blob = v1::encrypt_volume(&a, "vault", 1, &pt);
        prop_assert_eq!(v1::decrypt_volume(&b, "vault", 1, &blob), Err(V1Error::VolumeAuthentication));
    }

    #[test]
    fn unwrap_refuses_wrong_lengths(wrapped in vec(any::<u8>(), 0..200)) {
        prop_assume!(wrapped.len() != 60);
        let fkek = v1::fkek(&Identity::from_secret_bytes(&[0; 32], &[5; 32]), &[9; 32]).expect("base point");
        prop_assert_eq!(
            v1::unwrap_vek(&fkek, &wrapped),
            Err(V1Error::WrappedVekLength { len: wrapped.len() })
        );
    }

    #[test]
    fn unwrap_refuses_random_and_altered_60_byte_blobs(random in any::<[u8; 32]>(), more in any::<[u8; 28]>(), at in 0usize..60, bit in 0u8..8) {
        let fkek = v1::fkek(&Identity::from_secret_bytes(&[0; 32], &[5; 32]), &[9; 32]).expect("base point");
        let mut blob = random.to_vec();
        blob.extend_from_slice(&more);
        prop_assert_eq!(v1::unwrap_vek(&fkek, &blob), Err(V1Error::VekUnwrap));

        let mut wrapped = v1::wrap_vek(&fkek, &Vek::from_bytes(random));
        wrapped[at] ^= 1 << bit;
        prop_assert_eq!(v1::unwrap_vek(&fkek, &wrapped), Err(V1Error::VekUnwrap));
    }

    #[test]
    fn floor_to_hour_invariants(t in any::<i64>()) {
        let h = v1::floor_to_hour(t);
        prop_assert_eq!(h.rem_euclid(3600), 0);
        if t >= i64::MIN + 3600 {
            prop_assert!(h <= t && t - h < 3600);
        }
    }
}

proptest! {
    // X25519 is the slow part: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn wrap_unwrap_round_trip_between_two_identities(
        s_seed in any::<[u8; 32]>(), s_x in any::<[u8; 32]>(),
        f_seed in any::<[u8; 32]>(), f_x in any::<[u8; 32]>(), vek in any::<[u8; 32]>()
    ) {
        let system = Identity::from_secret_bytes(&s_seed, &s_x);
        let friend = Identity::from_secret_bytes(&f_seed, &f_x);
        let vek = Vek::from_bytes(vek);
        let wrapped = v1::wrap_vek(&v1::fkek(&system, &friend.public_exchange_key()).expect("ok"), &vek);
        let unwrapped = v1::unwrap_vek(&v1::fkek(&friend, &system.public_exchange_key()).expect("ok"), &wrapped)
            .expect("unwraps");
        prop_assert_eq!(unwrapped, vek);

        // A third party's FKEK cannot unwrap it.
        let eve = Identity::from_secret_bytes(&f_seed, &s_x);
        prop_assume!(eve.public_exchange_key() != friend.public_exchange_key());
        let eve_fkek = v1::fkek(&eve, &system.public_exchange_key()).expect("ok");
        prop_assert_eq!(v1::unwrap_vek(&eve_fkek, &wrapped), Err(V1Error::VekUnwrap));
    }

    #[test]
    fn seal_verify_decrypt(version in 1u64..(i64::MAX as u64), t in 0i64..4_000_000_000, pt in plaintext(), name in proptest::sample::select(VolumeName::ALL.to_vec())) {
        let id = Identity::generate();
        let vek = Vek::generate();
        let sealed = v1::seal_volume(&id, &vek, name, version, t, &pt);
        prop_assert_eq!(sealed.header.size_bytes, sealed.blob.len() as u64);
        prop_assert_eq!(sealed.header.modified_at % 3600, 0);
        prop_assert_eq!(&sealed.header.event_tags, &v1::event_tags(name));
        prop_assert_eq!(
            v1::verify_upload(&id.public_signing_key(), &sealed.header, &sealed.blob, &sealed.signature),
            Ok(())
        );
        let opened = v1::decrypt_volume(&vek, name.as_str(), version, &sealed.blob).expect("opens");
        prop_assert_eq!(&opened[..], &pt[..]);
    }
}
