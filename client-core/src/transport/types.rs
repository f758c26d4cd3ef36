//! The JSON shapes of the v2 API (`docs/protocol-v2.md`), parsed strictly.
//!
//! Binary fields are standard padded base64 (`coffer_wire::b64`): keys, signatures, nonces,
//! proofs and wrapped keys must decode to their exact length; headers, grants and payloads to at
//! most a fixed bound, checked on the text before decoding. Lists are bounded too. A relay that
//! sends anything else gets `TransportError::Protocol` from the endpoint that received it.
//!
//! These types say nothing about authenticity: headers, grants and wrapped keys are the exact
//! bytes the relay served (P4), to be verified by the crypto layer, and the plain fields next to
//! them (`epoch`, `version` of a list entry) are the relay's unverified claims.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use coffer_wire::b64::{self, PublicKey32, Signature64, WrappedVek60};
use coffer_wire::v2::{MAX_GRANT_ENTRIES, VolumeName};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Largest header accepted (`coffer_wire::v2::Header::parse` refuses anything longer).
pub const MAX_HEADER_BYTES: usize = 512;
/// Largest grant accepted (what `coffer_wire::v2::Grant::parse` accepts).
pub const MAX_GRANT_BYTES: usize = 128 + MAX_GRANT_ENTRIES * 70;
/// Largest volume payload accepted (fits, as base64, in the default 64 MiB response limit).
pub const MAX_PAYLOAD_BYTES: usize = 48 << 20;
/// Most entries in a volume or pairing list.
pub const MAX_LIST_ENTRIES: usize = 10_000;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// From the 16 raw bytes (as inside signed structures).
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            /// The UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The 16 raw bytes (as inside signed structures).
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A user's id on a relay (hyphenated UUID text in JSON, 16 raw bytes inside signed
    /// structures).
    UserId
);
uuid_id!(
    /// A pairing (relationship) id.
    PairingId
);

/// Why a handle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid handle: use 2–64 characters without control characters")]
pub struct HandleError;

/// A public handle: 2–64 characters, no control characters, not `..` (which could not be
/// addressed as a URL path segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle(String);

impl Handle {
    /// Validates a handle.
    pub fn new(handle: &str) -> Result<Handle, HandleError> {
        let chars = handle.chars().count();
        if (2..=64).contains(&chars) && !handle.chars().any(char::is_control) && handle != ".." {
            Ok(Handle(handle.to_owned()))
        } else {
            Err(HandleError)
        }
    }

    /// The handle.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Handle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        Handle::new(&text).map_err(de::Error::custom)
    }
}

/// Why an invite code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid invite code: expected 1–64 letters, digits, '-' or '_'")]
pub struct InviteCodeError;

/// The relay-visible half of an invite (the pairing secret never leaves the link): 1–64 ASCII
/// letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InviteCode(String);

impl InviteCode {
    /// Validates a code.
    pub fn new(code: &str) -> Result<InviteCode, InviteCodeError> {
        let ok = (1..=64).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(InviteCode(code.to_owned()))
        } else {
            Err(InviteCodeError)
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for InviteCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for InviteCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        InviteCode::new(&text).map_err(de::Error::custom)
    }
}

/// Which app an account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// The data owner's app: publishes volumes, invites and grants.
    System,
    /// A read-only companion app.
    Friend,
}

/// A pairing's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairingStatus {
    /// Redeemed, no grant yet.
    Pending,
    /// A grant has been uploaded.
    Active,
    /// A state this client does not know (a newer relay); treat as not active.
    #[serde(other)]
    Unknown,
}

/// A time the relay states (expiry of a challenge, session or invite), in Unix seconds.
///
/// Read from an integer or from an ISO-8601 / RFC 3339 text with a numeric or `Z` offset, as v1
/// relays write it (`2026-03-27T16:57:46.123456+00:00`); fractions of a second are dropped.
/// Written as the v1 text in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelayTime(i64);

impl RelayTime {
    /// From Unix seconds.
    pub const fn from_unix_seconds(seconds: i64) -> RelayTime {
        RelayTime(seconds)
    }

    /// Unix seconds.
    pub const fn unix_seconds(&self) -> i64 {
        self.0
    }

    /// Parses the ISO-8601 text form (see the type documentation).
    pub fn parse_iso(text: &str) -> Option<RelayTime> {
        let b = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(range)?;
            if part.iter().all(u8::is_ascii_digit) {
                std::str::from_utf8(part).ok()?.parse().ok()
            } else {
                None
            }
        };
        let sep = |i: usize, c: u8| b.get(i) == Some(&c);
        if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
            return None;
        }
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        let mut rest = b.get(19..)?;
        if let Some(fraction) = rest.strip_prefix(b".") {
            let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=9).contains(&n) {
                return None;
            }
            rest = &fraction[n..];
        }
        let offset = match rest {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
                if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
            {
                let two = |a: u8, b: u8| i64::from(a - b'0') * 10 + i64::from(b - b'0');
                let (hh, mm) = (two(*h1, *h2), two(*m1, *m2));
                if hh > 23 || mm > 59 {
                    return None;
                }
                let secs = hh * 3600 + mm * 60;
                if *sign == b'+' { secs } else { -secs }
            }
            _ => return None,
        };
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        let max_day = *month_days.get(usize::try_from(month - 1).ok()?)?;
        if day < 1 || day > max_day || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(RelayTime(
            days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        ))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Serialize for RelayTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&coffer_wire::time::isoformat(self.0, 0))
    }
}

