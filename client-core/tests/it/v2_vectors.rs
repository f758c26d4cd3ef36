//! Known answers for protocol v2: `docs/vectors/v2.json` (written by `examples/v2_vectors.rs`).
//!
//! Every value is checked twice: recomputed through the library from the inputs in the file,
//! and re-derived *independently* from the spec's formulas with the raw primitives (ed25519,
//! X25519, HKDF, HMAC, AES-GCM, Argon2), so the file pins both the code and the spec.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut as _, Nonce, Tag};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_certs::SpkiPin;
use coffer_client_core::identity::{Identity, IdentitySecret};
use coffer_client_core::v2::{
    self, BackupParams, Fingerprint, HeaderFields, InviteLink, InviteSecret, PublicIdentity,
    RelayEntry, RelayList, RestoreStatement, Side, VolumeKey, WrapKey,
};
use coffer_wire::v2::api::{ClientType, Handle, UserId};
use coffer_wire::v2::{Grant, GrantEntry, VolumeName};
use ed25519_dalek::{Signer as _, SigningKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac as _};
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};
use uuid::Uuid;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/v2.json");

fn vectors() -> Value {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| panic!("read {VECTORS}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {VECTORS}: {e}"))
}

fn text(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn hex_vec(v: &Value) -> Vec<u8> {
    hex::decode(text(v)).expect("hex")
}

fn hex_arr<const N: usize>(v: &Value) -> [u8; N] {
    <[u8; N]>::try_from(hex_vec(v)).expect("hex of the expected length")
}

fn num(v: &Value) -> u64 {
    v.as_u64().expect("number")
}

fn uuid(v: &Value) -> Uuid {
    text(v).parse().expect("uuid")
}

fn label(l: &str) -> Vec<u8> {
    [l.as_bytes(), &[0]].concat()
}

fn str8(s: &str) -> Vec<u8> {
    [&[u8::try_from(s.len()).expect("short")][..], s.as_bytes()].concat()
}

fn hkdf(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, &mut okm)
        .expect("32 bytes");
    okm
}

/// AES-256-GCM open of `nonce ‖ ct ‖ tag` by hand.
fn aead_open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let (nonce, rest) = sealed.split_first_chunk::<12>()?;
    let (ct, tag) = rest.split_last_chunk::<16>()?;
    let mut out = vec![0u8; ct.len()];
    Aes256Gcm::new(key.into())
        .decrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(*nonce),
            aad,
            InOutBuf::new(ct, &mut out).ok()?,
            &Tag::<Aes256Gcm>::from(*tag),
        )
        .ok()?;
    Some(out)
}

fn system(v: &Value) -> Identity {
    let s = &v["identities"]["system"];
    Identity::from_secret_bytes(
        &hex_arr(&s["signing_seed"]),
        &hex_arr(&s["exchange_secret"]),
    )
}

fn friend(v: &Value) -> Identity {
    let s = &v["identities"]["friend"];
    Identity::from_secret_bytes(
        &hex_arr(&s["signing_seed"]),
        &hex_arr(&s["exchange_secret"]),
    )
}

