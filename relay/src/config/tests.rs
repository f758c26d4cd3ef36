//! Tests of `config`: the example file, environment precedence, validation.
#![allow(clippy::unwrap_used)]
use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn example_file_is_valid_and_matches_defaults() {
    let text = include_str!("../../coffer-relay.example.toml");
    let parsed = Config::from_toml(text).unwrap();
    parsed.validate().unwrap();
    // The example documents the defaults: it must not silently drift from them.
    assert_eq!(format!("{parsed:?}"), format!("{:?}", Config::default()));
}

#[test]
fn unknown_keys_are_errors() {
    assert!(Config::from_toml("prot = 1").is_err());
    assert!(Config::from_toml("[limits]\nmax_volume = 5").is_err());
    assert!(Config::from_toml("[rate]\nauth = 0").is_err());
}

#[test]
fn env_precedence_and_aliases() {
    let mut c = Config::default();
    c.apply_env(env(&[
        ("PLURALLOG_RATE_AUTH", "7"),
        ("PLURALLOG_PORT", "9000"),
        ("COFFER_PORT", "9001"),
        ("PLURALLOG_RATE_UNAUTH", "3"),
        ("PLURALLOG_ADMIN_TOKEN", "s3cret"),
        ("PLURALLOG_TLS_CERT", "/c.pem"),
        ("PLURALLOG_TLS_KEY", "/k.pem"),
        ("COFFER_TRUSTED_PROXIES", "10.0.0.1, ::1"),
    ]))
    .unwrap();
    assert_eq!(c.rate.auth.get(), 7);
    assert_eq!(c.port, 9001);
    assert_eq!(c.rate.register.get(), 3);
    assert!(c.admin.token.matches(b"s3cret"));
    assert!(!c.admin.token.matches(b"s3cre"));
    assert_eq!(c.tls.mode, TlsMode::Files);
    assert_eq!(c.trusted_proxies.len(), 2);
    c.validate().unwrap();
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn bad_env_values_name_the_variable() {
    let mut c = Config::default();
    let err = c
        .apply_env(env(&[("PLURALLOG_RATE_AUTH", "0")]))
        .unwrap_err();
    assert!(err.to_string().contains("PLURALLOG_RATE_AUTH"));
    let err = c
        .apply_env(env(&[("COFFER_HOST", "localhost")]))
        .unwrap_err();
    assert!(err.to_string().contains("COFFER_HOST"));
}

#[test]
fn operator_settings() {
    let phc = crate::config::admin::hash_token(b"t").unwrap();
    let c = Config::from_toml(&format!(
        "ip_policy = \"keyed-hash\"\n[admin]\ntoken_hash = \"{phc}\"\nlisten = \"127.0.0.1:8444\"\n\
         [anomalies]\nfailed_logins = 3\n"
    ))
    .unwrap();
    c.validate().unwrap();
    assert!(c.admin_enabled());
    assert_eq!(c.ip_policy, IpPolicy::KeyedHash);
    assert_eq!(c.anomalies.failed_logins, 3);
    let debug = format!("{c:?}");
    assert!(
        debug.contains("AdminTokenHash($argon2id$v=19$m=19456,t=2,p=1$<redacted>)"),
        "{debug}"
    );
    assert!(!debug.contains(phc.rsplit('$').next().unwrap()), "{debug}");

    // A malformed hash is refused when the file is read, naming the key.
    let err = Config::from_toml("[admin]\ntoken_hash = \"$argon2i$nope\"").unwrap_err();
    assert!(err.to_string().contains("token_hash"), "{err}");

    // Plain token and hash together: ambiguous.
    let mut both = c.clone();
    both.admin.token = AdminToken::from_text("plain");
    assert!(
        both.validate()
            .unwrap_err()
            .to_string()
            .contains("not both")
    );

    // An admin listener off loopback: only with a hashed token (issue 15).
    let mut open = c.clone();
    open.admin.listen = Some("0.0.0.0:8444".parse().unwrap());
    open.validate().unwrap();
    let mut plain = open.clone();
    plain.admin.token_hash = None;
    plain.admin.token = AdminToken::from_text("plain");
    let err = plain.validate().unwrap_err().to_string();
    assert!(
        err.contains("admin.listen") && err.contains("token_hash"),
        "{err}"
    );
    plain.admin.token = AdminToken::default();
    assert!(plain.validate().is_err());
    plain.admin.listen = Some("[::1]:8444".parse().unwrap());
    plain.validate().unwrap();

    // Registration: modes, cap and their environment variables.
    let r = Config::from_toml("[registration]\nmode = \"invite-only\"\nmax_users = 5\n").unwrap();
    r.validate().unwrap();
    assert_eq!(r.registration.mode, RegistrationMode::InviteOnly);
    assert_eq!(r.registration.max_users, Some(5));
    let mut zero_cap = r.clone();
    zero_cap.registration.max_users = Some(0);
    assert!(
        zero_cap
            .validate()
            .unwrap_err()
            .to_string()
            .contains("closed")
    );
    let mut e = Config::default();
    e.apply_env(env(&[
        ("PLURALLOG_REGISTRATION", "closed"),
        ("COFFER_MAX_USERS", "7"),
        ("COFFER_METRICS_PUBLIC", "true"),
    ]))
    .unwrap();
    assert_eq!(e.registration.mode, RegistrationMode::Closed);
    assert_eq!(e.registration.max_users, Some(7));
    assert!(e.metrics.public);
    let err = Config::default()
        .apply_env(env(&[("COFFER_REGISTRATION", "invite")]))
        .unwrap_err();
    assert!(err.to_string().contains("COFFER_REGISTRATION"), "{err}");

    let mut e = Config::default();
    e.apply_env(env(&[
        ("COFFER_IP_POLICY", "full"),
        ("COFFER_ADMIN_LISTEN", "127.0.0.1:9000"),
        ("COFFER_ADMIN_TOKEN_HASH", &phc),
    ]))
    .unwrap();
    assert_eq!(e.ip_policy, IpPolicy::Full);
    assert_eq!(e.admin.listen, Some("127.0.0.1:9000".parse().unwrap()));
    assert!(e.admin.token_hash.is_some());
    let err = Config::default()
        .apply_env(env(&[("COFFER_IP_POLICY", "some")]))
        .unwrap_err();
    assert!(err.to_string().contains("COFFER_IP_POLICY"));
    let mut zero = Config::default();
    zero.anomalies.window_minutes = 0;
    assert!(zero.validate().is_err());
}

#[test]
fn validation() {
    let mut c = Config::default();
    c.tls.mode = TlsMode::Files;
    assert!(c.validate().is_err());
    let mut c = Config::default();
    c.limits.max_user_storage = 1;
    assert!(c.validate().is_err());
    assert!(env_help().contains("PLURALLOG_RATE_UNAUTH"));
}

#[test]
fn server_limits() {
    let mut c = Config::default();
    c.apply_env(env(&[
        ("COFFER_WORKERS", "3"),
        ("COFFER_MAX_CONNECTIONS", "10"),
        ("COFFER_MAX_CONNECTIONS_PER_IP", "0"),
        ("COFFER_MAX_TLS_HANDSHAKES", "5"),
        ("COFFER_BACKLOG", "64"),
        ("COFFER_TLS_HANDSHAKE_TIMEOUT", "2"),
        ("COFFER_REQUEST_HEAD_TIMEOUT", "3"),
        ("COFFER_KEEP_ALIVE", "0"),
        ("COFFER_TRANSFER_TIMEOUT", "7"),
        ("COFFER_MIN_TRANSFER_RATE", "100"),
        ("COFFER_DISCONNECT_TIMEOUT", "1"),
    ]))
    .unwrap();
    c.validate().unwrap();
    let s = &c.server;
    assert_eq!(
        (s.workers, s.max_connections, s.max_connections_per_ip),
        (3, 10, 0)
    );
    assert_eq!((s.max_tls_handshakes, s.backlog), (5, 64));
    assert_eq!(
        (
            s.tls_handshake_timeout_secs,
            s.request_head_timeout_secs,
            s.keep_alive_secs
        ),
        (2, 3, 0)
    );
    assert_eq!(
        (
            s.transfer_timeout_secs,
            s.min_transfer_rate,
            s.disconnect_timeout_secs
        ),
        (7, 100, 1)
    );
    // Totals are divided among the workers, rounded up, never to zero.
    assert_eq!(s.effective_workers(), 3);
    assert_eq!(s.per_worker(10), 4);
    assert_eq!(s.per_worker(1), 1);

    // No limit can be switched off by a zero (actix would wait forever).
    for key in [
        "max_connections",
        "max_tls_handshakes",
        "backlog",
        "tls_handshake_timeout_secs",
        "request_head_timeout_secs",
        "transfer_timeout_secs",
        "min_transfer_rate",
        "disconnect_timeout_secs",
    ] {
        let c = Config::from_toml(&format!("[server]\n{key} = 0")).unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(&format!("server.{key}")), "{key}: {err}");
    }
    let err = Config::default()
        .apply_env(env(&[("COFFER_KEEP_ALIVE", "soon")]))
        .unwrap_err();
    assert!(err.to_string().contains("COFFER_KEEP_ALIVE"));
    assert!(env_help().contains("COFFER_MAX_CONNECTIONS_PER_IP"));
}

