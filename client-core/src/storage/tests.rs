//! The [`KeyStore`] contract, run against both in-crate stores, plus [`FileKeyStore`] specifics:
//! permissions, atomic replacement, temporary files, foreign files.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

fn file_store() -> (tempfile::TempDir, FileKeyStore) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = FileKeyStore::open(tmp.path().join("keys")).expect("open store");
    (tmp, store)
}

/// Runs `check` against a fresh store of every kind.
fn for_each_store(check: impl Fn(&dyn KeyStore)) {
    check(&MemoryKeyStore::new());
    let (_tmp, store) = file_store();
    check(&store);
}

#[test]
fn round_trip_overwrite_delete() {
    for_each_store(|store| {
        assert!(store.load("vek/meta/1").expect("load").is_none());
        store.store("vek/meta/1", b"first").expect("store");
        assert_eq!(
            store.load("vek/meta/1").expect("load").as_deref(),
            Some(&b"first".to_vec())
        );
        store.store("vek/meta/1", b"second, longer").expect("store");
        assert_eq!(
            store.load("vek/meta/1").expect("load").as_deref(),
            Some(&b"second, longer".to_vec())
        );
        store.store("empty", b"").expect("store empty");
        assert_eq!(
            store.load("empty").expect("load").as_deref(),
            Some(&Vec::new())
        );
        store.delete("vek/meta/1").expect("delete");
        assert!(store.load("vek/meta/1").expect("load").is_none());
        store
            .delete("vek/meta/1")
            .expect("deleting a missing key succeeds");
        assert_eq!(store.list("").expect("list"), vec!["empty".to_owned()]);
    });
}

#[test]
fn list_by_prefix_is_sorted_and_exact() {
    for_each_store(|store| {
        for key in [
            "vek/meta/2",
            "vek/meta/1",
            "vek/meta.x/1",
            "vek/members/1",
            "pin/0a1b",
            "identity",
        ] {
            store.store(key, key.as_bytes()).expect("store");
        }
        assert_eq!(
            store.list("vek/meta/").expect("list"),
            vec!["vek/meta/1".to_owned(), "vek/meta/2".to_owned()]
        );
        assert_eq!(
            store.list("vek/meta").expect("list"),
            vec![
                "vek/meta.x/1".to_owned(),
                "vek/meta/1".to_owned(),
                "vek/meta/2".to_owned()
            ]
        );
        assert_eq!(store.list("").expect("list").len(), 6);
        assert!(store.list("nothing/").expect("list").is_empty());
        assert!(matches!(
            store.list("../"),
            Err(StorageError::InvalidKey { .. })
        ));
        for bad in ["VEK", "/vek", "vek//", "vek/./", "vek/.", ".", "a\0"] {
            assert!(
                matches!(store.list(bad), Err(StorageError::InvalidKey { .. })),
                "{bad:?}"
            );
        }
        for good in ["", "v", "vek/", "vek/meta", "vek/meta/", "vek/meta.x"] {
            assert!(store.list(good).is_ok(), "{good:?}");
        }
    });
}

#[test]
fn refuses_bad_key_names_everywhere() {
    let too_long = "a".repeat(MAX_KEY_LEN + 1);
    let bad = [
        "",
        "/abs",
        "trailing/",
        "a//b",
        "..",
        "../escape",
        "vek/../../etc/passwd",
        "a/./b",
        ".hidden",
        "a/.tmp-0011",
        "Upper",
        "a b",
        "a\\b",
        "a+b",
        "a\0b",
        "nul\n",
        "é",
        too_long.as_str(),
    ];
    for_each_store(|store| {
        for key in bad {
            for result in [
                store.store(key, b"x").map(|_| ()),
                store.load(key).map(|_| ()),
                store.delete(key),
            ] {
                assert!(
                    matches!(result, Err(StorageError::InvalidKey { .. })),
                    "{key:?}: {result:?}"
                );
            }
        }
        assert!(store.list("").expect("list").is_empty(), "nothing stored");
    });
    let max = "a".repeat(MAX_KEY_LEN);
    assert!(validate_key(&max).is_ok());
    for good in ["identity", "vek/org.example-notes/4294967295", "a_b", "0"] {
        assert!(validate_key(good).is_ok(), "{good}");
    }
}

#[test]
fn value_size_is_bounded() {
    let big = vec![0u8; MAX_VALUE_LEN + 1];
    for_each_store(|store| {
        assert!(matches!(
            store.store("big", &big),
            Err(StorageError::TooLarge { .. })
        ));
        assert!(store.load("big").expect("load").is_none());
        store
            .store("max", &big[..MAX_VALUE_LEN])
            .expect("exactly the limit");
    });
    // A file that grew beyond the limit behind the store's back is refused, not read.
    let (_tmp, store) = file_store();
    fs::write(store.dir().join("grown"), &big).expect("write");
    assert!(matches!(
        store.load("grown"),
        Err(StorageError::TooLarge { .. })
    ));
}

#[test]
fn debug_and_errors_show_no_values() {
    let secret = b"SECRET-VALUE-0123456789";
    for_each_store(|store| {
        store.store("identity", secret).expect("store");
        let err = store.store("bad/", secret).expect_err("bad name");
        assert!(!err.to_string().contains("SECRET"), "{err}");
    });
    let mem = MemoryKeyStore::new();
    mem.store("identity", secret).expect("store");
    let debug = format!("{mem:?}");
    assert!(
        !debug.contains("SECRET") && !debug.contains("83, 69"),
        "{debug}"
    );
}

