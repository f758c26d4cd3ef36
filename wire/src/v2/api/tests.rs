//! Strictness of the v2 JSON shapes: exact base64 lengths, bounds, names, times.

use serde_json::{Value, json};

use super::*;
use crate::b64::{self, PublicKey32, Signature64};

fn b64(bytes: &[u8]) -> String {
    b64::encode(bytes)
}

fn user_json() -> Value {
    json!({
        "user_id": "6f1c2a3b-4d5e-4f60-8172-839405a6b7c8",
        "handle": "Alice",
        "client_type": "system",
        "public_signing_key": b64(&[1; 32]),
        "public_exchange_key": b64(&[2; 32]),
        "key_binding_signature": b64(&[3; 64]),
    })
}

fn entry_json(volume: &str) -> Value {
    json!({
        "volume": volume,
        "epoch": 2,
        "version": 7,
        "header": b64(&[9; 110]),
        "signature": b64(&[4; 64]),
    })
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(v.clone())
}

#[test]
fn user_record_and_exact_key_lengths() {
    let user: UserRecord = parse(&user_json()).expect("valid record");
    assert_eq!(
        user.user_id.to_string(),
        "6f1c2a3b-4d5e-4f60-8172-839405a6b7c8"
    );
    assert_eq!(user.handle.as_ref().map(Handle::as_str), Some("Alice"));
    assert_eq!(user.client_type, ClientType::System);
    assert_eq!(user.public_signing_key.as_bytes(), &[1; 32]);

    let key = b64(&[1; 32]);
    let bad_keys = [
        b64(&[1; 31]),
        b64(&[1; 33]),
        key.trim_end_matches('=').to_owned(),
        b64(&[0xfb; 32]).replace('+', "-"),
        format!(" {key}"),
        format!("{key}\n"),
        String::new(),
    ];
    for bad in bad_keys {
        let mut v = user_json();
        v["public_signing_key"] = json!(bad);
        assert!(parse::<UserRecord>(&v).is_err(), "{bad:?} accepted");
    }
    for (field, value) in [
        ("key_binding_signature", json!(b64(&[3; 63]))),
        ("client_type", json!("admin")),
        ("client_type", json!("System")),
        ("user_id", json!("not-a-uuid")),
        ("handle", json!("x")),
        ("handle", json!("bad\u{7}handle")),
        ("public_exchange_key", json!(5)),
    ] {
        let mut v = user_json();
        v[field] = value.clone();
        assert!(parse::<UserRecord>(&v).is_err(), "{field} = {value}");
    }
    // A missing required field is refused; a null handle is "no handle".
    let mut v = user_json();
    v.as_object_mut()
        .expect("object")
        .remove("public_exchange_key");
    assert!(parse::<UserRecord>(&v).is_err());
    let mut v = user_json();
    v["handle"] = Value::Null;
    assert_eq!(parse::<UserRecord>(&v).expect("null handle").handle, None);
    // Unknown fields from a newer relay are ignored.
    let mut v = user_json();
    v["protocol_version"] = json!(2);
    assert!(parse::<UserRecord>(&v).is_ok());
}

#[test]
fn challenge_nonce_is_exactly_32_bytes() {
    let ok = json!({"nonce": b64(&[5; 32]), "expires_at": "2026-03-27T16:57:46.123456+00:00"});
    let challenge: Challenge = parse(&ok).expect("valid");
    assert_eq!(challenge.nonce, [5; 32]);
    assert_eq!(challenge.expires_at.unix_seconds(), 1_774_630_666);
    for nonce in [b64(&[5; 31]), b64(&[5; 33]), "AAAA".to_owned()] {
        let v = json!({"nonce": nonce, "expires_at": 0});
        assert!(parse::<Challenge>(&v).is_err(), "{nonce}");
    }
}

