//! The signed relay list (§15): which relays hold a system's data, in order of preference.
//!
//! The list travels as an ordinary v2 volume named [`RELAY_LIST_VOLUME`], so it is sealed,
//! signed, padded and versioned like any other volume: forgery, rollback and truncation are
//! caught by the volume checks, not here. This module only defines the plaintext inside that
//! volume and parses it strictly, because a friend's client acts on it (it dials the origins and
//! trusts the pins):
//!
//! `"CFRL" | u8 1 | u8 n (1..=8) | n × ( str8 origin | u8 m (0..=2) | m × pin(32) )`
//!
//! Every origin is canonical by the same rule as an invite link's `relay` (so one relay has one
//! spelling, and the text a client signs at login is the text in the list), origins are unique,
//! `m = 0` means the relay is trusted through the Web PKI, and a pin is the raw SHA-256 of the
//! relay's SubjectPublicKeyInfo: the current one, then the announced next one. There is exactly
//! one encoding of each list; anything else is refused.
//!
//! What it must never do: accept bytes that do not re-encode to themselves (a second spelling of
//! a list would let two relays disagree about "the same" list), or panic on any input.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_certs::SpkiPin;

use super::V2Error;
use super::link::valid_origin;

/// The volume that carries a system's relay list. Client code reserves it: only the relay-list
/// code writes it.
pub const RELAY_LIST_VOLUME: &str = "coffer.relays";

/// Most relays one system uses.
pub const MAX_RELAYS: usize = 8;

/// Most pins per relay: the current one and the announced next one.
const MAX_PINS: usize = 2;

/// Magic of the encoding.
const MAGIC: &[u8; 4] = b"CFRL";

/// The only format.
const FORMAT: u8 = 1;

/// Longest origin a list can carry (`str8`). The invite link accepts 262 bytes; an origin
/// longer than 255 cannot be in a relay list.
const MAX_LIST_ORIGIN_LEN: usize = u8::MAX as usize;

/// One relay: its canonical origin and the pins that authenticate it (none: Web PKI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayEntry {
    origin: String,
    pins: Vec<SpkiPin>,
}

impl RelayEntry {
    /// A relay entry.
    ///
    /// # Errors
    /// [`V2Error::InvalidArgument`] if the origin is not canonical (`https://host[:port]`, lower
    /// case, no path, no trailing slash, no `:443` — the invite link's rule), or if there are
    /// more than two pins or the two are equal.
    pub fn new(origin: &str, pins: Vec<SpkiPin>) -> Result<RelayEntry, V2Error> {
        if !valid_origin(origin) {
            return Err(V2Error::InvalidArgument(
                "relay origin must be canonical like https://host:port (lower case, no path, no trailing slash, no :443)",
            ));
        }
        check_pins(&pins).map_err(V2Error::InvalidArgument)?;
        Ok(RelayEntry {
            origin: origin.to_owned(),
            pins,
        })
    }

    /// The entry of a relay an invite link names, whose origin the link has already checked
    /// with the same rule.
    pub(super) fn from_link(origin: &str, pin: Option<SpkiPin>) -> RelayEntry {
        RelayEntry {
            origin: origin.to_owned(),
            pins: pin.into_iter().collect(),
        }
    }

    /// The relay's canonical origin.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The relay's pins: the current one, then the announced next one. Empty: Web PKI.
    #[must_use]
    pub fn pins(&self) -> &[SpkiPin] {
        &self.pins
    }
}

fn check_pins(pins: &[SpkiPin]) -> Result<(), &'static str> {
    match pins {
        [] | [_] => Ok(()),
        [a, b] if a == b => Err("a relay's two pins must differ"),
        [_, _] => Ok(()),
        _ => Err("a relay has at most two pins (current and next)"),
    }
}

/// A system's relays in order of preference: the first is the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayList {
    entries: Vec<RelayEntry>,
}

impl RelayList {
    /// A relay list.
    ///
    /// # Errors
    /// [`V2Error::InvalidArgument`] unless there are 1 to [`MAX_RELAYS`] entries with distinct
    /// origins, each at most 255 bytes long.
    pub fn new(entries: Vec<RelayEntry>) -> Result<RelayList, V2Error> {
        check_entries(&entries).map_err(V2Error::InvalidArgument)?;
        Ok(RelayList { entries })
    }

