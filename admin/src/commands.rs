//! Runs one parsed command: load the token if the command needs one, ask for confirmation
//! before destructive calls, call the relay, print the answer.
//!
//! Output goes to stdout (tables, or the relay's JSON with `--json`); errors, warnings and
//! confirmation prompts go to stderr, so `--json` output stays parseable.

use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal as _, Read, Write};
use std::process::ExitCode;

use clap::Parser as _;
use serde::de::DeserializeOwned;

use coffer_certs::QrColors;

use crate::backup::{self, BackupReport, RestoreReport};
use crate::cli::{
    CertCommand, Cli, Command, ConfigCommand, RegistrationCodeCommand, SessionsCommand,
    TokenCommand, UsersCommand,
};
use crate::client::{AdminClient, Reply, Trust};
use crate::error::{AdminError, Exit, Refusal};
use crate::import::{self, ImportReport};
use crate::migrate;
use crate::model::MaintenanceReport;
use crate::offline::{self, CertReport, ConfigReport, PairReport, TokenReport};
use crate::output;
use crate::progress::Progress;
use crate::registration;
use crate::token::{self, AdminToken, TOKEN_ENV};

/// Entry point of the binary: parse, run, print any error, exit with its code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are "errors" that print to stdout and succeed.
            let _ = err.print();
            return if err.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::ClientSetup(format!("cannot start the async runtime: {e}")));
    let result = runtime.and_then(|rt| rt.block_on(run(&cli, std::env::var_os(TOKEN_ENV))));
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(err) => {
            eprintln!("coffer-admin: {err}");
            err.exit().into()
        }
    }
}

