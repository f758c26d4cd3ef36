//! Relay storage: SQLite (WAL) for metadata, files for blobs.
//!
//! The narrow interface the HTTP layer sees is [`Db::read`] / [`Db::write`] plus the domain
//! functions in the submodules; a PostgreSQL back end would implement the same functions. All
//! SQLite and file work runs on the blocking thread pool, never on the async executor threads.
//!
//! Durability: `synchronous=FULL`, so a committed transaction survives power loss, and a blob is
//! fsynced and renamed into place *before* the transaction that points at it commits
//! ([`blobs`]). The store never sees plaintext: payloads are opaque bytes.

pub mod admin_view;
mod auth_watch;
pub mod blobs;
pub mod challenges;
pub mod check;
pub mod db_errors;
pub mod devices;
pub mod fetch_watch;
pub mod foreign;
pub mod grants;
mod group;
pub mod inline;
pub mod invites;
pub mod maintenance;
pub mod migrations;
pub mod own_grants;
pub mod own_sessions;
pub mod pairings;
#[cfg(feature = "server")]
pub mod port;
pub mod receipts;
pub mod registration;
pub mod sessions;
pub mod sharing;
pub mod stats;
pub mod tombstones;
pub mod users;
pub mod volumes;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

/// How many reader connections are kept, and how many async reads run at once: a read beyond
/// that waits for a connection instead of opening (and then closing) one of its own, which
/// under load meant re-reading the schema and re-preparing every statement per request
/// (measured with coffer-bench: docs/BENCHMARKS.md).
const MAX_IDLE_READERS: usize = 8;

/// A storage failure. Messages may name files but never contain user content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file operation failed.
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    /// The disk (or the database) is full.
    #[error("storage is full")]
    DiskFull,
    /// Another connection (an operator's `sqlite3` shell, a backup tool) held the database's
    /// write lock for longer than the busy timeout. Nothing was written; retrying later works.
    #[error("the database is locked by another connection")]
    Busy,
    /// The database server cannot be reached or dropped the connection (a shared database
    /// restarting, a network fault). Nothing was committed by the failed call; retrying later
    /// works: answered 503 with `Retry-After`. The text names the failure, never user content.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database server refused a statement for a reason of its own (its error code and
    /// the constraint or table involved; never the values).
    #[error("database error: {0}")]
    Backend(String),
    /// The database was written by a newer relay.
    #[error("database schema version {found} is newer than this relay supports ({supported})")]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Stored data violates an invariant (e.g. a key column of the wrong length).
    #[error("corrupt stored data: {0}")]
    Corrupt(&'static str),
    /// The database is not Coffer's (a PluralLog relay's, or any other with tables but no
    /// Coffer schema version): nothing was changed ([`foreign`]).
    #[error("{0}")]
    Foreign(String),
}

impl StoreError {
    /// Maps "no space left" from SQLite or the OS to [`StoreError::DiskFull`], and a lock
    /// held elsewhere past the busy timeout to [`StoreError::Busy`], so the HTTP edge can
    /// answer 507 or 503 instead of a bare 500.
    pub fn classify(self) -> Self {
        match &self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DiskFull =>
            {
                Self::DiskFull
            }
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Self::Busy
            }
            Self::Io(e) if e.raw_os_error() == Some(libc_enospc()) => Self::DiskFull,
            _ => self,
        }
    }
}

/// ENOSPC on every Unix the relay targets.
const fn libc_enospc() -> i32 {
    28
}

