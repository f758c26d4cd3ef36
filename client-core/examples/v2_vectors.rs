//! Generates `docs/vectors/v2.json`, the v2 known answers, from fixed seeds and nonces.
//!
//! `cargo run -p coffer-client-core --example v2_vectors` rewrites the file;
//! `client-core/tests/it/v2_vectors.rs` recomputes every value and fails on any difference, so a
//! change to a construction cannot go unnoticed.
//!
//! Fixed nonces and salts are only acceptable here: the `danger_*` functions used below exist
//! for this generator. Real callers use `seal`, `WrapKey::wrap` and `export_backup`, which draw
//! fresh randomness every time.

use std::path::PathBuf;

use coffer_certs::SpkiPin;
use coffer_client_core::identity::Identity;
use coffer_client_core::v2::{
    self, BackupParams, HeaderFields, InviteLink, InviteSecret, RelayEntry, RelayList,
    RestoreStatement, Side, VolumeKey, WrapKey,
};
use coffer_wire::v2::api::{ClientType, Handle, UserId};
use coffer_wire::v2::{Grant, GrantEntry, Header, Label, VolumeName, labelled, padded_len};
use hkdf::Hkdf;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// 32 deterministic, random-looking bytes: SHA-256 of a description.
fn bytes32(what: &str) -> [u8; 32] {
    Sha256::digest(format!("coffer-v2 test vector: {what}")).into()
}

fn bytes_n<const N: usize>(what: &str) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes32(what)[..N]);
    out
}

fn hkdf(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, &mut okm)
        .expect("32-byte output");
    okm
}

fn str8(name: &str) -> Vec<u8> {
    let mut out = vec![u8::try_from(name.len()).expect("short name")];
    out.extend_from_slice(name.as_bytes());
    out
}

fn identity_json(seed: &[u8; 32], exchange: &[u8; 32]) -> Value {
    let id = Identity::from_secret_bytes(seed, exchange);
    let fp = id.fingerprint();
    json!({
        "signing_seed": hex::encode(seed),
        "exchange_secret": hex::encode(exchange),
        "public_signing_key": hex::encode(id.public_signing_key()),
        "public_exchange_key": hex::encode(id.public_exchange_key()),
        "key_binding_signature": hex::encode(id.key_binding_signature()),
        "fingerprint": hex::encode(fp.as_bytes()),
        "compact_fingerprint": fp.compact(),
        "safety_number": fp.safety_number(),
        "identity_secret": hex::encode(&id.danger_export_secret().to_bytes()[..]),
    })
}

fn volume_json(
    system: &Identity,
    owner: Uuid,
    name: &str,
    epoch: u32,
    version: u64,
    plaintext: &[u8],
) -> Value {
    let vek_bytes = bytes32(&format!("vek {name} {epoch}"));
    let nonce: [u8; 12] = bytes_n(&format!("volume nonce {name} {version}"));
    let fields = HeaderFields {
        owner,
        volume: VolumeName::new(name).expect("valid name"),
        epoch,
        version,
        hour: 1_774_609_200,
    };
    let sealed = v2::danger_seal_with_nonce(
        system,
        &VolumeKey::from_bytes(vek_bytes),
        &fields,
        plaintext,
        nonce,
    )
    .expect("valid fields");
    let header = Header::parse(&sealed.header_bytes).expect("own header parses");
    let mut info = labelled(Label::VolumeKey);
    info.extend_from_slice(owner.as_bytes());
    info.extend_from_slice(&str8(name));
    info.extend_from_slice(&epoch.to_be_bytes());
    info.extend_from_slice(&version.to_be_bytes());
    json!({
        "owner": owner.to_string(),
        "volume": name,
        "epoch": epoch,
        "version": version,
        "hour": fields.hour,
        "vek": hex::encode(vek_bytes),
        "nonce": hex::encode(nonce),
        "plaintext": hex::encode(plaintext),
        "subkey": hex::encode(hkdf(&vek_bytes, &info)),
        "header_core": hex::encode(header.core_bytes()),
        "payload_hash": hex::encode(header.payload_hash),
        "header": hex::encode(&sealed.header_bytes),
        "signature": hex::encode(sealed.signature),
        "payload": hex::encode(&sealed.payload),
    })
}