#[test]
fn volumes_are_bounded() {
    let ok =
        json!({"header": b64(&[1; 110]), "signature": b64(&[2; 64]), "payload": b64(&[3; 1052])});
    let volume: SignedVolume = parse(&ok).expect("valid");
    assert_eq!((volume.header.len(), volume.payload.len()), (110, 1052));
    let debug = format!("{volume:?}");
    assert!(
        debug.contains("payload_len: 1052") && !debug.contains("AwMD"),
        "{debug}"
    );

    let mut big_header = ok.clone();
    big_header["header"] = json!(b64(&[1; MAX_HEADER_BYTES + 1]));
    assert!(parse::<SignedVolume>(&big_header).is_err());
    let mut max_header = ok.clone();
    max_header["header"] = json!(b64(&[1; MAX_HEADER_BYTES]));
    assert!(parse::<SignedVolume>(&max_header).is_ok());
    let mut bad_payload = ok.clone();
    bad_payload["payload"] = json!("not base64!");
    assert!(parse::<SignedVolume>(&bad_payload).is_err());
    // The payload bound is checked on the text, before decoding.
    let mut huge = ok.clone();
    huge["payload"] = json!("A".repeat((MAX_PAYLOAD_BYTES / 3 + 2) * 4));
    assert!(parse::<SignedVolume>(&huge).is_err());

    let shared = json!({
        "header": b64(&[1; 110]), "signature": b64(&[2; 64]), "payload": b64(&[3; 1052]),
        "wrapped_key": b64(&[6; 60]),
    });
    let shared: SharedVolume = serde_json::from_value(shared).expect("valid");
    assert_eq!(shared.wrapped_key.as_bytes(), &[6; 60]);
    let mut v = serde_json::to_value(&shared).expect("serialises");
    v["wrapped_key"] = json!(b64(&[6; 59]));
    assert!(parse::<SharedVolume>(&v).is_err());
}

#[test]
fn lists_are_bounded_and_names_checked() {
    let list: VolumeList =
        parse(&json!({"volumes": [entry_json("meta"), entry_json("org.example.notes")]}))
            .expect("valid");
    assert_eq!(list.volumes.len(), 2);
    assert_eq!(list.volumes[1].volume.as_str(), "org.example.notes");
    assert!(parse::<VolumeList>(&json!({"volumes": []})).is_ok());
    for bad in ["notes", "../meta", "Meta", ""] {
        let v = json!({"volumes": [entry_json(bad)]});
        assert!(parse::<VolumeList>(&v).is_err(), "{bad}");
    }
    assert!(parse::<VolumeList>(&json!({"volumes": {}})).is_err());
    assert!(parse::<VolumeList>(&json!({})).is_err());
    let mut entry = entry_json("meta");
    entry["epoch"] = json!(-1);
    assert!(parse::<VolumeList>(&json!({"volumes": [entry]})).is_err());

    let at_limit = vec![entry_json("meta"); MAX_LIST_ENTRIES];
    assert!(parse::<VolumeList>(&json!({ "volumes": at_limit })).is_ok());
    let over = vec![entry_json("meta"); MAX_LIST_ENTRIES + 1];
    assert!(parse::<VolumeList>(&json!({ "volumes": over })).is_err());
}

#[test]
fn grants_are_bounded() {
    let key = |volume: &str| json!({"volume": volume, "epoch": 1, "wrapped_key": b64(&[7; 60])});
    let ok =
        json!({"grant": b64(&[1; 100]), "signature": b64(&[2; 64]), "wrapped_keys": [key("meta")]});
    let grant: GrantEnvelope = parse(&ok).expect("valid");
    assert_eq!(grant.wrapped_keys[0].wrapped_key.as_bytes(), &[7; 60]);
    // Round trip through our own serialisation (the body of PUT /grants).
    let again: GrantEnvelope =
        serde_json::from_slice(&serde_json::to_vec(&grant).expect("serialises")).expect("parses");
    assert_eq!(again, grant);

    let mut v = ok.clone();
    v["wrapped_keys"] = json!(vec![key("meta"); MAX_GRANT_ENTRIES + 1]);
    assert!(parse::<GrantEnvelope>(&v).is_err());
    let mut v = ok.clone();
    v["grant"] = json!(b64(&vec![1; MAX_GRANT_BYTES + 1]));
    assert!(parse::<GrantEnvelope>(&v).is_err());
    let mut v = ok;
    v["wrapped_keys"][0]["wrapped_key"] = json!(b64(&[7; 61]));
    assert!(parse::<GrantEnvelope>(&v).is_err());
}

