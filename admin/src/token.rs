//! The admin token: read from a file (`--token-file`) or from `COFFER_ADMIN_TOKEN`, never from a
//! command-line flag (flags are visible to every local user in `ps`).
//!
//! The token is wiped from memory on drop, has a redacted `Debug`, no `Display`, and exactly one
//! way out: [`AdminToken::header_value`], which marks the header sensitive. Error messages say
//! where the token came from and what is wrong with it, never what it is.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::Read as _;
use std::path::Path;

use reqwest::header::HeaderValue;
use zeroize::Zeroizing;

use crate::error::AdminError;

pub use crate::token_problem::{MAX_TOKEN_BYTES, TOKEN_ENV, TokenOrigin, TokenProblem};

/// The relay's admin token, as sent in `X-Admin-Token`.
pub struct AdminToken {
    text: Zeroizing<String>,
    origin: TokenOrigin,
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminToken")
            .field("text", &"<redacted>")
            .field("origin", &self.origin)
            .finish()
    }
}

impl AdminToken {
    /// The token from `--token-file` if given, else from `COFFER_ADMIN_TOKEN` (`env_value`).
    /// Flags beat the environment.
    pub fn load(
        file: Option<&Path>,
        env_value: Option<OsString>,
    ) -> Result<AdminToken, AdminError> {
        match (file, env_value) {
            (Some(path), _) => AdminToken::from_file(path),
            (None, Some(value)) => AdminToken::from_env_value(value),
            (None, None) => Err(AdminError::NoToken),
        }
    }

