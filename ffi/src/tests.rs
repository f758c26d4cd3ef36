//! Tests of the binding functions themselves: they exercise only the glue (argument order,
//! conversions, error mapping, redaction); the crypto is tested in `coffer-client-core`.

use std::sync::Arc;

use serde_json::Value;

use crate::*;

/// The project's v1 known answers, shared with client-core, the relay and the other clients.
const V1_VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/v1.json");

fn vectors() -> Value {
    let text = std::fs::read_to_string(V1_VECTORS).expect("docs/vectors/v1.json is readable");
    serde_json::from_str(&text).expect("v1.json is JSON")
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn b64_of(v: &Value) -> Vec<u8> {
    coffer_wire::b64::decode_strict(v.as_str().expect("base64 string")).expect("valid base64")
}

fn str_of(v: &Value) -> &str {
    v.as_str().expect("string")
}

const DOC: &[u8] = br#"{"schema_version":1}"#;

fn seal_meta(system: &Identity, vek: &Vek) -> SealedVolumeRecord {
    v1_seal_volume(
        system,
        vek,
        VolumeName::Meta,
        1,
        1_774_612_345,
        DOC.to_vec(),
    )
    .expect("seal succeeds")
}

/// A System identity (for signing) whose exchange key is v1.json's `system_private`.
fn vector_system() -> Arc<Identity> {
    let v = vectors();
    Identity::from_secret_bytes(
        hex_of(&v["ed25519"]["seed"]),
        hex_of(&v["x25519"]["system_private"]),
    )
    .expect("32-byte secrets")
}

#[test]
fn seal_verify_decrypt_round_trip() {
    let system = Identity::generate();
    let vek = Vek::generate();
    let sealed = seal_meta(&system, &vek);

    assert_eq!(
        sealed.header,
        ControlHeaderRecord {
            volume_name: "meta".into(),
            version: 1,
            modified_at: 1_774_609_200,
            size_bytes: 4124,
            event_tags: vec!["meta".into()],
        }
    );
    assert_eq!(
        sealed.header_json,
        r#"{"volume_name":"meta","version":1,"modified_at":1774609200,"size_bytes":4124,"event_tags":["meta"]}"#
    );
    assert_eq!(sealed.blob.len(), 4124);
    assert_eq!(sealed.signature.len(), 64);
    assert_eq!(
        &sealed.blob[..12],
        &v1_volume_nonce(VolumeName::Meta, 1)[..]
    );

    v1_verify_upload(
        system.public_signing_key(),
        sealed.header.clone(),
        sealed.blob.clone(),
        sealed.signature.clone(),
    )
    .expect("own signature verifies");
    let plaintext = v1_decrypt_volume(&vek, VolumeName::Meta, 1, sealed.blob).expect("decrypts");
    assert_eq!(plaintext, DOC);
}

#[test]
fn seal_and_login_match_the_v1_known_answers() {
    // Same identity, VEK, volume and document as docs/vectors/v1.json: the glue passes every
    // argument to the right parameter, or the blob and signatures would differ.
    let v = vectors();
    let system = vector_system();
    assert_eq!(
        system.public_signing_key_b64(),
        str_of(&v["ed25519"]["public_b64"])
    );
    assert_eq!(
        system.public_exchange_key_b64(),
        str_of(&v["x25519"]["system_public_b64"])
    );
    assert_eq!(
        system.public_signing_key(),
        b64_of(&v["ed25519"]["public_b64"])
    );
    assert_eq!(
        system.public_exchange_key(),
        b64_of(&v["x25519"]["system_public_b64"])
    );

    let volume = &v["volume"];
    assert_eq!(str_of(&volume["name"]), "meta");
    assert_eq!(volume["version"], 1);
    assert_eq!(str_of(&volume["document_utf8"]).as_bytes(), DOC);
    let vek = Vek::from_bytes(hex_of(&volume["vek"])).expect("32-byte VEK");
    let sealed = seal_meta(&system, &vek);
    assert_eq!(sealed.blob, b64_of(&volume["blob_b64"]));
    assert_eq!(
        sealed.header_json,
        str_of(&v["ed25519"]["upload_header_json"])
    );
    assert_eq!(
        sealed.signature,
        b64_of(&v["ed25519"]["upload_signature_b64"])
    );

    let login = v1_sign_login(
        &system,
        str_of(&v["ed25519"]["login_nonce_text"]).to_owned(),
    )
    .expect("a v1 nonce");
    assert_eq!(login, b64_of(&v["ed25519"]["login_signature_b64"]));
    for not_a_nonce in [
        String::new(),
        r#"{"nonce":"x"}"#.to_owned(),
        "A".repeat(45),
        "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWe_-=".to_owned(),
    ] {
        assert!(
            matches!(
                v1_sign_login(&system, not_a_nonce),
                Err(CofferError::InvalidInput { .. })
            ),
            "only a v1 challenge nonce is signed"
        );
    }

    for (key, nonce) in v["volume_nonces"].as_object().expect("object") {
        let (name, version) = key.split_once('|').expect("name|version");
        let name = match name {
            "meta" => VolumeName::Meta,
            "members" => VolumeName::Members,
            "fronts" => VolumeName::Fronts,
            "journal" => VolumeName::Journal,
            "chat" => VolumeName::Chat,
            "polls" => VolumeName::Polls,
            "vault" => VolumeName::Vault,
            "analytics" => VolumeName::Analytics,
            other => panic!("unknown volume {other}"),
        };
        let version = version.parse().expect("decimal version");
        assert_eq!(v1_volume_nonce(name, version), hex_of(nonce), "{key}");
    }
}

#[test]
fn unwrap_matches_the_v1_known_answer() {
    // v1.json's wrapped VEK was made by the system for the friend; the friend opens it.
    let v = vectors();
    let friend = Identity::from_secret_bytes(vec![0; 32], hex_of(&v["x25519"]["friend_private"]))
        .expect("32-byte secrets");
    let vek = v1_unwrap_vek(
        &friend,
        b64_of(&v["x25519"]["system_public_b64"]),
        b64_of(&v["vek_wrap"]["wrapped_b64"]),
    )
    .expect("unwraps");
    assert_eq!(vek.danger_export_bytes(), hex_of(&v["vek_wrap"]["vek"]));
}

#[test]
fn wrap_unwrap_between_two_identities() {
    let system = Identity::generate();
    let friend = Identity::generate();
    let vek = Vek::generate();

    let wrapped = v1_wrap_vek(&system, friend.public_exchange_key(), &vek).expect("wraps");
    assert_eq!(wrapped.len(), 60);
    let again = v1_wrap_vek(&system, friend.public_exchange_key(), &vek).expect("wraps");
    assert_ne!(wrapped, again, "each wrap draws a fresh nonce");

    let friend_vek =
        v1_unwrap_vek(&friend, system.public_exchange_key(), wrapped.clone()).expect("unwraps");
    assert_eq!(friend_vek.danger_export_bytes(), vek.danger_export_bytes());
    // The unwrapped VEK reads what the system sealed.
    let sealed = seal_meta(&system, &vek);
    assert_eq!(
        v1_decrypt_volume(&friend_vek, VolumeName::Meta, 1, sealed.blob).expect("decrypts"),
        DOC
    );

    // A third party, or the friend naming the wrong peer, cannot unwrap it.
    let stranger = Identity::generate();
    assert_eq!(
        v1_unwrap_vek(&stranger, system.public_exchange_key(), wrapped.clone()).map(|_| ()),
        Err(CofferError::TamperedOrWrongKey)
    );
    assert_eq!(
        v1_unwrap_vek(&friend, stranger.public_exchange_key(), wrapped).map(|_| ()),
        Err(CofferError::TamperedOrWrongKey)
    );
}

#[test]
fn vek_export_and_import_round_trip() {
    let vek = Vek::generate();
    let bytes = vek.danger_export_bytes();
    assert_eq!(bytes.len(), 32);
    let reloaded = Vek::from_bytes(bytes).expect("32 bytes");
    let sealed = seal_meta(&Identity::generate(), &vek);
    assert_eq!(
        v1_decrypt_volume(&reloaded, VolumeName::Meta, 1, sealed.blob).expect("decrypts"),
        DOC
    );
    assert_ne!(
        Vek::generate().danger_export_bytes(),
        vek.danger_export_bytes()
    );
}

#[test]
fn tampered_blob_is_tampered_or_wrong_key() {
    let system = Identity::generate();
    let vek = Vek::generate();
    let sealed = seal_meta(&system, &vek);

    let mut tampered = sealed.blob.clone();
    tampered[40] ^= 0x01;
    assert_eq!(
        v1_decrypt_volume(&vek, VolumeName::Meta, 1, tampered),
        Err(CofferError::TamperedOrWrongKey)
    );
    assert_eq!(
        v1_decrypt_volume(&Vek::generate(), VolumeName::Meta, 1, sealed.blob.clone()),
        Err(CofferError::TamperedOrWrongKey)
    );
    let mut wrapped = v1_wrap_vek(&system, system.public_exchange_key(), &vek).expect("wraps");
    wrapped[59] ^= 0x80;
    assert_eq!(
        v1_unwrap_vek(&system, system.public_exchange_key(), wrapped).map(|_| ()),
        Err(CofferError::TamperedOrWrongKey)
    );
}

#[test]
fn blob_of_another_name_or_version_is_wrong_volume() {
    let vek = Vek::generate();
    let sealed = seal_meta(&Identity::generate(), &vek);
    assert_eq!(
        v1_decrypt_volume(&vek, VolumeName::Members, 1, sealed.blob.clone()),
        Err(CofferError::WrongVolume)
    );
    assert_eq!(
        v1_decrypt_volume(&vek, VolumeName::Meta, 2, sealed.blob),
        Err(CofferError::WrongVolume)
    );
}

#[test]
fn altered_upload_is_bad_signature() {
    let system = Identity::generate();
    let sealed = seal_meta(&system, &Vek::generate());
    let verify = |key: Vec<u8>, header: ControlHeaderRecord, blob: Vec<u8>| {
        v1_verify_upload(key, header, blob, sealed.signature.clone())
    };

    let mut header = sealed.header.clone();
    header.version = 2;
    assert_eq!(
        verify(system.public_signing_key(), header, sealed.blob.clone()),
        Err(CofferError::BadSignature)
    );
    let mut blob = sealed.blob.clone();
    blob[100] ^= 0x01;
    assert_eq!(
        verify(system.public_signing_key(), sealed.header.clone(), blob),
        Err(CofferError::BadSignature)
    );
    assert_eq!(
        verify(
            Identity::generate().public_signing_key(),
            sealed.header.clone(),
            sealed.blob.clone()
        ),
        Err(CofferError::BadSignature)
    );

    // y = 2 is not on the curve: the key itself is unusable.
    let mut not_a_point = vec![0u8; 32];
    not_a_point[0] = 2;
    assert!(matches!(
        verify(not_a_point, sealed.header.clone(), sealed.blob.clone()),
        Err(CofferError::InvalidPublicKey { .. })
    ));
}

#[test]
fn bad_pin_string_is_invalid_pin() {
    let text = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=";
    let pin = SpkiPin::parse(text.to_owned()).expect("valid pin");
    assert_eq!(pin.to_string(), text);
    assert_eq!(pin.sha256().len(), 32);
    assert_eq!(*pin, *SpkiPin::parse(text.to_owned()).expect("valid pin"));

    for bad in [
        "",
        "sha1/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=",
        "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk",
        " sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=",
        "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx-UyULFQr+B0iSk=",
    ] {
        match SpkiPin::parse(bad.to_owned()) {
            Err(CofferError::InvalidPin { reason }) => {
                assert!(reason.contains("sha256/"), "{bad:?}: {reason}");
            }
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
}

#[test]
fn wrong_lengths_are_invalid_input() {
    let id = Identity::generate();
    let vek = Vek::generate();
    let is_invalid_input = |r: Result<(), CofferError>, what: &str| match r {
        Err(CofferError::InvalidInput { reason }) => {
            assert!(reason.contains(what), "{reason} should name {what}");
        }
        other => panic!("expected InvalidInput naming {what}, got {other:?}"),
    };

    is_invalid_input(
        Identity::from_secret_bytes(vec![1; 31], vec![1; 32]).map(|_| ()),
        "signing seed",
    );
    is_invalid_input(
        Identity::from_secret_bytes(vec![1; 32], vec![1; 33]).map(|_| ()),
        "exchange secret",
    );
    is_invalid_input(Vek::from_bytes(vec![1; 16]).map(|_| ()), "VEK");
    is_invalid_input(
        v1_wrap_vek(&id, vec![9; 31], &vek).map(|_| ()),
        "peer exchange public key",
    );
    is_invalid_input(
        v1_unwrap_vek(&id, id.public_exchange_key(), vec![0; 59]).map(|_| ()),
        "59 bytes",
    );
    is_invalid_input(
        v1_decrypt_volume(&vek, VolumeName::Meta, 1, vec![0; 27]).map(|_| ()),
        "27 bytes",
    );
    let sealed = seal_meta(&id, &vek);
    is_invalid_input(
        v1_verify_upload(
            id.public_signing_key(),
            sealed.header.clone(),
            sealed.blob.clone(),
            sealed.signature[..63].to_vec(),
        ),
        "signature",
    );
    is_invalid_input(
        v1_verify_upload(vec![0; 64], sealed.header, sealed.blob, sealed.signature),
        "public signing key",
    );
}

#[test]
fn low_order_peer_key_is_invalid_public_key() {
    let id = Identity::generate();
    let vek = Vek::generate();
    for peer in [vec![0u8; 32], {
        let mut one = vec![0u8; 32];
        one[0] = 1;
        one
    }] {
        assert!(matches!(
            v1_wrap_vek(&id, peer.clone(), &vek),
            Err(CofferError::InvalidPublicKey { .. })
        ));
        assert!(matches!(
            v1_unwrap_vek(&id, peer, vec![0; 60]),
            Err(CofferError::InvalidPublicKey { .. })
        ));
    }
}

#[test]
fn debug_of_objects_and_errors_is_redacted() {
    let secret = [0xa7u8; 32];
    let id = Identity::from_secret_bytes(secret.to_vec(), secret.to_vec()).expect("32 bytes");
    let vek = Vek::from_bytes(secret.to_vec()).expect("32 bytes");
    assert_eq!(format!("{id:?}"), "Identity(<redacted>)");
    assert_eq!(format!("{vek:?}"), "Vek(<redacted>)");
    assert_eq!(
        format!("{:?}", Arc::new(Vek::generate())),
        "Vek(<redacted>)"
    );

    // Records carry no secret, but ciphertext stays out of logs too.
    let sealed = seal_meta(&id, &vek);
    let debug = format!("{sealed:?}");
    assert!(debug.contains("blob_len: 4124"), "{debug}");
    assert!(
        !debug.contains(&format!("{:?}", &sealed.blob[12..16])),
        "{debug}"
    );

    // An error about a wrong-length secret names the length, never the bytes.
    let err = Vek::from_bytes(vec![0xa7; 31])
        .map(|_| ())
        .expect_err("31 bytes");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("167"), "{text}");
        assert!(!text.to_lowercase().contains("a7a7"), "{text}");
    }
}

#[test]
fn floor_to_hour_passes_through() {
    assert_eq!(v1_floor_to_hour(1_774_612_345), 1_774_609_200);
    assert_eq!(v1_floor_to_hour(-1), -3600);
}

#[test]
fn an_exported_identity_comes_back_with_the_same_keys() {
    let id = Identity::generate();
    let secret = id.danger_export_secret();
    assert_eq!(secret.len(), 65);
    let back = Identity::from_exported_secret(secret).expect("exported secret");
    assert_eq!(back.public_signing_key(), id.public_signing_key());
    assert_eq!(back.public_exchange_key(), id.public_exchange_key());
    for bad in [vec![1u8; 64], vec![9u8; 65]] {
        let err = Identity::from_exported_secret(bad)
            .map(|_| ())
            .expect_err("not an exported secret");
        assert!(matches!(err, CofferError::InvalidInput { .. }), "{err:?}");
    }
}

#[test]
fn client_glue_converts_arguments_and_redacts_secrets() {
    // A link as a system's app would show it, parsed as a friend's app scans it.
    let fp = "A".repeat(43);
    // 43 characters of canonical base64url (the last one carries two zero bits).
    let secret = "S".repeat(42) + "A";
    let pin = format!("sha256/{}", "A".repeat(43) + "=");
    let uri = format!(
        "coffer://pair?v=2&relay=https%3A%2F%2F127.0.0.1%3A8443&pin={}&code=abcd2345&secret={}&fp={fp}",
        pin.replace('/', "%2F")
            .replace('=', "%3D")
            .replace('+', "%2B"),
        secret
    );
    let link = InviteLink::parse(uri).expect("valid link");
    assert_eq!(link.relay_url(), "https://127.0.0.1:8443");
    assert_eq!(link.relay_pin().as_deref(), Some(pin.as_str()));
    assert_eq!(link.code(), "abcd2345");
    assert_eq!(link.system_fingerprint(), fp);
    assert!(!format!("{link:?}").contains(&secret), "{link:?}");
    assert!(link.to_uri().contains(&secret));

    // The friend's config comes from the link; timeouts and proxy are copies.
    let config = ClientConfig::from_invite(Arc::clone(&link), None).expect("pinned link");
    assert_eq!(config.relay_url(), "https://127.0.0.1:8443");
    assert_eq!(config.pin(), link.relay_pin());
    assert!(matches!(
        config.with_timeouts(0, 30),
        Err(CofferError::InvalidInput { .. })
    ));
    let slow = config.with_timeouts(5, 120).expect("valid timeouts");
    assert!(format!("{:?}", slow.with_proxy_from_env(false)).contains("120s"));
    assert!(matches!(
        ClientConfig::pinned("http://127.0.0.1:1".into(), pin.clone()),
        Err(CofferError::InvalidInput { .. })
    ));
    assert!(matches!(
        ClientConfig::pinned("https://127.0.0.1:1".into(), "sha256/x".into()),
        Err(CofferError::InvalidPin { .. })
    ));
    assert!(matches!(
        ClientConfig::web_pki("https://relay.example".into(), "no pem here".into()),
        Err(CofferError::InvalidInput { .. })
    ));

    // A fetched volume's Debug form never shows the plaintext.
    let fetched = FetchResult::Updated {
        version: 3,
        epoch: 2,
        plaintext: b"PLAINTEXT-MARKER".to_vec(),
    };
    let debug = format!("{fetched:?}");
    assert!(
        debug.contains("version: 3") && !debug.contains("PLAINTEXT"),
        "{debug}"
    );

    // Cancellation tokens are shared by clones of the core token.
    let token = CancellationToken::new();
    assert!(!token.is_cancelled());
    token.cancel();
    assert!(token.is_cancelled());
}

#[test]
fn a_scanned_pairing_string_is_a_config_and_an_invite_link_is_named() {
    let current = coffer_certs::SpkiPin::from_spki_der(b"the relay's key");
    let next = coffer_certs::SpkiPin::from_spki_der(b"the relay's next key");
    let text = coffer_certs::RelayPairing::new("https://192.168.1.50:8443", current, Some(next))
        .expect("pairing")
        .to_string();
    let config = ClientConfig::from_pairing(text.clone()).expect("a pairing string");
    assert_eq!(config.relay_url(), "https://192.168.1.50:8443");
    assert_eq!(config.pin(), Some(current.to_string()));
    assert_eq!(config.next_pin(), Some(next.to_string()));

    // The same string handed to the invite parser names the right API.
    let err = InviteLink::parse(text).expect_err("not an invite");
    assert!(
        err.to_string().contains("ClientConfig.from_pairing"),
        "{err}"
    );

    // An invite link handed to from_pairing says so.
    let invite = "coffer://pair?v=2&relay=https%3A%2F%2F127.0.0.1%3A8443&code=abcd2345";
    let err = ClientConfig::from_pairing(invite.into()).expect_err("an invite");
    let CofferError::NotAPairingString {
        reason,
        is_invite_link,
    } = err
    else {
        panic!("NotAPairingString expected");
    };
    assert!(is_invite_link);
    assert!(reason.contains("invite link"), "{reason}");
    let err = ClientConfig::from_pairing("https://192.168.1.50:8443".into()).expect_err("a URL");
    assert!(
        matches!(
            &err,
            CofferError::NotAPairingString {
                is_invite_link: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("coffer://relay?v=2"), "{err}");
}

#[test]
fn network_tls_and_size_errors_carry_their_cause() {
    use coffer_client_core::client::ClientError;

    let refused = CofferError::from(ClientError::Network {
        cause: "connection refused: is the relay running on that port?: Connection refused (os error 111)".into(),
    });
    assert!(
        refused.to_string().contains("Connection refused"),
        "{refused}"
    );
    let mismatch = CofferError::from(ClientError::Tls {
        pin_mismatch: true,
        detail: "expected sha256/A, the relay presented sha256/B".into(),
    });
    assert!(
        mismatch
            .to_string()
            .contains("expected sha256/A, the relay presented sha256/B"),
        "{mismatch}"
    );
    let tls = CofferError::from(ClientError::Tls {
        pin_mismatch: false,
        detail: "received fatal alert: ProtocolVersion".into(),
    });
    assert!(tls.to_string().contains("ProtocolVersion"), "{tls}");
    let too_large = CofferError::from(ClientError::TooLarge {
        limit: "Request body exceeds 1048576 bytes".into(),
    });
    assert!(too_large.to_string().contains("1048576"), "{too_large}");
}
