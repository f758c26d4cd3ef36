//! Command line: `coffer-relay [--config FILE] [--data-dir DIR] [--listen ADDR:PORT]`, and
//! `coffer-relay openapi` (the API description, see `docs/openapi.md`).

#[cfg(feature = "server")]
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
#[cfg(feature = "server")]
use std::process::ExitCode;

#[cfg(feature = "server")]
use clap::{CommandFactory as _, FromArgMatches as _};
use clap::{Parser, Subcommand};

#[cfg(feature = "server")]
use crate::config::env_help;
use crate::config::{Config, ConfigError};

/// Coffer relay: a zero-trust encrypted volume relay (serves PluralLog wire protocol v1).
///
/// With no options it serves HTTPS on 127.0.0.1:8443 with a self-signed certificate generated
/// on first start, and keeps its state in ./coffer-data. It prints the URL, the certificate's
/// SHA-256 SPKI pin (for apps to pin) and the data directory.
#[derive(Debug, Parser)]
#[command(name = "coffer-relay", version)]
pub struct Cli {
    /// TOML configuration file (see coffer-relay.example.toml for every setting); relative paths
    /// in it are relative to its directory. Env: COFFER_CONFIG.
    #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory: database, blobs, generated certificate. Overrides config and environment
    /// (relative: to the working directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address and port to listen on, e.g. 0.0.0.0:8443 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Validate the configuration, load and check the TLS files and the log filter, print a
    /// summary (never secrets: names, expiry and pin of the certificate) and exit; exit 2 listing
    /// the problems.
    #[arg(long)]
    pub check_config: bool,
    /// Something other than serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `coffer-relay` can do besides serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the OpenAPI 3.1 document of the relay's HTTP API (v1, v2, admin, /metrics) and
    /// exit. It is generated from the route table; docs/openapi.json is a copy of it.
    Openapi,
}

/// Builds the effective configuration: defaults < file < environment < flags.
pub fn load(cli: &Cli, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let mut config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.apply_env(env)?;
    if let Some(dir) = &cli.data_dir {
        config.data_dir.clone_from(dir);
    }
    if let Some(addr) = cli.listen {
        config.host = addr.ip();
        config.port = addr.port();
    }
    config.validate()?;
    Ok(config)
}

/// Starts logging with the configured filter, which validation has checked (an invalid one is
/// refused at start-up, never replaced by `info`).
#[cfg(feature = "server")]
fn init_logging(filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map_err(|e| format!("invalid setting log: {e}"))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
    Ok(())
}

/// Entry point of the binary.
#[cfg(feature = "server")]
pub fn main() -> ExitCode {
    let matches = Cli::command().after_long_help(env_help()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    if let Some(Command::Openapi) = cli.command {
        // Not `print!`: a closed pipe (`coffer-relay openapi | head`) is an error, not a panic.
        let mut out = std::io::stdout().lock();
        let text = crate::api::openapi::document_text();
        return match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let config = match load(&cli, |name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(message) => {
            if cli.check_config {
                println!("configuration is INVALID:\n  - {message}");
            }
            eprintln!("coffer-relay: {message}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        let report = crate::config::check::check_config(&config, cli.config.as_deref());
        print!("{}", report.human());
        for problem in &report.problems {
            eprintln!("coffer-relay: {problem}");
        }
        return if report.problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    if let Err(message) = init_logging(&config.log) {
        eprintln!("coffer-relay: {message}");
        return ExitCode::from(2);
    }
    match actix_web::rt::System::new().block_on(crate::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "coffer-relay could not start");
            eprintln!("coffer-relay: {err}");
            ExitCode::FAILURE
        }
    }
}
