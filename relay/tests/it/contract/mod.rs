//! The storage port's rules (docs/adr/0030-storage-port.md), one test body per rule, run
//! against every adapter: SQLite (`contract::<noun>::sqlite::…`, a plain `cargo test`) and
//! PostgreSQL (`contract::<noun>::pg::…`, ignored: `.ci/run` runs them against a real server
//! with `--ignored pg::`). The same rules, enforced by the same tests (issue 14).
//!
//! A test body is an `async fn(&S)` generic over the traits it uses, and seeds what it needs
//! through the port itself, never through one adapter's tables. [`on_every_adapter!`] turns a
//! list of bodies into one test per adapter.

mod devices;
mod grants;
pub(crate) mod harness;
mod invites;
mod operators;
mod own_grants;
mod own_sessions;
mod pairings;
mod receipts;

mod sessions;
mod sharing;
mod tombstones;
mod users;
mod volumes;

/// For each named body `fn name<S: …>(store: &S)`, a test `sqlite::name` on a fresh SQLite
/// store and an ignored test `pg::name` on a fresh PostgreSQL database.
macro_rules! on_every_adapter {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let store = $crate::contract::harness::Sqlite::new();
                    super::$name(store.store()).await;
                }
            )*
        }

        mod pg {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up)"]
                async fn $name() {
                    let store = $crate::contract::harness::Pg::new().await;
                    super::$name(store.store()).await;
                    store.finish().await;
                }
            )*
        }
    };
}
pub(crate) use on_every_adapter;
