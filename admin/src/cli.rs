//! The command line (clap derive). Values are parsed into their types here ([`RelayUrl`],
//! [`SpkiPin`], [`UserId`]), so a bad pin, URL or id is a usage error (exit 2) before anything
//! touches the network.
//!
//! There is deliberately no `--token` flag (the token would show in `ps`) and no option to skip
//! certificate verification.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use coffer_certs::SpkiPin;

use crate::client::RelayUrl;
use crate::error::exit_codes_help;
use crate::listing::{SharingArgs, UsersListArgs, VolumesArgs};
use crate::model::UserId;

/// Operator CLI for a Coffer relay's admin API.
///
/// Shows what the relay stores about its users (ids, handles, volume names, sizes, sharing
/// pairs, session counts: metadata only, never content or keys), deletes users, ends all
/// sessions and runs housekeeping.
///
/// Trust: with --pin, exactly the relay key with that SHA-256 SPKI pin is accepted (the `pin:`
/// line `coffer-relay` prints at start); without it, the relay needs a certificate from a
/// public CA (Web PKI). Certificate verification cannot be turned off.
///
/// The admin token is read from --token-file or the COFFER_ADMIN_TOKEN environment variable,
/// never from a flag.
///
/// The offline commands (token, backup, restore, config, cert) work on files on this machine
/// and talk to no relay.
#[derive(Debug, Parser)]
#[command(name = "coffer-admin", version, after_long_help = exit_codes_help())]
pub struct Cli {
    /// Connection and output options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options that apply to every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Base URL of the relay (https only; a path prefix is kept).
    #[arg(
        long,
        global = true,
        env = "COFFER_ADMIN_URL",
        value_name = "URL",
        default_value = "https://127.0.0.1:8443"
    )]
    pub url: RelayUrl,

    /// Trust exactly the relay key with this SPKI pin (sha256/ + 44 base64 characters), as
    /// printed by coffer-relay at start. Without it: Web PKI (Mozilla's roots).
    #[arg(long, global = true, env = "COFFER_ADMIN_PIN", value_name = "sha256/…")]
    pub pin: Option<SpkiPin>,

    /// File holding the admin token (one trailing line break is ignored). Takes precedence over
    /// the COFFER_ADMIN_TOKEN environment variable.
    #[arg(
        long,
        global = true,
        env = "COFFER_ADMIN_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub token_file: Option<PathBuf>,

    /// Print the relay's JSON answer (pretty-printed) instead of tables: stable for scripts.
    #[arg(long, global = true)]
    pub json: bool,

    /// Give up on a request after this many seconds (connect and answer).
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub timeout: u64,
}

impl GlobalArgs {
    /// `--timeout` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Is the relay up? Status, version, uptime (no token needed).
    Health,
    /// Overview: users, registrations, volumes and storage, shares; per-volume-name totals.
    Stats,
    /// Registered users: list, show one, delete one.
    Users {
        /// What to do with users.
        #[command(subcommand)]
        action: UsersCommand,
    },
    /// Stored volumes, v1 and v2: owner, name, protocol, version, size, last update (never
    /// content). Flags page and filter the list; without them it is complete.
    Volumes(VolumesArgs),
    /// Sharing relationships, v1 and v2 pairings: system, friend, protocol, status, permission
    /// flags (v2: the granted volumes), expiry (never keys). Flags page and filter the list.
    Sharing(SharingArgs),
    /// Active sessions, pending login challenges and invites; `expire-all` logs everyone out.
    Sessions {
        /// Without an action: show the counts.
        #[command(subcommand)]
        action: Option<SessionsCommand>,
    },
    /// Run housekeeping now: delete expired sessions, challenges and invites, sweep orphan blobs.
    ///
    /// Runs in steps (expired rows, then the orphan sweep page by page) and shows a progress bar
    /// on a terminal; a relay without the step endpoints gets the one-call v1 maintenance.
    Maintenance,
    /// Challenge floods, repeated failed logins and unusual storage growth the relay counted
    /// (in memory, over a sliding window); addresses only as the relay's ip_policy allows.
    Anomalies,
    /// Registration codes for a relay with registration.mode = "invite-only": `create` issues a
    /// single-use code (shown once), `status` shows the mode, the user cap and open codes.
    RegistrationCode {
        /// What to do.
        #[command(subcommand)]
        action: RegistrationCodeCommand,
    },
    /// Offline: make an admin token and its Argon2id hash for the relay's configuration.
    Token {
        /// What to do.
        #[command(subcommand)]
        action: TokenCommand,
    },
    /// Offline: a consistent copy of a (running) relay's data: database snapshot (VACUUM INTO),
    /// exactly the blob files it references, the TLS certificate and keys, a manifest.
    Backup(BackupArgs),
    /// Offline: restore a backup into an empty data directory, verifying every file first.
    Restore(RestoreArgs),
    /// Offline: check a relay's stored data: SQLite integrity and foreign keys, every volume
    /// row's blob file (or object) present with the size the row records, per-user storage
    /// adding up; orphan and temporary files are counted (harmless, swept by the relay).
    /// Read-only, on SQLite or PostgreSQL, blob files or S3; run it with the relays stopped (a
    /// running relay's uploads in flight show as orphans). Exit 0: consistent; 6: not.
    CheckData(CheckDataArgs),
    /// Offline: copy a relay's whole stored state to another back end (SQLite + blob files to
    /// PostgreSQL + S3, and back, or any mix), names and all; resumable (an interrupted run
    /// leaves no rows and goes on from the blobs it copied), verified (every table's SHA-256
    /// read back before the commit; the consistency check on both sides). Stop the relays
    /// first. The environment is not read: each side is its configuration file (and/or data
    /// directory) alone.
    MigrateStore(MigrateStoreArgs),
    /// Offline: check a relay configuration file.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigCommand,
    },
    /// Offline: TLS certificates: generate, show a pin, prepare and rotate to a next key,
    /// print a pairing string and QR code.
    Cert {
        /// What to do.
        #[command(subcommand)]
        action: CertCommand,
    },
    /// Offline: move a PluralLog (v1 reference) relay into a new Coffer data directory: its
    /// SQLite database and volume directory become users, volumes (every blob verified),
    /// relationships, open invites and live sessions (tokens stored hashed, so apps stay
    /// logged in). Stop the old relay first. Prints what was carried and every item that
    /// could not be, with the reason; writes nothing if anything would be lost unless
    /// --allow-partial. Then runs the consistency check of `check-data`.
    /// Exit 0: imported (or the dry run found nothing lost); 2: the target is not empty;
    /// 6: items lost, a damaged source, or a failed write (nothing kept).
    ImportPlurallog(ImportArgs),
}