/// Runs `cli`. `env_token` is the value of `COFFER_ADMIN_TOKEN`, if set.
pub async fn run(cli: &Cli, env_token: Option<OsString>) -> Result<(), AdminError> {
    let g = &cli.global;
    let json = g.json;
    // Offline commands: files on this machine, no relay, no token (except `token hash`).
    match &cli.command {
        Command::Token { action } => {
            let report = match action {
                TokenCommand::Generate { out } => offline::token_generate(out.as_deref())?,
                TokenCommand::Hash => offline::token_hash(&load_token(cli, env_token)?)?,
            };
            return emit(json, &report, TokenReport::human);
        }
        Command::Backup(args) => {
            let paths = offline::data_paths(&args.relay)?;
            let mut progress = Progress::stderr("backup");
            let report = backup::backup(&paths, &args.out, !args.without_tls, &mut progress)?;
            return emit(json, &report, BackupReport::human);
        }
        Command::Restore(args) => {
            let paths = offline::data_paths(&args.relay)?;
            let mut progress = Progress::stderr("restore");
            let report = backup::restore(&args.backup, &paths, &mut progress)?;
            return emit(json, &report, RestoreReport::human);
        }
        Command::ImportPlurallog(args) => {
            let config = offline::relay_config(&args.relay)?;
            offline::embedded_only(&config)?;
            let paths = backup::DataPaths::from_config(&config);
            let source = import::Source {
                db: args.db.clone(),
                volumes: args.volumes.clone(),
            };
            let opts = import::Options {
                dry_run: args.dry_run,
                allow_partial: args.allow_partial,
                max_volume_size: config.limits.max_volume_size,
                max_user_storage: config.limits.max_user_storage,
                session_lifetime_secs: config.limits.session_lifetime_secs,
            };
            let mut progress = Progress::stderr("import");
            let report = import::import(&source, &paths, opts, &mut progress)?;
            emit(json, &report, ImportReport::human)?;
            if !report.lost.is_empty() && !args.allow_partial {
                return Err(import::ImportError::Partial {
                    lost: report.lost.len(),
                    dry_run: args.dry_run,
                }
                .into());
            }
            if let Some(check) = report.check.as_ref().filter(|c| !c.is_consistent()) {
                return Err(import::ImportError::Inconsistent {
                    problems: check.foreign_key_violations
                        + check.missing_blobs
                        + check.wrong_sizes
                        + check.wrong_quotas
                        + u64::from(check.integrity != "ok"),
                }
                .into());
            }
            return Ok(());
        }
        Command::CheckData(args) => {
            let config = offline::relay_config(&args.relay)?;
            let report = if offline::embedded_only(&config).is_ok() {
                offline::check_data(&backup::DataPaths::from_config(&config))?
            } else {
                migrate::check(&migrate::Store::from_config(&config)?)?
            };
            emit(json, &report, offline::consistency_human)?;
            return if report.is_consistent() {
                Ok(())
            } else {
                Err(AdminError::Inconsistent {
                    problems: report.foreign_key_violations
                        + report.missing_blobs
                        + report.wrong_sizes
                        + report.wrong_quotas
                        + u64::from(report.integrity != "ok"),
                })
            };
        }
        Command::MigrateStore(args) => {
            let from = offline::config_alone(
                args.from_config.as_deref(),
                args.from_data_dir.as_deref(),
                "the source: --from-config FILE and/or --from-data-dir DIR",
            )?;
            let to = offline::config_alone(
                args.to_config.as_deref(),
                args.to_data_dir.as_deref(),
                "the destination: --to-config FILE and/or --to-data-dir DIR",
            )?;
            let (from, to) = (
                migrate::Store::from_config(&from)?,
                migrate::Store::from_config(&to)?,
            );
            let mut progress = Progress::stderr("migrate");
            let report = migrate::migrate(&from, &to, &mut progress)?;
            return emit(json, &report, migrate::MigrateReport::human);
        }
        Command::Config {
            action: ConfigCommand::Check { file, env },
        } => {
            let report = offline::config_check(file, *env);
            emit(json, &report, ConfigReport::human)?;
            return match report.error {
                None => Ok(()),
                Some(message) => Err(AdminError::InvalidConfig { message }),
            };
        }
        Command::Cert { action } => {
            return match action {
                CertCommand::Generate { dir, names } => emit(
                    json,
                    &offline::cert_generate(&dir.dir, names)?,
                    CertReport::human,
                ),
                CertCommand::Pin { file } => {
                    emit(json, &offline::cert_pin(file)?, CertReport::human)
                }
                CertCommand::Next {
                    dir,
                    names,
                    replace,
                } => emit(
                    json,
                    &offline::cert_next(&dir.dir, names, *replace)?,
                    CertReport::human,
                ),
                CertCommand::Rotate { dir } => {
                    emit(json, &offline::cert_rotate(&dir.dir)?, CertReport::human)
                }
                CertCommand::Pair {
                    dir,
                    no_qr,
                    light_background,
                } => {
                    let qr = (!no_qr && !json).then_some(if *light_background {
                        QrColors::LightTerminal
                    } else {
                        QrColors::DarkTerminal
                    });
                    let report = offline::cert_pair(&g.url, dir.as_ref(), g.pin, qr)?;
                    emit(json, &report, PairReport::human)
                }
            };
        }
        _ => {}
    }
    let token = match cli.command {
        // Health is public: the token is neither needed nor sent.
        Command::Health => None,
        _ => Some(load_token(cli, env_token)?),
    };
    let client = AdminClient::new(g.url.clone(), Trust::from_pin(g.pin), g.timeout(), token)?;
    match &cli.command {
        Command::Health => print(json, client.health().await?, output::health),
        Command::Stats => print(json, client.stats().await?, output::stats),
        Command::Users { action } => match action {
            UsersCommand::List(args) => print(json, client.users(args).await?, output::users),
            UsersCommand::Show { id } => print(json, client.user(id).await?, output::user_detail),
            UsersCommand::Delete { id, yes } => {
                let action = format!("delete user {id}");
                if !yes {
                    require_terminal(&action)?;
                    // Show what is about to go, so the operator confirms the right user.
                    let detail = client.user(id).await?.parse()?;
                    let warning = format!(
                        "{}\nThis deletes the user, their volumes, sharing relationships and \
                         sessions. It cannot be undone.\n",
                        output::user_detail(&detail)
                    );
                    write_out(&mut io::stderr().lock(), &warning)?;
                    ask(&action, id.as_str(), "type the user id to confirm: ")?;
                }
                let reply = client.delete_user(id).await?;
                print(json, reply, |d| output::deleted(id.as_str(), d))
            }
        },
        Command::Volumes(args) => print(json, client.volumes(args).await?, output::volumes),
        Command::Sharing(args) => print(json, client.sharing(args).await?, output::sharing),
        Command::Sessions { action: None } => {
            print(json, client.sessions().await?, output::sessions)
        }
        Command::Sessions {
            action: Some(SessionsCommand::ExpireAll { yes }),
        } => {
            let action = "expire all sessions".to_owned();
            if !yes {
                require_terminal(&action)?;
                write_out(
                    &mut io::stderr().lock(),
                    "This ends every session: all clients must log in again on their next \
                     sync.\n",
                )?;
                ask(&action, "expire-all", "type expire-all to confirm: ")?;
            }
            print(json, client.expire_all_sessions().await?, output::expired)
        }
        Command::Maintenance => maintenance(&client, json).await,
        Command::Anomalies => print(json, client.anomalies().await?, output::anomalies),
        Command::RegistrationCode { action } => match action {
            RegistrationCodeCommand::Create { hours } => print(
                json,
                client.create_registration_code(*hours).await?,
                registration::created,
            ),
            RegistrationCodeCommand::Status => print(
                json,
                client.registration_status().await?,
                registration::status,
            ),
        },
        Command::Token { .. }
        | Command::Backup(_)
        | Command::Restore(_)
        | Command::CheckData(_)
        | Command::MigrateStore(_)
        | Command::ImportPlurallog(_)
        | Command::Config { .. }
        | Command::Cert { .. } => Ok(()),
    }
}