#[test]
fn identities() {
    let v = vectors();
    for who in ["system", "friend"] {
        let c = &v["identities"][who];
        let seed: [u8; 32] = hex_arr(&c["signing_seed"]);
        let xs: [u8; 32] = hex_arr(&c["exchange_secret"]);
        let id = Identity::from_secret_bytes(&seed, &xs);
        let (pk, xpk) = (id.public_signing_key(), id.public_exchange_key());
        assert_eq!(pk, hex_arr::<32>(&c["public_signing_key"]), "{who}");
        assert_eq!(xpk, hex_arr::<32>(&c["public_exchange_key"]), "{who}");
        // Independent: the spec's formulas with raw primitives.
        assert_eq!(SigningKey::from_bytes(&seed).verifying_key().to_bytes(), pk);
        assert_eq!(
            x25519_dalek::x25519(xs, x25519_dalek::X25519_BASEPOINT_BYTES),
            xpk
        );
        let binding_msg = [label("coffer-v2/key-binding"), pk.to_vec(), xpk.to_vec()].concat();
        let binding = SigningKey::from_bytes(&seed).sign(&binding_msg).to_bytes();
        assert_eq!(binding, hex_arr::<64>(&c["key_binding_signature"]));
        assert_eq!(id.key_binding_signature(), binding);
        assert_eq!(
            PublicIdentity::new(pk, xpk).verify_key_binding(&binding),
            Ok(())
        );
        let fp: [u8; 32] =
            Sha256::digest([label("coffer-v2/fingerprint"), pk.to_vec(), xpk.to_vec()].concat())
                .into();
        assert_eq!(fp, hex_arr::<32>(&c["fingerprint"]));
        assert_eq!(id.fingerprint().as_bytes(), &fp);
        let h = Sha512::digest([label("coffer-v2/safety-number"), fp.to_vec()].concat());
        let groups: Vec<String> = (0..12)
            .map(|i| {
                let v = h[5 * i..5 * i + 5]
                    .iter()
                    .fold(0u64, |a, &b| a << 8 | u64::from(b));
                format!("{:05}", v % 100_000)
            })
            .collect();
        assert_eq!(groups.join(" "), text(&c["safety_number"]));
        assert_eq!(id.fingerprint().safety_number(), text(&c["safety_number"]));
        assert_eq!(URL_SAFE_NO_PAD.encode(fp), text(&c["compact_fingerprint"]));
        assert_eq!(id.fingerprint().compact(), text(&c["compact_fingerprint"]));
        assert_eq!(
            Fingerprint::from_compact(text(&c["compact_fingerprint"])),
            Ok(id.fingerprint())
        );
        let secret = [&[1u8][..], &seed, &xs].concat();
        assert_eq!(secret, hex_vec(&c["identity_secret"]));
        assert_eq!(&id.danger_export_secret().to_bytes()[..], &secret[..]);
        let back = Identity::from_secret(&IdentitySecret::from_bytes(&secret).expect("valid"));
        assert_eq!(back.public_identity(), id.public_identity());
    }
}

#[test]
fn login() {
    let v = vectors();
    let c = &v["login"];
    let origin = text(&c["origin"]);
    let user = uuid(&c["user_id"]);
    let nonce: [u8; 32] = hex_arr(&c["nonce"]);
    let len = u16::try_from(origin.len()).expect("short").to_be_bytes();
    let transcript = [
        label("coffer-v2/login"),
        len.to_vec(),
        origin.as_bytes().to_vec(),
        user.as_bytes().to_vec(),
        nonce.to_vec(),
    ]
    .concat();
    assert_eq!(transcript, hex_vec(&c["transcript"]));
    let seed = hex_arr(&v["identities"]["system"]["signing_seed"]);
    let sig = SigningKey::from_bytes(&seed).sign(&transcript).to_bytes();
    assert_eq!(sig, hex_arr::<64>(&c["signature"]));
    assert_eq!(system(&v).sign_login_v2(origin, user, &nonce), Ok(sig));
}

