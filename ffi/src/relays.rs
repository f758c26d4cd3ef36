//! Several relays per system (issue 16, `docs/protocol-v2.md`): the signed relay list, the
//! per-relay results of replicated writes, `repair`, and the friend's side — following a
//! system's list, pairing on another relay, fetching with failover.
//!
//! As everywhere in this crate there is no logic here: each method converts its arguments and
//! calls the same-named `coffer_client_core` method (the clients wrap
//! `client::Replicated<RelayHttp>`, so one account on one relay behaves as before).

use std::sync::Arc;

use coffer_client_core::client as core;
use coffer_client_core::transport::RelayOrigin;
use coffer_client_core::v2::{MAX_RELAYS, RelayEntry as CoreEntry};
use zeroize::Zeroizing;

use crate::error::CofferError;
use crate::friend::FriendClient;
use crate::link::InviteLink;
use crate::records::{self, FetchResult, PairedSystem, Published};
use crate::runtime::run;
use crate::system::SystemClient;

/// One relay of a system's list: where it is and how its certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RelayEntry {
    /// The relay's origin, `https://host[:port]` (normalised: lower case, no trailing slash,
    /// no `:443`).
    pub origin: String,
    /// Its pins (`sha256/…`, as the relay's banner prints them): the current one, then the
    /// announced next one. Empty: the relay has a CA-signed certificate (Web PKI).
    pub pins: Vec<String>,
}

impl From<&CoreEntry> for RelayEntry {
    fn from(entry: &CoreEntry) -> Self {
        RelayEntry {
            origin: entry.origin().to_owned(),
            pins: entry.pins().iter().map(ToString::to_string).collect(),
        }
    }
}

pub(crate) fn entries_of(entries: &[CoreEntry]) -> Vec<RelayEntry> {
    entries.iter().map(RelayEntry::from).collect()
}

