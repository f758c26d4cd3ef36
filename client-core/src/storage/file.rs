//! [`FileKeyStore`]: one file per key in a private directory, replaced atomically.
//!
//! Layout: the directory (mode 0700) holds one regular file (mode 0600) per key, named after the
//! key with each `/` replaced by `+` (a byte keys cannot contain, so the mapping is reversible
//! and the directory stays flat: one rename and one directory fsync make a write durable).
//! Temporary files are named `.tmp-<random>`; key segments cannot start with `.`, so a temporary
//! file is never mistaken for a key, and [`FileKeyStore::open`] removes any a crash left behind.
//!
//! The files are plain: this store relies on the directory being private to the app (Unix
//! permissions, the app sandbox, full-disk encryption). Mobile apps should prefer a
//! [`KeyStore`] backed by the Android Keystore or the iOS Keychain.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{
    KeyStore, MAX_VALUE_LEN, StorageError, check_value_len, validate_key, validate_prefix,
};
use crate::random;

/// Prefix of temporary files (hidden, and never a valid key file name).
const TMP_PREFIX: &str = ".tmp-";

/// A [`KeyStore`] in a directory of the local file system (see the module documentation).
#[derive(Debug, Clone)]
pub struct FileKeyStore {
    dir: PathBuf,
}

impl FileKeyStore {
    /// Opens (creating it if needed) the store in `dir`.
    ///
    /// A missing directory is created with mode 0700; an existing one must be a real directory
    /// (not a symlink) and is tightened to 0700 if group or others have any access. Temporary
    /// files left by an interrupted write are removed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileKeyStore, StorageError> {
        let dir = dir.into();
        let io_err = |op, source| StorageError::Io {
            op,
            key: dir.display().to_string(),
            source,
        };
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(StorageError::NotADirectory { path: dir }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create_private_dir(&dir).map_err(|e| io_err("create", e))?;
            }
            Err(e) => return Err(io_err("open", e)),
        }
        make_private(&dir).map_err(|e| io_err("set permissions of", e))?;
        let store = FileKeyStore { dir };
        store.sweep_temporaries()?;
        Ok(store)
    }

    /// The directory holding the key files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(key.replace('/', "+"))
    }

    fn sweep_temporaries(&self) -> Result<(), StorageError> {
        for name in self.file_names("sweep")? {
            if name.starts_with(TMP_PREFIX) {
                match fs::remove_file(self.dir.join(&name)) {
                    Ok(()) => tracing::debug!("removed an interrupted key-store write"),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(StorageError::Io {
                            op: "remove",
                            key: name,
                            source,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Names of the directory's regular files that are valid UTF-8 (nothing else can be a key
    /// or a temporary file of this store).
    fn file_names(&self, op: &'static str) -> Result<Vec<String>, StorageError> {
        let io_err = |source| StorageError::Io {
            op,
            key: self.dir.display().to_string(),
            source,
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            if !entry.file_type().map_err(io_err)?.is_file() {
                continue;
            }
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn write_atomically(&self, key: &str, value: &[u8]) -> io::Result<()> {
        let mut suffix = [0u8; 12];
        random::fill(&mut suffix);
        let tmp = self
            .dir
            .join(format!("{TMP_PREFIX}{}", hex::encode(suffix)));
        let mut file = create_private_file(&tmp)?;
        let result = (|| {
            file.write_all(value)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, self.path_of(key))?;
            sync_dir(&self.dir)
        })();
        if result.is_err() {
            // Best effort: a leftover is harmless (never listed) and swept by the next `open`.
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

impl KeyStore for FileKeyStore {
    fn load(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        validate_key(key)?;
        let io_err = |source| StorageError::Io {
            op: "read",
            key: key.to_owned(),
            source,
        };
        let mut file = match File::open(self.path_of(key)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let too_large = || StorageError::TooLarge {
            key: key.to_owned(),
            max: MAX_VALUE_LEN,
        };
        let len = usize::try_from(file.metadata().map_err(io_err)?.len()).unwrap_or(usize::MAX);
        if len > MAX_VALUE_LEN {
            return Err(too_large());
        }
        // Sized up front so the secret is not left behind in a reallocated buffer.
        let mut value = Zeroizing::new(Vec::with_capacity(len + 1));
        (&mut file)
            .take(MAX_VALUE_LEN as u64 + 1)
            .read_to_end(&mut value)
            .map_err(io_err)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(too_large());
        }
        Ok(Some(value))
    }

    fn store(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        validate_key(key)?;
        check_value_len(key, value)?;
        self.write_atomically(key, value)
            .map_err(|source| StorageError::Io {
                op: "write",
                key: key.to_owned(),
                source,
            })
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        let io_err = |source| StorageError::Io {
            op: "delete",
            key: key.to_owned(),
            source,
        };
        match fs::remove_file(self.path_of(key)) {
            Ok(()) => sync_dir(&self.dir).map_err(io_err),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        validate_prefix(prefix)?;
        let mut keys: Vec<String> = self
            .file_names("list")?
            .into_iter()
            .map(|name| name.replace('+', "/"))
            // Skips temporary files and anything else that is not a key file of this store.
            .filter(|key| validate_key(key).is_ok() && key.starts_with(prefix))
            .collect();
        keys.sort_unstable();
        Ok(keys)
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn make_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Makes a rename or removal in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Windows cannot open a directory as a file; NTFS journals the rename itself.
    Ok(())
}
