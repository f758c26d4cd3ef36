//! `coffer-relay`: see `coffer-relay --help`.

/// jemalloc with background purging rather than glibc's malloc: after a burst of large bodies
/// (64 clients moving 1 MiB volumes) glibc kept the ~200 MiB high-water mark resident for
/// good; jemalloc hands it back within seconds (docs/BENCHMARKS.md). The binary only: the
/// library leaves the choice to whoever links it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    coffer_relay::cli::main()
}
