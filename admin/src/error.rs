//! The CLI's one error type, and the one place where a failure becomes an exit code.
//!
//! Exit codes are a promise to scripts: [`Exit`] lists them, [`AdminError::exit`] is the only
//! mapping from failures to them, and `--help` and the README are generated from / checked
//! against [`Exit::ALL`]. Messages never contain the admin token; text that came from the relay
//! has been passed through [`crate::output::clean`] before it gets here.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use coffer_certs::SpkiPin;

use crate::backup::BackupError;
use crate::token_problem::{TokenOrigin, TokenProblem};

/// The process exit statuses of `coffer-admin`. Stable: scripts rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the command succeeded.
    Ok,
    /// 1: the relay answered with an error (its message is printed), or with something that is
    /// not what the admin API sends.
    RelayError,
    /// 2: usage or local configuration error: bad arguments, bad pin or URL, no or bad token,
    /// confirmation refused.
    Usage,
    /// 3: the relay cannot be reached, or TLS failed (pin mismatch, untrusted certificate).
    Unreachable,
    /// 4: the relay refused the admin token.
    Unauthorized,
    /// 5: the relay is rate-limiting this client.
    RateLimited,
    /// 6: a local (offline) operation failed: backup, restore, certificate or token files
    /// (I/O error, damaged backup, verification failed).
    Local,
}

impl Exit {
    /// Every exit status, in numeric order.
    pub const ALL: [Exit; 7] = [
        Exit::Ok,
        Exit::RelayError,
        Exit::Usage,
        Exit::Unreachable,
        Exit::Unauthorized,
        Exit::RateLimited,
        Exit::Local,
    ];

    /// The numeric status.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::RelayError => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
            Exit::Unauthorized => 4,
            Exit::RateLimited => 5,
            Exit::Local => 6,
        }
    }

    /// One line for `--help` and the README.
    pub const fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "success",
            Exit::RelayError => "the relay answered with an error (its message is printed)",
            Exit::Usage => {
                "usage or configuration error: bad argument, pin or URL, no or bad token, \
                 confirmation refused, invalid relay configuration, target not empty"
            }
            Exit::Unreachable => {
                "cannot reach the relay, or TLS failed (says whether the pin did not match)"
            }
            Exit::Unauthorized => "the relay refused the admin token",
            Exit::RateLimited => "rate limited by the relay (Retry-After is printed)",
            Exit::Local => {
                "an offline operation failed: backup, restore, certificate or token files \
                 (I/O error, damaged backup, verification failed)"
            }
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// The "Exit codes" section of `--help`.
pub fn exit_codes_help() -> String {
    let mut text = String::from("Exit codes:\n");
    for exit in Exit::ALL {
        text.push_str(&format!("  {}  {}\n", exit.code(), exit.meaning()));
    }
    text
}

/// Why a TLS connection or an HTTP exchange with the relay failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The relay's certificate key does not hash to the pinned value.
    PinMismatch {
        /// The pin that was expected (`--pin` / `COFFER_ADMIN_PIN`).
        expected: SpkiPin,
    },
    /// The certificate was rejected: not trusted by the Web PKI, wrong name, expired, or
    /// unparsable.
    Certificate {
        /// rustls' description of the problem.
        detail: String,
        /// Whether the Web PKI (no `--pin`) was in use: then the usual cause is a self-signed
        /// relay, which needs `--pin`.
        web_pki: bool,
    },
    /// Another TLS failure (no common protocol version, an alert from the relay, ...).
    Tls {
        /// rustls' description of the problem.
        detail: String,
    },
    /// No complete answer within `--timeout`.
    Timeout {
        /// The timeout in seconds.
        secs: u64,
    },
    /// The connection could not be made or broke (refused, unknown host, reset, ...).
    Network {
        /// The chain of underlying errors.
        detail: String,
    },
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::PinMismatch { expected } => write!(
                f,
                "TLS failure: PIN MISMATCH: the relay's certificate key is not the pinned one \
                 ({expected}). If the relay's key was replaced on purpose, take the new pin from \
                 the `pin:` line the relay prints at start; otherwise something may be \
                 intercepting the connection"
            ),
            ConnectFailure::Certificate { detail, web_pki } => {
                write!(
                    f,
                    "TLS failure: the relay's certificate was rejected ({detail})"
                )?;
                if *web_pki {
                    f.write_str(
                        "; a relay with a self-signed certificate needs --pin (the `pin:` line \
                         it prints at start)",
                    )?;
                }
                Ok(())
            }
            ConnectFailure::Tls { detail } => write!(f, "TLS failure: {detail}"),
            ConnectFailure::Timeout { secs } => {
                write!(f, "no answer within {secs} s (see --timeout)")
            }
            ConnectFailure::Network { detail } => f.write_str(detail),
        }
    }
}

