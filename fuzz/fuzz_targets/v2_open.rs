//! client-core's v2 `open` / `verify_header` with a fixed owner key and VEK, from hostile bytes.
//!
//! The relay is hostile (raw header, signature, payload), and so may the owner be: the target
//! holds the owner's signing key and VEK, so it also signs arbitrary header bytes and encrypts
//! arbitrary frames under the real per-version subkey (rebuilt here from the spec), which reaches
//! the header parse, the payload checks and the frame parser behind the signature and the AEAD.
//! Everything must be an error, never a panic; an honest seal must open to its plaintext, and a
//! single flipped bit anywhere must not.

#![no_main]

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut as _, Nonce};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use coffer_client_core::identity::Identity;
use coffer_client_core::v2::{
    HeaderFields, HighWater, VolumeKey, danger_seal_with_nonce, open, verify_header,
};
use coffer_fuzz::Reader;
use coffer_wire::v2::{Header, Label, VolumeName, labelled};
use ed25519_dalek::Signer as _;
use hkdf::Hkdf;
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use uuid::Uuid;

const SEED: [u8; 32] = [0x44; 32];
const EXCHANGE: [u8; 32] = [0x55; 32];
const OWNER: Uuid = Uuid::from_bytes([0x66; 16]);

/// Selected by the first byte (mod 4); fields in order, see `coffer_fuzz::Reader`.
#[derive(Debug)]
enum Case<'a> {
    /// Everything from the (hostile) relay.
    Raw {
        header: &'a [u8],
        signature: [u8; 64],
        payload: &'a [u8],
    },
    /// Header bytes of the owner's choosing, validly signed.
    Signed { header: &'a [u8], payload: &'a [u8] },
    /// A well-formed header around a frame of the owner's choosing, encrypted under the real
    /// subkey, with length and hash made to match.
    Frame {
        owner_ok: bool,
        volume: u8,
        epoch: u32,
        version: u64,
        hour: u64,
        nonce: [u8; 12],
        frame: &'a [u8],
    },
    /// An honest seal, then one bit flipped in header, signature or payload.
    Honest {
        plaintext: &'a [u8],
        version: u64,
        flip: Option<u32>,
    },
}

fn volume(i: u8) -> VolumeName {
    let name = ["meta", "members", "org.example.notes", "a.b"][usize::from(i) % 4];
    VolumeName::new(name).expect("valid literal names")
}

fn sign(message_label: Label, bytes: &[u8]) -> [u8; 64] {
    let mut message = labelled(message_label);
    message.extend_from_slice(bytes);
    ed25519_dalek::SigningKey::from_bytes(&SEED)
        .sign(&message)
        .to_bytes()
}

/// The v2 payload of `frame` (docs/protocol-v2.md §4), as a hostile owner would build it.
fn encrypt(vek: &[u8; 32], header: &Header, nonce: [u8; 12], frame: &[u8]) -> Vec<u8> {
    let mut info = labelled(Label::VolumeKey);
    info.extend_from_slice(&header.owner);
    let name = header.volume.as_str().as_bytes();
    info.push(u8::try_from(name.len()).expect("names are at most 64 bytes"));
    info.extend_from_slice(name);
    info.extend_from_slice(&header.epoch.to_be_bytes());
    info.extend_from_slice(&header.version.to_be_bytes());
    let mut subkey = [0u8; 32];
    Hkdf::<Sha256>::new(None, vek)
        .expand(&info, &mut subkey)
        .expect("32 bytes is a valid HKDF length");
    let mut aad = labelled(Label::VolumeAad);
    aad.extend_from_slice(&header.core_bytes());
    let mut payload = nonce.to_vec();
    payload.extend_from_slice(frame);
    let tag = Aes256Gcm::new((&subkey).into())
        .encrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(nonce),
            &aad,
            InOutBuf::from(&mut payload[12..]),
        )
        .expect("small frames are within AES-GCM's limit");
    payload.extend_from_slice(&tag);
    payload
}

