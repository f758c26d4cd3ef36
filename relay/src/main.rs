//! `coffer-relay`: see `coffer-relay --help`.

fn main() -> std::process::ExitCode {
    coffer_relay::cli::main()
}