/// Which confirmation was refused, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// stdin is not a terminal and `--yes` was not given.
    NotInteractive,
    /// stdin ended before an answer.
    NoAnswer,
    /// The answer was not the expected text.
    Mismatch,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotInteractive => {
                "stdin is not a terminal, so nobody can confirm; pass --yes to confirm in a script"
            }
            Refusal::NoAnswer => "no answer on stdin",
            Refusal::Mismatch => "the answer did not match",
        })
    }
}

/// Everything that can make a `coffer-admin` command fail. [`AdminError::exit`] says with which
/// exit status.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A command that needs the admin token was run without one.
    #[error(
        "no admin token: pass --token-file PATH or set COFFER_ADMIN_TOKEN (there is no --token \
         flag: the token would show in `ps`)"
    )]
    NoToken,

    /// The token file cannot be opened or read.
    #[error("cannot read the token file {}: {source}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The token text is unusable (empty, too long, not UTF-8, ...). The token is not shown.
    #[error("the admin token from {origin} is unusable: {problem}")]
    BadToken {
        /// Where the token came from.
        origin: TokenOrigin,
        /// What is wrong with it.
        problem: TokenProblem,
    },

    /// A destructive command was not confirmed; nothing was changed.
    #[error("{action}: not confirmed, nothing was changed: {reason}")]
    NotConfirmed {
        /// What would have happened ("delete user …").
        action: String,
        /// Why the confirmation failed.
        reason: Refusal,
    },

    /// stdin could not be read while asking for a confirmation.
    #[error("cannot read the confirmation from stdin: {0}")]
    Stdin(#[source] io::Error),

    /// The async runtime or the HTTPS client could not be set up.
    #[error("cannot set up the HTTPS client: {0}")]
    ClientSetup(String),

    /// The relay could not be reached, or TLS failed.
    #[error("cannot reach the relay at {url}: {failure}")]
    Unreachable {
        /// The URL that was tried (never contains credentials: those are refused in URLs).
        url: String,
        /// What went wrong.
        failure: ConnectFailure,
    },

    /// The relay answered 401: the admin token is wrong, or the admin API is disabled.
    #[error(
        "the relay refused the admin token: {message} (check --token-file / COFFER_ADMIN_TOKEN \
         against the relay's COFFER_ADMIN_TOKEN)"
    )]
    Unauthorized {
        /// The relay's message.
        message: String,
    },

    /// The relay answered 429. The admin API's limit is `rate.admin` per address.
    #[error(
        "rate limited by the relay: {message} (Retry-After: {}). The admin API allows \
         rate.admin requests per minute per address (env COFFER_RATE_ADMIN, default 60): wait, \
         or raise it in the relay's configuration if a script needs more",
        retry_after.as_deref().unwrap_or("not given")
    )]
    RateLimited {
        /// The `Retry-After` header (seconds, as sent), if any.
        retry_after: Option<String>,
        /// The relay's message.
        message: String,
    },

    /// The relay answered with another error status.
    #[error("the relay answered {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Relay {
        /// The HTTP status.
        status: u16,
        /// The relay's machine-readable `error` code, if the body had one.
        code: Option<String>,
        /// The relay's `message`, or the start of a non-JSON body.
        message: String,
    },

    /// The relay answered 2xx with something that is not what the admin API sends.
    #[error("unexpected answer to {request}: {detail}")]
    InvalidResponse {
        /// The request (`GET /api/v1/admin/stats`).
        request: String,
        /// What is wrong with the answer.
        detail: String,
    },

    /// Writing the output failed (for example a closed pipe).
    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),

    /// A relay configuration file is invalid (`config check`, or the paths of `backup`).
    #[error("invalid relay configuration: {message}")]
    InvalidConfig {
        /// The relay's own explanation (file, key, what is wrong; never a secret).
        message: String,
    },

    /// The relay's database cannot be used by an offline command: not Coffer's, damaged,
    /// unreadable. The message names the file and the next step (`store::db_errors`).
    #[error("{0}")]
    Database(String),

    /// A certificate operation failed.
    #[error("{0}")]
    Cert(#[from] coffer_certs::CertError),

    /// `cert pair` has no pin to put in the pairing string.
    #[error(
        "no pin for the pairing string: pass --dir <the relay's tls directory> or --pin sha256/…"
    )]
    PairingNeedsPin,

    /// A backup or restore failed.
    #[error("{0}")]
    Backup(#[from] BackupError),

    /// The admin token could not be hashed or written.
    #[error("{0}")]
    TokenTool(String),

    /// `import-plurallog` failed, lost items, or its result is not consistent.
    #[error("{0}")]
    Import(#[from] crate::import::ImportError),

    /// `check-data` found the database and the blob files disagreeing.
    #[error("the relay's stored data is not consistent: {problems} problem(s), see above")]
    Inconsistent {
        /// How many problems were found.
        problems: u64,
    },
}

impl AdminError {
    /// The exit status for this failure. The only place where failures become exit codes.
    pub fn exit(&self) -> Exit {
        match self {
            AdminError::NoToken
            | AdminError::TokenFile { .. }
            | AdminError::BadToken { .. }
            | AdminError::NotConfirmed { .. }
            | AdminError::Stdin(_)
            | AdminError::ClientSetup(_) => Exit::Usage,
            AdminError::Unreachable { .. } => Exit::Unreachable,
            AdminError::Unauthorized { .. } => Exit::Unauthorized,
            AdminError::RateLimited { .. } => Exit::RateLimited,
            AdminError::Relay { .. }
            | AdminError::InvalidResponse { .. }
            | AdminError::Output(_) => Exit::RelayError,
            AdminError::InvalidConfig { .. } | AdminError::PairingNeedsPin => Exit::Usage,
            AdminError::Cert(err) => match err {
                coffer_certs::CertError::AlreadyExists { .. }
                | coffer_certs::CertError::InvalidSubjectAltName { .. }
                | coffer_certs::CertError::InvalidPin { .. }
                | coffer_certs::CertError::InvalidPairing { .. }
                | coffer_certs::CertError::NoNextCertificate { .. } => Exit::Usage,
                _ => Exit::Local,
            },
            AdminError::Backup(err) => err.exit(),
            AdminError::Import(crate::import::ImportError::NotEmpty { .. }) => Exit::Usage,
            AdminError::Import(_) => Exit::Local,
            AdminError::TokenTool(_) | AdminError::Inconsistent { .. } => Exit::Local,
            // The file the command was pointed at is not one it can use: as for a bad
            // configuration, the operator's next step is to point it elsewhere (or import).
            AdminError::Database(_) => Exit::Usage,
        }
    }
}

/// Here rather than in `backup.rs`, so that the backup code does not reach back into the
/// CLI's error module (which wraps [`BackupError`]).
impl BackupError {
    /// The exit status: 2 when the operator chose an unusable target, 6 otherwise.
    pub fn exit(&self) -> Exit {
        match self {
            BackupError::NotEmpty { .. } => Exit::Usage,
            _ => Exit::Local,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> SpkiPin {
        "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk="
            .parse()
            .expect("valid pin")
    }

    #[test]
    fn codes_are_distinct_and_ordered() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(ExitCode::from(Exit::RateLimited), ExitCode::from(5));
    }

    #[test]
    fn every_failure_maps_to_its_documented_code() {
        let io = || io::Error::other("x");
        let cases: Vec<(AdminError, u8)> = vec![
            (AdminError::NoToken, 2),
            (
                AdminError::TokenFile {
                    path: "/nope".into(),
                    source: io(),
                },
                2,
            ),
            (
                AdminError::BadToken {
                    origin: TokenOrigin::Env,
                    problem: TokenProblem::Empty,
                },
                2,
            ),
            (
                AdminError::NotConfirmed {
                    action: "delete".into(),
                    reason: Refusal::NotInteractive,
                },
                2,
            ),
            (AdminError::Stdin(io()), 2),
            (AdminError::ClientSetup("x".into()), 2),
            (
                AdminError::Unreachable {
                    url: "https://x/".into(),
                    failure: ConnectFailure::PinMismatch { expected: pin() },
                },
                3,
            ),
            (
                AdminError::Unreachable {
                    url: "https://x/".into(),
                    failure: ConnectFailure::Timeout { secs: 1 },
                },
                3,
            ),
            (
                AdminError::Unauthorized {
                    message: "no".into(),
                },
                4,
            ),
            (
                AdminError::RateLimited {
                    retry_after: Some("7".into()),
                    message: "slow down".into(),
                },
                5,
            ),
            (
                AdminError::Relay {
                    status: 404,
                    code: Some("not_found".into()),
                    message: "User not found".into(),
                },
                1,
            ),
            (
                AdminError::InvalidResponse {
                    request: "GET /".into(),
                    detail: "not JSON".into(),
                },
                1,
            ),
            (AdminError::Output(io()), 1),
            (
                AdminError::InvalidConfig {
                    message: "x".into(),
                },
                2,
            ),
            (AdminError::PairingNeedsPin, 2),
            (
                AdminError::Cert(coffer_certs::CertError::AlreadyExists { path: "/x".into() }),
                2,
            ),
            (
                AdminError::Cert(coffer_certs::CertError::Write {
                    path: "/x".into(),
                    source: io(),
                }),
                6,
            ),
            (
                AdminError::Backup(crate::backup::BackupError::NotEmpty { path: "/x".into() }),
                2,
            ),
            (
                AdminError::Backup(crate::backup::BackupError::Verify { detail: "x".into() }),
                6,
            ),
            (AdminError::TokenTool("x".into()), 6),
        ];
        for (err, code) in cases {
            assert_eq!(err.exit().code(), code, "{err}");
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let mismatch = AdminError::Unreachable {
            url: "https://127.0.0.1:8443/".into(),
            failure: ConnectFailure::PinMismatch { expected: pin() },
        }
        .to_string();
        assert!(mismatch.contains("PIN MISMATCH"), "{mismatch}");
        assert!(mismatch.contains(&pin().to_string()), "{mismatch}");

        let webpki = ConnectFailure::Certificate {
            detail: "invalid peer certificate: UnknownIssuer".into(),
            web_pki: true,
        }
        .to_string();
        assert!(webpki.contains("--pin"), "{webpki}");

        let limited = AdminError::RateLimited {
            retry_after: Some("42".into()),
            message: "Too many requests.".into(),
        }
        .to_string();
        assert!(limited.contains("Retry-After: 42"), "{limited}");
        assert!(
            limited.contains("rate.admin") && limited.contains("COFFER_RATE_ADMIN"),
            "{limited}"
        );

        let relay = AdminError::Relay {
            status: 404,
            code: Some("not_found".into()),
            message: "User not found".into(),
        }
        .to_string();
        assert_eq!(relay, "the relay answered 404 (not_found): User not found");

        assert!(AdminError::NoToken.to_string().contains("--token-file"));
    }

    #[test]
    fn help_lists_every_code() {
        let help = exit_codes_help();
        for exit in Exit::ALL {
            assert!(
                help.contains(&format!("  {}  {}", exit.code(), exit.meaning())),
                "{help}"
            );
        }
    }

    #[test]
    fn readme_documents_every_code() {
        let readme = include_str!("../README.md");
        for exit in Exit::ALL {
            let row = format!("| {} |", exit.code());
            assert!(
                readme.contains(&row),
                "README lacks the row for exit {}",
                exit.code()
            );
        }
    }
}
