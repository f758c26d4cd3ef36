//! Fresh stores for the contract tests, and seeding through the port.

use std::sync::Arc;

use coffer_relay::config::Registration;
use coffer_relay::pg::PgSettings;
use coffer_relay::pg::store::PgStore;
use coffer_relay::service::registration::Gate;
use coffer_relay::storage::users::{ClientType, NewUser, User, Users};
use coffer_relay::store::Db;
use coffer_relay::store::port::SqliteStore;

use crate::pg_server::{drop_database, fresh_database};

/// A SQLite store in a temporary directory (removed with it).
pub(crate) struct Sqlite {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Sqlite {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("relay.db")).unwrap();
        Self {
            store: SqliteStore::new(Arc::clone(&db)),
            _dir: dir,
        }
    }

    pub(crate) fn store(&self) -> &SqliteStore {
        &self.store
    }
}

/// A PostgreSQL store on a database of its own, dropped by [`Pg::finish`] (a failed test
/// leaves it behind on the throw-away server, for a look).
pub(crate) struct Pg {
    store: PgStore,
    name: String,
}

impl Pg {
    pub(crate) async fn new() -> Self {
        let (url, name) = fresh_database().await;
        let settings = PgSettings::parse(&url).unwrap().with_pool_size(4);
        let store = PgStore::open(&settings).await.unwrap();
        Self { store, name }
    }

    pub(crate) fn store(&self) -> &PgStore {
        &self.store
    }

    pub(crate) async fn finish(self) {
        drop(self.store);
        drop_database(&self.name).await;
    }
}

/// A v1 account `id` (handle `handle`, if any) of `client_type`, keys derived from the id.
pub(crate) fn account(id: &str, handle: Option<&str>, client_type: ClientType) -> User {
    let seed = id
        .bytes()
        .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    User {
        id: id.to_owned(),
        public_signing_key: [seed; 32],
        public_exchange_key: [seed.wrapping_add(1); 32],
        handle: handle.map(str::to_owned),
        client_type,
        protocol_version: 1,
        feature_set: "v1".into(),
        storage_used_bytes: 0,
        created_at: 1_700_000_400 - 1_700_000_400 % 3600,
        key_binding_signature: None,
    }
}

/// An open registration gate (no cap, no code).
pub(crate) fn open_gate() -> Gate {
    Gate::new(&Registration::default(), None)
}

/// Stores `user` through the port, behind an open gate.
pub(crate) async fn seed_user<S: Users>(store: &S, user: User) {
    let created = store.create_user(user, open_gate(), 1_700_000_000).await;
    assert_eq!(created.unwrap(), Ok(NewUser::Created));
}

/// Opens as many pooled connections as a race can use (concurrent reads through the port), so
/// that racers start together rather than one finishing on an idle connection while the
/// others still connect.
pub(crate) async fn warm<S: Users + Sync>(store: &S) {
    let reads = (0..8).map(|_| store.user(String::new()));
    for read in futures_util::future::join_all(reads).await {
        read.unwrap();
    }
}
