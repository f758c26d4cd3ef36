//! `coffer-admin config check` with certificate files: they imply `files`, are loaded and checked
//! as the relay would (names, expiry, pin shown; a foreign key refused), and the log filter is
//! checked (docs/adr/0022-tls-config-honesty-and-reload.md).

use std::ffi::OsStr;

use crate::support::admin;

fn check(file: &std::path::Path, env: &[(&str, &str)]) -> crate::support::Run {
    let mut args = vec![OsStr::new("config"), OsStr::new("check"), file.as_os_str()];
    if !env.is_empty() {
        args.push(OsStr::new("--env"));
    }
    admin(env, args)
}

#[test]
fn certificate_files_are_loaded_and_described() {
    let work = tempfile::tempdir().unwrap();
    let a = coffer_certs::generate_self_signed(&["relay.example".into()]).unwrap();
    let b = coffer_certs::generate_self_signed(&["other.example".into()]).unwrap();
    std::fs::write(work.path().join("cert.pem"), &a.cert_pem).unwrap();
    std::fs::write(work.path().join("key.pem"), a.key_pem.as_bytes()).unwrap();
    let file = work.path().join("relay.toml");
    // No mode: cert and key (relative to the file) mean "files".
    std::fs::write(&file, "[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n").unwrap();

    let run = check(&file, &[]);
    run.assert_code(0);
    for needle in [
        "files".to_owned(),
        a.pin.to_string(),
        "relay.example, expires ".to_owned(),
    ] {
        assert!(run.stdout.contains(&needle), "no {needle}: {run:?}");
    }
    assert!(!run.stdout.contains("self-signed"), "{run:?}");

    // A key of another certificate.
    std::fs::write(work.path().join("key.pem"), b.key_pem.as_bytes()).unwrap();
    let run = check(&file, &[]);
    run.assert_code(2);
    assert!(run.stdout.contains("INVALID"), "{run:?}");
    assert!(!format!("{run:?}").contains("PRIVATE KEY"));

    // An explicit contradicting mode.
    std::fs::write(
        &file,
        "[tls]\nmode = \"self-signed\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .unwrap();
    let run = check(&file, &[]);
    run.assert_code(2);
    assert!(run.stdout.contains("contradicts"), "{run:?}");

    // An invalid log filter from the environment.
    std::fs::write(&file, "").unwrap();
    let run = check(&file, &[("COFFER_LOG", "infoo")]);
    run.assert_code(2);
    assert!(run.stdout.contains("invalid setting log"), "{run:?}");
}
