//! `coffer-bench`: see `coffer-bench --help` and `docs/BENCHMARKS.md`.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use coffer_tests::bench::cli::{Cli, Mode};
use coffer_tests::bench::{self, report};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Some(Mode::ServeBaseline { dir }) => bench::serve_baseline(&dir),
        None => run(cli.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("coffer-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: bench::cli::RunArgs) -> anyhow::Result<()> {
    let json = args.json.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(bench::run(args))?;
    let soak_failed = report.soak.as_ref().is_some_and(|s| !s.passed);
    let text = serde_json::to_string_pretty(&report)?;
    match json.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")?;
        }
        other => {
            print!("{}", report::table(&report));
            if let Some(path) = other {
                std::fs::write(path, text + "\n")?;
            }
        }
    }
    if soak_failed {
        anyhow::bail!("the soak failed: see its checks above");
    }
    Ok(())
}