    /// Reads a token file: UTF-8, one trailing line break (`\n` or `\r\n`) removed, at most
    /// [`MAX_TOKEN_BYTES`].
    pub fn from_file(path: &Path) -> Result<AdminToken, AdminError> {
        let origin = TokenOrigin::File(path.to_owned());
        let read_err = |source| AdminError::TokenFile {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(read_err)?;
        // Allocated once at full size, so no partial copy of the token is left behind in a
        // reallocated buffer.
        let mut buf = Zeroizing::new(Vec::with_capacity(MAX_TOKEN_BYTES + 3));
        file.take(MAX_TOKEN_BYTES as u64 + 2)
            .read_to_end(&mut buf)
            .map_err(read_err)?;
        if std::str::from_utf8(&buf).is_err() {
            return Err(AdminError::BadToken {
                origin,
                problem: TokenProblem::NotUtf8,
            });
        }
        let text =
            String::from_utf8(std::mem::take(&mut *buf)).map_err(|_| AdminError::BadToken {
                origin: origin.clone(),
                problem: TokenProblem::NotUtf8,
            })?;
        AdminToken::from_text(Zeroizing::new(text), origin)
    }

    /// A token from the value of `COFFER_ADMIN_TOKEN` (one trailing line break removed too, for
    /// `COFFER_ADMIN_TOKEN="$(cat file)"`-style mistakes that keep it).
    pub fn from_env_value(value: OsString) -> Result<AdminToken, AdminError> {
        let text = value.into_string().map_err(|_| AdminError::BadToken {
            origin: TokenOrigin::Env,
            problem: TokenProblem::NotUtf8,
        })?;
        AdminToken::from_text(Zeroizing::new(text), TokenOrigin::Env)
    }

    fn from_text(
        mut text: Zeroizing<String>,
        origin: TokenOrigin,
    ) -> Result<AdminToken, AdminError> {
        let bad = |problem| {
            Err(AdminError::BadToken {
                origin: origin.clone(),
                problem,
            })
        };
        let without_newline = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .map(str::len);
        if let Some(len) = without_newline {
            // Truncating in place keeps the bytes in the one buffer that is wiped on drop.
            text.truncate(len);
        }
        if text.is_empty() {
            return bad(TokenProblem::Empty);
        }
        if text.len() > MAX_TOKEN_BYTES {
            return bad(TokenProblem::TooLong);
        }
        if text.chars().any(char::is_control) {
            return bad(TokenProblem::ControlCharacters);
        }
        if text.starts_with([' ', '\t']) || text.ends_with([' ', '\t']) {
            return bad(TokenProblem::SurroundingWhitespace);
        }
        Ok(AdminToken { text, origin })
    }

    /// Where the token came from.
    pub fn origin(&self) -> &TokenOrigin {
        &self.origin
    }

    /// The `X-Admin-Token` header value, marked sensitive (HTTP libraries keep it out of debug
    /// output and HPACK tables). The only way to get at the token.
    pub fn header_value(&self) -> Result<HeaderValue, AdminError> {
        let mut value = HeaderValue::from_str(&self.text).map_err(|_| AdminError::BadToken {
            origin: self.origin.clone(),
            problem: TokenProblem::ControlCharacters,
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl AdminToken {
    /// The Argon2id hash (PHC string) of this token for the relay's `admin.token_hash`, computed
    /// by the relay's own code (`coffer_relay::config::admin`), so the two cannot disagree.
    pub fn hash_for_relay(&self) -> Result<String, AdminError> {
        coffer_relay::config::admin::hash_token(self.text.as_bytes())
            .map_err(|e| AdminError::TokenTool(e.to_string()))
    }
}

/// Bytes of randomness in a generated token.
pub const GENERATED_TOKEN_BYTES: usize = 32;

/// A new random admin token: 256 bits from the operating system, as base64url without padding
/// (43 characters, safe in a header, a file, an environment variable and a shell).
pub fn generate() -> AdminToken {
    use base64::Engine as _;
    let bytes = Zeroizing::new(rand::random::<[u8; GENERATED_TOKEN_BYTES]>());
    let text = Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*bytes));
    AdminToken {
        text,
        origin: TokenOrigin::Generated,
    }
}

/// Writes `token` to a new file (mode 0600, never replacing anything), with a trailing newline.
pub fn write_new_file(token: &AdminToken, path: &Path) -> Result<(), AdminError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let fail = |e: std::io::Error| {
        AdminError::TokenTool(format!(
            "cannot create the token file {}: {e}",
            path.display()
        ))
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    let mut line = Zeroizing::new(token.text.as_bytes().to_vec());
    line.push(b'\n');
    file.write_all(&line)
        .and_then(|()| file.sync_all())
        .map_err(fail)
}

/// The text of a generated token, for `token generate` to print it once. Only tokens this
/// process generated can be shown: a token read from a file or the environment cannot.
pub fn reveal_generated(token: &AdminToken) -> Option<&str> {
    (token.origin == TokenOrigin::Generated).then_some(token.text.as_str())
}

/// The permission bits of a token file that let the group or others read it, if any (Unix).
/// A warning, not an error: systemd credentials and secret mounts have their own rules.
#[cfg(unix)]
pub fn loose_permissions(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).ok()?;
    let mode = meta.permissions().mode() & 0o777;
    (meta.is_file() && mode & 0o077 != 0).then_some(mode)
}

/// Always `None` where file modes do not exist.
#[cfg(not(unix))]
pub fn loose_permissions(_path: &Path) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(bytes).expect("write");
        f.flush().expect("flush");
        f
    }

    fn header(token: &AdminToken) -> Vec<u8> {
        token
            .header_value()
            .expect("valid header")
            .as_bytes()
            .to_vec()
    }

    fn problem(result: Result<AdminToken, AdminError>) -> TokenProblem {
        match result {
            Err(AdminError::BadToken { problem, .. }) => problem,
            other => panic!("expected BadToken, got {other:?}"),
        }
    }

    #[test]
    fn file_trailing_newline_is_trimmed() {
        for (content, expected) in [
            (&b"s3cret\n"[..], &b"s3cret"[..]),
            (b"s3cret\r\n", b"s3cret"),
            (b"s3cret", b"s3cret"),
            ("tökén\n".as_bytes(), "tökén".as_bytes()),
        ] {
            let f = file_with(content);
            let token = AdminToken::from_file(f.path()).expect("valid token file");
            assert_eq!(header(&token), expected);
            assert_eq!(token.origin(), &TokenOrigin::File(f.path().to_owned()));
        }
    }

