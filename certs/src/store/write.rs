//! Generation side of the certificate directory (feature `generate`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{CERT_FILE_NAME, KEY_FILE_NAME, Provenance};
use crate::files::Access;
use crate::load::{load_files, material_from_pem};
use crate::{CertError, TlsMaterial};

/// Load `dir/cert.pem` and `dir/key.pem`, or generate a self-signed certificate there if
/// neither exists.
///
/// * Both files exist: they are loaded as by [`load_pem`](crate::load_pem), except that a key
///   file with any group or other permission bit is refused (fix with `chmod 600`).
/// * Neither exists: `dir` is created if needed (mode 0700), a certificate is generated with
///   [`generate_self_signed`](crate::generate_self_signed), the key is written with mode 0600
///   (it never exists with a wider mode), then the certificate, each through a temporary file
///   that is fsynced and then moved into place without replacing anything.
/// * Only one exists: an error, and nothing is touched.
///
/// `subject_alt_names` only matter when generating: an existing certificate is reused even if
/// its names differ, so that its pin, which clients trust, stays the same.
pub fn load_or_generate(
    dir: &Path,
    subject_alt_names: &[String],
) -> Result<(TlsMaterial, Provenance), CertError> {
    let cert_path = dir.join(CERT_FILE_NAME);
    let key_path = dir.join(KEY_FILE_NAME);
    match (exists(&cert_path)?, exists(&key_path)?) {
        (true, true) => {
            let material = load_files(&cert_path, &key_path, Access::OwnerOnly)?;
            Ok((material, Provenance::Loaded))
        }
        (false, false) => {
            let material = generate_into(dir, &cert_path, &key_path, subject_alt_names)?;
            Ok((material, Provenance::Generated))
        }
        (true, false) => Err(CertError::IncompleteCertDir {
            present: cert_path,
            missing: key_path,
        }),
        (false, true) => Err(CertError::IncompleteCertDir {
            present: key_path,
            missing: cert_path,
        }),
    }
}

/// Generate a new self-signed certificate and key as `dir/<cert_name>` and `dir/<key_name>`,
/// with the same care as [`load_or_generate`] (key mode 0600 from the start, fsynced, published
/// without replacing anything). Fails with [`CertError::AlreadyExists`] if either file exists.
pub(crate) fn generate_pair(
    dir: &Path,
    cert_name: &str,
    key_name: &str,
    subject_alt_names: &[String],
) -> Result<TlsMaterial, CertError> {
    let cert_path = dir.join(cert_name);
    let key_path = dir.join(key_name);
    for path in [&cert_path, &key_path] {
        if exists(path)? {
            return Err(CertError::AlreadyExists { path: path.clone() });
        }
    }
    generate_into(dir, &cert_path, &key_path, subject_alt_names)
}

/// Whether anything (even a dangling symlink) is at `path`: such a path is never written over.
pub(crate) fn exists(path: &Path) -> Result<bool, CertError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(CertError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn generate_into(
    dir: &Path,
    cert_path: &Path,
    key_path: &Path,
    subject_alt_names: &[String],
) -> Result<TlsMaterial, CertError> {
    let generated = crate::generate_self_signed(subject_alt_names)?;
    create_private_dir(dir)?;

    // Both temporary files are complete and durable before either final name appears, and the
    // certificate appears last: `cert.pem` present implies `key.pem` present.
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let key_tmp = TempFile::create(
        dir,
        &file_name(key_path),
        0o600,
        generated.key_pem.as_bytes(),
    )?;
    let cert_tmp = TempFile::create(
        dir,
        &file_name(cert_path),
        0o644,
        generated.cert_pem.as_bytes(),
    )?;
    key_tmp.publish(key_path)?;
    cert_tmp.publish(cert_path)?;
    sync_dir(dir)?;

    material_from_pem(
        generated.cert_pem.as_bytes(),
        cert_path,
        generated.key_pem.as_bytes(),
        key_path,
    )
}

pub(crate) fn write_err(path: &Path) -> impl FnOnce(io::Error) -> CertError + '_ {
    move |source| CertError::Write {
        path: path.to_owned(),
        source,
    }
}

/// Create `dir` (and missing parents) with mode 0700. An existing directory is left as it is.
fn create_private_dir(dir: &Path) -> Result<(), CertError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(write_err(dir))
}

/// Make the new directory entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), CertError> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A fully written, fsynced file under a random temporary name, removed on drop unless it was
/// published.
struct TempFile {
    path: PathBuf,
    published: bool,
}

impl TempFile {
    /// Create `dir/.<final_name>.<random>.tmp` with `mode` from the start (`O_EXCL`: never an
    /// existing file or a symlink), write `contents` and fsync.
    fn create(dir: &Path, final_name: &str, mode: u32, contents: &[u8]) -> Result<Self, CertError> {
        let mut random = [0u8; 8];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut random)
            .map_err(|_| CertError::Write {
                path: dir.to_owned(),
                source: io::Error::other("the system random number generator failed"),
            })?;
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!(".{final_name}.{suffix}.tmp"));

        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&path).map_err(write_err(&path))?;
        let temp = TempFile {
            path,
            published: false,
        };
        io::Write::write_all(&mut file, contents)
            .and_then(|()| file.sync_all())
            .map_err(write_err(&temp.path))?;
        Ok(temp)
    }

    /// Give the file its final name, failing if anything already has that name.
    ///
    /// A hard link cannot replace an existing entry (unlike `rename`), so two processes racing
    /// to generate cannot end with one's key and the other's certificate. Filesystems without
    /// hard links fall back to a checked `rename`.
    fn publish(mut self, final_path: &Path) -> Result<(), CertError> {
        match fs::hard_link(&self.path, final_path) {
            Ok(()) => {
                self.published = true;
                // Best effort: the final name is in place; a leftover second name of the same
                // owner-only file in the same directory is harmless.
                let _ = fs::remove_file(&self.path);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(CertError::Write {
                path: final_path.to_owned(),
                source: e,
            }),
            Err(_) => {
                if exists(final_path)? {
                    return Err(CertError::Write {
                        path: final_path.to_owned(),
                        source: io::ErrorKind::AlreadyExists.into(),
                    });
                }
                fs::rename(&self.path, final_path).map_err(write_err(final_path))?;
                self.published = true;
                Ok(())
            }
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
