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

use crate::cli::{Cli, Command, SessionsCommand, UsersCommand};
use crate::client::{AdminClient, Reply, Trust};
use crate::error::{AdminError, Exit, Refusal};
use crate::output;
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
    let token = match cli.command {
        // Health is public: the token is neither needed nor sent.
        Command::Health => None,
        _ => Some(load_token(cli, env_token)?),
    };
    let client = AdminClient::new(g.url.clone(), Trust::from_pin(g.pin), g.timeout(), token)?;
    let json = g.json;
    match &cli.command {
        Command::Health => print(json, client.health().await?, output::health),
        Command::Stats => print(json, client.stats().await?, output::stats),
        Command::Users { action } => match action {
            UsersCommand::List => print(json, client.users().await?, output::users),
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
        Command::Volumes => print(json, client.volumes().await?, output::volumes),
        Command::Sharing => print(json, client.sharing().await?, output::sharing),
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
        Command::Maintenance => print(json, client.maintenance().await?, output::maintenance),
    }
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
        let mut text = serde_json::to_string_pretty(reply.raw())
            .map_err(|e| AdminError::Output(io::Error::other(e)))?;
        text.push('\n');
        text
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