/// Parses one relay argument strictly: a relay address (normalised as `ClientConfig.pinned`
/// does) and at most two pins, each exactly `sha256/` + 44 characters of padded base64.
pub(crate) fn parse_entry(entry: &RelayEntry) -> Result<CoreEntry, CofferError> {
    let origin = RelayOrigin::parse(&entry.origin).map_err(|e| CofferError::InvalidInput {
        reason: format!("relay address {:?}: {e}", entry.origin),
    })?;
    let origin = origin.as_str();
    if entry.pins.len() > 2 {
        return Err(CofferError::InvalidPin {
            reason: format!(
                "relay {origin}: at most two pins (the current one, then the announced next one), got {}",
                entry.pins.len()
            ),
        });
    }
    let pins = entry
        .pins
        .iter()
        .enumerate()
        .map(|(i, pin)| {
            pin.parse::<coffer_certs::SpkiPin>()
                .map_err(|e| CofferError::InvalidPin {
                    reason: format!("relay {origin}, pin {}: {e}", i + 1),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    CoreEntry::new(origin, pins).map_err(|e| CofferError::InvalidInput {
        reason: format!("relay {origin}: {e}"),
    })
}

/// Parses a relay list argument (1 to 8 relays, each origin once; the first is the primary).
pub(crate) fn parse_entries(entries: &[RelayEntry]) -> Result<Vec<CoreEntry>, CofferError> {
    if entries.is_empty() || entries.len() > MAX_RELAYS {
        return Err(CofferError::InvalidInput {
            reason: format!(
                "a system has 1 to {MAX_RELAYS} relays, got {}",
                entries.len()
            ),
        });
    }
    let parsed = entries
        .iter()
        .map(parse_entry)
        .collect::<Result<Vec<_>, _>>()?;
    for (i, entry) in parsed.iter().enumerate() {
        if parsed[..i].iter().any(|e| e.origin() == entry.origin()) {
            return Err(CofferError::InvalidInput {
                reason: format!("relay {} is listed twice", entry.origin()),
            });
        }
    }
    Ok(parsed)
}

/// What happened on one relay during a replicated write.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ReplicaStatus {
    /// Written (or the account created).
    Stored,
    /// Nothing to do there (the account already existed, the data was already there).
    UpToDate,
    /// The peer has no account on that relay (a friend there cannot be granted until it
    /// follows), or this account may not register there.
    NoAccount,
    /// The relay could not be reached; `repair` brings it up to date later.
    Unreachable {
        /// Why (addresses and system messages only).
        reason: String,
    },
    /// The relay answered with an error.
    Refused {
        /// Its status and message (untrusted text: log it, do not render it as markup).
        reason: String,
    },
}

/// One relay's result of a replicated write.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReplicaResult {
    /// The relay's origin.
    pub relay: String,
    /// What happened there.
    pub status: ReplicaStatus,
}

impl From<core::ReplicaResult> for ReplicaResult {
    fn from(r: core::ReplicaResult) -> Self {
        ReplicaResult {
            relay: r.relay,
            status: match r.status {
                core::ReplicaStatus::Stored => ReplicaStatus::Stored,
                core::ReplicaStatus::UpToDate => ReplicaStatus::UpToDate,
                core::ReplicaStatus::NoAccount => ReplicaStatus::NoAccount,
                core::ReplicaStatus::Unreachable { reason } => {
                    ReplicaStatus::Unreachable { reason }
                }
                core::ReplicaStatus::Refused { reason } => ReplicaStatus::Refused { reason },
                // Non-exhaustive: a status added to client-core after this binding was
                // written is reported as a refusal naming it.
                other => ReplicaStatus::Refused {
                    reason: format!("{other:?}"),
                },
            },
        }
    }
}

fn results(list: Vec<core::ReplicaResult>) -> Vec<ReplicaResult> {
    list.into_iter().map(Into::into).collect()
}

/// A publish to every relay of the system: what was stored, and each relay's result. The
/// publish succeeded when at least one relay stored it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReplicatedPublish {
    /// The version stored.
    pub published: Published,
    /// Each relay's result, in list order.
    pub relays: Vec<ReplicaResult>,
}

impl From<core::Replication<core::Published>> for ReplicatedPublish {
    fn from(r: core::Replication<core::Published>) -> Self {
        ReplicatedPublish {
            published: r.value.into(),
            relays: results(r.relays),
        }
    }
}

/// What `repair` did on one relay.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RelayRepair {
    /// The relay's origin.
    pub relay: String,
    /// Volume versions copied to it.
    pub volumes_copied: u32,
    /// Deletions (owner-signed tombstones) copied to it.
    pub tombstones_copied: u32,
    /// Grants copied to it.
    pub grants_copied: u32,
    /// Friends that have no account on it yet (they read from the other relays until they
    /// follow the list with `allow_register`).
    pub friends_without_account: u32,
    /// Why the relay could not be repaired (unreachable, refused); `null`/`nil`/`None` when it
    /// is up to date.
    pub error: Option<String>,
}

impl From<core::RelayRepair> for RelayRepair {
    fn from(r: core::RelayRepair) -> Self {
        RelayRepair {
            relay: r.relay,
            volumes_copied: r.volumes_copied,
            tombstones_copied: r.tombstones_copied,
            grants_copied: r.grants_copied,
            friends_without_account: r.friends_without_account,
            error: r.error,
        }
    }
}

/// What `repair` did, one entry per relay of the list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RepairReport {
    /// Per relay, in list order.
    pub relays: Vec<RelayRepair>,
}

impl From<core::RepairReport> for RepairReport {
    fn from(r: core::RepairReport) -> Self {
        RepairReport {
            relays: r.relays.into_iter().map(Into::into).collect(),
        }
    }
}

/// What a friend's `follow` learned.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FollowReport {
    /// The version of the system's signed relay list now followed; `null`/`nil`/`None` when
    /// the system has not published one (it uses only the relay of the pairing).
    pub version: Option<u64>,
    /// The system's relays, in order of preference.
    pub relays: Vec<RelayEntry>,
    /// This friend's account on each of them (`Stored`: registered now, `UpToDate`: it
    /// existed, `NoAccount`: none and registering was not allowed).
    pub accounts: Vec<ReplicaResult>,
    /// The pairing with the system on each of them (`Stored`: asked for now, `UpToDate`: it
    /// existed, `NoAccount`: no account there). A pairing asked for is pending until the
    /// system's grant reaches that relay.
    pub pairings: Vec<ReplicaResult>,
}