impl<'de> Deserialize<'de> for RelayTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RelayTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Unix seconds or an ISO-8601 time")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RelayTime, E> {
                i64::try_from(v)
                    .map(RelayTime)
                    .map_err(|_| E::custom("time out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RelayTime, E> {
                Ok(RelayTime(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RelayTime, E> {
                RelayTime::parse_iso(v).ok_or_else(|| E::custom("not an ISO-8601 time"))
            }
        }
        d.deserialize_any(V)
    }
}

/// `POST /register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// System or friend.
    pub client_type: ClientType,
    /// Optional public handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
    /// Ed25519 public key.
    pub public_signing_key: PublicKey32,
    /// X25519 public key.
    pub public_exchange_key: PublicKey32,
    /// `Ed25519(sk, label("coffer-v2/key-binding") ‖ pk ‖ xpk)`.
    pub key_binding_signature: Signature64,
}

/// Answer to `POST /register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The new account's id.
    pub user_id: UserId,
}

/// `POST /auth/challenge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRequest {
    /// Who wants to log in.
    pub user_id: UserId,
}

/// Answer to `POST /auth/challenge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// 32 random bytes, single use.
    #[serde(with = "b64_fixed")]
    pub nonce: [u8; 32],
    /// When the challenge expires.
    pub expires_at: RelayTime,
}

/// `POST /auth/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// Who logs in.
    pub user_id: UserId,
    /// The challenge's nonce.
    #[serde(with = "b64_fixed")]
    pub nonce: [u8; 32],
    /// The origin dialled, exactly as signed.
    pub origin: String,
    /// `Ed25519(sk, label("coffer-v2/login") ‖ str16(origin) ‖ user_id ‖ nonce)`.
    pub signature: Signature64,
}

/// A user record (`GET /users/by-handle/{handle}`, `GET /users/{id}`, a pairing's `peer`).
/// The keys are the relay's claim until the binding signature and a pinned fingerprint say
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user's id.
    pub user_id: UserId,
    /// Public handle, if any.
    #[serde(default)]
    pub handle: Option<Handle>,
    /// System or friend.
    pub client_type: ClientType,
    /// Ed25519 public key.
    pub public_signing_key: PublicKey32,
    /// X25519 public key.
    pub public_exchange_key: PublicKey32,
    /// Binding of the two keys, to be verified by the client.
    pub key_binding_signature: Signature64,
}

/// A signed volume: the body of `PUT /volumes/{name}` and the answer to `GET /volumes/{name}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedVolume {
    /// Header bytes `H`, exactly as signed (at most [`MAX_HEADER_BYTES`]).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_header")]
    pub header: Vec<u8>,
    /// `Ed25519(sk_owner, label("coffer-v2/volume-header") ‖ H)`.
    pub signature: Signature64,
    /// `nonce ‖ ciphertext ‖ tag` (at most [`MAX_PAYLOAD_BYTES`]).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_payload")]
    pub payload: Vec<u8>,
}

/// A volume as served to a friend: the signed volume plus the friend's wrapped VEK for its
/// epoch.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedVolume {
    /// Header bytes `H`, exactly as signed.
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_header")]
    pub header: Vec<u8>,
    /// The owner's header signature.
    pub signature: Signature64,
    /// `nonce ‖ ciphertext ‖ tag`.
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_payload")]
    pub payload: Vec<u8>,
    /// The VEK of the header's epoch, wrapped for this friend (60 bytes).
    pub wrapped_key: WrappedVek60,
}

/// Volumes print their sizes, not their bytes (payloads are large).
macro_rules! volume_debug {
    ($name:ident $(, $extra:ident)?) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("header_len", &self.header.len())
                    .field("signature", &self.signature)
                    .field("payload_len", &self.payload.len())
                    $(.field(stringify!($extra), &self.$extra))?
                    .finish()
            }
        }
    };
}
volume_debug!(SignedVolume);
volume_debug!(SharedVolume, wrapped_key);

/// An entry of `GET /volumes` or `GET /shared/{owner}/volumes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeEntry {
    /// The volume's name.
    pub volume: VolumeName,
    /// The relay's claim of the current epoch (the signed header is authoritative).
    pub epoch: u32,
    /// The relay's claim of the current version (the signed header is authoritative).
    pub version: u64,
    /// Header bytes `H`, exactly as signed.
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_header")]
    pub header: Vec<u8>,
    /// The owner's header signature.
    pub signature: Signature64,
}

/// `{"volumes": [...]}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct VolumeList {
    #[serde(deserialize_with = "de_list")]
    pub volumes: Vec<VolumeEntry>,
}

