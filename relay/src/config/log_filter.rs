//! The log filter (`log`, `COFFER_LOG`): refused when it does not parse, and when a directive is
//! a bare word that is not a level (`infoo`, `verbose`): tracing would read it as a target name
//! logged at `trace`, silently, which is never what such a typo meant. `target=level` says that
//! on purpose.

/// The levels a bare directive may name.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Why `filter` is not a usable log filter.
pub fn log_filter_problem(filter: &str) -> Option<String> {
    if filter.trim().is_empty() {
        return Some("is empty; write a level such as \"info\"".to_owned());
    }
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(filter) {
        return Some(format!(
            "{filter:?} is not a log filter ({e}); write a level (off, error, warn, info, \
             debug, trace) or target=level directives separated by commas, e.g. \
             \"info,coffer_relay=debug\""
        ));
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let bare = !directive.contains(['=', '[', ':']);
        if bare && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            let whole = if directive == filter.trim() {
                String::new()
            } else {
                format!(" in {filter:?}")
            };
            return Some(format!(
                "{directive:?}{whole} is not a level (off, error, warn, info, debug, trace); to \
                 log one target write target=level, e.g. \"coffer_relay=debug\""
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_directives_pass_typos_do_not() {
        for ok in [
            "info",
            "DEBUG",
            "warn,coffer_relay=debug",
            "actix_server=trace",
            "off",
        ] {
            assert_eq!(log_filter_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            " ",
            "infoo",
            "verbose",
            "coffer_relay=loud",
            "info,debugg",
        ] {
            assert!(log_filter_problem(bad).is_some(), "{bad:?} passed");
        }
    }
}