impl From<core::FollowReport> for FollowReport {
    fn from(r: core::FollowReport) -> Self {
        FollowReport {
            version: r.version,
            relays: entries_of(&r.relays),
            accounts: results(r.accounts),
            pairings: results(r.pairings),
        }
    }
}

/// A relay a fetch tried and did not take its answer from.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RelayRefusal {
    /// The relay's origin.
    pub relay: String,
    /// The error's stable code (`network`, `rollback`, `bad_signature`, `tampered`,
    /// `not_found`, …).
    pub code: String,
    /// The error's description, as the `CofferError` it would have thrown shows it.
    pub reason: String,
}

/// A friend's fetch over the system's relays: the result, the relay it came from, and the
/// relays tried before it.
#[derive(Debug, uniffi::Record)]
pub struct FetchedFrom {
    /// What was fetched (verified and decrypted as by `fetch`).
    pub result: FetchResult,
    /// The relay that served it.
    pub relay: String,
    /// Relays tried first, in list order, and why their answer was not used (unreachable, not
    /// holding the data, or serving data that failed verification — e.g. an older version
    /// than one another relay served).
    pub refused: Vec<RelayRefusal>,
}

impl From<core::FetchedFrom> for FetchedFrom {
    fn from(f: core::FetchedFrom) -> Self {
        FetchedFrom {
            result: f.fetched.into(),
            relay: f.relay,
            refused: f
                .refused
                .into_iter()
                .map(|r| {
                    let code = r.error.code().to_owned();
                    RelayRefusal {
                        relay: r.relay,
                        code,
                        reason: CofferError::from(r.error).to_string(),
                    }
                })
                .collect(),
        }
    }
}

#[uniffi::export]
impl SystemClient {
    /// This system's relays in order of preference (the first is the account relay). One entry
    /// until `set_relays` adds others.
    pub async fn relays(self: Arc<Self>) -> Result<Vec<RelayEntry>, CofferError> {
        run(async move { Ok(entries_of(&self.core().await?.relays())) }).await
    }

    /// Sets the relays that hold this system's data (1–8, in order of preference; each with
    /// its pins, or none for Web PKI): creates the account on each new relay (the same
    /// identity, so the same user id everywhere), publishes the signed list to every old and
    /// new relay, grants it to every friend, copies everything to the new relays and then
    /// drops the removed ones. Friends follow the new list without pairing again.
    ///
    /// Returns the list's publish with each relay's result.
    ///
    /// Throws `InvalidInput` (no relay, more than eight, an address twice, a bad address),
    /// `InvalidPin` (naming the relay and the pin), relay errors when no relay stored the list.
    pub async fn set_relays(
        self: Arc<Self>,
        relays: Vec<RelayEntry>,
    ) -> Result<ReplicatedPublish, CofferError> {
        let relays = parse_entries(&relays)?;
        run(async move { Ok(self.core().await?.set_relays(relays).await?.into()) }).await
    }

    /// Deletes this account and everything it holds on a relay that `set_relays` already took
    /// off the list: the last step of a move. Wait until friends had a chance to follow (they
    /// read the new list from the old relay too). An account that is gone already is success.
    ///
    /// Throws `InvalidInput` (the relay is still listed, or a bad address), `InvalidPin`,
    /// relay errors.
    pub async fn leave_relay(self: Arc<Self>, relay: RelayEntry) -> Result<(), CofferError> {
        let relay = parse_entry(&relay)?;
        run(async move { Ok(self.core().await?.leave_relay(&relay).await?) }).await
    }

    /// Brings every relay of the list up to date: copies the volumes, deletions and grants a
    /// relay missed while it was down (or since it was added). Per-relay failures are reported,
    /// not thrown.
    pub async fn repair(self: Arc<Self>) -> Result<RepairReport, CofferError> {
        run(async move { Ok(self.core().await?.repair().await?.into()) }).await
    }