#[test]
fn public_origins_from_the_environment_are_read_and_validated() {
    let mut c = Config::default();
    c.apply_env(env(&[(
        "COFFER_PUBLIC_ORIGINS",
        " https://relay.example.org , https://192.168.1.50:8443,",
    )]))
    .unwrap();
    assert_eq!(
        c.public_origins,
        ["https://relay.example.org", "https://192.168.1.50:8443"]
    );
    c.validate().unwrap();
    let mut bad = Config::default();
    bad.apply_env(env(&[(
        "COFFER_PUBLIC_ORIGINS",
        "http://relay.example.org/",
    )]))
    .unwrap();
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("public_origins"), "{err}");
    assert!(env_help().contains("COFFER_PUBLIC_ORIGINS"));
}

/// `tls.cert`/`tls.key` without a mode mean `files`; a contradicting explicit mode is refused,
/// naming the keys (docs/adr/0022). Before, the files were silently ignored.
#[test]
fn certificate_files_imply_files_and_contradictions_are_refused() {
    let c = Config::from_toml("[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"").unwrap();
    assert_eq!(c.tls.mode, TlsMode::Files);
    c.validate().unwrap();

    for mode in ["self-signed", "off"] {
        let c = Config::from_toml(&format!(
            "[tls]\nmode = \"{mode}\"\ncert = \"/c.pem\"\nkey = \"/k.pem\""
        ))
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(&format!("tls.mode = \"{mode}\"")), "{err}");
        assert!(err.contains("tls.cert") && err.contains("tls.key"), "{err}");
    }
    let c = Config::from_toml("[tls]\ncert = \"/c.pem\"").unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("tls.key is missing"), "{err}");

    // The environment: an explicit mode is not overridden by a certificate variable.
    let mut c = Config::default();
    c.apply_env(env(&[
        ("COFFER_TLS_MODE", "self-signed"),
        ("COFFER_TLS_CERT", "/c.pem"),
        ("COFFER_TLS_KEY", "/k.pem"),
    ]))
    .unwrap();
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("contradicts")
    );
    // A file's cert/key with an environment mode of files is fine.
    let mut c = Config::from_toml("[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"").unwrap();
    c.apply_env(env(&[("COFFER_TLS_MODE", "files")])).unwrap();
    c.validate().unwrap();
}

