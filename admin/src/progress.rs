//! A one-line progress bar for long operations (maintenance sweeps, backup, restore), drawn on
//! stderr and only when stderr is a terminal: scripts, pipes and `--json` consumers never see
//! it, and stdout stays clean either way.
//!
//! Deliberately tiny (no dependency): `label [#######.............]  35%  350/1000`, redrawn
//! in place with `\r` at most every 100 ms, and erased when done.

use std::io::{IsTerminal as _, Write};
use std::time::{Duration, Instant};

/// Width of the bar between the brackets.
const BAR_WIDTH: usize = 30;
/// Least time between two redraws.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// A progress bar writing to `W` (stderr in the CLI).
pub struct Progress<W: Write> {
    out: Option<W>,
    label: String,
    last_draw: Option<Instant>,
    drawn: bool,
}

impl<W: Write> std::fmt::Debug for Progress<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("enabled", &self.out.is_some())
            .field("label", &self.label)
            .finish()
    }
}

impl Progress<std::io::Stderr> {
    /// A bar on stderr, drawn only if stderr is a terminal.
    pub fn stderr(label: &str) -> Self {
        let err = std::io::stderr();
        let enabled = err.is_terminal();
        Progress::new(enabled.then_some(err), label)
    }
}

/// The bar's text for `done` of `total` (no `\r`, no padding).
///
/// ```
/// use coffer_admin::progress::line;
///
/// assert_eq!(
///     line("sweep", 1, 4),
///     "sweep [#######.......................]  25%  1/4"
/// );
/// ```
pub fn line(label: &str, done: u64, total: u64) -> String {
    let total = total.max(1);
    let done = done.min(total);
    let filled = usize::try_from(u128::from(done) * BAR_WIDTH as u128 / u128::from(total))
        .unwrap_or(BAR_WIDTH);
    let percent = u128::from(done) * 100 / u128::from(total);
    format!(
        "{label} [{}{}] {percent:>3}%  {done}/{total}",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled)
    )
}

impl<W: Write> Progress<W> {
    /// A bar writing to `out`, or a silent one with `None`.
    pub fn new(out: Option<W>, label: &str) -> Self {
        Self {
            out,
            label: label.to_owned(),
            last_draw: None,
            drawn: false,
        }
    }

    /// Whether anything is drawn at all.
    pub fn is_enabled(&self) -> bool {
        self.out.is_some()
    }

    /// Changes the label (a new phase).
    pub fn set_label(&mut self, label: &str) {
        label.clone_into(&mut self.label);
    }

    /// Shows `done` of `total`; skipped if the last redraw was under 100 ms ago, unless the
    /// operation is complete.
    pub fn update(&mut self, done: u64, total: u64) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let due = self.last_draw.is_none_or(|at| at.elapsed() >= REDRAW_EVERY) || done >= total;
        if !due {
            return;
        }
        // `\r` + erase line: a shorter line never leaves the end of a longer one behind.
        let _ = write!(out, "\r\x1b[2K{}", line(&self.label, done, total));
        let _ = out.flush();
        self.last_draw = Some(Instant::now());
        self.drawn = true;
    }

    /// Erases the bar (the final result is printed by the command itself).
    pub fn finish(&mut self) {
        if let Some(out) = self.out.as_mut()
            && self.drawn
        {
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
            self.drawn = false;
        }
    }
}

impl<W: Write> Drop for Progress<W> {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            line("x", 0, 10),
            "x [..............................]   0%  0/10"
        );
        assert_eq!(
            line("x", 10, 10),
            "x [##############################] 100%  10/10"
        );
        // Never more than full, and a zero total does not divide by zero.
        assert_eq!(line("x", 20, 10), line("x", 10, 10));
        assert_eq!(
            line("x", 0, 0),
            "x [..............................]   0%  0/1"
        );
    }

    #[test]
    fn draws_in_place_throttled_and_erases() {
        let mut buf = Vec::new();
        {
            let mut p = Progress::new(Some(&mut buf), "copy");
            p.update(1, 3);
            p.update(2, 3); // within 100 ms: skipped
            p.update(3, 3); // complete: always drawn
            p.finish();
        }
        let text = String::from_utf8(buf).expect("utf8");
        assert_eq!(text.matches('\r').count(), 3, "{text:?}");
        assert!(text.contains("1/3") && !text.contains("2/3") && text.contains("3/3"));
        assert!(text.ends_with("\r\x1b[2K"));

        let mut silent: Progress<Vec<u8>> = Progress::new(None, "x");
        silent.update(1, 2);
        assert!(!silent.is_enabled());
    }
}
