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
    /// Every stored volume: owner, name, version, size, last update (never content).
    Volumes,
    /// Sharing relationships: system, friend, status, permission flags (never keys).
    Sharing,
    /// Active sessions, pending login challenges and invites; `expire-all` logs everyone out.
    Sessions {
        /// Without an action: show the counts.
        #[command(subcommand)]
        action: Option<SessionsCommand>,
    },
    /// Run housekeeping now: delete expired sessions, challenges and invites, sweep orphan blobs.
    Maintenance,
}

/// `users …`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// One row per user: id, handle, type, protocol, storage, registration, features.
    List,
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
        for cmd in ["stats", "volumes", "sharing", "maintenance"] {
            parse(&[cmd]).expect(cmd);
        }
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