/// Relative paths in a file are relative to the file's directory; absolute ones and defaults
/// are left alone.
#[test]
fn relative_paths_in_a_file_follow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("relay.toml");
    std::fs::write(
        &file,
        "data_dir = \"data\"\nblob_dir = \"/srv/blobs\"\ndatabase = \"db/coffer.db\"\n\
         [tls]\ncert = \"tls/cert.pem\"\nkey = \"tls/key.pem\"\n",
    )
    .unwrap();
    let c = Config::from_file(&file).unwrap();
    assert_eq!(c.data_dir, dir.path().join("data"));
    assert_eq!(c.database_path(), dir.path().join("db/coffer.db"));
    assert_eq!(c.blob_path(), std::path::PathBuf::from("/srv/blobs"));
    assert_eq!(
        c.tls.cert.as_deref(),
        Some(dir.path().join("tls/cert.pem").as_path())
    );
    assert_eq!(
        c.tls.key.as_deref(),
        Some(dir.path().join("tls/key.pem").as_path())
    );
    assert_eq!(c.tls.mode, TlsMode::Files);

    std::fs::write(&file, "port = 9000\n").unwrap();
    let c = Config::from_file(&file).unwrap();
    assert_eq!(c.data_dir, std::path::PathBuf::from("./coffer-data"));
}

