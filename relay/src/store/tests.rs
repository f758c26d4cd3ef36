//! Store-level tests: version monotonicity, quota accounting, cascades, challenge hygiene.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use super::volumes::{PutOutcome, VolumeRow};
use super::*;

fn db() -> (tempfile::TempDir, Arc<Db>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("t.db")).unwrap();
    (dir, db)
}

/// A user with fixed keys (shared with the other store modules' tests).
pub(super) fn user(id: &str, handle: &str, client_type: ClientType) -> users::User {
    users::User {
        id: id.into(),
        public_signing_key: [1; 32],
        public_exchange_key: [2; 32],
        handle: Some(handle.into()),
        client_type,
        protocol_version: 1,
        feature_set: "[]".into(),
        storage_used_bytes: 0,
        created_at: 0,
        key_binding_signature: None,
    }
}

fn row(user: &str, name: &str, version: u64, size: u64) -> VolumeRow {
    VolumeRow {
        user_id: user.into(),
        volume_name: name.into(),
        version,
        control_header: "{}".into(),
        blob_file: format!("{user}/{name}.v{version}.bin"),
        signature: [0; 64],
        size_bytes: size,
        updated_at: 0,
    }
}

fn used(db: &Db, id: &str) -> u64 {
    db.read_blocking(|c| users::get(c, id))
        .unwrap()
        .unwrap()
        .storage_used_bytes
}