    /// The entries, primary first.
    #[must_use]
    pub fn entries(&self) -> &[RelayEntry] {
        &self.entries
    }

    /// The exact bytes (the plaintext of the [`RELAY_LIST_VOLUME`] volume).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + self.entries.len() * (2 + 64 + 64));
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.push(u8::try_from(self.entries.len()).expect("RelayList::new allows at most 8"));
        for entry in &self.entries {
            let origin = entry.origin.as_bytes();
            out.push(u8::try_from(origin.len()).expect("RelayList::new allows at most 255 bytes"));
            out.extend_from_slice(origin);
            out.push(u8::try_from(entry.pins.len()).expect("RelayEntry::new allows at most 2"));
            for pin in &entry.pins {
                out.extend_from_slice(pin.as_bytes());
            }
        }
        out
    }

    /// Parses the exact encoding (see the module doc); everything else is refused.
    ///
    /// # Errors
    /// [`V2Error::Malformed`] naming the first problem: wrong magic or format, a count out of
    /// range, a non-canonical or repeated origin, equal pins, truncation or trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<RelayList, V2Error> {
        decode(bytes).map_err(V2Error::Malformed)
    }
}

fn check_entries(entries: &[RelayEntry]) -> Result<(), &'static str> {
    if entries.is_empty() {
        return Err("a relay list names at least one relay");
    }
    if entries.len() > MAX_RELAYS {
        return Err("a relay list names at most 8 relays");
    }
    if entries.iter().any(|e| e.origin.len() > MAX_LIST_ORIGIN_LEN) {
        return Err("a relay origin in a relay list is at most 255 bytes");
    }
    for (i, entry) in entries.iter().enumerate() {
        if entries[..i].iter().any(|e| e.origin == entry.origin) {
            return Err("a relay list names each origin once");
        }
    }
    Ok(())
}

/// A cursor that never reads past the end.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.rest.len() < n {
            return Err("relay list is truncated");
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
}

fn decode(bytes: &[u8]) -> Result<RelayList, &'static str> {
    let mut r = Reader { rest: bytes };
    if r.take(MAGIC.len())? != MAGIC {
        return Err("relay list does not start with CFRL");
    }
    if r.u8()? != FORMAT {
        return Err("relay list has an unknown format (need 1)");
    }
    let n = usize::from(r.u8()?);
    if !(1..=MAX_RELAYS).contains(&n) {
        return Err("relay list must name 1 to 8 relays");
    }
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let len = usize::from(r.u8()?);
        let origin = std::str::from_utf8(r.take(len)?)
            .ok()
            .filter(|o| valid_origin(o))
            .ok_or("relay list has an origin that is not canonical")?;
        let m = usize::from(r.u8()?);
        if m > MAX_PINS {
            return Err("relay list has a relay with more than two pins");
        }
        let mut pins = Vec::with_capacity(m);
        for _ in 0..m {
            pins.push(pin_from_bytes(r.take(32)?)?);
        }
        check_pins(&pins).map_err(|_| "relay list has a relay with two equal pins")?;
        entries.push(RelayEntry {
            origin: origin.to_owned(),
            pins,
        });
    }
    if !r.rest.is_empty() {
        return Err("relay list has trailing bytes");
    }
    check_entries(&entries).map_err(|_| "relay list names an origin twice")?;
    Ok(RelayList { entries })
}

/// `coffer_certs::SpkiPin` is built from its text form only; the raw bytes go through it.
fn pin_from_bytes(bytes: &[u8]) -> Result<SpkiPin, &'static str> {
    let text = format!("sha256/{}", STANDARD.encode(bytes));
    text.parse()
        .map_err(|_| "relay list has a pin that is not 32 bytes")
}

#[cfg(test)]
mod tests {
    use coffer_wire::v2::VolumeName;
    use proptest::prelude::*;

    use super::*;

    fn pin(b: u8) -> SpkiPin {
        pin_from_bytes(&[b; 32]).expect("32 bytes")
    }