#[test]
fn register() {
    let v = vectors();
    let cases = v["register"].as_array().expect("list");
    assert_eq!(cases.len(), 2);
    for (c, who) in cases.iter().zip(["system", "friend"]) {
        let id = if who == "system" {
            system(&v)
        } else {
            friend(&v)
        };
        let seed = hex_arr(&v["identities"][who]["signing_seed"]);
        let origin = text(&c["origin"]);
        let (type_byte, client_type) = match text(&c["client_type"]) {
            "system" => (1u8, ClientType::System),
            "friend" => (2u8, ClientType::Friend),
            other => panic!("client type {other}"),
        };
        let handle = c["handle"].as_str().unwrap_or("");
        let (pk, xpk) = (id.public_signing_key(), id.public_exchange_key());
        // Independent: label ‖ str16(origin) ‖ u8(type) ‖ str16(handle) ‖ pk ‖ xpk.
        let message = [
            label("coffer-v2/register"),
            u16::try_from(origin.len())
                .expect("short")
                .to_be_bytes()
                .to_vec(),
            origin.as_bytes().to_vec(),
            vec![type_byte],
            u16::try_from(handle.len())
                .expect("short")
                .to_be_bytes()
                .to_vec(),
            handle.as_bytes().to_vec(),
            pk.to_vec(),
            xpk.to_vec(),
        ]
        .concat();
        assert_eq!(message, hex_vec(&c["message"]), "{who}");
        let sig = SigningKey::from_bytes(&seed).sign(&message).to_bytes();
        assert_eq!(sig, hex_arr::<64>(&c["signature"]), "{who}");
        // Library: the same message, the same signature, the derived id.
        let handle = c["handle"]
            .as_str()
            .map(|h| Handle::new(h).expect("valid handle"));
        assert_eq!(
            coffer_wire::v2::register_message(origin, client_type, handle.as_ref(), &pk, &xpk),
            Some(message)
        );
        assert_eq!(
            id.sign_registration_v2(origin, client_type, handle.as_ref()),
            Ok(sig)
        );
        assert_eq!(
            UserId::derive(&pk, &xpk).to_string(),
            text(&c["user_id"]),
            "{who}"
        );
    }
}

#[test]
fn volumes() {
    let v = vectors();
    let id = system(&v);
    let seed = hex_arr(&v["identities"]["system"]["signing_seed"]);
    for c in v["volumes"].as_array().expect("list") {
        let owner = uuid(&c["owner"]);
        let name = text(&c["volume"]);
        let (epoch, version, hour) = (num(&c["epoch"]), num(&c["version"]), num(&c["hour"]));
        let epoch = u32::try_from(epoch).expect("u32");
        let vek: [u8; 32] = hex_arr(&c["vek"]);
        let plaintext = hex_vec(&c["plaintext"]);
        let header = hex_vec(&c["header"]);
        let payload = hex_vec(&c["payload"]);
        let signature: [u8; 64] = hex_arr(&c["signature"]);

        // Library: the same inputs give the same bytes, and they open.
        let fields = HeaderFields {
            owner,
            volume: VolumeName::new(name).expect("valid"),
            epoch,
            version,
            hour,
        };
        let sealed = v2::danger_seal_with_nonce(
            &id,
            &VolumeKey::from_bytes(vek),
            &fields,
            &plaintext,
            hex_arr(&c["nonce"]),
        )
        .expect("seals");
        assert_eq!(sealed.header_bytes, header, "{name}: header");
        assert_eq!(sealed.signature, signature, "{name}: signature");
        assert_eq!(sealed.payload, payload, "{name}: payload");
        let key = VolumeKey::from_bytes(vek);
        let opened = v2::open(
            &id.public_signing_key(),
            owner,
            &fields.volume,
            &header,
            &signature,
            &payload,
            |e| (e == epoch).then_some(&key),
        )
        .expect("opens");
        assert_eq!(opened.plaintext(), &plaintext[..]);

        // Independent: the header layout, subkey, AAD, frame and signature of §4.
        let core = [
            b"CFH2\x01".to_vec(),
            owner.as_bytes().to_vec(),
            str8(name),
            epoch.to_be_bytes().to_vec(),
            version.to_be_bytes().to_vec(),
            hour.to_be_bytes().to_vec(),
            (payload.len() as u64).to_be_bytes().to_vec(),
        ]
        .concat();
        assert_eq!(core, hex_vec(&c["header_core"]));
        // payload_hash = BLAKE3(label(volume-payload) ‖ payload) (ADR 0029).
        let payload_hash =
            blake3::hash(&[label("coffer-v2/volume-payload"), payload.clone()].concat());
        assert_eq!(payload_hash.as_bytes(), &hex_arr::<32>(&c["payload_hash"]));
        assert_eq!(
            header,
            [core.clone(), payload_hash.as_bytes().to_vec()].concat()
        );
        let info = [
            label("coffer-v2/volume-key"),
            owner.as_bytes().to_vec(),
            str8(name),
            epoch.to_be_bytes().to_vec(),
            version.to_be_bytes().to_vec(),
        ]
        .concat();
        let subkey = hkdf(&vek, &info);
        assert_eq!(subkey, hex_arr::<32>(&c["subkey"]));
        assert_eq!(&payload[..12], &hex_vec(&c["nonce"])[..]);
        let aad = [label("coffer-v2/volume-aad"), core].concat();
        let frame = aead_open(&subkey, &payload, &aad).expect("opens by hand");
        let len = u32::try_from(plaintext.len()).expect("small").to_be_bytes();
        let padded = usize::try_from(coffer_wire::v2::padded_len(plaintext.len() as u64 + 4))
            .expect("small");
        let mut expected = [&len[..], &plaintext].concat();
        expected.resize(padded, 0);
        assert_eq!(frame, expected);
        let msg = [label("coffer-v2/volume-header"), header.clone()].concat();
        assert_eq!(
            SigningKey::from_bytes(&seed).sign(&msg).to_bytes(),
            signature
        );
    }
}

