-- Coffer's PostgreSQL schema, version 1: the same data model as the SQLite schema at its
-- version 10 (relay/src/store/migrations.rs), table for table and rule for rule. Times are
-- Unix seconds (BIGINT); times about content are floored to the hour by the relay. Tokens are
-- stored only as SHA-256 digests. Never edit a released migration: add one.

CREATE TABLE users (
    id                    TEXT PRIMARY KEY,
    public_signing_key    BYTEA NOT NULL CHECK (octet_length(public_signing_key) = 32),
    public_exchange_key   BYTEA NOT NULL CHECK (octet_length(public_exchange_key) = 32),
    handle                TEXT,
    client_type           TEXT NOT NULL CHECK (client_type IN ('system', 'friend')),
    protocol_version      BIGINT NOT NULL,
    feature_set           TEXT NOT NULL,
    storage_used_bytes    BIGINT NOT NULL DEFAULT 0 CHECK (storage_used_bytes >= 0),
    created_at            BIGINT NOT NULL,
    key_binding_signature BYTEA
        CHECK (key_binding_signature IS NULL OR octet_length(key_binding_signature) = 64)
);
-- SQLite's `COLLATE NOCASE` folds ASCII letters only; so does this index.
CREATE UNIQUE INDEX users_handle_nocase ON users
    (translate(handle, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));

-- Login challenges live here (not in one instance's memory): a challenge issued by one relay
-- instance is answered at another behind the load balancer. Single use: taken by DELETE.
-- `rowid` is SQLite's implicit row id made explicit (issue order: the oldest of a user's
-- challenges go first past the per-user bound), as in `sharing`.
CREATE TABLE auth_challenges (
    nonce      TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    rowid      BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX auth_challenges_user ON auth_challenges (user_id, expires_at);
CREATE INDEX auth_challenges_expiry ON auth_challenges (expires_at);

CREATE TABLE auth_sessions (
    token_hash   BYTEA PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at   BIGINT NOT NULL,
    session_id   TEXT NOT NULL UNIQUE,
    device_label TEXT,
    protocol     SMALLINT NOT NULL DEFAULT 1 CHECK (protocol IN (1, 2)),
    created_at   BIGINT NOT NULL DEFAULT 0,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    revoked      BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expiry ON auth_sessions (expires_at);

CREATE TABLE volumes (
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    volume_name    TEXT NOT NULL,
    version        BIGINT NOT NULL CHECK (version >= 1),
    control_header TEXT NOT NULL,
    blob_file      TEXT NOT NULL UNIQUE,
    signature      BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    size_bytes     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (user_id, volume_name)
);

-- `rowid`: SQLite's implicit row id made explicit; lists of one creation hour are newest
-- first by it.
CREATE TABLE sharing (
    id                 TEXT PRIMARY KEY,
    system_user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    friend_user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
    permissions        TEXT NOT NULL,
    encrypted_vek_blob BYTEA,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    rowid              BIGINT GENERATED ALWAYS AS IDENTITY,
    UNIQUE (system_user_id, friend_user_id)
);
CREATE INDEX sharing_friend ON sharing (friend_user_id);

CREATE TABLE invite_codes (
    code           TEXT PRIMARY KEY,
    system_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    redeemed_by    TEXT REFERENCES users(id) ON DELETE SET NULL,
    redeemed_at    BIGINT,
    protocol       SMALLINT NOT NULL DEFAULT 1
);
CREATE INDEX invite_codes_system ON invite_codes (system_user_id, expires_at);
CREATE INDEX invite_codes_redeemer ON invite_codes (redeemed_by);

CREATE TABLE volumes_v2 (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    volume_name TEXT NOT NULL,
    epoch       BIGINT NOT NULL CHECK (epoch >= 1),
    version     BIGINT NOT NULL CHECK (version >= 1),
    header      BYTEA NOT NULL,
    signature   BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    blob_file   TEXT NOT NULL UNIQUE,
    size_bytes  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, volume_name)
);

CREATE TABLE pairings (
    id             TEXT PRIMARY KEY,
    system_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    friend_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'active')),
    code           TEXT,
    proof          BYTEA CHECK (proof IS NULL OR octet_length(proof) = 32),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CHECK ((code IS NULL) = (proof IS NULL)),
    UNIQUE (system_user_id, friend_user_id)
);
CREATE INDEX pairings_friend ON pairings (friend_user_id);

CREATE TABLE grants (
    pairing_id  TEXT PRIMARY KEY REFERENCES pairings(id) ON DELETE CASCADE,
    sequence    BIGINT NOT NULL CHECK (sequence >= 1),
    expires_at  BIGINT NOT NULL,
    grant_bytes BYTEA NOT NULL,
    signature   BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    updated_at  BIGINT NOT NULL
);

CREATE TABLE grant_keys (
    pairing_id  TEXT NOT NULL REFERENCES pairings(id) ON DELETE CASCADE,
    volume_name TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    wrapped_key BYTEA NOT NULL CHECK (octet_length(wrapped_key) = 60),
    PRIMARY KEY (pairing_id, volume_name)
);

CREATE TABLE receipts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pairing_id  TEXT NOT NULL REFERENCES pairings(id) ON DELETE CASCADE,
    volume_name TEXT NOT NULL,
    epoch       BIGINT NOT NULL CHECK (epoch >= 1),
    version     BIGINT NOT NULL CHECK (version >= 1),
    hour        BIGINT NOT NULL CHECK (hour % 3600 = 0),
    receipt     BYTEA NOT NULL,
    signature   BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    UNIQUE (pairing_id, volume_name, version)
);
CREATE INDEX receipts_pairing ON receipts (pairing_id);

