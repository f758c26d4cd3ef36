use sha2::{Digest as _, Sha256};

use super::*;

/// The frame check as `open` applies it, returning the plaintext.
fn unframe(frame: &[u8]) -> Result<Vec<u8>, V2Error> {
    frame_end(frame).map(|end| frame[PREFIX_LEN..end].to_vec())
}

const OWNER: Uuid = Uuid::from_bytes([0x11; 16]);

fn fields(name: &str, epoch: u32, version: u64) -> HeaderFields {
    HeaderFields {
        owner: OWNER,
        volume: VolumeName::new(name).expect("valid name"),
        epoch,
        version,
        hour: 1_774_609_200,
    }
}

fn open_with(
    id: &Identity,
    vek: &VolumeKey,
    volume: &str,
    sealed: &SealedV2,
) -> Result<Opened, V2Error> {
    open(
        &id.public_signing_key(),
        OWNER,
        &VolumeName::new(volume).expect("valid"),
        &sealed.header_bytes,
        &sealed.signature,
        &sealed.payload,
        |_| Some(vek),
    )
}

/// The owner signs arbitrary header bytes (what a buggy or compromised owner client could do).
fn owner_signs(id: &Identity, header: &Header) -> ([u8; 64], Vec<u8>) {
    let bytes = header.to_bytes();
    (id.sign(&header_message(&bytes)), bytes)
}

#[test]
fn round_trip_and_layout() {
    let id = Identity::generate();
    let vek = VolumeKey::generate();
    let sealed = seal(&id, &vek, &fields("meta", 2, 7), b"{\"a\":1}\0\0").expect("seals");
    assert_eq!(sealed.payload.len(), 1024 + 28);
    let header = Header::parse(&sealed.header_bytes).expect("parses");
    assert_eq!(header.payload_len, 1052);
    assert_eq!(header.payload_hash, volume_payload_hash(&sealed.payload));
    let opened = open_with(&id, &vek, "meta", &sealed).expect("opens");
    assert_eq!(opened.plaintext(), b"{\"a\":1}\0\0");
    assert_eq!(opened.header().version(), 7);
    assert_eq!(opened.header().epoch(), 2);
    assert_eq!(opened.header().owner(), OWNER);
    assert_eq!(opened.header().bytes(), &sealed.header_bytes[..]);
    // Fresh nonce per seal: the same version sealed twice differs (P2).
    let again = seal(&id, &vek, &fields("meta", 2, 7), b"{\"a\":1}\0\0").expect("seals");
    assert_ne!(again.payload[..12], sealed.payload[..12]);
    assert!(format!("{opened:?}").contains("<redacted>"));
    assert!(!format!("{sealed:?}").contains(&format!("{:?}", &sealed.payload[..4])));
}

#[test]
fn checks_run_in_order() {
    let id = Identity::generate();
    let vek = VolumeKey::generate();
    let sealed = seal(&id, &vek, &fields("meta", 1, 1), b"x").expect("seals");

    // Altered header bytes: the signature fails before anything is parsed.
    let mut bad = sealed.clone();
    bad.header_bytes[30] ^= 1;
    assert_eq!(
        open_with(&id, &vek, "fronts", &bad).err(),
        Some(V2Error::BadSignature)
    );
    assert_eq!(
        open_with(&Identity::generate(), &vek, "meta", &sealed).err(),
        Some(V2Error::BadSignature)
    );
    // Valid signature, another volume requested.
    assert_eq!(
        open_with(&id, &vek, "fronts", &sealed).err(),
        Some(V2Error::WrongVolume)
    );
    let other_owner = open(
        &id.public_signing_key(),
        Uuid::from_bytes([0x22; 16]),
        &VolumeName::new("meta").expect("valid"),
        &sealed.header_bytes,
        &sealed.signature,
        &sealed.payload,
        |_| Some(&vek),
    );
    assert_eq!(other_owner.err(), Some(V2Error::WrongOwner));
    // Payload swapped for another version's.
    let other = seal(&id, &vek, &fields("meta", 1, 2), b"x").expect("seals");
    let mut swapped = sealed.clone();
    swapped.payload = other.payload;
    assert_eq!(
        open_with(&id, &vek, "meta", &swapped).err(),
        Some(V2Error::PayloadMismatch)
    );
    let mut truncated = sealed.clone();
    truncated.payload.pop();
    assert_eq!(
        open_with(&id, &vek, "meta", &truncated).err(),
        Some(V2Error::PayloadMismatch)
    );
    // No key for the epoch.
    let no_key = open(
        &id.public_signing_key(),
        OWNER,
        &VolumeName::new("meta").expect("valid"),
        &sealed.header_bytes,
        &sealed.signature,
        &sealed.payload,
        |_| None,
    );
    assert_eq!(no_key.err(), Some(V2Error::NoKeyForEpoch { epoch: 1 }));
    // Wrong key.
    assert_eq!(
        open_with(&id, &VolumeKey::generate(), "meta", &sealed).err(),
        Some(V2Error::Tampered)
    );
}