fn decode(data: &[u8]) -> Case<'_> {
    let mut r = Reader::new(data);
    match r.u8() % 4 {
        0 => Case::Raw {
            header: r.bytes(),
            signature: r.array(),
            payload: r.rest(),
        },
        1 => Case::Signed {
            header: r.bytes(),
            payload: r.rest(),
        },
        2 => Case::Frame {
            owner_ok: r.bool(),
            volume: r.u8(),
            epoch: r.u32(),
            version: r.u64(),
            hour: r.u64(),
            nonce: r.array(),
            frame: r.rest(),
        },
        _ => Case::Honest {
            version: r.u64(),
            flip: r.bool().then(|| r.u32()),
            plaintext: r.rest(),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let case = decode(data);
    let owner = Identity::from_secret_bytes(&SEED, &EXCHANGE);
    let key = owner.public_signing_key();
    let vek_bytes = [0x77u8; 32];
    let vek = VolumeKey::from_bytes(vek_bytes);
    let meta = volume(0);
    let try_open = |header: &[u8], signature: &[u8; 64], payload: &[u8], name: &VolumeName| {
        let listed = verify_header(&key, OWNER, name, header, signature);
        let opened = open(&key, OWNER, name, header, signature, payload, |epoch| {
            (epoch >= 1).then_some(&vek)
        });
        if let Ok(opened) = &opened {
            assert!(listed.is_ok(), "open accepted what verify_header refuses");
            assert_eq!(opened.header().bytes(), header);
            let mut marks = HighWater::new();
            let _ = marks.record(opened.header());
        }
        opened
    };
    match case {
        Case::Raw {
            header,
            signature,
            payload,
        } => {
            let _ = try_open(header, &signature, payload, &meta);
        }
        Case::Signed { header, payload } => {
            let signature = sign(Label::VolumeHeader, header);
            let _ = try_open(header, &signature, payload, &meta);
        }
        Case::Frame {
            owner_ok,
            volume: v,
            epoch,
            version,
            hour,
            nonce,
            frame,
        } => {
            let name = volume(v);
            let mut header = Header {
                owner: if owner_ok { *OWNER.as_bytes() } else { [1; 16] },
                volume: name.clone(),
                epoch,
                version,
                hour,
                payload_len: 0,
                payload_hash: [0; 32],
            };
            header.payload_len = (frame.len() + 28) as u64;
            let payload = encrypt(&vek_bytes, &header, nonce, frame);
            header.payload_hash = coffer_wire::v2::volume_payload_hash(&payload);
            let bytes = header.to_bytes();
            let signature = sign(Label::VolumeHeader, &bytes);
            if let Ok(opened) = try_open(&bytes, &signature, &payload, &name) {
                // The frame was accepted: it must be the canonical framing of what came out.
                let reframed = coffer_client_core::v2::frame_and_pad(opened.plaintext())
                    .expect("an opened plaintext can be framed again");
                assert_eq!(&reframed[..], frame, "a frame opened that is not canonical");
            }
        }
        Case::Honest {
            plaintext,
            version,
            flip,
        } => {
            let fields = HeaderFields {
                owner: OWNER,
                volume: meta.clone(),
                epoch: 1,
                version,
                hour: 1_774_609_200,
            };
            let Ok(sealed) = danger_seal_with_nonce(&owner, &vek, &fields, plaintext, [9; 12])
            else {
                assert!(
                    version == 0 || version > i64::MAX as u64,
                    "seal refused a valid version"
                );
                return;
            };
            let (mut header, mut signature, mut payload) =
                (sealed.header_bytes, sealed.signature, sealed.payload);
            match flip {
                None => {
                    let opened = try_open(&header, &signature, &payload, &meta)
                        .expect("an honest seal opens");
                    assert_eq!(opened.plaintext(), plaintext);
                }
                Some(bit) => {
                    let total = (header.len() + 64 + payload.len()) * 8;
                    let bit = usize::try_from(bit).unwrap_or(0) % total;
                    let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
                    if byte < header.len() {
                        header[byte] ^= mask;
                    } else if byte < header.len() + 64 {
                        signature[byte - header.len()] ^= mask;
                    } else {
                        payload[byte - header.len() - 64] ^= mask;
                    }
                    assert!(
                        try_open(&header, &signature, &payload, &meta).is_err(),
                        "a volume with a flipped bit opened"
                    );
                }
            }
        }
    }
});