#[test]
fn padding() {
    let v = vectors();
    for c in v["padding"].as_array().expect("list") {
        let len = usize::try_from(num(&c["plaintext_len"])).expect("small");
        let frame = v2::frame_and_pad(&vec![0xa5; len]).expect("small");
        assert_eq!(frame.len() as u64, num(&c["frame_len"]), "{len}");
        assert_eq!(frame.len() as u64 + 28, num(&c["payload_len"]), "{len}");
        assert!(coffer_wire::v2::payload_len_is_valid(num(
            &c["payload_len"]
        )));
    }
}

#[test]
fn wrap() {
    let v = vectors();
    let c = &v["wrap"];
    let (system, friend) = (system(&v), friend(&v));
    let (owner, friend_id) = (uuid(&c["owner"]), uuid(&c["friend"]));
    let volume = VolumeName::new(text(&c["volume"])).expect("valid");
    let epoch = u32::try_from(num(&c["epoch"])).expect("u32");
    let vek: [u8; 32] = hex_arr(&c["vek"]);
    let wrapped: [u8; 60] = hex_arr(&c["wrapped"]);

    let owner_side = WrapKey::derive(
        &system,
        Side::Owner,
        owner,
        friend_id,
        &friend.public_identity(),
        &friend.fingerprint(),
    )
    .expect("contributory");
    let again = owner_side.danger_wrap_with_nonce(
        &volume,
        epoch,
        &VolumeKey::from_bytes(vek),
        hex_arr(&c["nonce"]),
    );
    assert_eq!(again, wrapped);
    let friend_side = WrapKey::derive(
        &friend,
        Side::Friend,
        owner,
        friend_id,
        &system.public_identity(),
        &system.fingerprint(),
    )
    .expect("contributory");
    assert_eq!(
        friend_side.unwrap(&volume, epoch, &wrapped),
        Ok(VolumeKey::from_bytes(vek))
    );

    // Independent: §6's KEK and AAD.
    let sx = hex_arr(&v["identities"]["system"]["exchange_secret"]);
    let shared = x25519_dalek::x25519(sx, friend.public_exchange_key());
    assert_eq!(shared, hex_arr::<32>(&c["shared_secret"]));
    let info = [
        label("coffer-v2/wrap-key"),
        owner.as_bytes().to_vec(),
        friend_id.as_bytes().to_vec(),
        system.fingerprint().as_bytes().to_vec(),
        friend.fingerprint().as_bytes().to_vec(),
    ]
    .concat();
    let kek = hkdf(&shared, &info);
    assert_eq!(kek, hex_arr::<32>(&c["kek"]));
    let aad = [
        label("coffer-v2/wrap-aad"),
        owner.as_bytes().to_vec(),
        friend_id.as_bytes().to_vec(),
        str8(volume.as_str()),
        epoch.to_be_bytes().to_vec(),
    ]
    .concat();
    assert_eq!(aead_open(&kek, &wrapped, &aad), Some(vek.to_vec()));
}