#[test]
fn header_core_is_bound_as_associated_data() {
    // The owner re-signs the header with another hour (or version) but keeps the payload: the
    // AEAD must refuse, because H_core is the associated data (P3) and the subkey is per version.
    let id = Identity::generate();
    let vek = VolumeKey::generate();
    let sealed = seal(&id, &vek, &fields("meta", 1, 1), b"x").expect("seals");
    let original = Header::parse(&sealed.header_bytes).expect("parses");
    let mut later = original.clone();
    later.hour += 3600;
    let mut bumped = original;
    bumped.version += 1;
    for header in [later, bumped] {
        let (signature, header_bytes) = owner_signs(&id, &header);
        let forged = SealedV2 {
            header_bytes,
            signature,
            payload: sealed.payload.clone(),
        };
        assert_eq!(
            open_with(&id, &vek, "meta", &forged).err(),
            Some(V2Error::Tampered)
        );
    }
}

#[test]
fn off_grid_payload_is_refused() {
    let id = Identity::generate();
    let vek = VolumeKey::generate();
    let payload = vec![0u8; 1000];
    let header = Header {
        owner: *OWNER.as_bytes(),
        volume: VolumeName::new("meta").expect("valid"),
        epoch: 1,
        version: 1,
        hour: 0,
        payload_len: 1000,
        payload_hash: volume_payload_hash(&payload),
    };
    let (signature, header_bytes) = owner_signs(&id, &header);
    let sealed = SealedV2 {
        header_bytes,
        signature,
        payload,
    };
    assert_eq!(
        open_with(&id, &vek, "meta", &sealed).err(),
        Some(V2Error::Malformed("payload length is off the padding grid"))
    );
}

#[test]
fn seal_refuses_values_the_header_cannot_carry() {
    let id = Identity::generate();
    let vek = VolumeKey::generate();
    let mut f = fields("meta", 0, 1);
    assert!(seal(&id, &vek, &f, b"").is_err());
    f.epoch = 1;
    f.version = 0;
    assert!(seal(&id, &vek, &f, b"").is_err());
    f.version = u64::MAX;
    assert!(seal(&id, &vek, &f, b"").is_err());
    f.version = 1;
    f.hour = 3601;
    assert!(seal(&id, &vek, &f, b"").is_err());
}

#[test]
fn frames() {
    let frame = frame_and_pad(b"abc").expect("small");
    assert_eq!(frame.len(), 1024);
    assert_eq!(&frame[..7], b"\0\0\0\x03abc");
    assert!(frame[7..].iter().all(|&b| b == 0));
    assert_eq!(
        &unframe(&frame_and_pad(b"abc").expect("small")).expect("valid")[..],
        b"abc"
    );
    assert_eq!(frame_and_pad(&[1; 1020]).expect("small").len(), 1024);
    assert_eq!(frame_and_pad(&[1; 1021]).expect("small").len(), 1088);

    let bad_len = |len: u32| {
        let mut f = frame_and_pad(b"abc").expect("small");
        f[..4].copy_from_slice(&len.to_be_bytes());
        unframe(&f)
    };
    assert!(bad_len(1021).is_err());
    assert!(bad_len(u32::MAX).is_err());
    assert_eq!(bad_len(4).map(|p| p.to_vec()).ok(), Some(b"abc\0".to_vec()));
    let mut nonzero = frame_and_pad(b"abc").expect("small");
    nonzero[1023] = 1;
    assert!(unframe(&nonzero).is_err());
    // A frame longer than the padded length for its prefix (two encodings of one plaintext).
    let mut long = frame_and_pad(b"abc").expect("small");
    long.resize(1088, 0);
    assert!(unframe(&long).is_err());
    assert!(unframe(&[0, 0]).is_err());
}

/// A header signed over the payload's SHA-256 (the digest before ADR 0029) is refused as a
/// payload mismatch, before any key is asked for.
#[test]
fn sha256_payload_digest_is_refused() {
    let id = Identity::generate();
    let vek = VolumeKey::generate();
    let sealed = seal(&id, &vek, &fields("meta", 1, 1), b"x").expect("seals");
    let mut header = Header::parse(&sealed.header_bytes).expect("parses");
    header.payload_hash = Sha256::digest(&sealed.payload).into();
    let (signature, header_bytes) = owner_signs(&id, &header);
    let old = SealedV2 {
        header_bytes,
        signature,
        payload: sealed.payload.clone(),
    };
    let opened = open(
        &id.public_signing_key(),
        OWNER,
        &VolumeName::new("meta").expect("valid"),
        &old.header_bytes,
        &old.signature,
        &old.payload,
        |_| -> Option<&VolumeKey> { panic!("no key may be asked for") },
    );
    assert_eq!(opened.err(), Some(V2Error::PayloadMismatch));
    assert!(open_with(&id, &vek, "meta", &sealed).is_ok());
}

/// `plaintext()` (a view into the frame) and `into_parts()` (shifted in place) agree, for
/// empty, small and multi-block plaintexts.
#[test]
fn plaintext_views_agree() {
    let id = Identity::generate();
    let vek = VolumeKey::generate();
    for len in [0usize, 1, 1020, 1021, 70_000] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i % 253) as u8 + 1).collect();
        let sealed = seal(&id, &vek, &fields("meta", 1, 1), &plaintext).expect("seals");
        let opened = open_with(&id, &vek, "meta", &sealed).expect("opens");
        assert_eq!(opened.plaintext(), &plaintext[..]);
        let (header, owned) = opened.into_parts();
        assert_eq!(&owned[..], &plaintext[..]);
        assert_eq!(header.version(), 1);
    }
}