/// `import-plurallog`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The PluralLog relay's database (`plurallog_relay.db`); opened read-only.
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// The PluralLog relay's volume directory (PLURALLOG_VOLUME_PATH, by default
    /// `volume_storage/`), holding `<user_id>/<volume>.bin`.
    #[arg(long, value_name = "DIR")]
    pub volumes: PathBuf,
    /// The new Coffer data directory (must not exist, or be empty), and with --config the
    /// database and blob paths of the Coffer relay's configuration.
    #[command(flatten)]
    pub relay: RelayPaths,
    /// Read and verify everything and print the report; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import even if some items cannot be carried (they are listed); exit 0.
    #[arg(long)]
    pub allow_partial: bool,
}

/// `token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// A new random admin token (256 bits) and its Argon2id hash.
    ///
    /// The relay gets only the hash (`admin.token_hash` / COFFER_ADMIN_TOKEN_HASH); the token
    /// goes to coffer-admin (--token-file / COFFER_ADMIN_TOKEN) or the dashboard. It is printed
    /// once, or with --out written to a new file with mode 0600 and not printed at all.
    Generate {
        /// Write the token to this new file (mode 0600) instead of printing it.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// The Argon2id hash of an existing token (from --token-file or COFFER_ADMIN_TOKEN), to
    /// move a relay from a plain `admin.token` to `admin.token_hash`.
    Hash,
}

/// Where a relay keeps its data: a configuration file and/or a data directory.
#[derive(Debug, Args)]
pub struct RelayPaths {
    /// The relay's configuration file (for `database` / `blob_dir` set apart from data_dir).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The relay's data directory (overrides the configuration file's).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where the relay's data is.
    #[command(flatten)]
    pub relay: RelayPaths,
    /// The backup directory to create (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Leave out the TLS certificate and private keys (the restored relay then generates a new
    /// certificate, and every client must pair again).
    #[arg(long)]
    pub without_tls: bool,
}

/// `check-data`.
#[derive(Debug, Args)]
pub struct CheckDataArgs {
    /// Where the relay's data is.
    #[command(flatten)]
    pub relay: RelayPaths,
}

/// `migrate-store`.
#[derive(Debug, Args)]
pub struct MigrateStoreArgs {
    /// The source relay's configuration file.
    #[arg(long, value_name = "FILE")]
    pub from_config: Option<PathBuf>,
    /// The source relay's data directory (overrides its configuration file's).
    #[arg(long, value_name = "DIR")]
    pub from_data_dir: Option<PathBuf>,
    /// The destination relay's configuration file (the one its relays will run with).
    #[arg(long, value_name = "FILE")]
    pub to_config: Option<PathBuf>,
    /// The destination relay's data directory (overrides its configuration file's).
    #[arg(long, value_name = "DIR")]
    pub to_data_dir: Option<PathBuf>,
}

