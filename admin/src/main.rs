//! `coffer-admin`: see `coffer-admin --help` and the crate README.

fn main() -> std::process::ExitCode {
    coffer_admin::commands::main()
}