#[test]
fn pairings() {
    let full = json!({"pairings": [{
        "pairing_id": "00000000-0000-4000-8000-000000000001",
        "system_user_id": "00000000-0000-4000-8000-000000000002",
        "friend_user_id": "00000000-0000-4000-8000-000000000003",
        "status": "pending",
        "code": "ABCDEFGH2345",
        "proof": b64(&[8; 32]),
        "peer": user_json(),
    }]});
    let list: PairingList = parse(&full).expect("valid");
    let p = &list.pairings[0];
    assert_eq!(p.status, PairingStatus::Pending);
    assert_eq!(p.proof, Some([8; 32]));
    assert_eq!(
        p.code.as_ref().map(InviteCode::as_str),
        Some("ABCDEFGH2345")
    );

    let mut v = full.clone();
    v["pairings"][0]["status"] = json!("revoked-in-2030");
    let p: PairingList = parse(&v).expect("unknown status tolerated");
    assert_eq!(p.pairings[0].status, PairingStatus::Unknown);

    let mut v = full.clone();
    let obj = v["pairings"][0].as_object_mut().expect("object");
    obj.remove("code");
    obj.insert("proof".into(), Value::Null);
    let p: PairingList = parse(&v).expect("code and proof are optional");
    assert_eq!(
        (p.pairings[0].code.clone(), p.pairings[0].proof),
        (None, None)
    );

    for (field, value) in [
        ("proof", json!(b64(&[8; 31]))),
        ("code", json!("has space")),
        ("code", json!("")),
        ("pairing_id", json!(1)),
        ("status", json!(1)),
    ] {
        let mut v = full.clone();
        v["pairings"][0][field] = value.clone();
        assert!(parse::<PairingList>(&v).is_err(), "{field} = {value}");
    }
}

#[test]
fn request_shapes() {
    let register = RegisterRequest {
        client_type: ClientType::Friend,
        handle: None,
        public_signing_key: PublicKey32::from_bytes([1; 32]),
        public_exchange_key: PublicKey32::from_bytes([2; 32]),
        key_binding_signature: Signature64::from_bytes([3; 64]),
        origin: "https://relay.example.org".into(),
        registration_signature: Signature64::from_bytes([6; 64]),
    };
    assert_eq!(
        serde_json::to_value(&register).expect("serialises"),
        json!({
            "client_type": "friend",
            "public_signing_key": b64(&[1; 32]),
            "public_exchange_key": b64(&[2; 32]),
            "key_binding_signature": b64(&[3; 64]),
            "origin": "https://relay.example.org",
            "registration_signature": b64(&[6; 64]),
        })
    );
    let token = TokenRequest {
        user_id: UserId::from_bytes([0xab; 16]),
        nonce: [4; 32],
        origin: "https://relay.example.org".into(),
        signature: Signature64::from_bytes([5; 64]),
        device_label: None,
    };
    assert_eq!(
        serde_json::to_value(&token).expect("serialises"),
        json!({
            "user_id": "abababab-abab-abab-abab-abababababab",
            "nonce": b64(&[4; 32]),
            "origin": "https://relay.example.org",
            "signature": b64(&[5; 64]),
        })
    );
    let redeem = RedeemRequest {
        code: InviteCode::new("ABCDEFGH2345").expect("valid"),
        proof: [6; 32],
    };
    assert_eq!(
        serde_json::to_value(&redeem).expect("serialises"),
        json!({"code": "ABCDEFGH2345", "proof": b64(&[6; 32])})
    );
    let replica = ReplicaPairingRequest {
        system_user_id: UserId::from_bytes([7; 16]),
    };
    assert_eq!(
        serde_json::to_value(&replica).expect("serialises"),
        json!({"system_user_id": "07070707-0707-0707-0707-070707070707"})
    );
}