#[cfg(unix)]
#[test]
fn file_modes_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode =
        |path: &std::path::Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    let (tmp, store) = file_store();
    assert_eq!(mode(store.dir()), 0o700);
    store.store("vek/meta/1", b"k").expect("store");
    store.store("vek/meta/1", b"again").expect("overwrite");
    assert_eq!(mode(&store.dir().join("vek+meta+1")), 0o600);

    // An existing, too-open directory is tightened.
    let open_dir = tmp.path().join("open");
    fs::create_dir(&open_dir).expect("mkdir");
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    let store = FileKeyStore::open(&open_dir).expect("open");
    assert_eq!(mode(store.dir()), 0o700);
}

#[cfg(unix)]
#[test]
fn open_refuses_files_and_symlinks() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("file");
    fs::write(&file, b"x").expect("write");
    assert!(matches!(
        FileKeyStore::open(&file),
        Err(StorageError::NotADirectory { .. })
    ));
    let real = tmp.path().join("real");
    fs::create_dir(&real).expect("mkdir");
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    assert!(matches!(
        FileKeyStore::open(&link),
        Err(StorageError::NotADirectory { .. })
    ));
}

#[test]
fn temporary_files_are_never_keys_and_are_swept() {
    let (_tmp, store) = file_store();
    store.store("identity", b"id").expect("store");
    for i in 0..20 {
        store.store("vek/meta/1", &[i; 40]).expect("store");
    }
    let names = |store: &FileKeyStore| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(store.dir())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&store), vec!["identity", "vek+meta+1"]);

    // What a crash between create and rename leaves behind: invisible, then swept.
    let leftover = store.dir().join(".tmp-0123456789abcdef01234567");
    fs::write(&leftover, b"half a secr").expect("write");
    assert_eq!(
        store.list("").expect("list"),
        vec!["identity".to_owned(), "vek/meta/1".to_owned()]
    );
    let reopened = FileKeyStore::open(store.dir()).expect("reopen");
    assert!(!leftover.exists(), "open sweeps interrupted writes");
    assert_eq!(names(&reopened), vec!["identity", "vek+meta+1"]);
    assert_eq!(
        reopened.load("vek/meta/1").expect("load").as_deref(),
        Some(&vec![19u8; 40])
    );
}

#[test]
fn foreign_files_are_ignored_by_list() {
    let (_tmp, store) = file_store();
    store.store("pin/peer", b"fp").expect("store");
    fs::write(store.dir().join("README.TXT"), b"x").expect("write");
    fs::write(store.dir().join("+lead"), b"x").expect("write");
    fs::create_dir(store.dir().join("subdir")).expect("mkdir");
    assert_eq!(store.list("").expect("list"), vec!["pin/peer".to_owned()]);
    // A directory where a key file should be is an I/O error, not a value.
    assert!(matches!(
        store.load("subdir"),
        Err(StorageError::Io { op: "read", .. })
    ));
}

/// Concurrent replacement: every load sees one complete value, never a mix or a prefix.
#[test]
fn replacement_is_atomic_under_concurrency() {
    let (_tmp, store) = file_store();
    let store = Arc::new(store);
    let len = 64 * 1024;
    store.store("vek/meta/1", &vec![0u8; len]).expect("seed");
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (1..=3u8)
        .map(|fill| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..40 {
                    store.store("vek/meta/1", &vec![fill; len]).expect("store");
                }
            })
        })
        .collect();
    let reader = {
        let store = Arc::clone(&store);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !stop.load(Ordering::Relaxed) || reads == 0 {
                let value = store.load("vek/meta/1").expect("load").expect("present");
                assert_eq!(value.len(), len, "torn write visible");
                assert!(value.iter().all(|b| *b == value[0]), "mixed write visible");
                assert_eq!(store.list("").expect("list"), vec!["vek/meta/1"]);
                reads += 1;
            }
            reads
        })
    };
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().expect("reader") > 0);
    let leftovers = fs::read_dir(store.dir()).expect("read dir").count();
    assert_eq!(leftovers, 1, "no temporary file survives a completed write");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_keys_and_values_round_trip(
        segments in proptest::collection::vec("[a-z0-9_-][a-z0-9._-]{0,15}", 1..5),
        value in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
    ) {
        let key = segments.join("/");
        let (_tmp, file) = file_store();
        let mem = MemoryKeyStore::new();
        for store in [&file as &dyn KeyStore, &mem] {
            store.store(&key, &value).expect("valid key");
            let loaded = store.load(&key).expect("load").expect("present");
            proptest::prop_assert_eq!(&loaded[..], &value[..]);
            proptest::prop_assert_eq!(store.list("").expect("list"), vec![key.clone()]);
        }
    }

    #[test]
    fn validation_never_panics_and_refusals_touch_nothing(key in ".{0,64}") {
        let mem = MemoryKeyStore::new();
        if mem.store(&key, b"v").is_err() {
            proptest::prop_assert!(mem.list("").expect("list").is_empty());
        }
    }
}