#[test]
fn versions_only_increase_and_quota_is_exact() {
    let (_d, db) = db();
    db.write_blocking(|tx| users::insert(tx, &user("s", "sys", ClientType::System)))
        .unwrap();
    let put = |r: VolumeRow, quota| {
        db.write_blocking(move |tx| volumes::put(tx, &r, quota))
            .unwrap()
    };
    assert_eq!(
        put(row("s", "meta", 1, 4124), 10_000),
        PutOutcome::Stored {
            replaced_blob: None
        }
    );
    assert_eq!(
        put(row("s", "meta", 1, 4124), 10_000),
        PutOutcome::Stale { current: 1 }
    );
    assert_eq!(
        put(row("s", "meta", 0, 4124), 10_000),
        PutOutcome::Stale { current: 1 }
    );
    assert_eq!(used(&db, "s"), 4124);
    // Replacing counts the difference, not the sum.
    assert_eq!(
        put(row("s", "meta", 2, 8220), 10_000),
        PutOutcome::Stored {
            replaced_blob: Some("s/meta.v1.bin".into())
        }
    );
    assert_eq!(used(&db, "s"), 8220);
    assert_eq!(
        put(row("s", "members", 1, 4124), 10_000),
        PutOutcome::OverQuota
    );
    assert_eq!(used(&db, "s"), 8220);
    assert_eq!(
        db.read_blocking(|c| volumes::get(c, "s", "meta"))
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

#[test]
fn account_deletion_cascades_everywhere() {
    let (_d, db) = db();
    db.write_blocking(|tx| {
        users::insert(tx, &user("s", "sys", ClientType::System))?;
        users::insert(tx, &user("f", "fri", ClientType::Friend))?;
        volumes::put(tx, &row("s", "meta", 1, 4124), 1 << 30)?;
        sessions::create(tx, &[7; 32], "s", i64::MAX)?;
        challenges::create(tx, "nonce", "s", i64::MAX, 16)?;
        sharing::create_pending(tx, "r1", "s", "f", 0)?;
        invites::create(tx, "CODE", "s", 0, i64::MAX, 50, 1)?;
        invites::create(tx, "CODE2", "s", 0, i64::MAX, 50, 2)?;
        invites::mark_redeemed(tx, "CODE2", "f", 0)?;
        Ok(())
    })
    .unwrap();
    assert!(db.write_blocking(|tx| users::delete(tx, "s")).unwrap());
    let counts: Vec<i64> = db
        .read_blocking(|c| {
            [
                "users",
                "volumes",
                "auth_sessions",
                "auth_challenges",
                "sharing",
                "invite_codes",
            ]
            .iter()
            .map(|t| Ok(c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?))
            .collect()
        })
        .unwrap();
    assert_eq!(counts, vec![1, 0, 0, 0, 0, 0]);
    // Deleting the friend clears nothing else and is idempotent.
    assert!(db.write_blocking(|tx| users::delete(tx, "f")).unwrap());
    assert!(!db.write_blocking(|tx| users::delete(tx, "f")).unwrap());
}

#[test]
fn challenges_are_bounded_per_user_and_single_use() {
    let (_d, db) = db();
    db.write_blocking(|tx| users::insert(tx, &user("s", "sys", ClientType::System)))
        .unwrap();
    for i in 0..40 {
        db.write_blocking(|tx| challenges::create(tx, &format!("n{i}"), "s", 1000 + i, 16))
            .unwrap();
    }
    assert_eq!(
        db.read_blocking(|c| challenges::count_pending(c, 0))
            .unwrap(),
        16
    );
    // The newest survive.
    assert!(
        db.write_blocking(|tx| challenges::take(tx, "n39"))
            .unwrap()
            .is_some()
    );
    assert!(
        db.write_blocking(|tx| challenges::take(tx, "n39"))
            .unwrap()
            .is_none()
    );
    assert!(
        db.write_blocking(|tx| challenges::take(tx, "n0"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn handles_are_unique_ignoring_case_and_discovery_escapes_wildcards() {
    let (_d, db) = db();
    assert!(
        db.write_blocking(|tx| users::insert(tx, &user("a", "Plural_Sys", ClientType::System)))
            .unwrap()
    );
    assert!(
        !db.write_blocking(|tx| users::insert(tx, &user("b", "plural_sys", ClientType::Friend)))
            .unwrap()
    );
    db.write_blocking(|tx| users::insert(tx, &user("c", "pluralXsys", ClientType::System)))
        .unwrap();
    let found = |q: &'static str| {
        db.read_blocking(move |c| users::discover(c, q, ClientType::System, 10))
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(found("l_s"), vec!["a"]);
    assert_eq!(found("PLURAL"), vec!["a", "c"]);
    assert!(found("%%").is_empty());
    assert!(found("__").is_empty());
}

#[test]
fn readers_cannot_write() {
    let (_d, db) = db();
    let err = db.read_blocking(|c| Ok(c.execute("DELETE FROM users", [])?));
    assert!(err.is_err());
}

/// Many concurrent async reads share the pooled connections: none is opened per request
/// (which re-reads the schema and re-prepares every statement), and all of them succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_reuse_pooled_connections() {
    let (_d, db) = db();
    db.write_blocking(|tx| users::insert(tx, &user("s", "sys", ClientType::System)))
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..256 {
        let db = Arc::clone(&db);
        tasks.push(tokio::spawn(async move {
            db.read(|c| {
                // Hold the connection a moment, so that reads really overlap.
                std::thread::sleep(std::time::Duration::from_millis(1));
                users::get(c, "s")
            })
            .await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_some());
    }
    assert!(
        db.readers_opened() <= MAX_IDLE_READERS,
        "{} reader connections opened for 256 reads",
        db.readers_opened()
    );
}

/// The joins every authenticated request runs keep their prepared statement: looking up many
/// different sessions and relationships never re-prepares them (a bare `?1` compared with a
/// column in a join made SQLite re-parse the statement on every new binding).
#[test]
fn hot_joins_are_not_reprepared_per_binding() {
    use rusqlite::StatementStatus;
    let (_d, db) = db();
    db.write_blocking(|tx| {
        users::insert(tx, &user("s", "sys", ClientType::System))?;
        users::insert(tx, &user("f", "fr", ClientType::Friend))?;
        sessions::create(tx, &[1; 32], "f", i64::MAX)?;
        sharing::create_pending(tx, "r1", "s", "f", 0)?;
        sharing::accept(tx, "r1", &[0; 60], "{}", 0)
    })
    .unwrap();
    db.read_blocking(|c| {
        for i in 0..50u8 {
            let hash = [i; 32];
            let found = sessions::lookup(c, &hash, 0)?;
            assert_eq!(matches!(found, sessions::Lookup::Valid(_)), i == 1);
            let friend = if i % 2 == 0 { "f" } else { "nobody" };
            assert_eq!(
                sharing::active_between(c, "s", friend)?.is_some(),
                i % 2 == 0
            );
        }
        for sql in [
            sessions::LOOKUP_SQL.to_owned(),
            sharing::active_between_sql(),
        ] {
            let stmt = c.prepare_cached(&sql)?;
            assert_eq!(
                stmt.get_status(StatementStatus::RePrepare),
                0,
                "re-prepared: {sql}"
            );
            assert!(
                stmt.get_status(StatementStatus::VmStep) > 0,
                "not run: {sql}"
            );
        }
        Ok(())
    })
    .unwrap();
}