/// The database: one writer connection (SQLite allows one writer at a time anyway) and a small
/// pool of readers (WAL lets them run beside the writer).
pub struct Db {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Reader connections opened so far.
    readers_opened: AtomicUsize,
    /// Async reads wait here (not in a blocking thread) for one of the pooled connections.
    read_slots: tokio::sync::Semaphore,
    /// Async writes queue here; one blocking thread at a time commits them in groups
    /// (`group.rs`: one fsync for every write queued meanwhile).
    queue: group::Queue,
    /// Marks changes to sessions (and the user columns they carry) for the session cache.
    auth: auth_watch::AuthWatch,
    /// Outstanding login challenges (in memory: [`challenges::Challenges`]).
    challenges: challenges::Challenges,
    /// What logins are checked against, by account id, under the auth generation: a login
    /// needs no read of the database (docs/adr/0035).
    login_accounts: crate::gen_cache::GenerationCache<String, users::LoginAccount>,
    /// Marks changes to what downloads answer, per owner, for the fetch cache.
    fetch: fetch_watch::FetchWatch,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How long a connection waits for a lock held by another connection (WAL: only writers wait,
/// for another writer outside the relay, e.g. an operator's `sqlite3` shell) before the request
/// fails with [`StoreError::Busy`], answered as a retryable 503.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Prepared statements each connection keeps (rusqlite's default is 16). The relay has some
/// fifty `prepare_cached` call sites (some per protocol or table) and a request runs several: with 16, a mixed
/// load (logins, fetches, uploads) evicted and re-parsed hot statements all the time.
const STATEMENT_CACHE: usize = 256;

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Arc<Self>, StoreError> {
        let writer = Connection::open(path)?;
        // Before anything is set or created in it: a foreign database is refused untouched
        // (not even switched to WAL).
        foreign::refuse_foreign(&writer, path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        configure(&writer)?;
        let mut writer = writer;
        migrations::migrate(&mut writer)?;
        let auth = auth_watch::AuthWatch::install(&writer)?;
        let fetch = fetch_watch::FetchWatch::install(&writer)?;
        Ok(Arc::new(Self {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            readers_opened: AtomicUsize::new(0),
            read_slots: tokio::sync::Semaphore::new(MAX_IDLE_READERS),
            queue: group::Queue::default(),
            auth,
            challenges: challenges::Challenges::default(),
            login_accounts: crate::gen_cache::GenerationCache::default(),
            fetch,
        }))
    }

    /// The outstanding login challenges.
    pub fn challenges(&self) -> &challenges::Challenges {
        &self.challenges
    }

    /// What a login of `user_id` is checked against, if held from an earlier read and nothing
    /// it depends on has changed since (the auth generation: an account deleted, or its key or
    /// protocol changed).
    pub fn cached_login_account(&self, user_id: &str) -> Option<users::LoginAccount> {
        self.login_accounts
            .get(user_id, self.auth_generation(), |_| true)
    }

    /// What a login of `user_id` is checked against, read through `conn` (and held for the
    /// next login); `None`: no such account.
    pub fn read_login_account(
        &self,
        conn: &Connection,
        user_id: &str,
    ) -> Result<Option<users::LoginAccount>, StoreError> {
        // Taken before the read: a change committed meanwhile leaves the entry stale.
        let generation = self.auth_generation();
        let account = users::get(conn, user_id)?.map(|user| user.login_account());
        if let Some(account) = account {
            self.login_accounts
                .insert(user_id.to_owned(), account, generation);
        }
        Ok(account)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is still safe to use.
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn reader(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = Self::lock(&self.readers).pop() {
            return Ok(conn);
        }
        // Read-write open + `query_only`: a SQLITE_OPEN_READ_ONLY connection cannot always map
        // the WAL index, while `query_only` refuses every write just the same.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn)?;
        conn.pragma_update(None, "query_only", "ON")?;
        self.readers_opened.fetch_add(1, Ordering::Relaxed);
        Ok(conn)
    }

    /// Runs `f` with a reader connection in one read transaction, synchronously (the async
    /// [`Self::read`] runs this on the blocking pool). One transaction: every statement of `f`
    /// sees the same snapshot, and the shared lock is taken once, not per statement (each
    /// cycle cost several `fcntl` calls: docs/BENCHMARKS.md).
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.reader()?;
        conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
        let result = f(&conn);
        // Ending a read transaction has nothing to fail on; if it did, the connection is not
        // reused (it might still hold the snapshot).
        let ended = conn
            .prepare_cached("COMMIT")
            .and_then(|mut end| end.execute([]))
            .is_ok();
        if ended && conn.is_autocommit() {
            let mut pool = Self::lock(&self.readers);
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
        }
        result
    }

    /// Inside a [`Self::read`] or [`Self::read_blocking`] closure: ends its read transaction
    /// and begins another, so that what follows sees every commit made since. For a reader that
    /// finds what it read already replaced (a blob file removed after an upload overwrote the
    /// row naming it): reading again in the same transaction would find the same stale row.
    pub fn renew_snapshot(conn: &Connection) -> Result<(), StoreError> {
        conn.prepare_cached("COMMIT")?.execute([])?;
        conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
        Ok(())
    }

    /// Runs `f` in an immediate write transaction, synchronously; commits if it returns `Ok`.
    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = Self::lock(&self.writer);
        let result = (|| {
            // BEGIN IMMEDIATE is where a lock held elsewhere shows (after the busy timeout).
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| StoreError::from(e).classify())?;
            let value = f(&tx).map_err(StoreError::classify)?;
            tx.commit().map_err(|e| StoreError::from(e).classify())?;
            Ok(value)
        })();
        // Committed or rolled back: cached sessions learn of it before the caller does.
        self.transaction_ended();
        result
    }