#[test]
fn grant() {
    let v = vectors();
    let c = &v["grant"];
    let system = system(&v);
    let (owner, friend_id) = (uuid(&c["owner"]), uuid(&c["friend"]));
    let fp: [u8; 32] = hex_arr(&c["friend_fingerprint"]);
    let (sequence, expires_at) = (num(&c["sequence"]), num(&c["expires_at"]));
    let mut entries_bytes = Vec::new();
    let mut entries = Vec::new();
    for e in c["entries"].as_array().expect("list") {
        let epoch = u32::try_from(num(&e["epoch"])).expect("u32");
        entries_bytes.extend_from_slice(&str8(text(&e["volume"])));
        entries_bytes.extend_from_slice(&epoch.to_be_bytes());
        entries.push(GrantEntry {
            volume: VolumeName::new(text(&e["volume"])).expect("valid"),
            epoch,
        });
    }
    let n = u16::try_from(entries.len()).expect("few").to_be_bytes();
    let bytes = [
        b"CFG2\x01".to_vec(),
        owner.as_bytes().to_vec(),
        friend_id.as_bytes().to_vec(),
        fp.to_vec(),
        sequence.to_be_bytes().to_vec(),
        expires_at.to_be_bytes().to_vec(),
        n.to_vec(),
        entries_bytes,
    ]
    .concat();
    assert_eq!(bytes, hex_vec(&c["bytes"]));
    let seed = hex_arr(&v["identities"]["system"]["signing_seed"]);
    let msg = [label("coffer-v2/grant"), bytes.clone()].concat();
    let sig = SigningKey::from_bytes(&seed).sign(&msg).to_bytes();
    assert_eq!(sig, hex_arr::<64>(&c["signature"]));

    let grant = Grant {
        owner: *owner.as_bytes(),
        friend: *friend_id.as_bytes(),
        friend_fingerprint: fp,
        sequence,
        expires_at,
        entries,
    };
    let signed = v2::sign_grant(&system, &grant).expect("valid");
    assert_eq!((signed.bytes.clone(), signed.signature), (bytes, sig));
    let verified = v2::verify_grant(
        &system.public_signing_key(),
        &signed.bytes,
        &signed.signature,
        owner,
        friend_id,
        &Fingerprint::from_bytes(fp),
        expires_at - 1,
    )
    .expect("verifies");
    assert_eq!(verified.grant(), &grant);
}

#[test]
fn pairing_and_link() {
    let v = vectors();
    let c = &v["pairing"];
    let friend = friend(&v);
    let secret: [u8; 32] = hex_arr(&c["secret"]);
    let code = text(&c["code"]);
    let friend_id = uuid(&c["friend_id"]);
    let key = hkdf(&secret, &label("coffer-v2/pairing-key"));
    assert_eq!(key, hex_arr::<32>(&c["pairing_key"]));
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key).expect("any key length");
    mac.update(&label("coffer-v2/pairing-proof"));
    mac.update(&str8(code));
    mac.update(friend_id.as_bytes());
    mac.update(&friend.public_signing_key());
    mac.update(&friend.public_exchange_key());
    let proof: [u8; 32] = mac.finalize().into_bytes().into();
    assert_eq!(proof, hex_arr::<32>(&c["proof"]));
    let secret_key = InviteSecret::from_bytes(secret);
    let public = friend.public_identity();
    assert_eq!(
        v2::pairing_proof(&secret_key, code, friend_id, &public),
        Ok(proof)
    );
    assert!(v2::verify_pairing_proof(
        &secret_key,
        code,
        friend_id,
        &public,
        &proof
    ));

    let l = &v["invite_link"];
    let pin: SpkiPin = text(&l["pin"]).parse().expect("pin");
    let fp = Fingerprint::from_compact(text(&l["system_fingerprint"])).expect("fp");
    assert_eq!(fp, system(&v).fingerprint());
    let link = InviteLink::new(
        text(&l["relay_origin"]),
        Some(pin),
        text(&l["code"]),
        InviteSecret::from_bytes(hex_arr(&l["secret"])),
        fp,
    )
    .expect("valid");
    assert_eq!(link.to_uri().as_str(), text(&l["uri"]));
    let parsed = InviteLink::parse(text(&l["uri"])).expect("parses");
    assert_eq!(parsed.relay_origin(), text(&l["relay_origin"]));
    assert_eq!(parsed.pin(), Some(pin));
    assert_eq!(parsed.code(), text(&l["code"]));
    assert_eq!(
        parsed.secret().expose_secret(),
        &hex_arr::<32>(&l["secret"])
    );
    assert_eq!(parsed.system_fingerprint(), fp);
}