/// Answer to `POST /invites`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The code for the link.
    pub code: InviteCode,
    /// When the invite expires.
    pub expires_at: RelayTime,
}

/// `POST /invites/redeem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemRequest {
    /// The code from the link.
    pub code: InviteCode,
    /// `HMAC-SHA256(pairing key, label("coffer-v2/pairing-proof") ‖ …)` (32 bytes).
    #[serde(with = "b64_fixed")]
    pub proof: [u8; 32],
}

/// Answer to `POST /invites/redeem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redeemed {
    /// The new pairing.
    pub pairing_id: PairingId,
    /// The system that made the invite.
    pub system_user_id: UserId,
}

/// An entry of `GET /pairings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairing {
    /// The pairing.
    pub pairing_id: PairingId,
    /// The system side.
    pub system_user_id: UserId,
    /// The friend side.
    pub friend_user_id: UserId,
    /// Pending or active.
    pub status: PairingStatus,
    /// The redeemed invite's code (shown to the system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<InviteCode>,
    /// The friend's pairing proof (shown to the system), 32 bytes.
    #[serde(
        default,
        with = "b64_fixed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub proof: Option<[u8; 32]>,
    /// The other side's user record.
    pub peer: UserRecord,
}

/// `{"pairings": [...]}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PairingList {
    #[serde(deserialize_with = "de_list")]
    pub pairings: Vec<Pairing>,
}

/// One wrapped VEK of a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKeyEntry {
    /// The volume.
    pub volume: VolumeName,
    /// The epoch the key belongs to.
    pub epoch: u32,
    /// `nonce ‖ AES-256-GCM(kek, VEK) ‖ tag` (60 bytes).
    pub wrapped_key: WrappedVek60,
}

/// A signed grant with its wrapped keys: the body of `PUT /grants/{friend_id}` and the answer
/// to `GET /shared/{owner}/grant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEnvelope {
    /// Grant bytes `G`, exactly as signed (at most [`MAX_GRANT_BYTES`]).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_grant")]
    pub grant: Vec<u8>,
    /// `Ed25519(sk_owner, label("coffer-v2/grant") ‖ G)`.
    pub signature: Signature64,
    /// One wrapped VEK per grant entry (at most `MAX_GRANT_ENTRIES`).
    #[serde(deserialize_with = "de_wrapped_keys")]
    pub wrapped_keys: Vec<WrappedKeyEntry>,
}

/// The answer to a conditional `GET` (`If-None-Match: <version>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched<T> {
    /// The relay holds something newer than the version given (or none was given).
    Modified(T),
    /// 304: nothing newer than the version given.
    NotModified,
}

fn ser_b64<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&b64::encode(bytes))
}

/// Strict base64 of at most `max` bytes, decoded straight from the input text (no copy of a
/// large payload's text).
fn de_bounded<'de, D: Deserializer<'de>>(d: D, max: usize) -> Result<Vec<u8>, D::Error> {
    struct V(usize);
    impl Visitor<'_> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "standard base64 of at most {} bytes", self.0)
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
            b64::decode_bounded(text, self.0).map_err(E::custom)
        }
    }
    d.deserialize_str(V(max))
}

fn de_header<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    de_bounded(d, MAX_HEADER_BYTES)
}

fn de_grant<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    de_bounded(d, MAX_GRANT_BYTES)
}

fn de_payload<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    de_bounded(d, MAX_PAYLOAD_BYTES)
}

fn de_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    de_bounded_seq(d, MAX_LIST_ENTRIES)
}

fn de_wrapped_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<WrappedKeyEntry>, D::Error> {
    de_bounded_seq(d, MAX_GRANT_ENTRIES)
}

/// A JSON array of at most `max` elements, refused as soon as it has one more (no allocation
/// driven by the relay's claims).
fn de_bounded_seq<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    max: usize,
) -> Result<Vec<T>, D::Error> {
    struct V<T> {
        max: usize,
        item: PhantomData<T>,
    }
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {} entries", self.max)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element()? {
                if out.len() == self.max {
                    return Err(de::Error::custom("too many entries"));
                }
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V {
        max,
        item: PhantomData,
    })
}

/// `[u8; N]` as strict base64 of exactly `N` bytes.
mod b64_fixed {
    use std::borrow::Cow;

    use serde::{Deserialize as _, Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&coffer_wire::b64::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        coffer_wire::b64::decode_exact::<N>(&text).map_err(de::Error::custom)
    }
}

/// `Option<[u8; N]>`: absent or `null` is `None`.
mod b64_fixed_opt {
    use std::borrow::Cow;

    use serde::{Deserialize as _, Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer, const N: usize>(
        bytes: &Option<[u8; N]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => s.serialize_str(&coffer_wire::b64::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        match <Option<Cow<'de, str>>>::deserialize(d)? {
            Some(text) => coffer_wire::b64::decode_exact::<N>(&text)
                .map(Some)
                .map_err(de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
#[path = "types_tests.rs"]
mod tests;