#[test]
fn an_invalid_log_filter_is_refused() {
    for bad in ["infoo", "coffer_relay=loud", ""] {
        let c = Config::from_toml(&format!("log = {bad:?}")).unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("invalid setting log"), "{bad}: {err}");
    }
    let mut c = Config::default();
    c.apply_env(env(&[("COFFER_LOG", "debugg")])).unwrap();
    assert!(c.validate().is_err());
}

#[test]
fn the_storage_backend_is_chosen_once_with_its_url_kept_secret() {
    use super::storage::{Backend, postgres_settings};
    // Default: SQLite, no URL.
    let c = Config::default();
    assert_eq!(c.storage.backend, Backend::Sqlite);
    // PostgreSQL from the environment: the URL is never shown.
    let mut c = Config::default();
    c.apply_env(env(&[
        ("COFFER_STORAGE_BACKEND", "postgres"),
        (
            "COFFER_POSTGRES_URL",
            "postgres://coffer:hunter2-pw@127.0.0.1:5432/coffer",
        ),
        ("COFFER_POSTGRES_POOL_SIZE", "4"),
    ]))
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.storage.backend, Backend::Postgres);
    assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
    let settings = postgres_settings(&c.storage).unwrap();
    assert_eq!(settings.describe(), "coffer@127.0.0.1:5432/coffer");
    assert!(!format!("{settings:?}").contains("hunter2"));
    // An unknown backend names the variable and the choices.
    let err = Config::default()
        .apply_env(env(&[("COFFER_STORAGE_BACKEND", "mysql")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("COFFER_STORAGE_BACKEND") && err.contains("sqlite or postgres"),
        "{err}"
    );
    // postgres without a URL, with two URLs, with a remote host; sqlite with a URL.
    let refused = |toml: &str, key: &str| {
        let c = Config::from_toml(toml).unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{toml}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    };
    refused("[storage]\nbackend = \"postgres\"", "storage.url_file");
    refused(
        "[storage]\nbackend = \"postgres\"\nurl = \"postgres://u:hunter2@localhost/db\"\nurl_file = \"/x\"",
        "storage.url",
    );
    refused(
        "[storage]\nbackend = \"postgres\"\nurl = \"postgres://u:hunter2@db.example.org/db\"",
        "not on this machine",
    );
    refused(
        "[storage]\nurl = \"postgres://u:hunter2@localhost/db\"",
        "storage.backend",
    );
    refused(
        "[storage]\nbackend = \"postgres\"\nurl = \"postgres://u:p@localhost/db\"\npool_size = 0",
        "storage.pool_size",
    );
    // The URL from a file: its first line; a missing or empty file is named, never echoed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("url");
    std::fs::write(&file, "postgres://u:hunter2@127.0.0.1/coffer\nignored\n").unwrap();
    let c = Config::from_toml(&format!(
        "[storage]\nbackend = \"postgres\"\nurl_file = \"{}\"",
        file.display()
    ))
    .unwrap();
    c.validate().unwrap();
    assert_eq!(
        postgres_settings(&c.storage).unwrap().describe(),
        "u@127.0.0.1:5432/coffer"
    );
    std::fs::write(&file, "\n").unwrap();
    let err = postgres_settings(&c.storage).unwrap_err();
    assert!(err.contains("is empty"), "{err}");
    std::fs::remove_file(&file).unwrap();
    let err = postgres_settings(&c.storage).unwrap_err();
    assert!(err.contains("cannot read storage.url_file"), "{err}");
}

#[test]
fn the_blob_store_is_chosen_with_all_its_settings_and_the_key_kept_secret() {
    use super::storage::{BlobBackend, s3_settings};
    assert_eq!(Config::default().blobs.backend, BlobBackend::Files);
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("s3-credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = GKabc\naws_secret_access_key = s3cr3t-hunter2\n",
    )
    .unwrap();
    let mut c = Config::default();
    c.apply_env(env(&[
        ("COFFER_BLOBS_BACKEND", "s3"),
        ("COFFER_S3_ENDPOINT", "http://127.0.0.1:3900"),
        ("COFFER_S3_REGION", "garage"),
        ("COFFER_S3_BUCKET", "coffer"),
        ("COFFER_S3_CREDENTIALS_FILE", credentials.to_str().unwrap()),
    ]))
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.blobs.backend, BlobBackend::S3);
    let settings = s3_settings(&c.blobs).unwrap();
    assert_eq!(
        settings.describe(),
        "bucket coffer at http://127.0.0.1:3900"
    );
    assert!(!format!("{settings:?} {c:?}").contains("hunter2"));

    let err = Config::default()
        .apply_env(env(&[("COFFER_BLOBS_BACKEND", "nfs")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("COFFER_BLOBS_BACKEND") && err.contains("files or s3"),
        "{err}"
    );
    let refused = |toml: &str, key: &str| {
        let c = Config::from_toml(toml).unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{toml}: {err}");
    };
    // s3 needs every setting; files takes none; s3 and a blob directory exclude each other.
    refused(
        "[blobs]\nbackend = \"s3\"\nendpoint = \"http://127.0.0.1:3900\"\nregion = \"r\"\nbucket = \"b\"",
        "blobs.credentials_file",
    );
    refused(
        "[blobs]\nbackend = \"s3\"\nregion = \"r\"\nbucket = \"b\"\ncredentials_file = \"/c\"",
        "blobs.endpoint",
    );
    refused("[blobs]\nbucket = \"b\"", "blobs.bucket");
    refused(
        "blob_dir = \"/srv/blobs\"\n[blobs]\nbackend = \"s3\"\nendpoint = \"http://127.0.0.1:3900\"\nregion = \"r\"\nbucket = \"b\"\ncredentials_file = \"/c\"",
        "blob_dir",
    );
    // A remote plain-HTTP endpoint, a missing credentials file: refused with the reason.
    let mut remote = c.clone();
    remote.blobs.endpoint = Some("http://s3.example.org".into());
    let err = s3_settings(&remote.blobs).unwrap_err();
    assert!(err.contains("https://"), "{err}");
    std::fs::remove_file(&credentials).unwrap();
    let err = s3_settings(&c.blobs).unwrap_err();
    assert!(err.contains("s3-credentials"), "{err}");
    // Relative paths in a file are relative to the file.
    let file = dir.path().join("coffer.toml");
    std::fs::write(
        &file,
        "[blobs]\nbackend = \"s3\"\nendpoint = \"http://127.0.0.1:3900\"\nregion = \"r\"\nbucket = \"b\"\ncredentials_file = \"creds\"\n[storage]\nurl_file = \"pg-url\"\n",
    )
    .unwrap();
    let c = Config::from_file(&file).unwrap();
    let base = std::path::absolute(dir.path()).unwrap();
    assert_eq!(c.blobs.credentials_file, Some(base.join("creds")));
    assert_eq!(c.storage.url_file, Some(base.join("pg-url")));
}