    fn entry(origin: &str, pins: &[u8]) -> RelayEntry {
        RelayEntry::new(origin, pins.iter().map(|&b| pin(b)).collect()).expect("valid")
    }

    fn sample() -> RelayList {
        RelayList::new(vec![
            entry("https://a.example", &[]),
            entry("https://b.example:8443", &[1]),
            entry("https://[::1]:9000", &[2, 3]),
        ])
        .expect("valid")
    }

    #[test]
    fn the_volume_name_is_a_valid_v2_name() {
        assert_eq!(
            VolumeName::new(RELAY_LIST_VOLUME).map(|n| n.as_str().to_owned()),
            Ok("coffer.relays".to_owned())
        );
    }

    #[test]
    fn encoding_is_exact() {
        let bytes = sample().encode();
        let mut want = b"CFRL\x01\x03".to_vec();
        want.push(17);
        want.extend_from_slice(b"https://a.example\x00");
        want.push(22);
        want.extend_from_slice(b"https://b.example:8443\x01");
        want.extend_from_slice(&[1; 32]);
        want.push(18);
        want.extend_from_slice(b"https://[::1]:9000\x02");
        want.extend_from_slice(&[2; 32]);
        want.extend_from_slice(&[3; 32]);
        assert_eq!(bytes, want);
        assert_eq!(RelayList::decode(&bytes), Ok(sample()));
    }

