//! Offline commands on a file that is not a relay database: the message names the file and the
//! next step (not SQLite's bare "file is not a database").

use std::ffi::OsStr;

use crate::support::admin;

#[test]
fn check_data_and_backup_name_a_file_that_is_not_a_database() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("coffer.db");
    std::fs::write(&db, vec![b'#'; 8192]).unwrap();
    let expected = format!("{} is not a Coffer database", db.display());

    let run = admin(
        &[],
        [
            OsStr::new("check-data"),
            OsStr::new("--data-dir"),
            data.as_os_str(),
        ],
    );
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(run.stderr.contains(&expected), "{run:?}");
    assert!(run.stderr.contains("coffer-admin restore"), "{run:?}");

    let out = work.path().join("backup");
    let run = admin(
        &[],
        [
            OsStr::new("backup"),
            OsStr::new("--data-dir"),
            data.as_os_str(),
            OsStr::new("--out"),
            out.as_os_str(),
        ],
    );
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(run.stderr.contains(&expected), "{run:?}");
}