/// First page size of the orphan sweep; later pages cover about 1/50 of the directories each.
const FIRST_SWEEP_PAGE: u64 = 256;

/// `maintenance`: expired rows, then the orphan sweep page by page with a progress bar. A relay
/// without the step endpoints (404/405) gets v1's one-call maintenance.
async fn maintenance(client: &AdminClient, json: bool) -> Result<(), AdminError> {
    let expired = match client.maintenance_expire().await {
        Ok(reply) => reply.parse()?,
        Err(AdminError::Relay {
            status: 404 | 405, ..
        }) => return print(json, client.maintenance().await?, output::maintenance),
        Err(err) => return Err(err),
    };
    let mut progress = Progress::stderr("maintenance: orphan sweep");
    let (mut after, mut limit) = (None::<String>, FIRST_SWEEP_PAGE);
    let (mut blobs, mut bytes, mut pages, mut covered) = (0u64, 0u64, 0u64, 0u64);
    let dirs = loop {
        let page = client
            .maintenance_orphans(after.as_deref(), limit)
            .await?
            .parse()?;
        pages += 1;
        blobs += page.orphan_blobs;
        bytes += page.orphan_bytes;
        covered += page.dirs;
        let total = covered + page.remaining;
        progress.update(covered, total);
        match page.next {
            // A relay that does not advance would loop forever: stop at an unchanged cursor.
            Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
            _ => break covered,
        }
        limit = (total / 50).clamp(FIRST_SWEEP_PAGE, 100_000);
    };
    progress.finish();
    let raw = serde_json::json!({
        "status": "ok",
        "expired_challenges": expired.expired_challenges,
        "expired_sessions": expired.expired_sessions,
        "expired_invites": expired.expired_invites,
        "orphan_blobs": blobs,
        "orphan_bytes": bytes,
        "user_directories": dirs,
        "sweep_pages": pages,
    });
    let text = if json {
        pretty(&raw)?
    } else {
        output::maintenance(&MaintenanceReport {
            expired_challenges: Some(expired.expired_challenges),
            expired_sessions: Some(expired.expired_sessions),
            expired_invites: Some(expired.expired_invites),
            orphan_blobs: Some(blobs),
            orphan_bytes: Some(bytes),
            user_directories: Some(dirs),
        })
    };
    write_out(&mut io::stdout().lock(), &text)
}

fn pretty(value: &impl serde::Serialize) -> Result<String, AdminError> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| AdminError::Output(io::Error::other(e)))?;
    text.push('\n');
    Ok(text)
}

/// Prints an offline command's report: its JSON, or its human rendering.
fn emit<T: serde::Serialize>(
    json: bool,
    report: &T,
    human: impl FnOnce(&T) -> String,
) -> Result<(), AdminError> {
    let text = if json { pretty(report)? } else { human(report) };
    write_out(&mut io::stdout().lock(), &text)
}