    #[test]
    fn pins_from_bytes_keep_the_bytes() {
        let bytes: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).expect("small") * 7);
        assert_eq!(pin_from_bytes(&bytes).map(|p| *p.as_bytes()), Ok(bytes));
        assert!(pin_from_bytes(&[0; 31]).is_err());
    }

    #[test]
    fn entry_refusals() {
        for bad in [
            "http://a.example",
            "https://A.example",
            "https://a.example/",
            "https://a.example:443",
            "https://a.example:08443",
            "",
        ] {
            assert!(
                matches!(
                    RelayEntry::new(bad, vec![]),
                    Err(V2Error::InvalidArgument(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            RelayEntry::new("https://a.example", vec![pin(1), pin(1)]),
            Err(V2Error::InvalidArgument(_))
        ));
        assert!(matches!(
            RelayEntry::new("https://a.example", vec![pin(1), pin(2), pin(3)]),
            Err(V2Error::InvalidArgument(_))
        ));
        let e = entry("https://a.example", &[1, 2]);
        assert_eq!(e.origin(), "https://a.example");
        assert_eq!(e.pins(), &[pin(1), pin(2)]);
    }

    #[test]
    fn list_refusals() {
        assert!(matches!(
            RelayList::new(vec![]),
            Err(V2Error::InvalidArgument(_))
        ));
        let nine: Vec<RelayEntry> = (0..9)
            .map(|i| entry(&format!("https://r{i}.example"), &[]))
            .collect();
        assert!(RelayList::new(nine[..8].to_vec()).is_ok());
        assert!(matches!(
            RelayList::new(nine),
            Err(V2Error::InvalidArgument(_))
        ));
        assert!(matches!(
            RelayList::new(vec![
                entry("https://a.example", &[]),
                entry("https://a.example", &[1]),
            ]),
            Err(V2Error::InvalidArgument(_))
        ));
        // The link's limit is 262 bytes, a list's 255 (str8).
        let host = "h".repeat(MAX_LIST_ORIGIN_LEN - "https://".len());
        let longest = format!("https://{host}");
        assert!(RelayList::new(vec![entry(&longest, &[])]).is_ok());
        let too_long = format!("https://{host}h");
        assert!(matches!(
            RelayList::new(vec![entry(&too_long, &[])]),
            Err(V2Error::InvalidArgument(_))
        ));
    }

    /// Every way of breaking valid bytes is refused as `Malformed`.
    #[test]
    fn decode_refusals() {
        let good = sample().encode();
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            b
        };
        let origin_at = 7; // first str8 origin's length byte
        let mut nine = b"CFRL\x01\x09".to_vec();
        for i in 0..9 {
            let o = format!("https://r{i}.example");
            nine.push(u8::try_from(o.len()).expect("short"));
            nine.extend_from_slice(o.as_bytes());
            nine.push(0);
        }
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("magic", with(&|b| b[0] = b'X')),
            ("format 0", with(&|b| b[4] = 0)),
            ("format 2", with(&|b| b[4] = 2)),
            ("n = 0", b"CFRL\x01\x00".to_vec()),
            ("n = 9", nine),
            ("n larger than the entries", with(&|b| b[5] = 4)),
            ("n smaller than the entries", with(&|b| b[5] = 2)),
            ("upper-case origin", with(&|b| b[origin_at + 9] = b'A')),
            ("origin not UTF-8", with(&|b| b[origin_at + 9] = 0xff)),
            ("origin length too long", with(&|b| b[origin_at] = 18)),
            ("origin length zero", with(&|b| b[origin_at] = 0)),
            ("trailing byte", with(&|b| b.push(0))),
            ("truncated", good[..good.len() - 1].to_vec()),
            ("m = 3", {
                let mut b = b"CFRL\x01\x01\x11https://a.example\x03".to_vec();
                b.extend_from_slice(&[1; 96]);
                b
            }),
            ("equal pins", {
                let mut b = b"CFRL\x01\x01\x11https://a.example\x02".to_vec();
                b.extend_from_slice(&[1; 64]);
                b
            }),
            (
                "repeated origin",
                b"CFRL\x01\x02\x11https://a.example\x00\x11https://a.example\x00".to_vec(),
            ),
            (
                "trailing slash",
                b"CFRL\x01\x01\x12https://a.example/\x00".to_vec(),
            ),
            (
                "default port",
                b"CFRL\x01\x01\x15https://a.example:443\x00".to_vec(),
            ),
        ];
        for (what, bytes) in cases {
            assert!(
                matches!(RelayList::decode(&bytes), Err(V2Error::Malformed(_))),
                "{what}"
            );
        }
        // A valid list of exactly eight decodes.
        let mut eight = b"CFRL\x01\x08".to_vec();
        for i in 0..8 {
            let o = format!("https://r{i}.example");
            eight.push(u8::try_from(o.len()).expect("short"));
            eight.extend_from_slice(o.as_bytes());
            eight.push(0);
        }
        assert_eq!(RelayList::decode(&eight).map(|l| l.entries().len()), Ok(8));
    }

    fn origin_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9][a-z0-9.-]{0,40}".prop_map(|h| format!("https://{h}")),
            ("[a-z0-9][a-z0-9-]{0,20}", 1u16..=65535)
                .prop_filter("443 is not canonical", |(_, p)| *p != 443)
                .prop_map(|(h, p)| format!("https://{h}:{p}")),
            "[0-9a-f:]{1,39}".prop_map(|h| format!("https://[{h}]")),
        ]
    }

    fn entry_strategy() -> impl Strategy<Value = RelayEntry> {
        (
            origin_strategy(),
            proptest::collection::vec(any::<[u8; 32]>(), 0..=2),
        )
            .prop_filter_map("equal pins", |(origin, pins)| {
                let pins = pins
                    .iter()
                    .map(|p| pin_from_bytes(p).expect("32 bytes"))
                    .collect();
                RelayEntry::new(&origin, pins).ok()
            })
    }

    proptest! {
        #[test]
        fn round_trip(entries in proptest::collection::vec(entry_strategy(), 1..=MAX_RELAYS)) {
            if let Ok(list) = RelayList::new(entries) {
                let bytes = list.encode();
                prop_assert_eq!(RelayList::decode(&bytes), Ok(list));
                // No other length of the same bytes decodes.
                prop_assert!(RelayList::decode(&bytes[..bytes.len() - 1]).is_err());
            }
        }

        #[test]
        fn decode_never_panics_and_only_accepts_canonical_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            if let Ok(list) = RelayList::decode(&bytes) {
                prop_assert_eq!(list.encode(), bytes);
            }
        }

        #[test]
        fn decode_never_panics_on_a_valid_prefix(
            tail in proptest::collection::vec(any::<u8>(), 0..300),
            n in 0u8..=10,
        ) {
            let bytes = [&b"CFRL\x01"[..], &[n], &tail].concat();
            if let Ok(list) = RelayList::decode(&bytes) {
                prop_assert_eq!(list.encode(), bytes);
            }
        }
    }
}
