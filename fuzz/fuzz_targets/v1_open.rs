//! client-core's legacy v1 volume opening with a fixed key, from hostile bytes: what a v1 Friend
//! app runs on a blob, a control header, an upload signature and a wrapped VEK served by the
//! relay. Every function must return an error, never panic; and what a (malicious) owner can
//! encrypt must open to exactly its plaintext minus trailing NULs (v1's W15).

#![no_main]

use coffer_client_core::identity::Identity;
use coffer_client_core::legacy::v1::{
    Vek, decrypt_volume, encrypt_volume, fkek, unwrap_vek, verify_upload, volume_nonce,
    wrap_vek_with_nonce,
};
use coffer_fuzz::Reader;
use coffer_wire::v1::ControlHeader;
use libfuzzer_sys::fuzz_target;

/// Selected by the first byte (mod 4); fields in order, see `coffer_fuzz::Reader`.
#[derive(Debug)]
enum Case<'a> {
    /// A blob as served, opened under a name and version the reader expects.
    Blob {
        name: &'a str,
        version: u64,
        blob: &'a [u8],
    },
    /// A blob the owner encrypted (any plaintext: the owner may be hostile), possibly served
    /// under another name or version.
    Owner {
        name: &'a str,
        version: u64,
        served_version: u64,
        plaintext: &'a [u8],
        flip: Option<u32>,
    },
    /// A control header (JSON object) with blob and signature, verified under the fixed key.
    Upload {
        header_json: &'a str,
        blob: &'a [u8],
        signature: [u8; 64],
        key: Option<[u8; 32]>,
    },
    /// A wrapped VEK as the relay serves it, unwrapped with the fixed pair key; or one wrapped
    /// by a peer whose exchange key is hostile.
    Wrapped {
        wrapped: &'a [u8],
        peer_exchange: [u8; 32],
        nonce: [u8; 12],
    },
}

const SEED: [u8; 32] = [0x11; 32];
const EXCHANGE: [u8; 32] = [0x22; 32];

fn decode(data: &[u8]) -> Case<'_> {
    let mut r = Reader::new(data);
    match r.u8() % 4 {
        0 => Case::Blob {
            name: r.str(),
            version: r.u64(),
            blob: r.rest(),
        },
        1 => Case::Owner {
            name: r.str(),
            version: r.u64(),
            served_version: r.u64(),
            flip: r.bool().then(|| r.u32()),
            plaintext: r.rest(),
        },
        2 => Case::Upload {
            header_json: r.str(),
            signature: r.array(),
            key: r.bool().then(|| r.array()),
            blob: r.rest(),
        },
        _ => Case::Wrapped {
            peer_exchange: r.array(),
            nonce: r.array(),
            wrapped: r.rest(),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let case = decode(data);
    let vek = Vek::from_bytes([0x33; 32]);
    match case {
        Case::Blob {
            name,
            version,
            blob,
        } => {
            if let Ok(plaintext) = decrypt_volume(&vek, name, version, blob) {
                assert!(plaintext.last() != Some(&0), "trailing NULs survive");
                assert_eq!(blob[..12], volume_nonce(name, version));
            }
        }
        Case::Owner {
            name,
            version,
            served_version,
            plaintext,
            flip,
        } => {
            let mut blob = encrypt_volume(&vek, name, version, plaintext);
            let flipped = flip.map(|at| usize::try_from(at).unwrap_or(0) % blob.len());
            if let Some(at) = flipped {
                blob[at] ^= 1;
            }
            let opened = decrypt_volume(&vek, name, served_version, &blob);
            if flipped.is_some() || served_version != version {
                assert!(opened.is_err(), "an altered or misfiled blob opened");
            } else {
                let expected = plaintext
                    .iter()
                    .rposition(|&b| b != 0)
                    .map_or(&plaintext[..0], |i| &plaintext[..=i]);
                assert_eq!(&opened.expect("an intact blob opens")[..], expected);
            }
        }
        Case::Upload {
            header_json,
            blob,
            signature,
            key,
        } => {
            let Ok(serde_json::Value::Object(obj)) = serde_json::from_str(header_json) else {
                return;
            };
            let Ok(header) = ControlHeader::from_json_object(&obj) else {
                return;
            };
            let owner = Identity::from_secret_bytes(&SEED, &EXCHANGE);
            let key = key.unwrap_or_else(|| owner.public_signing_key());
            let _ = verify_upload(&key, &header, blob, &signature);
        }
        Case::Wrapped {
            wrapped,
            peer_exchange,
            nonce,
        } => {
            let me = Identity::from_secret_bytes(&SEED, &EXCHANGE);
            // A low-order peer key must be refused, not produce an all-zero key.
            let Ok(pair) = fkek(&me, &peer_exchange) else {
                return;
            };
            let _ = unwrap_vek(&pair, wrapped);
            let wrapped = wrap_vek_with_nonce(&pair, &vek, nonce);
            let back = unwrap_vek(&pair, &wrapped).expect("a fresh wrap unwraps");
            assert_eq!(back.expose_secret(), vek.expose_secret());
        }
    }
});