    /// Like `publish`, and returns each relay's result (`publish` writes to every relay too,
    /// but reports only the version). Succeeds when at least one relay stored the version;
    /// the relays that did not are brought up to date by `repair`.
    ///
    /// Throws as `publish`.
    pub async fn publish_replicated(
        self: Arc<Self>,
        volume: String,
        plaintext: Vec<u8>,
    ) -> Result<ReplicatedPublish, CofferError> {
        let volume = records::volume(&volume)?;
        let plaintext = Zeroizing::new(plaintext);
        run(async move {
            let core = self.core().await?;
            Ok(core.publish_replicated(&volume, &plaintext).await?.into())
        })
        .await
    }
}

#[uniffi::export]
impl FriendClient {
    /// Pairs with a system through its invite link, also when the link's relay is not this
    /// account's: with `allow_register`, this friend registers there with its own identity
    /// (the same user id as on its relay) when it has no account yet; without it, such a link
    /// throws `InvalidInput`. Checks and pins as `redeem`; the relays the link names are the
    /// system's relays (`relays_of`) until `follow` reads its signed list.
    ///
    /// Throws as `redeem`; `InvalidInput` (no account on the link's relay and registering not
    /// allowed), `Protocol` (the link's relay cannot be reached or refused the account).
    pub async fn redeem_anywhere(
        self: Arc<Self>,
        link: Arc<InviteLink>,
        allow_register: bool,
    ) -> Result<PairedSystem, CofferError> {
        run(async move {
            let core = self.core().await?;
            Ok(core
                .redeem_replicated(link.core(), allow_register)
                .await?
                .into())
        })
        .await
    }

    /// Reads the system's signed relay list from any of its relays it knows (verified under
    /// the system's pinned key; an older list than one seen is refused), remembers it, and
    /// makes sure this friend has an account on each relay (registering there, with the same
    /// identity, only with `allow_register`). Call it now and then, or when a fetch fails.
    ///
    /// Throws `NotPaired`, `BadSignature` / `Rollback` / `Tampered` (a relay served a forged,
    /// older or truncated list), relay errors when no relay answered.
    pub async fn follow(
        self: Arc<Self>,
        system_id: String,
        allow_register: bool,
    ) -> Result<FollowReport, CofferError> {
        let system = records::user_id(&system_id)?;
        run(async move {
            let core = self.core().await?;
            Ok(core.follow(system, allow_register).await?.into())
        })
        .await
    }

    /// The system's relays as last followed (the relay of the pairing alone before that).
    ///
    /// Throws `NotPaired`, storage errors.
    pub async fn relays_of(
        self: Arc<Self>,
        system_id: String,
    ) -> Result<Vec<RelayEntry>, CofferError> {
        let system = records::user_id(&system_id)?;
        run(async move { Ok(entries_of(&self.core().await?.relays_of(system)?)) }).await
    }

    /// `fetch` over the system's relays, saying which relay answered and which were tried
    /// first and why they were passed over. Relays are tried in list order; one that is
    /// unreachable, does not hold the data, or serves something that fails verification
    /// (forged, truncated, or older than what any relay served before) is skipped.
    ///
    /// Throws as `fetch` when every relay fails: the most serious error (a verification
    /// failure before a network error).
    pub async fn fetch_replicated(
        self: Arc<Self>,
        system_id: String,
        volume: String,
    ) -> Result<FetchedFrom, CofferError> {
        let (system, volume) = (records::user_id(&system_id)?, records::volume(&volume)?);
        run(async move {
            let core = self.core().await?;
            Ok(core.fetch_replicated(system, &volume).await?.into())
        })
        .await
    }
}

#[uniffi::export]
impl InviteLink {
    /// The system's other relays the link names (`also=`), in order of preference.
    pub fn also(&self) -> Vec<RelayEntry> {
        entries_of(self.core().also())
    }