fn load_token(cli: &Cli, env_token: Option<OsString>) -> Result<AdminToken, AdminError> {
    let file = cli.global.token_file.as_deref();
    let token = AdminToken::load(file, env_token)?;
    if let Some(mode) = file.and_then(token::loose_permissions) {
        eprintln!(
            "coffer-admin: warning: the token file is readable by others (mode {mode:04o}); \
             consider `chmod 600`"
        );
    }
    Ok(token)
}

/// Prints `reply`: the relay's JSON pretty-printed, or `render`ed for humans.
fn print<T: DeserializeOwned>(
    json: bool,
    reply: Reply<T>,
    render: impl FnOnce(&T) -> String,
) -> Result<(), AdminError> {
    let text = if json {
        pretty(reply.raw())?
    } else {
        render(&reply.parse()?)
    };
    write_out(&mut io::stdout().lock(), &text)
}

fn write_out(out: &mut impl Write, text: &str) -> Result<(), AdminError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(AdminError::Output)
}

/// Refuses a destructive `action` without `--yes` when nobody can answer a prompt.
fn require_terminal(action: &str) -> Result<(), AdminError> {
    if io::stdin().is_terminal() {
        Ok(())
    } else {
        Err(AdminError::NotConfirmed {
            action: action.to_owned(),
            reason: Refusal::NotInteractive,
        })
    }
}

fn ask(action: &str, expected: &str, prompt: &str) -> Result<(), AdminError> {
    confirm(
        action,
        expected,
        prompt,
        &mut io::stdin().lock(),
        &mut io::stderr().lock(),
    )
}

/// Writes `prompt` and reads one line; succeeds only if it is `expected` (ignoring surrounding
/// whitespace and ASCII case, so a UUID typed in capitals counts).
pub fn confirm(
    action: &str,
    expected: &str,
    prompt: &str,
    input: &mut impl BufRead,
    prompt_out: &mut impl Write,
) -> Result<(), AdminError> {
    write_out(prompt_out, prompt)?;
    let refused = |reason| AdminError::NotConfirmed {
        action: action.to_owned(),
        reason,
    };
    let mut line = String::new();
    // A terminal line; bounded so a stream without newlines cannot grow it without end.
    let read = Read::take(&mut *input, 4096)
        .read_line(&mut line)
        .map_err(AdminError::Stdin)?;
    if read == 0 {
        return Err(refused(Refusal::NoAnswer));
    }
    if line.trim().eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(refused(Refusal::Mismatch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

    fn answer(text: &str) -> Result<(), AdminError> {
        let mut prompt = Vec::new();
        let result = confirm(
            "delete user",
            ID,
            "type the user id to confirm: ",
            &mut text.as_bytes(),
            &mut prompt,
        );
        assert_eq!(prompt, b"type the user id to confirm: ");
        result
    }

    #[test]
    fn confirmation() {
        answer(&format!("{ID}\n")).expect("exact id");
        answer(&format!("  {}\r\n", ID.to_uppercase())).expect("case and spaces ignored");
        for (text, reason) in [
            ("", Refusal::NoAnswer),
            ("\n", Refusal::Mismatch),
            ("yes\n", Refusal::Mismatch),
            (&ID[..35], Refusal::Mismatch),
        ] {
            match answer(text) {
                Err(err @ AdminError::NotConfirmed { .. }) => {
                    assert_eq!(err.exit().code(), 2);
                    assert!(
                        matches!(err, AdminError::NotConfirmed { reason: r, .. } if r == reason),
                        "{text:?}"
                    );
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn admin_commands_need_a_token_but_health_does_not() {
        let cli = Cli::try_parse_from(["coffer-admin", "stats"]).expect("args");
        let err = run(&cli, None).await.expect_err("no token");
        assert!(matches!(err, AdminError::NoToken), "{err:?}");
        assert_eq!(err.exit().code(), 2);

        let cli = Cli::try_parse_from(["coffer-admin", "stats"]).expect("args");
        let err = run(&cli, Some("".into())).await.expect_err("empty token");
        assert!(matches!(err, AdminError::BadToken { .. }), "{err:?}");
    }
}