/// RFC 3986 percent-encoding of everything outside the unreserved set, upper-case hex.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn relay_entries(v: &Value) -> Vec<(String, Vec<SpkiPin>)> {
    v.as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let pins = e["pins"]
                .as_array()
                .expect("pins")
                .iter()
                .map(|p| text(p).parse().expect("pin"))
                .collect();
            (text(&e["origin"]).to_owned(), pins)
        })
        .collect()
}

#[test]
fn relay_list() {
    let v = vectors();
    let c = &v["relay_list"];
    assert_eq!(text(&c["volume"]), v2::RELAY_LIST_VOLUME);
    assert!(VolumeName::new(v2::RELAY_LIST_VOLUME).is_ok());
    let entries = relay_entries(&c["entries"]);
    let bytes = hex_vec(&c["bytes"]);

    // Independent: §15's layout.
    let mut want = b"CFRL\x01".to_vec();
    want.push(u8::try_from(entries.len()).expect("few"));
    for (origin, pins) in &entries {
        want.extend_from_slice(&str8(origin));
        want.push(u8::try_from(pins.len()).expect("few"));
        for pin in pins {
            want.extend_from_slice(pin.as_bytes());
        }
    }
    assert_eq!(want, bytes);

    let list = RelayList::new(
        entries
            .iter()
            .map(|(o, pins)| RelayEntry::new(o, pins.clone()).expect("valid"))
            .collect(),
    )
    .expect("valid");
    assert_eq!(list.encode(), bytes);
    let decoded = RelayList::decode(&bytes).expect("decodes");
    assert_eq!(decoded, list);
    let got: Vec<(String, Vec<SpkiPin>)> = decoded
        .entries()
        .iter()
        .map(|e| (e.origin().to_owned(), e.pins().to_vec()))
        .collect();
    assert_eq!(got, entries);
}

#[test]
fn invite_link_with_also() {
    let v = vectors();
    let l = &v["invite_link_also"];
    let plain = &v["invite_link"];
    // Without `also` the link is the plain vector byte for byte; `also` only appends.
    for key in [
        "relay_origin",
        "pin",
        "code",
        "secret",
        "system_fingerprint",
    ] {
        assert_eq!(l[key], plain[key], "{key}");
    }
    let also: Vec<&str> = l["also"]
        .as_array()
        .expect("also")
        .iter()
        .map(text)
        .collect();
    let mut want = text(&plain["uri"]).to_owned();
    for a in &also {
        want.push_str("&also=");
        want.push_str(&percent(a));
    }
    assert_eq!(text(&l["uri"]), want);

    let entries: Vec<RelayEntry> = also
        .iter()
        .map(|a| match a.split_once(' ') {
            None => RelayEntry::new(a, vec![]).expect("valid"),
            Some((o, p)) => RelayEntry::new(o, vec![p.parse().expect("pin")]).expect("valid"),
        })
        .collect();
    let pin: SpkiPin = text(&l["pin"]).parse().expect("pin");
    let link = InviteLink::new(
        text(&l["relay_origin"]),
        Some(pin),
        text(&l["code"]),
        InviteSecret::from_bytes(hex_arr(&l["secret"])),
        Fingerprint::from_compact(text(&l["system_fingerprint"])).expect("fp"),
    )
    .expect("valid")
    .with_also(entries.clone())
    .expect("valid also");
    assert_eq!(link.to_uri().as_str(), text(&l["uri"]));
    let parsed = InviteLink::parse(text(&l["uri"])).expect("parses");
    assert_eq!(parsed.also(), &entries[..]);
    let own = RelayEntry::new(text(&l["relay_origin"]), vec![pin]).expect("valid");
    assert_eq!(
        parsed.relays(),
        [vec![own], entries].concat(),
        "the link's own relay first, then also in order"
    );
}