/// `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup directory (made by `coffer-admin backup`).
    pub backup: PathBuf,
    /// Where to restore to: the data directory (must not exist, or be empty), and the database
    /// and blob paths of the configuration, if it sets them apart.
    #[command(flatten)]
    pub relay: RelayPaths,
}

/// `config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Parse and validate a relay configuration file exactly as the relay does, load its TLS
    /// files, and warn about risky settings. Exit 0: valid; 2: invalid.
    Check {
        /// The TOML file.
        file: PathBuf,
        /// Also apply the COFFER_*/PLURALLOG_* environment variables, as the relay would.
        #[arg(long)]
        env: bool,
    },
}

/// Where the relay's certificate files are.
#[derive(Debug, Args)]
pub struct CertDir {
    /// The relay's certificate directory (`<data_dir>/tls`).
    #[arg(long, value_name = "DIR", default_value = "./coffer-data/tls")]
    pub dir: PathBuf,
}

/// `cert …`.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Generate a self-signed certificate (cert.pem, key.pem 0600) for host names and LAN
    /// addresses; localhost, 127.0.0.1 and ::1 are always included. Refuses to overwrite.
    Generate {
        /// Where to write it.
        #[command(flatten)]
        dir: CertDir,
        /// A DNS name or IP address the relay is reached by (repeat for several).
        #[arg(long = "name", value_name = "NAME")]
        names: Vec<String>,
    },
    /// The SHA-256 SPKI pin of a PEM certificate file (what clients pin).
    Pin {
        /// The certificate file.
        file: PathBuf,
    },
    /// Prepare the next key and certificate (next-cert.pem, next-key.pem) beside the current
    /// ones. After a restart the relay announces the next pin (banner, GET /api/v2/pins) so
    /// clients can trust it ahead of `cert rotate`.
    Next {
        /// The certificate directory.
        #[command(flatten)]
        dir: CertDir,
        /// A DNS name or IP address for the next certificate (repeat for several).
        #[arg(long = "name", value_name = "NAME")]
        names: Vec<String>,
        /// Replace an already prepared next pair (clients that pre-pinned it must learn again).
        #[arg(long)]
        replace: bool,
    },
    /// Promote the prepared next certificate to current (the old pair is kept as
    /// previous-*.pem). Restart the relay afterwards.
    Rotate {
        /// The certificate directory.
        #[command(flatten)]
        dir: CertDir,
    },
    /// A pairing string (coffer://relay?…) and a terminal QR code that a phone scans to trust
    /// the relay at --url: its current pin and, if prepared, its next pin.
    ///
    /// Pins come from --dir (the relay's certificate directory) or, without it, from --pin.
    Pair {
        /// The certificate directory to read the pins from.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print no QR code.
        #[arg(long)]
        no_qr: bool,
        /// Draw the QR code for a terminal with a light background.
        #[arg(long)]
        light_background: bool,
    },
}

/// `users …`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// One row per user (v1 and v2): id, handle, type, protocol, storage, registration,
    /// features. Flags page and filter the list; without them it is complete.
    List(UsersListArgs),
    /// One user and their volumes.
    Show {
        /// The user's id (a UUID, see `users list`).
        id: UserId,
    },
    /// Delete a user with their volumes, sharing relationships and sessions. Cannot be undone.
    ///
    /// Without --yes, shows the user and asks you to type the user id to confirm; when stdin
    /// is not a terminal it refuses (exit 2).
    Delete {
        /// The user's id (a UUID, see `users list`).
        id: UserId,
        /// Do not ask (for scripts).
        #[arg(long)]
        yes: bool,
    },
}

/// `registration-code …`.
#[derive(Debug, Subcommand)]
pub enum RegistrationCodeCommand {
    /// Issue a single-use registration code (the relay keeps only its hash).
    Create {
        /// Hours it stays valid (default: the relay's registration.code_lifetime_hours).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=8784))]
        hours: Option<u32>,
    },
    /// The registration mode, the user cap, the accounts and the open codes.
    Status,
}