fn main() {
    let system_seed = bytes32("system signing seed");
    let system_x = bytes32("system exchange secret");
    let friend_seed = bytes32("friend signing seed");
    let friend_x = bytes32("friend exchange secret");
    let system = Identity::from_secret_bytes(&system_seed, &system_x);
    let friend = Identity::from_secret_bytes(&friend_seed, &friend_x);
    let owner = Uuid::from_bytes(bytes_n("system user id"));
    let friend_id = Uuid::from_bytes(bytes_n("friend user id"));

    // Login.
    let origin = "https://relay.example:8443";
    let login_nonce = bytes32("login nonce");
    let login = json!({
        "origin": origin,
        "user_id": owner.to_string(),
        "nonce": hex::encode(login_nonce),
        "transcript": hex::encode(coffer_wire::v2::login_transcript(origin, owner.as_bytes(), &login_nonce).expect("short origin")),
        "signature": hex::encode(system.sign_login_v2(origin, owner, &login_nonce).expect("valid origin")),
    });

    // Registration proofs (§3): the system without a handle, the friend with one.
    let register_json = |id: &Identity, client_type: ClientType, handle: Option<&str>| {
        let handle = handle.map(|h| Handle::new(h).expect("valid handle"));
        let (pk, xpk) = (id.public_signing_key(), id.public_exchange_key());
        json!({
            "origin": origin,
            "client_type": match client_type {
                ClientType::System => "system",
                ClientType::Friend => "friend",
            },
            "handle": handle.as_ref().map(Handle::as_str),
            "user_id": UserId::derive(&pk, &xpk).to_string(),
            "message": hex::encode(coffer_wire::v2::register_message(origin, client_type, handle.as_ref(), &pk, &xpk).expect("short origin")),
            "signature": hex::encode(id.sign_registration_v2(origin, client_type, handle.as_ref()).expect("valid origin")),
        })
    };
    let register = json!([
        register_json(&system, ClientType::System, None),
        register_json(&friend, ClientType::Friend, Some("bob")),
    ]);

    // Volumes: a small JSON document, and 1500 bytes ending in zeros (a Padmé step above 1 KiB).
    let mut long: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
    long[1490..].fill(0);
    let volumes = json!([
        volume_json(&system, owner, "meta", 1, 1, br#"{"schema_version":2}"#),
        volume_json(&system, owner, "org.example.notes", 3, 42, &long),
    ]);

    // Padding grid.
    let padding: Vec<Value> = [0u64, 1, 1020, 1021, 1500, 5000, 1_000_000]
        .iter()
        .map(|&len| json!({"plaintext_len": len, "frame_len": padded_len(len + 4), "payload_len": padded_len(len + 4) + 28}))
        .collect();

    // Wrapped VEK (owner side; the friend side derives the same key).
    let meta = VolumeName::new("meta").expect("valid");
    let wrap_vek = bytes32("vek meta 1");
    let wrap_nonce: [u8; 12] = bytes_n("wrap nonce");
    let kek = WrapKey::derive(
        &system,
        Side::Owner,
        owner,
        friend_id,
        &friend.public_identity(),
        &friend.fingerprint(),
    )
    .expect("contributory");
    let wrapped =
        kek.danger_wrap_with_nonce(&meta, 1, &VolumeKey::from_bytes(wrap_vek), wrap_nonce);
    let shared = x25519_dalek::x25519(system_x, friend.public_exchange_key());
    let mut kek_info = labelled(Label::WrapKey);
    kek_info.extend_from_slice(owner.as_bytes());
    kek_info.extend_from_slice(friend_id.as_bytes());
    kek_info.extend_from_slice(system.fingerprint().as_bytes());
    kek_info.extend_from_slice(friend.fingerprint().as_bytes());
    let wrap = json!({
        "owner": owner.to_string(),
        "friend": friend_id.to_string(),
        "volume": "meta",
        "epoch": 1,
        "vek": hex::encode(wrap_vek),
        "nonce": hex::encode(wrap_nonce),
        "shared_secret": hex::encode(shared),
        "kek": hex::encode(hkdf(&shared, &kek_info)),
        "wrapped": hex::encode(wrapped),
    });

    // Grant.
    let grant = Grant {
        owner: *owner.as_bytes(),
        friend: *friend_id.as_bytes(),
        friend_fingerprint: *friend.fingerprint().as_bytes(),
        sequence: 7,
        expires_at: 1_800_000_000,
        entries: vec![
            GrantEntry {
                volume: meta.clone(),
                epoch: 1,
            },
            GrantEntry {
                volume: VolumeName::new("org.example.notes").expect("valid"),
                epoch: 3,
            },
        ],
    };
    let signed = v2::sign_grant(&system, &grant).expect("valid grant");
    let grant = json!({
        "owner": owner.to_string(),
        "friend": friend_id.to_string(),
        "friend_fingerprint": hex::encode(friend.fingerprint().as_bytes()),
        "sequence": 7,
        "expires_at": 1_800_000_000u64,
        "entries": [{"volume": "meta", "epoch": 1}, {"volume": "org.example.notes", "epoch": 3}],
        "bytes": hex::encode(&signed.bytes),
        "signature": hex::encode(signed.signature),
    });

    // Pairing proof and invite link.
    let secret = bytes32("invite secret");
    let code = "ABCD2345EFGH";
    let proof = v2::pairing_proof(
        &InviteSecret::from_bytes(secret),
        code,
        friend_id,
        &friend.public_identity(),
    )
    .expect("valid code");
    let pairing = json!({
        "secret": hex::encode(secret),
        "code": code,
        "friend_id": friend_id.to_string(),
        "pairing_key": hex::encode(hkdf(&secret, &labelled(Label::PairingKey))),
        "proof": hex::encode(proof),
    });
    let pin = SpkiPin::from_spki_der(b"coffer-v2 test vector: relay SPKI");
    let link = InviteLink::new(
        origin,
        Some(pin),
        code,
        InviteSecret::from_bytes(secret),
        system.fingerprint(),
    )
    .expect("valid link");
    let invite_link = json!({
        "relay_origin": origin,
        "pin": pin.to_string(),
        "code": code,
        "secret": hex::encode(secret),
        "system_fingerprint": system.fingerprint().compact(),
        "uri": link.to_uri().as_str(),
    });

    // Relay list (§15): Web PKI, one pin, and a pin with its announced successor.
    let next_pin = SpkiPin::from_spki_der(b"coffer-v2 test vector: relay next SPKI");
    let other_pin = SpkiPin::from_spki_der(b"coffer-v2 test vector: second relay SPKI");
    let relay_entries = [
        (origin, vec![pin, next_pin]),
        ("https://backup.example", vec![]),
        ("https://[2001:db8::7]:9443", vec![other_pin]),
    ];
    let list = RelayList::new(
        relay_entries
            .iter()
            .map(|(o, pins)| RelayEntry::new(o, pins.clone()).expect("valid entry"))
            .collect(),
    )
    .expect("valid list");
    let relay_list = json!({
        "volume": v2::RELAY_LIST_VOLUME,
        "entries": relay_entries
            .iter()
            .map(|(o, pins)| json!({
                "origin": o,
                "pins": pins.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>(),
        "bytes": hex::encode(list.encode()),
    });

    // The same invite link naming the system's other relays (`also`, §5).
    let link_also = InviteLink::new(
        origin,
        Some(pin),
        code,
        InviteSecret::from_bytes(secret),
        system.fingerprint(),
    )
    .expect("valid link")
    .with_also(list.entries()[1..].to_vec())
    .expect("valid also");
    let invite_link_also = json!({
        "relay_origin": origin,
        "pin": pin.to_string(),
        "code": code,
        "secret": hex::encode(secret),
        "system_fingerprint": system.fingerprint().compact(),
        "also": ["https://backup.example", format!("https://[2001:db8::7]:9443 {other_pin}")],
        "uri": link_also.to_uri().as_str(),
    });

    // Restore statement.
    let statement = RestoreStatement {
        owner,
        volume: meta,
        epoch: 1,
        version: 4,
    };
    let restore = json!({
        "owner": owner.to_string(),
        "volume": "meta",
        "epoch": 1,
        "version": 4,
        "message": hex::encode(statement.message()),
        "signature": hex::encode(v2::sign_restore(&system, &statement)),
    });

    // Backup of the system's identity secret, with insecure fast parameters.
    let params = BackupParams::danger_fast_for_tests();
    let salt: [u8; 16] = bytes_n("backup salt");
    let backup_nonce: [u8; 12] = bytes_n("backup nonce");
    let identity_secret = system.danger_export_secret().to_bytes();
    let passphrase = "correct horse battery staple";
    let file = v2::danger_export_backup_with(
        &identity_secret[..],
        passphrase,
        &params,
        salt,
        backup_nonce,
    )
    .expect("exports");
    let backup = json!({
        "m_cost_kib": params.m_cost_kib(),
        "t_cost": params.t_cost(),
        "p_cost": params.p_cost(),
        "salt": hex::encode(salt),
        "nonce": hex::encode(backup_nonce),
        "passphrase": passphrase,
        "plaintext": hex::encode(&identity_secret[..]),
        "file": hex::encode(&file),
    });

    let vectors = json!({
        "about": "Coffer protocol v2 known answers (docs/protocol-v2.md). Generated by `cargo run -p coffer-client-core --example v2_vectors` from fixed seeds; checked by client-core/tests/it/v2_vectors.rs. All binary values are lower-case hex. Fixed nonces and the backup's tiny Argon2 parameters are for vectors only.",
        "identities": {
            "system": identity_json(&system_seed, &system_x),
            "friend": identity_json(&friend_seed, &friend_x),
        },
        "login": login,
        "register": register,
        "volumes": volumes,
        "padding": padding,
        "wrap": wrap,
        "grant": grant,
        "pairing": pairing,
        "invite_link": invite_link,
        "invite_link_also": invite_link_also,
        "relay_list": relay_list,
        "restore": restore,
        "backup": backup,
    });

    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "docs",
        "vectors",
        "v2.json",
    ]
    .iter()
    .collect();
    let text = serde_json::to_string_pretty(&vectors).expect("JSON values serialise") + "\n";
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create docs/vectors");
    }
    std::fs::write(&path, text).expect("write docs/vectors/v2.json");
    println!("wrote {}", path.display());
}
