//! client-core's parse layer for relay answers (`transport::types`): every JSON shape the v2
//! transport reads from a (hostile) relay, the bounded base64 fields and lists, relay times
//! (integers or ISO-8601 text), handles, invite codes, and relay origins.
//!
//! The same input is offered to every type. Asserts: no panic; everything that parses survives
//! `deserialize(serialize(x)) == x` (what a client stores and re-reads is what it was served);
//! relay times in years 0–9999 survive their text form.

#![no_main]

use coffer_client_core::transport::{
    Challenge, ChallengeRequest, ClientType, GrantEnvelope, Handle, Invite, InviteCode, Pairing,
    PairingStatus, RedeemRequest, Redeemed, RegisterRequest, Registered, RelayOrigin, RelayTime,
    SharedVolume, SignedVolume, TokenRequest, UserRecord, VolumeEntry, WrappedKeyEntry,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years a 4-digit ISO text can carry.
const FIRST_ISO_SECOND: i64 = -62_167_219_200;
const LAST_ISO_SECOND: i64 = 253_402_300_799;

fn round_trip<T>(data: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let Ok(value) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let json = serde_json::to_vec(&value).expect("a parsed answer serialises");
    let again: T = serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "{} does not re-read its own JSON ({e}): {}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(
        again,
        value,
        "{} changed in its round trip",
        std::any::type_name::<T>()
    );
}

/// For types without `PartialEq` (volumes redact their bytes in `Debug`): parse, serialise,
/// re-parse, and compare the JSON.
fn round_trip_json<T>(data: &[u8])
where
    T: DeserializeOwned + Serialize,
{
    let Ok(value) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let json = serde_json::to_value(&value).expect("a parsed answer serialises");
    let again: T = serde_json::from_value(json.clone()).unwrap_or_else(|e| {
        panic!(
            "{} does not re-read its own JSON ({e})",
            std::any::type_name::<T>()
        )
    });
    assert_eq!(
        serde_json::to_value(&again).expect("serialises"),
        json,
        "{} changed in its round trip",
        std::any::type_name::<T>()
    );
}

fuzz_target!(|data: &[u8]| {
    round_trip::<Registered>(data);
    round_trip::<Challenge>(data);
    round_trip::<UserRecord>(data);
    round_trip::<VolumeEntry>(data);
    round_trip::<Invite>(data);
    round_trip::<Redeemed>(data);
    round_trip::<Pairing>(data);
    round_trip::<WrappedKeyEntry>(data);
    round_trip::<GrantEnvelope>(data);
    round_trip::<RegisterRequest>(data);
    round_trip::<ChallengeRequest>(data);
    round_trip::<TokenRequest>(data);
    round_trip::<RedeemRequest>(data);
    round_trip::<ClientType>(data);
    round_trip::<PairingStatus>(data);
    round_trip::<Handle>(data);
    round_trip::<InviteCode>(data);
    round_trip::<Vec<VolumeEntry>>(data);
    round_trip_json::<SignedVolume>(data);
    round_trip_json::<SharedVolume>(data);

    if let Ok(time) = serde_json::from_slice::<RelayTime>(data) {
        let t = time.unix_seconds();
        if (FIRST_ISO_SECOND..=LAST_ISO_SECOND).contains(&t) {
            round_trip::<RelayTime>(data);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(time) = RelayTime::parse_iso(text)
            && (FIRST_ISO_SECOND..=LAST_ISO_SECOND).contains(&time.unix_seconds())
        {
            let json = serde_json::to_string(&time).expect("a time serialises");
            let back: RelayTime = serde_json::from_str(&json).expect("a time's own text parses");
            assert_eq!(back, time);
        }
        if let Ok(origin) = RelayOrigin::parse(text) {
            let again = RelayOrigin::parse(origin.as_str()).expect("an origin's own text parses");
            assert_eq!(again.as_str(), origin.as_str());
            assert_eq!((again.host(), again.port()), (origin.host(), origin.port()));
        }
        if let Ok(handle) = Handle::new(text) {
            assert_eq!(Handle::new(handle.as_str()).as_ref(), Ok(&handle));
        }
        if let Ok(code) = InviteCode::new(text) {
            assert_eq!(InviteCode::new(code.as_str()).as_ref(), Ok(&code));
        }
    }
});
