//! The key-store records of several relays (`docs/protocol-v2.md` §15): `relays` (this
//! account's relays, in order) and `relay-list/<system>` (a friend's copy of a system's
//! verified list), and the entry of the account's own relay. A leaf under [`super::state`],
//! used by the relay set ([`super::replicated`]), its operations ([`super::relays`]) and
//! backups.

use std::sync::Arc;

use coffer_certs::SpkiPin;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ClientError;
use super::state::{self, State};
use crate::storage::KeyStore;
use crate::v2::RelayEntry;

/// This account's relays, in order (the first is the account's relay).
pub(super) const RELAYS: &str = "relays";

/// The friend's copy of a system's relay list.
fn list_key(system: Uuid) -> String {
    format!("relay-list/{system}")
}

/// A [`RelayEntry`] as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EntryRecord {
    origin: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pins: Vec<String>,
}

/// `relay-list/<system>`: the verified list and the version of the volume it came from (0:
/// from the invite link, not yet read from a relay).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ListRecord {
    version: u64,
    relays: Vec<EntryRecord>,
}

pub(super) fn corrupt(key: &str) -> ClientError {
    ClientError::Storage(crate::storage::StorageError::Corrupt {
        key: key.to_owned(),
    })
}

fn to_records(entries: &[RelayEntry]) -> Vec<EntryRecord> {
    entries
        .iter()
        .map(|e| EntryRecord {
            origin: e.origin().to_owned(),
            pins: e.pins().iter().map(ToString::to_string).collect(),
        })
        .collect()
}

fn from_records(records: &[EntryRecord], key: &str) -> Result<Vec<RelayEntry>, ClientError> {
    records
        .iter()
        .map(|r| {
            let pins = r
                .pins
                .iter()
                .map(|p| p.parse::<SpkiPin>().map_err(|_| corrupt(key)))
                .collect::<Result<Vec<_>, _>>()?;
            RelayEntry::new(&r.origin, pins).map_err(|_| corrupt(key))
        })
        .collect()
}

impl State<'_> {
    /// This account's relays (empty: only the account's relay, as before several relays).
    pub(super) fn relays(&self) -> Result<Vec<RelayEntry>, ClientError> {
        match self.load_json::<Vec<EntryRecord>>(RELAYS)? {
            None => Ok(Vec::new()),
            Some(records) => from_records(&records, RELAYS),
        }
    }

    pub(super) fn store_relays(&self, entries: &[RelayEntry]) -> Result<(), ClientError> {
        self.store_json(RELAYS, &to_records(entries))
    }

    /// A system's relay list as this friend last verified it, with its version.
    pub(super) fn relay_list(
        &self,
        system: Uuid,
    ) -> Result<Option<(u64, Vec<RelayEntry>)>, ClientError> {
        let key = list_key(system);
        match self.load_json::<ListRecord>(&key)? {
            None => Ok(None),
            Some(record) => Ok(Some((record.version, from_records(&record.relays, &key)?))),
        }
    }

    pub(super) fn store_relay_list(
        &self,
        system: Uuid,
        version: u64,
        entries: &[RelayEntry],
    ) -> Result<(), ClientError> {
        self.store_json(
            &list_key(system),
            &ListRecord {
                version,
                relays: to_records(entries),
            },
        )
    }

    pub(super) fn delete_relay_list(&self, system: Uuid) -> Result<(), ClientError> {
        Ok(self.0.delete(&list_key(system))?)
    }
}

/// The entry of the account's own relay, from its `account` record.
pub(super) fn account_entry(store: &Arc<dyn KeyStore>) -> Result<RelayEntry, ClientError> {
    let account = State(store.as_ref()).account()?;
    let mut pins = Vec::new();
    for pin in [&account.relay_pin, &account.relay_next_pin]
        .into_iter()
        .flatten()
    {
        pins.push(
            pin.parse::<SpkiPin>()
                .map_err(|_| corrupt(state::ACCOUNT))?,
        );
    }
    RelayEntry::new(&account.relay, pins).map_err(|_| corrupt(state::ACCOUNT))
}