    /// Tells the caches that a write transaction ended (`auth_watch`, `fetch_watch`).
    fn transaction_ended(&self) {
        self.auth.transaction_ended();
        self.fetch.transaction_ended();
    }

    /// The generation of `owner`'s download answers: cached ones read under an older one are
    /// stale (`fetch_watch`).
    pub fn fetch_generation(&self, owner: &str) -> fetch_watch::FetchGeneration {
        self.fetch.generation(owner)
    }

    /// The auth generation: cached sessions read under an older one are stale (`auth_watch`).
    pub fn auth_generation(&self) -> u64 {
        self.auth.generation()
    }

    /// Reader connections opened since [`Self::open`] (at most the pool size under async
    /// load; synchronous callers may add a few).
    pub fn readers_opened(&self) -> usize {
        self.readers_opened.load(Ordering::Relaxed)
    }

    /// [`Self::read_blocking`] on the blocking pool, once a pooled connection is free.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _slot = self
            .read_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Corrupt("database read slots closed"))?;
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.read_blocking(f))
            .await
            .map_err(|_| StoreError::Corrupt("blocking pool unavailable"))?
    }

    /// Runs a short point read `f` (a few indexed rows) in place, on the calling async worker,
    /// when a pooled reader is free at once; otherwise as [`Self::read`]. For a request that
    /// must read before it can go on and does nothing else there: the trip to the blocking
    /// pool and back (two thread switches) costs more than the read (docs/adr/0035). A reader
    /// in WAL mode takes no lock a writer holds, so `f` never waits for the writer; it may
    /// wait for the disk on a page the OS has not cached, which is why only point reads of
    /// rows a request has just been authorised by (hot ones) come here.
    pub async fn read_point<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        match self.read_slots.try_acquire() {
            Ok(_slot) => self.read_blocking(f),
            Err(_) => self.read(f).await,
        }
    }

    /// Runs `f` in a write transaction on the blocking pool and answers once it is durable.
    /// Writes queued while another group commits are committed together, each in its own
    /// savepoint (`group.rs`): `f` sees every earlier write, fails alone, and its result is
    /// returned only after the COMMIT that made it durable.
    pub async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (job, answer) = group::Job::new(f);
        if self.queue.push(job) {
            let db = Arc::clone(self);
            // Not awaited: the drainer answers through each job's channel. Dropping the
            // handle does not stop it.
            drop(tokio::task::spawn_blocking(move || {
                db.queue.drain(&db.writer, || db.transaction_ended());
            }));
        }
        answer
            .await
            .map_err(|_| StoreError::Corrupt("a write was abandoned (it panicked)"))?
    }

    /// Checkpoints the WAL into the main file (at shutdown).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let conn = Self::lock(&self.writer);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// Current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reads a fixed-size blob column.
pub(crate) fn fixed<const N: usize>(bytes: Vec<u8>) -> Result<[u8; N], StoreError> {
    <[u8; N]>::try_from(bytes).map_err(|_| StoreError::Corrupt("key column has the wrong length"))
}

/// Whether a user is a system or a friend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// Owns and publishes volumes.
    System,
    /// Reads what systems share with it.
    Friend,
}

impl ClientType {
    /// Wire and database text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Friend => "friend",
        }
    }

    /// Parses the wire/database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "system" => Some(Self::System),
            "friend" => Some(Self::Friend),
            _ => None,
        }
    }
}

/// Floors Unix seconds to the hour: the resolution of every stored time about content.
pub fn hour(t: i64) -> i64 {
    coffer_wire::time::floor_to_hour(t)
}

#[cfg(test)]
mod tests;
