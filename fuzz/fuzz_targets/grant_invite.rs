//! v2 grants (verify with a fixed owner key, also over owner-signed hostile bytes), pairing links
//! (`coffer://pair?…`), compact fingerprints and pairing proofs in client-core; SPKI pins,
//! relay pairing strings (`coffer://relay?…`) and certificate DER in coffer-certs.
//!
//! Parsers must refuse, never panic, and every accepted text must be the canonical encoding of
//! what was parsed: `to_string(parse(text)) == text` where the format has one encoding, and
//! `parse(to_string(x)) == x` for everything a builder accepts.

#![no_main]

use coffer_certs::{RelayPairing, SpkiPin};
use coffer_client_core::identity::Identity;
use coffer_client_core::v2::{
    Fingerprint, InviteLink, InviteSecret, PublicIdentity, pairing_proof, sign_grant, verify_grant,
    verify_pairing_proof,
};
use coffer_fuzz::Reader;
use coffer_wire::v2::{Grant, GrantEntry, Label, VolumeName, labelled};
use ed25519_dalek::Signer as _;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

const SEED: [u8; 32] = [0x12; 32];
const EXCHANGE: [u8; 32] = [0x34; 32];
const OWNER: Uuid = Uuid::from_bytes([0x56; 16]);
const FRIEND: Uuid = Uuid::from_bytes([0x78; 16]);

