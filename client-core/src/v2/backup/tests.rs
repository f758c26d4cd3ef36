use super::*;

fn fast() -> BackupParams {
    BackupParams::danger_fast_for_tests()
}

/// Rewrites the trailer so the file passes the checksum again (what a careful forger does).
fn fix_checksum(file: &mut [u8]) {
    let len = file.len() - CHECKSUM_LEN;
    let sum = Sha256::digest(&file[..len]);
    file[len..].copy_from_slice(&sum);
}

#[test]
fn round_trip_and_layout() {
    let file = export_backup(b"secret state", "correct horse", &fast()).expect("exports");
    assert_eq!(file.len(), HEADER_LEN + 12 + TAG_LEN + CHECKSUM_LEN);
    assert_eq!(&file[..5], b"CFBK\x01");
    assert_eq!(&file[5..17], &[0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 1]);
    assert_eq!(&file[HEADER_LEN - 4..HEADER_LEN], &28u32.to_be_bytes());
    let plain = import_backup(&file, "correct horse").expect("imports");
    assert_eq!(&plain[..], b"secret state");
    // Fresh salt and nonce each time.
    assert_ne!(
        export_backup(b"secret state", "correct horse", &fast()).expect("exports"),
        file
    );
    let empty = export_backup(b"", "pw", &fast()).expect("exports");
    assert!(import_backup(&empty, "pw").expect("imports").is_empty());
}

#[test]
fn distinct_errors() {
    let file = export_backup(b"secret state", "correct horse", &fast()).expect("exports");
    assert_eq!(
        import_backup(&file, "wrong horse").err(),
        Some(BackupError::WrongPassphrase)
    );
    for i in [0, 5, 20, HEADER_LEN + 1, file.len() - 1] {
        let mut bad = file.clone();
        bad[i] ^= 0x40;
        assert_eq!(
            import_backup(&bad, "correct horse").err(),
            Some(BackupError::Corrupted),
            "byte {i}"
        );
    }
    assert_eq!(
        import_backup(&file[..file.len() - 1], "correct horse").err(),
        Some(BackupError::Corrupted)
    );
    let mut v2 = file.clone();
    v2[4] = 2;
    fix_checksum(&mut v2);
    assert_eq!(
        import_backup(&v2, "correct horse").err(),
        Some(BackupError::UnsupportedVersion)
    );
    // Altered header with a recomputed checksum: the AAD catches it.
    let mut salt = file.clone();
    salt[20] ^= 1;
    fix_checksum(&mut salt);
    assert_eq!(
        import_backup(&salt, "correct horse").err(),
        Some(BackupError::WrongPassphrase)
    );
    let mut ct_len = file.clone();
    ct_len[HEADER_LEN - 1] ^= 1;
    fix_checksum(&mut ct_len);
    assert_eq!(
        import_backup(&ct_len, "correct horse").err(),
        Some(BackupError::Corrupted)
    );
}

#[test]
fn hostile_parameters_are_refused_before_argon2() {
    let file = export_backup(b"x", "pw", &fast()).expect("exports");
    for (offset, value) in [
        (5, MAX_M_COST_KIB + 1),
        (5, 7),
        (9, MAX_T_COST + 1),
        (9, 0),
        (13, 0),
        (13, MAX_P_COST + 1),
        (5, u32::MAX),
    ] {
        let mut bad = file.clone();
        bad[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
        fix_checksum(&mut bad);
        assert_eq!(
            import_backup(&bad, "pw").err(),
            Some(BackupError::ParametersOutOfRange),
            "offset {offset} value {value}"
        );
    }
}

/// Each bound alone allowed 1 GiB × 100 passes (over a minute per attempt); memory × passes is
/// bounded too. Refused before Argon2 runs, so this test is fast.
#[test]
fn hostile_total_work_is_refused_before_argon2() {
    let file = export_backup(b"x", "pw", &fast()).expect("exports");
    for (m, t) in [
        (MAX_M_COST_KIB, MAX_T_COST),
        (MAX_M_COST_KIB, 5),
        (256 * 1024, 17),
    ] {
        let mut bad = file.clone();
        bad[5..9].copy_from_slice(&m.to_be_bytes());
        bad[9..13].copy_from_slice(&t.to_be_bytes());
        fix_checksum(&mut bad);
        assert_eq!(
            import_backup(&bad, "pw").err(),
            Some(BackupError::ParametersOutOfRange),
            "m {m} t {t}"
        );
    }
    assert!(
        BackupParams::new(MAX_M_COST_KIB, 4, 1).is_ok(),
        "1 GiB × 4 is allowed"
    );
    assert!(
        BackupParams::new(256 * 1024, 16, 1).is_ok(),
        "256 MiB × 16 is allowed"
    );
    assert_eq!(
        BackupParams::new(256 * 1024, 17, 1),
        Err(BackupError::ParametersOutOfRange)
    );
}

#[test]
fn export_parameters() {
    assert_eq!(
        BackupParams::default(),
        BackupParams::new(65536, 3, 1).expect("defaults are valid")
    );
    assert!(BackupParams::new(19 * 1024, 2, 1).is_ok());
    assert!(BackupParams::new(46 * 1024, 1, 1).is_ok());
    for (m, t, p) in [
        (19 * 1024, 1, 1),
        (1024, 100, 1),
        (MAX_M_COST_KIB + 1, 3, 1),
        (65536, 101, 1),
        (65536, 3, 0),
        (65536, 3, 17),
    ] {
        assert_eq!(
            BackupParams::new(m, t, p),
            Err(BackupError::ParametersOutOfRange),
            "{m} {t} {p}"
        );
    }
    assert_eq!(
        export_backup(b"x", "", &fast()).err(),
        Some(BackupError::EmptyPassphrase)
    );
    assert_eq!(
        export_backup(&vec![0; MAX_BACKUP_PLAINTEXT_LEN + 1], "pw", &fast()).err(),
        Some(BackupError::TooLarge)
    );
}
