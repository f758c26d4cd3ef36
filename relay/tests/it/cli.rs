//! The `coffer-relay` binary's command line: help, configuration checking, start-up errors.
//! (The HTTP API is tested end to end in the `tests` crate against this same binary.)

use std::process::Command;

pub(crate) fn relay() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer-relay"));
    // A clean environment: no COFFER_* / PLURALLOG_* from the developer's shell.
    for (key, _) in std::env::vars() {
        if key.starts_with("COFFER_")
            || key.starts_with("PLURALLOG_")
            || key.starts_with("POLYLOG_")
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn help_explains_options_and_environment() {
    let out = relay().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--config",
        "--data-dir",
        "--listen",
        "--check-config",
        "COFFER_ADMIN_TOKEN",
        "PLURALLOG_RATE_UNAUTH",
        "PLURALLOG_DB_PATH",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}

#[test]
fn example_config_checks_out() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/coffer-relay.example.toml");
    let out = relay()
        .args(["--config", example, "--check-config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("configuration is valid"));
    assert!(
        text.contains("admin token") && text.contains("disabled"),
        "{text}"
    );
    // Who may register and who may read /metrics are part of the summary.
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("registration") && l.ends_with(" open")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("metrics") && l.contains("admin token")),
        "{text}"
    );
}

#[test]
fn secrets_are_never_printed() {
    let out = relay()
        .arg("--check-config")
        .env("PLURALLOG_ADMIN_TOKEN", "very-secret-admin-token")
        .output()
        .unwrap();
    assert!(out.status.success());
    let all = [out.stdout, out.stderr].concat();
    let text = String::from_utf8_lossy(&all);
    assert!(!text.contains("very-secret-admin-token"));
    assert!(text.contains("plain token (set)"), "{text}");
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[limits]\nmax_volume = 5\n").unwrap();
    let out = relay()
        .args(["--config", bad.to_str().unwrap(), "--check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bad.toml") && err.contains("max_volume"),
        "{err}"
    );

    let out = relay()
        .arg("--check-config")
        .env("COFFER_RATE_AUTH", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("COFFER_RATE_AUTH")
    );

    let out = relay()
        .args(["--check-config"])
        .env("COFFER_TLS_MODE", "files")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unusable_certificate_files_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let out = relay()
        .args([
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("PLURALLOG_TLS_CERT", &cert)
        .env("PLURALLOG_TLS_KEY", &cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("cert.pem"));
}

/// `--check-config` with `storage.backend = "postgres"` connects: a server that does not
/// answer is a problem it names (target, not password), exit status 2, and a relay started
/// on it stops with the same reason instead of serving.
#[test]
fn an_unreachable_postgresql_is_named_by_check_config_and_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://coffer:pw-hunter2@127.0.0.1:1/coffer";
    let out = relay()
        .args(["--data-dir", dir.path().to_str().unwrap(), "--check-config"])
        .env("COFFER_STORAGE_BACKEND", "postgres")
        .env("COFFER_POSTGRES_URL", url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("configuration is INVALID"), "{text}");
    assert!(
        text.contains("postgres, coffer@127.0.0.1:1/coffer")
            && text.contains("PostgreSQL: no answer from the server"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    let out = relay()
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("COFFER_STORAGE_BACKEND", "postgres")
        .env("COFFER_POSTGRES_URL", url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("PostgreSQL database coffer@127.0.0.1:1/coffer")
            && text.contains("check that the server runs"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

/// `--check-config` with `blobs.backend = "s3"` asks the bucket once: a service that does not
/// answer is a problem it names (bucket and endpoint, never the key), exit status 2, and a
/// relay started on it stops with the same reason instead of serving.
#[test]
fn an_unreachable_s3_service_is_named_by_check_config_and_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("s3-credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = GKtest\naws_secret_access_key = key-hunter2\n",
    )
    .unwrap();
    let s3 = |cmd: &mut std::process::Command| {
        cmd.env("COFFER_BLOBS_BACKEND", "s3")
            .env("COFFER_S3_ENDPOINT", "http://127.0.0.1:1")
            .env("COFFER_S3_REGION", "garage")
            .env("COFFER_S3_BUCKET", "coffer")
            .env("COFFER_S3_CREDENTIALS_FILE", &credentials);
    };
    let mut check = relay();
    check.args(["--data-dir", dir.path().to_str().unwrap(), "--check-config"]);
    s3(&mut check);
    let out = check.output().unwrap();
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("blobs            s3, bucket coffer at http://127.0.0.1:1")
            && text.contains("object store: a request failed"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");

    let mut start = relay();
    start.args([
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    s3(&mut start);
    let out = start.output().unwrap();
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("S3 bucket coffer at http://127.0.0.1:1")
            && text.contains("check that the service runs"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}
