//! Versioned schema migrations, tracked in SQLite's `user_version`.
//!
//! Each migration runs in its own transaction together with the version bump, so a crash leaves
//! the database at the previous version or the next one. Never edit a released migration: add
//! one. A database from a newer relay is refused rather than misread.

use rusqlite::Connection;

use super::StoreError;

/// The migrations, in order; index + 1 is the schema version each one produces.
pub const MIGRATIONS: &[&str] = &[
    // 1: the v1 data model (v1.md §3). Times are Unix seconds; times about content are stored
    // floored to the hour. Tokens are stored only as SHA-256 digests.
    r"
    CREATE TABLE users (
        id                  TEXT PRIMARY KEY,
        public_signing_key  BLOB NOT NULL CHECK (length(public_signing_key) = 32),
        public_exchange_key BLOB NOT NULL CHECK (length(public_exchange_key) = 32),
        handle              TEXT COLLATE NOCASE UNIQUE,
        client_type         TEXT NOT NULL CHECK (client_type IN ('system', 'friend')),
        protocol_version    INTEGER NOT NULL,
        feature_set         TEXT NOT NULL,
        storage_used_bytes  INTEGER NOT NULL DEFAULT 0 CHECK (storage_used_bytes >= 0),
        created_at          INTEGER NOT NULL
    );
    CREATE TABLE auth_challenges (
        nonce      TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE auth_sessions (
        token_hash BLOB PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE volumes (
        user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        volume_name    TEXT NOT NULL,
        version        INTEGER NOT NULL CHECK (version >= 1),
        control_header TEXT NOT NULL,
        blob_file      TEXT NOT NULL UNIQUE,
        signature      BLOB NOT NULL CHECK (length(signature) = 64),
        size_bytes     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        PRIMARY KEY (user_id, volume_name)
    ) WITHOUT ROWID;
    CREATE TABLE sharing (
        id                 TEXT PRIMARY KEY,
        system_user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        friend_user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        status             TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
        permissions        TEXT NOT NULL,
        encrypted_vek_blob BLOB,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL,
        UNIQUE (system_user_id, friend_user_id)
    );
    CREATE TABLE invite_codes (
        code           TEXT PRIMARY KEY,
        system_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        redeemed_by    TEXT REFERENCES users(id) ON DELETE SET NULL,
        redeemed_at    INTEGER
    );
    ",
    // 2: indexes for the lookups that are not by primary key (expiry sweeps, cascades, lists).
    r"
    CREATE INDEX auth_challenges_user ON auth_challenges (user_id, expires_at);
    CREATE INDEX auth_challenges_expiry ON auth_challenges (expires_at);
    CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
    CREATE INDEX auth_sessions_expiry ON auth_sessions (expires_at);
    CREATE INDEX sharing_friend ON sharing (friend_user_id);
    CREATE INDEX invite_codes_system ON invite_codes (system_user_id, expires_at);
    CREATE INDEX invite_codes_redeemer ON invite_codes (redeemed_by);
    ",
    // 3: protocol v2 (docs/protocol-v2.md): key-binding proofs, exact signed header bytes,
    // pairings with proofs, owner-signed grants and per-volume wrapped keys.
    r"
    ALTER TABLE users ADD COLUMN key_binding_signature BLOB
        CHECK (key_binding_signature IS NULL OR length(key_binding_signature) = 64);
    ALTER TABLE invite_codes ADD COLUMN protocol INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE volumes_v2 (
        user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        volume_name TEXT NOT NULL,
        epoch       INTEGER NOT NULL CHECK (epoch >= 1),
        version     INTEGER NOT NULL CHECK (version >= 1),
        header      BLOB NOT NULL,
        signature   BLOB NOT NULL CHECK (length(signature) = 64),
        blob_file   TEXT NOT NULL UNIQUE,
        size_bytes  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (user_id, volume_name)
    ) WITHOUT ROWID;
    CREATE TABLE pairings (
        id             TEXT PRIMARY KEY,
        system_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        friend_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        status         TEXT NOT NULL CHECK (status IN ('pending', 'active')),
        code           TEXT NOT NULL,
        proof          BLOB NOT NULL CHECK (length(proof) = 32),
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        UNIQUE (system_user_id, friend_user_id)
    );
    CREATE INDEX pairings_friend ON pairings (friend_user_id);
    CREATE TABLE grants (
        pairing_id  TEXT PRIMARY KEY REFERENCES pairings(id) ON DELETE CASCADE,
        sequence    INTEGER NOT NULL CHECK (sequence >= 1),
        expires_at  INTEGER NOT NULL,
        grant_bytes BLOB NOT NULL,
        signature   BLOB NOT NULL CHECK (length(signature) = 64),
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE grant_keys (
        pairing_id  TEXT NOT NULL REFERENCES pairings(id) ON DELETE CASCADE,
        volume_name TEXT NOT NULL,
        epoch       INTEGER NOT NULL,
        wrapped_key BLOB NOT NULL CHECK (length(wrapped_key) = 60),
        PRIMARY KEY (pairing_id, volume_name)
    ) WITHOUT ROWID;
    ",
    // 4: fetch receipts (docs/protocol-v2.md §14): a friend's signed receipt per version it read,
    // kept for the owner, at most `store::receipts::MAX_PER_PAIRING` per pairing (oldest `id`
    // dropped), deleted with the pairing.
    r"
    CREATE TABLE receipts (
        id          INTEGER PRIMARY KEY,
        pairing_id  TEXT NOT NULL REFERENCES pairings(id) ON DELETE CASCADE,
        volume_name TEXT NOT NULL,
        epoch       INTEGER NOT NULL CHECK (epoch >= 1),
        version     INTEGER NOT NULL CHECK (version >= 1),
        hour        INTEGER NOT NULL CHECK (hour % 3600 = 0),
        receipt     BLOB NOT NULL,
        signature   BLOB NOT NULL CHECK (length(signature) = 64),
        UNIQUE (pairing_id, volume_name, version)
    );
    CREATE INDEX receipts_pairing ON receipts (pairing_id);
    ",
    // 5: several devices of one system (protocol-v2.md §13): the owner-only encrypted key state
    // (opaque, signed, one per account) and short-lived device links.
    r"
    CREATE TABLE owner_states (
        user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        version    INTEGER NOT NULL CHECK (version >= 1),
        header     BLOB NOT NULL,
        signature  BLOB NOT NULL CHECK (length(signature) = 64),
        payload    BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE device_links (
        code       TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL,
        device_key BLOB CHECK (device_key IS NULL OR length(device_key) = 32),
        label      TEXT,
        proof      BLOB CHECK (proof IS NULL OR length(proof) = 32),
        package    BLOB
    );
    CREATE INDEX device_links_user ON device_links (user_id);
    ",
    // 6: own sessions (docs/protocol-v2.md §11): a random public id (never the token or its
    // digest), the optional device label of a v2 login, the login's protocol, creation and
    // last use floored to the hour, and whether it was revoked (a revoked session stays, as a
    // tombstone, until its expiry, so its token is answered "revoked" rather than "unknown").
    // Sessions from before this migration get a fresh id, the protocol of their account, and
    // the migration's hour for both times.
    r"
    ALTER TABLE auth_sessions ADD COLUMN session_id TEXT;
    ALTER TABLE auth_sessions ADD COLUMN device_label TEXT;
    ALTER TABLE auth_sessions ADD COLUMN protocol INTEGER NOT NULL DEFAULT 1
        CHECK (protocol IN (1, 2));
    ALTER TABLE auth_sessions ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE auth_sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE auth_sessions ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0
        CHECK (revoked IN (0, 1));
    UPDATE auth_sessions SET
        session_id = lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
            || substr(lower(hex(randomblob(2))), 2) || '-'
            || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
            || '-' || lower(hex(randomblob(6))),
        protocol = CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.id = auth_sessions.user_id
            AND u.key_binding_signature IS NOT NULL) THEN 2 ELSE 1 END,
        created_at = (CAST(strftime('%s', 'now') AS INTEGER) / 3600) * 3600,
        last_used_at = (CAST(strftime('%s', 'now') AS INTEGER) / 3600) * 3600;
    CREATE UNIQUE INDEX auth_sessions_public_id ON auth_sessions (session_id);
    ",
    // 7: deleting one volume (docs/protocol-v2.md §12): the owner-signed tombstone that replaces
    // a deleted v2 volume's row (exact bytes), so versions never go back; an upload above it
    // clears it. Deleted with the account.
    r"
    CREATE TABLE tombstones (
        user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        volume_name TEXT NOT NULL,
        epoch       INTEGER NOT NULL CHECK (epoch >= 1),
        version     INTEGER NOT NULL CHECK (version >= 1),
        hour        INTEGER NOT NULL CHECK (hour % 3600 = 0),
        tombstone   BLOB NOT NULL,
        signature   BLOB NOT NULL CHECK (length(signature) = 64),
        PRIMARY KEY (user_id, volume_name)
    ) WITHOUT ROWID;
    ",
    // 8: closed registration (docs/adr/0024-registration-and-operator-access.md): the SHA-256
    // of each single-use registration code — issued by the operator (`operator`), or a System's
    // pairing invite code once it registered a friend (`invite`) — with its expiry and the hour
    // it was used. Never the code, never who used it. Expired rows go at the next registration.
    r"
    CREATE TABLE registration_codes (
        code_hash  BLOB PRIMARY KEY CHECK (length(code_hash) = 32),
        kind       TEXT NOT NULL CHECK (kind IN ('operator', 'invite')),
        created_at INTEGER NOT NULL CHECK (created_at % 3600 = 0),
        expires_at INTEGER NOT NULL,
        used_at    INTEGER CHECK (used_at IS NULL OR used_at % 3600 = 0)
    ) WITHOUT ROWID;
    ",
    // 9: replica pairings (docs/protocol-v2.md §6, several relays per system): a pairing that a
    // system's owner-signed grant creates on a relay where the friend has an account but
    // redeemed no invite has no code and no proof. `pairings` is rebuilt with both nullable
    // (both or neither), every row and id kept: grants, wrapped keys and receipts keep pointing
    // at them (foreign keys are off while migrations run, and checked before each commit).
    r"
    CREATE TABLE pairings_new (
        id             TEXT PRIMARY KEY,
        system_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        friend_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        status         TEXT NOT NULL CHECK (status IN ('pending', 'active')),
        code           TEXT,
        proof          BLOB CHECK (proof IS NULL OR length(proof) = 32),
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        CHECK ((code IS NULL) = (proof IS NULL)),
        UNIQUE (system_user_id, friend_user_id)
    );
    INSERT INTO pairings_new (id, system_user_id, friend_user_id, status, code, proof,
        created_at, updated_at)
        SELECT id, system_user_id, friend_user_id, status, code, proof, created_at, updated_at
        FROM pairings;
    DROP TABLE pairings;
    ALTER TABLE pairings_new RENAME TO pairings;
    CREATE INDEX pairings_friend ON pairings (friend_user_id);
    ",
    // 10: small payloads inline (docs/adr/0027-inline-small-volumes-and-login-writes.md): the
    // bytes of a volume version of at most `[storage] inline_max`, written in the transaction
    // of its row (whose `blob_file` is then `inline:…`), so they ride the group commit. A
    // payload goes with its row: replaced, deleted or cascaded away with the account, the
    // triggers delete it in the same statement. Existing blob files stay as they are.
    r"
    CREATE TABLE inline_payloads (
        blob_file TEXT PRIMARY KEY CHECK (blob_file GLOB 'inline:*'),
        bytes     BLOB NOT NULL
    );
    CREATE TRIGGER volumes_inline_replaced AFTER UPDATE OF blob_file ON volumes
        WHEN old.blob_file GLOB 'inline:*' AND old.blob_file <> new.blob_file
        BEGIN DELETE FROM inline_payloads WHERE blob_file = old.blob_file; END;
    CREATE TRIGGER volumes_inline_deleted AFTER DELETE ON volumes
        WHEN old.blob_file GLOB 'inline:*'
        BEGIN DELETE FROM inline_payloads WHERE blob_file = old.blob_file; END;
    CREATE TRIGGER volumes_v2_inline_replaced AFTER UPDATE OF blob_file ON volumes_v2
        WHEN old.blob_file GLOB 'inline:*' AND old.blob_file <> new.blob_file
        BEGIN DELETE FROM inline_payloads WHERE blob_file = old.blob_file; END;
    CREATE TRIGGER volumes_v2_inline_deleted AFTER DELETE ON volumes_v2
        WHEN old.blob_file GLOB 'inline:*'
        BEGIN DELETE FROM inline_payloads WHERE blob_file = old.blob_file; END;
    ",
];

/// The schema version this build produces.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// The database's schema version.
pub fn current(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Applies every migration the database lacks.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_to(conn, latest())
}

/// Applies migrations up to `target` (tests use this to build old databases).
///
/// Foreign keys are not enforced while migrations run (SQLite's procedure for rebuilding a
/// table: with them on, dropping the old table would delete its dependents' rows through
/// `ON DELETE CASCADE`); each migration checks them before its commit instead, and the
/// connection's setting is restored afterwards, also after a failure.
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), StoreError> {
    let found = current(conn)?;
    if found > latest() {
        return Err(StoreError::TooNew {
            found,
            supported: latest(),
        });
    }
    if found >= target.min(latest()) {
        return Ok(());
    }
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    if enforced {
        conn.pragma_update(None, "foreign_keys", false)?;
    }
    let applied = apply(conn, found, target);
    if enforced {
        conn.pragma_update(None, "foreign_keys", true)?;
    }
    applied
}

fn apply(conn: &mut Connection, found: i64, target: i64) -> Result<(), StoreError> {
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let version = index as i64 + 1;
        if version > target {
            break;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        let broken: i64 =
            tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if broken > 0 {
            return Err(StoreError::Corrupt(
                "a schema migration would leave rows pointing at missing rows",
            ));
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn fresh_database_reaches_latest() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(current(&conn).unwrap(), latest());
        // Idempotent: running again changes nothing.
        let before = schema(&conn);
        migrate(&mut conn).unwrap();
        assert_eq!(schema(&conn), before);
    }

    #[test]
    fn upgrade_keeps_data_and_matches_fresh_schema() {
        for start in 1..latest() {
            let mut old = Connection::open_in_memory().unwrap();
            migrate_to(&mut old, start).unwrap();
            assert_eq!(current(&old).unwrap(), start);
            // Whether the session columns already exist (then the row below has no id by
            // design: it skips the backfill, and later migrations may follow it).
            let had_ids = old.prepare("SELECT session_id FROM auth_sessions").is_ok();
            // Named columns: later migrations add columns to `users`.
            old.execute_batch(
                "INSERT INTO users (id, public_signing_key, public_exchange_key, handle, \
                 client_type, protocol_version, feature_set, storage_used_bytes, created_at) \
                 VALUES ('u1', zeroblob(32), zeroblob(32), 'h', 'system', 1, '[]', 5, 0);
                 INSERT INTO auth_sessions (token_hash, user_id, expires_at) \
                 VALUES (zeroblob(32), 'u1', 9999999999);",
            )
            .unwrap();
            migrate(&mut old).unwrap();
            // A session from before the session columns has a public id, v1, whole hours.
            if !had_ids {
                let (id, protocol, created, used): (String, i64, i64, i64) = old
                    .query_row(
                        "SELECT session_id, protocol, created_at, last_used_at FROM auth_sessions",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .unwrap();
                assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
                assert_eq!((protocol, created % 3600, used % 3600), (1, 0, 0));
            }
            let mut fresh = Connection::open_in_memory().unwrap();
            migrate(&mut fresh).unwrap();
            assert_eq!(schema(&old), schema(&fresh), "upgrade from {start}");
            let used: i64 = old
                .query_row(
                    "SELECT storage_used_bytes FROM users WHERE id = 'u1'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(used, 5);
        }
    }

    /// Migration 9 rebuilds `pairings`: the grants, wrapped keys and receipts of existing
    /// pairings survive it (no cascade), foreign keys are enforced again afterwards, and a
    /// replica pairing (no code, no proof) fits where half of one does not.
    #[test]
    fn pairings_rebuild_keeps_dependents() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        migrate_to(&mut conn, 8).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, public_signing_key, public_exchange_key, client_type, \
             protocol_version, feature_set, created_at) VALUES \
             ('s', zeroblob(32), zeroblob(32), 'system', 2, '[]', 0), \
             ('f', zeroblob(32), zeroblob(32), 'friend', 2, '[]', 0), \
             ('g', zeroblob(32), zeroblob(32), 'friend', 2, '[]', 0);
             INSERT INTO pairings VALUES ('p', 's', 'f', 'active', 'CODE', zeroblob(32), 0, 0);
             INSERT INTO grants VALUES ('p', 1, 0, x'00', zeroblob(64), 0);
             INSERT INTO grant_keys VALUES ('p', 'meta', 1, zeroblob(60));
             INSERT INTO receipts (pairing_id, volume_name, epoch, version, hour, receipt, \
             signature) VALUES ('p', 'meta', 1, 1, 0, x'00', zeroblob(64));",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let count = |table: &str| -> i64 {
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };
        for table in ["pairings", "grants", "grant_keys", "receipts"] {
            assert_eq!(count(table), 1, "{table}");
        }
        let code: Option<String> = conn
            .query_row("SELECT code FROM pairings WHERE id = 'p'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(code.as_deref(), Some("CODE"));
        let enforced: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(enforced);
        conn.execute(
            "INSERT INTO pairings VALUES ('r', 's', 'g', 'active', NULL, NULL, 0, 0)",
            [],
        )
        .unwrap();
        for half in [
            "INSERT INTO pairings VALUES ('h', 'g', 's', 'active', 'C', NULL, 0, 0)",
            "INSERT INTO pairings VALUES ('h', 'g', 's', 'active', NULL, zeroblob(32), 0, 0)",
            "INSERT INTO pairings VALUES ('h', 'nobody', 's', 'active', NULL, NULL, 0, 0)",
        ] {
            assert!(conn.execute(half, []).is_err(), "{half}");
        }
        // The cascades still work on the rebuilt table.
        conn.execute("DELETE FROM users WHERE id = 'f'", [])
            .unwrap();
        for table in ["grants", "grant_keys", "receipts"] {
            assert_eq!(count(table), 0, "{table}");
        }
        assert_eq!(count("pairings"), 1);
    }

    #[test]
    fn newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest() + 1)
            .unwrap();
        assert!(matches!(migrate(&mut conn), Err(StoreError::TooNew { .. })));
    }

    #[test]
    fn failed_migration_rolls_back() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 1).unwrap();
        // Sabotage migration 2 by creating one of its indexes first.
        conn.execute_batch("CREATE INDEX auth_sessions_user ON auth_sessions (user_id);")
            .unwrap();
        assert!(migrate(&mut conn).is_err());
        assert_eq!(current(&conn).unwrap(), 1);
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'auth_challenges_user'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0, "partial migration must roll back");
    }
}
