//! Bounded, careful reads of PEM files.
//!
//! Everything is checked on the opened handle (not the path), so the file that is checked is the
//! file that is read. This module must never read an unbounded amount of data.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

use zeroize::Zeroizing;

use crate::CertError;

/// Largest certificate or key file accepted. Real chains are a few KiB; a limit keeps a wrong
/// path (a log file, a device) from being read into memory.
pub(crate) const MAX_PEM_FILE_BYTES: u64 = 1024 * 1024;

/// What to demand of a file's permissions before reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// No check: certificates, and key files the operator manages (`load_pem`).
    Any,
    /// Owner-only (no group or other bits): key files this crate manages itself.
    OwnerOnly,
}

/// Read a whole PEM file, at most [`MAX_PEM_FILE_BYTES`], into a buffer wiped on drop.
pub(crate) fn read_pem_file(path: &Path, access: Access) -> Result<Zeroizing<Vec<u8>>, CertError> {
    let read_err = |source| CertError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(CertError::NotAFile {
            path: path.to_owned(),
        });
    }
    if access == Access::OwnerOnly {
        check_owner_only(path, &meta)?;
    }
    if meta.len() > MAX_PEM_FILE_BYTES {
        return Err(too_large(path));
    }
    // The file may grow between `metadata` and `read`: read at most one byte past the limit.
    let capacity = usize::try_from(meta.len()).unwrap_or(0);
    let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_PEM_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(too_large(path));
    }
    Ok(buf)
}

fn too_large(path: &Path) -> CertError {
    CertError::FileTooLarge {
        path: path.to_owned(),
        limit: MAX_PEM_FILE_BYTES,
    }
}

/// Refuse a file with any group or other permission bit, as ssh does for private keys: a key
/// that others can read is no longer private, and one that others can write can be replaced.
#[cfg(unix)]
fn check_owner_only(path: &Path, meta: &std::fs::Metadata) -> Result<(), CertError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CertError::KeyPermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Windows and other platforms have no mode bits; access is governed by ACLs of the directory.
#[cfg(not(unix))]
fn check_owner_only(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), CertError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_files_and_names_missing_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.pem");
        std::fs::write(&path, b"hello").expect("write");
        assert_eq!(
            &read_pem_file(&path, Access::Any).expect("read")[..],
            b"hello"
        );

        let missing = dir.path().join("missing.pem");
        let err = read_pem_file(&missing, Access::Any).expect_err("missing");
        assert!(matches!(err, CertError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.pem"), "{err}");
    }

    #[test]
    fn refuses_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = read_pem_file(dir.path(), Access::Any).expect_err("dir");
        assert!(matches!(err, CertError::NotAFile { .. }), "{err:?}");
    }

    #[test]
    fn refuses_files_over_the_limit_and_accepts_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.pem");
        let limit = usize::try_from(MAX_PEM_FILE_BYTES).expect("fits");
        std::fs::write(&path, vec![b'A'; limit]).expect("write");
        assert_eq!(
            read_pem_file(&path, Access::Any).expect("at limit").len(),
            limit
        );

        std::fs::write(&path, vec![b'A'; limit + 1]).expect("write");
        let err = read_pem_file(&path, Access::Any).expect_err("too big");
        assert!(matches!(err, CertError::FileTooLarge { .. }), "{err:?}");
        assert!(err.to_string().contains("big.pem"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn owner_only_refuses_group_and_other_bits() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        std::fs::write(&path, b"k").expect("write");
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            read_pem_file(&path, Access::OwnerOnly).expect("owner-only is fine");
        }
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = read_pem_file(&path, Access::OwnerOnly).expect_err("too open");
            assert!(
                matches!(err, CertError::KeyPermissions { mode: m, .. } if m == mode),
                "{mode:o}: {err:?}"
            );
            assert!(err.to_string().contains("chmod 600"), "{err}");
            // `Any` does not look at the mode.
            read_pem_file(&path, Access::Any).expect("no check");
        }
    }
}