#[test]
fn restore() {
    let v = vectors();
    let c = &v["restore"];
    let owner = uuid(&c["owner"]);
    let (epoch, version) = (
        u32::try_from(num(&c["epoch"])).expect("u32"),
        num(&c["version"]),
    );
    let message = [
        label("coffer-v2/restore"),
        owner.as_bytes().to_vec(),
        str8(text(&c["volume"])),
        epoch.to_be_bytes().to_vec(),
        version.to_be_bytes().to_vec(),
    ]
    .concat();
    assert_eq!(message, hex_vec(&c["message"]));
    let statement = RestoreStatement {
        owner,
        volume: VolumeName::new(text(&c["volume"])).expect("valid"),
        epoch,
        version,
    };
    assert_eq!(statement.message(), message);
    let sig = v2::sign_restore(&system(&v), &statement);
    assert_eq!(sig, hex_arr::<64>(&c["signature"]));
    let mut hw = v2::HighWater::new();
    hw.apply_restore(&system(&v).public_signing_key(), &statement, &sig)
        .expect("owner-signed");
}

#[test]
fn backup() {
    let v = vectors();
    let c = &v["backup"];
    let file = hex_vec(&c["file"]);
    let plaintext = hex_vec(&c["plaintext"]);
    let passphrase = text(&c["passphrase"]);
    let (m, t, p) = (num(&c["m_cost_kib"]), num(&c["t_cost"]), num(&c["p_cost"]));
    assert_eq!(
        (m, t, p),
        (8, 1, 1),
        "vectors use the danger_fast_for_tests parameters"
    );
    let again = v2::danger_export_backup_with(
        &plaintext,
        passphrase,
        &BackupParams::danger_fast_for_tests(),
        hex_arr(&c["salt"]),
        hex_arr(&c["nonce"]),
    )
    .expect("exports");
    assert_eq!(again, file);
    assert_eq!(
        &v2::import_backup(&file, passphrase).expect("imports")[..],
        &plaintext[..]
    );

    // Independent: §9's layout, Argon2id, AAD and checksum.
    let salt = hex_vec(&c["salt"]);
    let nonce = hex_vec(&c["nonce"]);
    let ct_len = u32::try_from(plaintext.len() + 16)
        .expect("small")
        .to_be_bytes();
    let mut header = b"CFBK\x01".to_vec();
    for cost in [m, t, p] {
        header.extend_from_slice(&u32::try_from(cost).expect("u32").to_be_bytes());
    }
    header.extend_from_slice(&salt);
    header.extend_from_slice(&nonce);
    header.extend_from_slice(&ct_len);
    assert_eq!(&file[..header.len()], &header[..]);
    let body_len = file.len() - 32;
    assert_eq!(&file[body_len..], &Sha256::digest(&file[..body_len])[..]);
    let params = argon2::Params::new(8, 1, 1, Some(32)).expect("valid");
    let mut key = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), &salt, &mut key)
        .expect("argon2");
    let sealed = [&nonce[..], &file[header.len()..body_len]].concat();
    let aad = [label("coffer-v2/backup-aad"), header].concat();
    assert_eq!(aead_open(&key, &sealed, &aad), Some(plaintext));
}