/// `sessions …`.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// End every session: all clients must log in again on their next sync.
    ///
    /// Without --yes, asks you to type `expire-all` to confirm; when stdin is not a terminal it
    /// refuses (exit 2).
    ExpireAll {
        /// Do not ask (for scripts).
        #[arg(long)]
        yes: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;
    use clap::error::ErrorKind;

    const PIN: &str = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=";
    const ID: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("coffer-admin").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        // The environment may set COFFER_ADMIN_*: only check what it cannot change.
        let cli = parse(&["health"]).expect("health");
        assert!(matches!(cli.command, Command::Health));
        assert!(!cli.global.json);
        if std::env::var_os("COFFER_ADMIN_URL").is_none() {
            assert_eq!(cli.global.url.to_string(), "https://127.0.0.1:8443/");
        }
    }

    #[test]
    fn global_options_anywhere() {
        let cli = parse(&[
            "--url",
            "https://relay.example:9443",
            "users",
            "show",
            ID,
            "--pin",
            PIN,
            "--json",
            "--timeout",
            "3",
            "--token-file",
            "/run/secrets/coffer",
        ])
        .expect("valid");
        assert_eq!(cli.global.url.to_string(), "https://relay.example:9443/");
        assert_eq!(cli.global.pin.map(|p| p.to_string()).as_deref(), Some(PIN));
        assert!(cli.global.json);
        assert_eq!(cli.global.timeout(), Duration::from_secs(3));
        assert_eq!(
            cli.global.token_file.as_deref(),
            Some(std::path::Path::new("/run/secrets/coffer"))
        );
        match cli.command {
            Command::Users {
                action: UsersCommand::Show { id },
            } => assert_eq!(id.as_str(), ID),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn commands() {
        let cli = parse(&["users", "delete", ID, "--yes"]).expect("delete");
        assert!(matches!(
            cli.command,
            Command::Users {
                action: UsersCommand::Delete { yes: true, .. }
            }
        ));
        let cli = parse(&["users", "delete", ID]).expect("delete");
        assert!(matches!(
            cli.command,
            Command::Users {
                action: UsersCommand::Delete { yes: false, .. }
            }
        ));
        let cli = parse(&["sessions"]).expect("sessions");
        assert!(matches!(cli.command, Command::Sessions { action: None }));
        let cli = parse(&["sessions", "expire-all", "--yes"]).expect("expire-all");
        assert!(matches!(
            cli.command,
            Command::Sessions {
                action: Some(SessionsCommand::ExpireAll { yes: true })
            }
        ));
        for cmd in ["stats", "volumes", "sharing", "maintenance", "anomalies"] {
            parse(&[cmd]).expect(cmd);
        }
        for args in [
            &["token", "generate"][..],
            &["token", "generate", "--out", "/tmp/t"],
            &["token", "hash"],
            &["backup", "--data-dir", "d", "--out", "b"],
            &[
                "backup",
                "--config",
                "c.toml",
                "--out",
                "b",
                "--without-tls",
            ],
            &["restore", "b", "--data-dir", "d"],
            &["config", "check", "relay.toml", "--env"],
            &[
                "cert",
                "generate",
                "--dir",
                "tls",
                "--name",
                "relay.lan",
                "--name",
                "192.168.1.5",
            ],
            &["cert", "pin", "cert.pem"],
            &["cert", "next", "--replace"],
            &["cert", "rotate", "--dir", "tls"],
            &["cert", "pair", "--dir", "tls", "--no-qr"],
            &[
                "--url",
                "https://relay.lan:8443",
                "--pin",
                PIN,
                "cert",
                "pair",
            ],
        ] {
            parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        assert!(
            parse(&["backup", "--data-dir", "d"]).is_err(),
            "--out is required"
        );
        parse(&["users", "list"]).expect("users list");
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let bad: &[&[&str]] = &[
            &[
                "--pin",
                "sha1/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=",
                "stats",
            ],
            &["--pin", "sha256/short", "stats"],
            &["--url", "http://127.0.0.1:8443", "stats"],
            &["--url", "https://admin:pw@relay.example", "stats"],
            &["--timeout", "0", "stats"],
            &["--timeout", "soon", "stats"],
            &["users", "show", "../stats"],
            &["users", "delete", "not-a-uuid", "--yes"],
            &["users"],
            &["frobnicate"],
            &[],
        ];
        for args in bad {
            let err = parse(args).expect_err(&format!("{args:?} must fail"));
            // clap's usage errors exit with 2, the code for usage errors.
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
        let err = parse(&["--pin", "sha256/short", "stats"]).expect_err("bad pin");
        assert!(err.to_string().contains("44 characters"), "{err}");
    }

    #[test]
    fn there_is_no_token_flag_and_no_insecure_flag() {
        for flag in ["--token", "--insecure", "-k", "--no-verify"] {
            let err = parse(&[flag, "x", "stats"]).expect_err(flag);
            assert_eq!(err.kind(), ErrorKind::UnknownArgument, "{flag}");
        }
    }

    #[test]
    fn help_documents_exit_codes_and_trust() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:"), "{help}");
        assert!(
            help.contains("  4  the relay refused the admin token"),
            "{help}"
        );
        assert!(help.contains("COFFER_ADMIN_TOKEN"), "{help}");
        assert!(help.contains("Web PKI"), "{help}");
        let mut cmd = Cli::command();
        let delete = cmd
            .find_subcommand_mut("users")
            .and_then(|u| u.find_subcommand_mut("delete"))
            .expect("users delete")
            .render_long_help()
            .to_string();
        assert!(delete.contains("type the user id"), "{delete}");
    }
}