    #[test]
    fn empty_and_bad_files_are_refused() {
        assert_eq!(
            problem(AdminToken::from_file(file_with(b"").path())),
            TokenProblem::Empty
        );
        assert_eq!(
            problem(AdminToken::from_file(file_with(b"\n").path())),
            TokenProblem::Empty
        );
        // Only one line break is removed: a second one is a mistake worth reporting.
        assert_eq!(
            problem(AdminToken::from_file(file_with(b"tok\n\n").path())),
            TokenProblem::ControlCharacters
        );
        assert_eq!(
            problem(AdminToken::from_file(file_with(b"to\x1bk").path())),
            TokenProblem::ControlCharacters
        );
        assert_eq!(
            problem(AdminToken::from_file(file_with(b" tok\n").path())),
            TokenProblem::SurroundingWhitespace
        );
        assert_eq!(
            problem(AdminToken::from_file(file_with(b"tok \n").path())),
            TokenProblem::SurroundingWhitespace
        );
        assert_eq!(
            problem(AdminToken::from_file(file_with(b"\xff\xfe").path())),
            TokenProblem::NotUtf8
        );
        let long = vec![b'a'; MAX_TOKEN_BYTES + 1];
        assert_eq!(
            problem(AdminToken::from_file(file_with(&long).path())),
            TokenProblem::TooLong
        );
        let max = vec![b'a'; MAX_TOKEN_BYTES];
        assert!(AdminToken::from_file(file_with(&max).path()).is_ok());
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope");
        match AdminToken::from_file(&missing) {
            Err(AdminError::TokenFile { path, .. }) => assert_eq!(path, missing),
            other => panic!("expected TokenFile, got {other:?}"),
        }
    }

    #[test]
    fn flag_beats_environment_and_absence_is_an_error() {
        let f = file_with(b"from-file\n");
        let t = AdminToken::load(Some(f.path()), Some("from-env".into())).expect("file token");
        assert_eq!(header(&t), b"from-file");
        let t = AdminToken::load(None, Some("from-env".into())).expect("env token");
        assert_eq!(header(&t), b"from-env");
        assert_eq!(t.origin(), &TokenOrigin::Env);
        assert!(matches!(
            AdminToken::load(None, None),
            Err(AdminError::NoToken)
        ));
        assert_eq!(
            problem(AdminToken::load(None, Some("".into()))),
            TokenProblem::Empty
        );
    }

    #[test]
    fn never_shown() {
        let t = AdminToken::load(None, Some("hunter2-hunter2".into())).expect("token");
        let debug = format!("{t:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(t.header_value().expect("header").is_sensitive());
        let err = problem(AdminToken::load(None, Some("hunter2\x07".into())));
        let msg = AdminError::BadToken {
            origin: TokenOrigin::Env,
            problem: err,
        }
        .to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains(TOKEN_ENV), "{msg}");
    }

    #[test]
    fn generated_tokens_are_random_hashable_and_written_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let a = generate();
        let b = generate();
        let text = reveal_generated(&a).expect("generated").to_owned();
        assert_eq!(text.len(), 43);
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(Some(text.as_str()), reveal_generated(&b));
        let hash = a.hash_for_relay().expect("hash");
        assert!(coffer_relay::config::admin::verify_hash(
            &hash,
            text.as_bytes()
        ));

        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("admin-token");
        write_new_file(&a, &path).expect("write");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = AdminToken::from_file(&path).expect("load");
        assert_eq!(header(&loaded), text.as_bytes());
        assert_eq!(
            reveal_generated(&loaded),
            None,
            "a loaded token is never revealed"
        );
        assert!(write_new_file(&a, &path).is_err(), "never overwrites");
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_reported() {
        use std::os::unix::fs::PermissionsExt as _;
        let f = file_with(b"tok\n");
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(loose_permissions(f.path()), None);
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(loose_permissions(f.path()), Some(0o644));
    }
}