/// Selected by the first byte (mod 8); fields in order, see `coffer_fuzz::Reader`.
#[derive(Debug)]
enum Case<'a> {
    /// Grant bytes and signature as a hostile relay serves them.
    RawGrant {
        bytes: &'a [u8],
        signature: [u8; 64],
        now: u64,
    },
    /// Grant bytes of the owner's choosing, validly signed.
    SignedGrant { bytes: &'a [u8], now: u64 },
    /// A grant built from fields: signing refuses what a reader would refuse; what it signs
    /// verifies, and its parse is what was signed.
    BuiltGrant {
        fingerprint_ok: bool,
        sequence: u64,
        expires_at: u64,
        entries: Vec<(u8, u32)>,
        now: u64,
    },
    /// Any text as a pairing link, a compact fingerprint, a pin and a relay pairing string.
    Text(&'a str),
    /// A link built from fields must survive `parse(to_uri())`.
    BuiltLink {
        origin: &'a str,
        pin: Option<[u8; 32]>,
        code: &'a str,
        secret: [u8; 32],
        fingerprint: [u8; 32],
    },
    /// A relay pairing built from fields must survive `parse(to_string())`.
    BuiltPairing {
        origin: &'a str,
        pin: [u8; 32],
        next: Option<[u8; 32]>,
    },
    /// Pairing proofs over any code and keys; a made proof verifies, any other bytes do not.
    Proof {
        code: &'a str,
        friend_signing: [u8; 32],
        friend_exchange: [u8; 32],
        presented: &'a [u8],
    },
    /// A certificate from a file or a peer, DER.
    CertDer(&'a [u8]),
}

fn volume(i: u8) -> VolumeName {
    let name = ["meta", "members", "vault", "org.example.notes", "a.b"][usize::from(i) % 5];
    VolumeName::new(name).expect("valid literal names")
}

fn pin(bytes: [u8; 32]) -> SpkiPin {
    format!(
        "sha256/{}",
        coffer_wire::b64::encode(&bytes) // standard padded base64, as a pin is written
    )
    .parse()
    .expect("any 32 bytes make a pin")
}

fn check_grant(
    owner: &Identity,
    friend_fp: &Fingerprint,
    bytes: &[u8],
    signature: &[u8; 64],
    now: u64,
) {
    let Ok(verified) = verify_grant(
        &owner.public_signing_key(),
        bytes,
        signature,
        OWNER,
        FRIEND,
        friend_fp,
        now,
    ) else {
        return;
    };
    assert_eq!(verified.bytes(), bytes);
    assert_eq!(
        verified.grant().to_bytes(),
        bytes,
        "a verified grant re-encodes differently"
    );
    assert_eq!(verified.owner(), OWNER);
    assert_eq!(verified.friend(), FRIEND);
    let expires = verified.grant().expires_at;
    assert!(expires == 0 || now < expires, "an expired grant verified");
}

fn text(text: &str) {
    if let Ok(link) = InviteLink::parse(text) {
        let uri = link.to_uri();
        let again = InviteLink::parse(&uri).expect("a link's own text parses");
        assert_eq!(again.relay_origin(), link.relay_origin());
        assert_eq!(again.pin(), link.pin());
        assert_eq!(again.code(), link.code());
        assert_eq!(
            again.secret().expose_secret(),
            link.secret().expose_secret()
        );
        assert_eq!(again.system_fingerprint(), link.system_fingerprint());
    }
    if let Ok(fp) = Fingerprint::from_compact(text) {
        assert_eq!(fp.compact(), text, "compact fingerprints have one encoding");
    }
    if let Ok(pin) = text.parse::<SpkiPin>() {
        assert_eq!(pin.to_string(), text, "pins have one encoding");
    }
    if let Ok(pairing) = text.parse::<RelayPairing>() {
        let again: RelayPairing = pairing
            .to_string()
            .parse()
            .expect("a pairing's own text parses");
        assert_eq!(again, pairing);
    }
}

fn decode(data: &[u8]) -> Case<'_> {
    let mut r = Reader::new(data);
    match r.u8() % 8 {
        0 => Case::RawGrant {
            signature: r.array(),
            now: r.u64(),
            bytes: r.rest(),
        },
        1 => Case::SignedGrant {
            now: r.u64(),
            bytes: r.rest(),
        },
        2 => Case::BuiltGrant {
            fingerprint_ok: r.bool(),
            sequence: r.u64(),
            expires_at: r.u64(),
            now: r.u64(),
            entries: {
                let n = r.u8();
                (0..n).map(|_| (r.u8(), r.u32())).collect()
            },
        },
        3 => Case::Text(r.rest_str()),
        4 => Case::BuiltLink {
            origin: r.str(),
            pin: r.bool().then(|| r.array()),
            code: r.str(),
            secret: r.array(),
            fingerprint: r.array(),
        },
        5 => Case::BuiltPairing {
            origin: r.str(),
            pin: r.array(),
            next: r.bool().then(|| r.array()),
        },
        6 => Case::Proof {
            code: r.str(),
            friend_signing: r.array(),
            friend_exchange: r.array(),
            presented: r.rest(),
        },
        _ => Case::CertDer(r.rest()),
    }
}

fuzz_target!(|data: &[u8]| {
    let case = decode(data);
    let owner = Identity::from_secret_bytes(&SEED, &EXCHANGE);
    let friend_fp = Fingerprint::from_bytes([0x9a; 32]);
    match case {
        Case::RawGrant {
            bytes,
            signature,
            now,
        } => check_grant(&owner, &friend_fp, bytes, &signature, now),
        Case::SignedGrant { bytes, now } => {
            let mut message = labelled(Label::Grant);
            message.extend_from_slice(bytes);
            let signature = ed25519_dalek::SigningKey::from_bytes(&SEED)
                .sign(&message)
                .to_bytes();
            check_grant(&owner, &friend_fp, bytes, &signature, now);
        }
        Case::BuiltGrant {
            fingerprint_ok,
            sequence,
            expires_at,
            entries,
            now,
        } => {
            let grant = Grant {
                owner: *OWNER.as_bytes(),
                friend: *FRIEND.as_bytes(),
                friend_fingerprint: if fingerprint_ok {
                    *friend_fp.as_bytes()
                } else {
                    [0; 32]
                },
                sequence,
                expires_at,
                entries: entries
                    .iter()
                    .map(|(i, epoch)| GrantEntry {
                        volume: volume(*i),
                        epoch: *epoch,
                    })
                    .collect(),
            };
            let Ok(signed) = sign_grant(&owner, &grant) else {
                return;
            };
            let verified = verify_grant(
                &owner.public_signing_key(),
                &signed.bytes,
                &signed.signature,
                OWNER,
                FRIEND,
                &friend_fp,
                now,
            );
            let expired = expires_at != 0 && now >= expires_at;
            match verified {
                Ok(v) => {
                    let mut sorted = grant.entries.clone();
                    sorted.sort();
                    assert_eq!(v.grant().entries, sorted);
                    assert_eq!(v.sequence(), sequence);
                }
                Err(err) => assert!(
                    !fingerprint_ok || expired,
                    "a signed grant for this friend did not verify: {err}"
                ),
            }
        }
        Case::Text(t) => text(t),
        Case::BuiltLink {
            origin,
            pin: pin_bytes,
            code,
            secret,
            fingerprint,
        } => {
            let Ok(link) = InviteLink::new(
                origin,
                pin_bytes.map(pin),
                code,
                InviteSecret::from_bytes(secret),
                Fingerprint::from_bytes(fingerprint),
            ) else {
                return;
            };
            let parsed = InviteLink::parse(&link.to_uri()).expect("a built link parses back");
            assert_eq!(parsed.relay_origin(), origin);
            assert_eq!(parsed.code(), code);
            assert_eq!(parsed.pin(), pin_bytes.map(pin));
            assert_eq!(parsed.secret().expose_secret(), &secret);
            assert_eq!(
                parsed.system_fingerprint(),
                Fingerprint::from_bytes(fingerprint)
            );
        }
        Case::BuiltPairing {
            origin,
            pin: current,
            next,
        } => {
            let Ok(pairing) = RelayPairing::new(origin, pin(current), next.map(pin)) else {
                return;
            };
            let text = pairing.to_string();
            let parsed: RelayPairing = text.parse().expect("a built pairing string parses back");
            assert_eq!(parsed, pairing);
            assert_eq!(parsed.origin(), origin);
        }
        Case::Proof {
            code,
            friend_signing,
            friend_exchange,
            presented,
        } => {
            let secret = InviteSecret::from_bytes([0xbc; 32]);
            let friend = PublicIdentity::new(friend_signing, friend_exchange);
            let _ = friend.verify_key_binding(&[0; 64]);
            let made = pairing_proof(&secret, code, FRIEND, &friend);
            if let Ok(proof) = made {
                assert!(verify_pairing_proof(&secret, code, FRIEND, &friend, &proof));
                if presented != proof {
                    assert!(!verify_pairing_proof(
                        &secret, code, FRIEND, &friend, presented
                    ));
                }
            } else {
                assert!(!verify_pairing_proof(
                    &secret, code, FRIEND, &friend, presented
                ));
            }
        }
        Case::CertDer(der) => {
            let _ = SpkiPin::from_cert_der(der);
        }
    }
});