CREATE TABLE owner_states (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    version    BIGINT NOT NULL CHECK (version >= 1),
    header     BYTEA NOT NULL,
    signature  BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    payload    BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE device_links (
    code       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    device_key BYTEA CHECK (device_key IS NULL OR octet_length(device_key) = 32),
    label      TEXT,
    proof      BYTEA CHECK (proof IS NULL OR octet_length(proof) = 32),
    package    BYTEA
);
CREATE INDEX device_links_user ON device_links (user_id);

CREATE TABLE tombstones (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    volume_name TEXT NOT NULL,
    epoch       BIGINT NOT NULL CHECK (epoch >= 1),
    version     BIGINT NOT NULL CHECK (version >= 1),
    hour        BIGINT NOT NULL CHECK (hour % 3600 = 0),
    tombstone   BYTEA NOT NULL,
    signature   BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    PRIMARY KEY (user_id, volume_name)
);

CREATE TABLE registration_codes (
    code_hash  BYTEA PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    kind       TEXT NOT NULL CHECK (kind IN ('operator', 'invite')),
    created_at BIGINT NOT NULL CHECK (created_at % 3600 = 0),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT CHECK (used_at IS NULL OR used_at % 3600 = 0)
);

-- Small payloads inline (docs/adr/0027): a payload goes with its row, replaced, deleted or
-- cascaded away with the account, in the same statement.
CREATE TABLE inline_payloads (
    blob_file TEXT PRIMARY KEY CHECK (blob_file LIKE 'inline:%'),
    bytes     BYTEA NOT NULL
);
CREATE FUNCTION coffer_inline_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.blob_file LIKE 'inline:%'
       AND (TG_OP = 'DELETE' OR OLD.blob_file IS DISTINCT FROM NEW.blob_file) THEN
        DELETE FROM inline_payloads WHERE blob_file = OLD.blob_file;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER volumes_inline_gone AFTER UPDATE OF blob_file OR DELETE ON volumes
    FOR EACH ROW EXECUTE FUNCTION coffer_inline_gone();
CREATE TRIGGER volumes_v2_inline_gone AFTER UPDATE OF blob_file OR DELETE ON volumes_v2
    FOR EACH ROW EXECUTE FUNCTION coffer_inline_gone();

-- Cache invalidation across relay instances (docs/adr/0030): a commit that changes what a
-- cached session or a cached download answer depends on notifies every instance. PostgreSQL
-- delivers notifications at commit, and folds identical ones of one transaction into one.
-- `coffer_auth`: sessions and the user columns they carry (as store/auth_watch.rs).
CREATE FUNCTION coffer_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('coffer_auth', '');
    RETURN NULL;
END $$;
CREATE TRIGGER auth_sessions_changed
    AFTER UPDATE OF token_hash, user_id, expires_at, revoked OR DELETE ON auth_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_auth_changed();
CREATE TRIGGER users_auth_changed
    AFTER UPDATE OF id, client_type, feature_set, key_binding_signature OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_auth_changed();

-- `coffer_fetch`: a row a download's answer depends on, naming its owner (as
-- store/fetch_watch.rs); an empty payload means every owner.
CREATE FUNCTION coffer_fetch_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner_column TEXT := TG_ARGV[0];
    owners TEXT[] := ARRAY[]::TEXT[];
    owner TEXT;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF owner_column = 'pairing' THEN
            SELECT system_user_id INTO owner FROM pairings WHERE id = OLD.pairing_id;
        ELSE
            owner := to_jsonb(OLD) ->> owner_column;
        END IF;
        owners := owners || coalesce(owner, '');
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF owner_column = 'pairing' THEN
            SELECT system_user_id INTO owner FROM pairings WHERE id = NEW.pairing_id;
        ELSE
            owner := to_jsonb(NEW) ->> owner_column;
        END IF;
        owners := owners || coalesce(owner, '');
    END IF;
    FOREACH owner IN ARRAY owners LOOP
        PERFORM pg_notify('coffer_fetch', owner);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER volumes_fetch AFTER INSERT OR UPDATE OR DELETE ON volumes
    FOR EACH ROW EXECUTE FUNCTION coffer_fetch_changed('user_id');
CREATE TRIGGER volumes_v2_fetch AFTER INSERT OR UPDATE OR DELETE ON volumes_v2
    FOR EACH ROW EXECUTE FUNCTION coffer_fetch_changed('user_id');
CREATE TRIGGER tombstones_fetch AFTER INSERT OR UPDATE OR DELETE ON tombstones
    FOR EACH ROW EXECUTE FUNCTION coffer_fetch_changed('user_id');
CREATE TRIGGER sharing_fetch AFTER INSERT OR UPDATE OR DELETE ON sharing
    FOR EACH ROW EXECUTE FUNCTION coffer_fetch_changed('system_user_id');
CREATE TRIGGER pairings_fetch AFTER INSERT OR UPDATE OR DELETE ON pairings
    FOR EACH ROW EXECUTE FUNCTION coffer_fetch_changed('system_user_id');
CREATE TRIGGER grants_fetch AFTER INSERT OR UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION coffer_fetch_changed('pairing');
CREATE TRIGGER grant_keys_fetch AFTER INSERT OR UPDATE OR DELETE ON grant_keys
    FOR EACH ROW EXECUTE FUNCTION coffer_fetch_changed('pairing');
CREATE TRIGGER users_fetch AFTER UPDATE OF id OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION coffer_fetch_changed('id');