/// The answers as the relay writes them (sorted keys): `null` for a friend's view of the code
/// and proof and for a missing handle, the stored status, the v1 time text.
#[test]
fn answer_shapes() {
    let peer: UserRecord = parse(&user_json()).expect("valid record");
    let pairing = Pairing {
        pairing_id: PairingId::from_bytes([1; 16]),
        system_user_id: UserId::from_bytes([2; 16]),
        friend_user_id: UserId::from_bytes([3; 16]),
        status: PairingStatus::Active,
        code: None,
        proof: None,
        created_at: Some(RelayTime::from_unix_seconds(1_774_627_200)),
        peer: UserRecord {
            handle: None,
            ..peer
        },
    };
    let text = serde_json::to_string(
        &serde_json::to_value(PairingList {
            pairings: vec![pairing],
        })
        .expect("serialises"),
    )
    .expect("serialises");
    assert!(
        text.contains(r#""code":null,"created_at":"2026-03-27T16:00:00+00:00","#),
        "{text}"
    );
    assert!(text.contains(r#""handle":null,"#), "{text}");
    assert!(
        text.contains(r#""proof":null,"status":"active","#),
        "{text}"
    );
    assert_eq!(
        serde_json::to_value(VolumeStored {
            status: UploadStatus::Stored,
            epoch: 1,
            version: 2
        })
        .expect("serialises"),
        json!({"status": "stored", "epoch": 1, "version": 2})
    );
    assert_eq!(
        serde_json::to_value(Pins {
            current: Some("sha256/x".into()),
            next: None
        })
        .expect("serialises"),
        json!({"current": "sha256/x", "next": null})
    );
}

#[test]
fn handles_and_codes() {
    for ok in [
        "ab",
        "Alice",
        "bücher",
        "...",
        "a b",
        &"x".repeat(64),
        &"é".repeat(64),
    ] {
        assert!(Handle::new(ok).is_ok(), "{ok:?}");
    }
    for bad in ["", "a", "..", "tab\there", "nul\0", &"x".repeat(65)] {
        assert!(Handle::new(bad).is_err(), "{bad:?}");
    }
    for ok in ["ABCDEFGH2345", "a", "a-b_c", &"Z".repeat(64)] {
        assert!(InviteCode::new(ok).is_ok(), "{ok:?}");
    }
    for bad in ["", "a b", "a/b", "é", &"Z".repeat(65)] {
        assert!(InviteCode::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn relay_times() {
    let t = |s: &str| RelayTime::parse_iso(s).map(|t| t.unix_seconds());
    assert_eq!(t("1970-01-01T00:00:00+00:00"), Some(0));
    assert_eq!(t("2026-03-27T16:37:46.123456+00:00"), Some(1_774_629_466));
    assert_eq!(t("2026-03-27T16:37:46Z"), Some(1_774_629_466));
    assert_eq!(t("2026-03-27T18:37:46+02:00"), Some(1_774_629_466));
    assert_eq!(t("2026-03-27T11:07:46-05:30"), Some(1_774_629_466));
    assert_eq!(t("2000-02-29T00:00:00+00:00"), Some(951_782_400));
    assert_eq!(t("1969-12-31T23:59:59Z"), Some(-1));
    for bad in [
        "",
        "2026-03-27",
        "2026-03-27 16:37:46+00:00",
        "2026-03-27T16:37:46",
        "2026-03-27T16:37:46.+00:00",
        "2026-03-27T16:37:46.1234567890+00:00",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-03-00T00:00:00Z",
        "2026-03-27T24:00:00Z",
        "2026-03-27T23:60:00Z",
        "2026-03-27T23:59:60Z",
        "2026-03-27T16:37:46+0000",
        "2026-03-27T16:37:46+00:+5",
        "2026-03-27T16:37:46+24:00",
        "+026-03-27T16:37:46Z",
        "2026-03-27T16:37:46Zjunk",
        "２026-03-27T16:37:46Z",
    ] {
        assert_eq!(t(bad), None, "{bad:?}");
    }
    let from_int: RelayTime = serde_json::from_str("1774629466").expect("integer form");
    assert_eq!(from_int.unix_seconds(), 1_774_629_466);
    assert!(serde_json::from_str::<RelayTime>("18446744073709551615").is_err());
    assert!(serde_json::from_str::<RelayTime>("1.5").is_err());
    assert!(serde_json::from_str::<RelayTime>("null").is_err());
    assert_eq!(
        serde_json::to_string(&from_int).expect("serialises"),
        "\"2026-03-27T16:37:46+00:00\""
    );
}

#[test]
fn ids() {
    let id: UserId = "6F1C2A3B-4D5E-4F60-8172-839405A6B7C8"
        .parse()
        .expect("uuid");
    assert_eq!(id.to_string(), "6f1c2a3b-4d5e-4f60-8172-839405a6b7c8");
    assert_eq!(
        format!("{id:?}"),
        "UserId(6f1c2a3b-4d5e-4f60-8172-839405a6b7c8)"
    );
    assert_eq!(UserId::from_bytes(*id.as_bytes()), id);
    assert_eq!(
        serde_json::to_string(&id).expect("serialises"),
        "\"6f1c2a3b-4d5e-4f60-8172-839405a6b7c8\""
    );
}

proptest::proptest! {
    #[test]
    fn iso_times_round_trip(seconds in -62_135_596_800i64..253_402_300_799) {
        let text = crate::time::isoformat(seconds, 0);
        proptest::prop_assert_eq!(RelayTime::parse_iso(&text), Some(RelayTime::from_unix_seconds(seconds)));
    }

    #[test]
    fn parsers_never_panic(text in ".{0,80}") {
        let _ = RelayTime::parse_iso(&text);
        let _ = Handle::new(&text);
        let _ = InviteCode::new(&text);
        let _ = serde_json::from_str::<UserRecord>(&text);
        let _ = serde_json::from_str::<GrantEnvelope>(&text);
    }
}

/// A fixed vector: the same keys give this id on every relay and in every client.
#[test]
fn derived_user_id_vector() {
    let (pk, xpk) = ([0x11; 32], [0x22; 32]);
    let id = UserId::derive(&pk, &xpk);
    assert_eq!(id.to_string(), "5815b827-49b0-88a8-afe9-851d71ed92ca");
    assert_eq!(id.as_uuid().get_version_num(), 8);
    assert_eq!(id.as_uuid().get_variant(), uuid::Variant::RFC4122);
    assert_eq!(UserId::derive(&pk, &xpk), id);
    assert_ne!(UserId::derive(&xpk, &pk), id);
    assert_ne!(UserId::derive(&pk, &[0x23; 32]), id);
}

proptest::proptest! {
    #[test]
    fn derived_user_ids_are_version_8_rfc_variant(pk in proptest::array::uniform32(0u8..), xpk in proptest::array::uniform32(0u8..)) {
        let id = UserId::derive(&pk, &xpk);
        proptest::prop_assert_eq!(id.as_uuid().get_version_num(), 8);
        proptest::prop_assert_eq!(id.as_uuid().get_variant(), uuid::Variant::RFC4122);
        proptest::prop_assert_eq!(*id.as_bytes(), crate::v2::user_id_bytes(&pk, &xpk));
    }
}
