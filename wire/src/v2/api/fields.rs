//! Serde helpers for the strict fields: bounded base64, bounded lists, fixed-length base64.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serializer};

use super::{MAX_GRANT_BYTES, MAX_GRANT_ENTRIES, MAX_HEADER_BYTES, MAX_LIST_ENTRIES};
use super::{MAX_PAYLOAD_BYTES, WrappedKeyEntry};
use crate::b64;

pub(super) fn ser_b64<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
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

pub(super) fn de_header<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    de_bounded(d, MAX_HEADER_BYTES)
}

pub(super) fn de_grant<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    de_bounded(d, MAX_GRANT_BYTES)
}

pub(super) fn de_payload<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    de_bounded(d, MAX_PAYLOAD_BYTES)
}

pub(super) fn de_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    de_bounded_seq(d, MAX_LIST_ENTRIES)
}

pub(super) fn de_wrapped_keys<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<WrappedKeyEntry>, D::Error> {
    de_bounded_seq(d, MAX_GRANT_ENTRIES)
}

/// A JSON array of at most `max` elements, refused as soon as it has one more (no allocation
/// driven by the peer's claims).
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
pub(super) mod b64_fixed {
    use std::borrow::Cow;

    use serde::{Deserialize as _, Deserializer, Serializer, de};

    pub(in super::super) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::b64::encode(bytes))
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        crate::b64::decode_exact::<N>(&text).map_err(de::Error::custom)
    }
}

/// `Option<[u8; N]>`: absent or `null` is `None`, written as `null`.
pub(super) mod b64_fixed_opt {
    use std::borrow::Cow;

    use serde::{Deserialize as _, Deserializer, Serializer, de};

    pub(in super::super) fn serialize<S: Serializer, const N: usize>(
        bytes: &Option<[u8; N]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => s.serialize_str(&crate::b64::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        match <Option<Cow<'de, str>>>::deserialize(d)? {
            Some(text) => crate::b64::decode_exact::<N>(&text)
                .map(Some)
                .map_err(de::Error::custom),
            None => Ok(None),
        }
    }
}