    /// Every relay the link names: its own relay first, then the others.
    pub fn relays(&self) -> Vec<RelayEntry> {
        entries_of(&self.core().relays())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN_A: &str = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const PIN_B: &str = "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=";

    fn entry(origin: &str, pins: &[&str]) -> RelayEntry {
        RelayEntry {
            origin: origin.to_owned(),
            pins: pins.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn relay_entries_are_normalised_and_round_trip() {
        let parsed = parse_entries(&[
            entry("https://Relay.Example:443/", &[PIN_A, PIN_B]),
            entry("https://10.0.0.2:8443", &[]),
        ])
        .expect("valid relays");
        assert_eq!(parsed[0].origin(), "https://relay.example");
        assert_eq!(parsed[0].pins().len(), 2);
        assert_eq!(
            entries_of(&parsed),
            vec![
                entry("https://relay.example", &[PIN_A, PIN_B]),
                entry("https://10.0.0.2:8443", &[]),
            ]
        );
    }

    #[test]
    fn bad_relay_arguments_name_the_relay_and_what_is_wrong() {
        let reason = |relays: &[RelayEntry]| match parse_entries(relays) {
            Err(CofferError::InvalidPin { reason }) => ("InvalidPin", reason),
            Err(CofferError::InvalidInput { reason }) => ("InvalidInput", reason),
            other => panic!("{other:?}"),
        };
        let (kind, text) = reason(&[entry("https://a.example", &[PIN_A, "sha256/short"])]);
        assert_eq!(kind, "InvalidPin");
        assert!(
            text.contains("https://a.example") && text.contains("pin 2"),
            "{text}"
        );
        let (kind, text) = reason(&[entry("https://a.example", &[PIN_A, PIN_B, PIN_A])]);
        assert_eq!(kind, "InvalidPin");
        assert!(text.contains("at most two pins"), "{text}");
        let (kind, text) = reason(&[entry("http://a.example", &[])]);
        assert_eq!(kind, "InvalidInput");
        assert!(text.contains("http://a.example"), "{text}");
        let (kind, text) = reason(&[]);
        assert_eq!(kind, "InvalidInput");
        assert!(text.contains("1 to 8"), "{text}");
        let nine: Vec<_> = (0..9)
            .map(|i| entry(&format!("https://r{i}.example"), &[]))
            .collect();
        assert!(reason(&nine).1.contains("got 9"));
        let (kind, text) = reason(&[
            entry("https://a.example", &[PIN_A]),
            entry("https://A.example/", &[PIN_B]),
        ]);
        assert_eq!(kind, "InvalidInput");
        assert!(text.contains("https://a.example is listed twice"), "{text}");
    }

    #[test]
    fn replica_results_and_fetches_convert_and_redact() {
        let converted: ReplicaResult = core::ReplicaResult {
            relay: "https://b.example".into(),
            status: core::ReplicaStatus::Unreachable {
                reason: "connection refused".into(),
            },
        }
        .into();
        assert_eq!(
            converted,
            ReplicaResult {
                relay: "https://b.example".into(),
                status: ReplicaStatus::Unreachable {
                    reason: "connection refused".into()
                },
            }
        );

        let fetched: FetchedFrom = core::FetchedFrom {
            fetched: core::Fetched::Updated {
                version: 3,
                epoch: 1,
                plaintext: Zeroizing::new(b"PLAINTEXT-MARKER".to_vec()),
            },
            relay: "https://b.example".into(),
            refused: vec![core::RelayRefusal {
                relay: "https://a.example".into(),
                error: core::ClientError::Network {
                    cause: "connection refused".into(),
                },
            }],
        }
        .into();
        assert_eq!(fetched.relay, "https://b.example");
        assert_eq!(fetched.refused.len(), 1);
        assert_eq!(fetched.refused[0].relay, "https://a.example");
        assert_eq!(fetched.refused[0].code, "network");
        assert!(
            fetched.refused[0].reason.contains("connection refused"),
            "{:?}",
            fetched.refused
        );
        assert!(matches!(
            &fetched.result,
            FetchResult::Updated { version: 3, plaintext, .. } if plaintext == b"PLAINTEXT-MARKER"
        ));
        let debug = format!("{fetched:?}");
        assert!(!debug.contains("PLAINTEXT"), "{debug}");
    }
}
