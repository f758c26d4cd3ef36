//! [`Logger`]: the app's log sink. The library's `tracing` events are forwarded to it by a small
//! subscriber layer, so they end up in Logcat / `os_log` / Python's `logging`.
//!
//! What it must never forward: secrets. It forwards only events of the Coffer crates, whose
//! log lines carry fixed text, ids, volume names, counts and error codes by policy (P11) —
//! never keys, tokens, plaintext or ciphertext. Events of dependencies (HTTP/2 frames, TLS
//! internals) are dropped: their contents are not under this project's policy.
//!
//! Global by necessity: `tracing` has one global subscriber per process. It is installed on
//! the first [`set_logger`] call; later calls only swap the sink and level.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Once, PoisonError, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{Layer, Registry};

/// Severity of a log line, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong (e.g. a relay serving older data than seen before).
    Warn,
    /// Milestones (a rotation finished).
    Info,
    /// Detail for debugging.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    fn of(level: &Level) -> LogLevel {
        match *level {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        }
    }
}

/// The app's log sink. Called on any thread (usually a library worker thread); must return
/// quickly and not throw.
#[uniffi::export(with_foreign)]
pub trait Logger: Send + Sync {
    /// One log line: its level, the module it comes from (`coffer_client_core::client::…`)
    /// and the message with its fields (`key rotation finished volumes=2 friends=1`).
    fn log(&self, level: LogLevel, target: String, message: String);
}

struct Sink {
    logger: Arc<dyn Logger>,
    max_level: LogLevel,
}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Sends the library's log lines at `max_level` and above to `logger`, or stops logging with
/// `null`/`nil`/`None`. May be called again to change either.
///
/// If the host process already installed its own global `tracing` subscriber (only possible
/// for a Rust host), that one keeps receiving the events and `logger` receives none.
#[uniffi::export]
pub fn set_logger(logger: Option<Arc<dyn Logger>>, max_level: LogLevel) {
    static INSTALL: Once = Once::new();
    *SINK.write().unwrap_or_else(PoisonError::into_inner) =
        logger.map(|logger| Sink { logger, max_level });
    INSTALL.call_once(|| {
        if tracing::subscriber::set_global_default(Registry::default().with(Forward)).is_err() {
            // Another global subscriber exists: it keeps the events (see the doc above).
        }
    });
}

/// Whether an event of `metadata` goes to the sink.
fn wanted(metadata: &Metadata<'_>) -> bool {
    let ours = metadata.target().starts_with("coffer");
    ours && SINK
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .is_some_and(|sink| LogLevel::of(metadata.level()) <= sink.max_level)
}

/// The layer that forwards events to the sink.
struct Forward;

impl<S: Subscriber> Layer<S> for Forward {
    fn register_callsite(
        &self,
        _metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // The sink and level change at run time: ask `enabled` every time.
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        wanted(metadata)
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if !wanted(metadata) {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        let logger = SINK
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|sink| Arc::clone(&sink.logger));
        if let Some(logger) = logger {
            // Called without holding the lock: the logger may call set_logger itself.
            logger.log(
                LogLevel::of(metadata.level()),
                metadata.target().to_owned(),
                line.finish(),
            );
        }
    }
}

/// `message key=value key=value`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Line {
    fn finish(self) -> String {
        if self.message.is_empty() {
            self.fields.trim_start().to_owned()
        } else {
            self.message + &self.fields
        }
    }
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<(LogLevel, String, String)>>);

    impl Logger for Collect {
        fn log(&self, level: LogLevel, target: String, message: String) {
            self.0.lock().expect("lock").push((level, target, message));
        }
    }

    impl Collect {
        fn lines(&self) -> Vec<(LogLevel, String, String)> {
            self.0.lock().expect("lock").clone()
        }
    }

    #[test]
    fn coffer_events_reach_the_logger_at_its_level_and_others_do_not() {
        let logger = Arc::new(Collect::default());
        set_logger(Some(Arc::clone(&logger) as Arc<dyn Logger>), LogLevel::Info);
        let volume = "meta";
        tracing::info!(target: "coffer_client_core::client", volumes = 2, %volume, "key rotation finished");
        tracing::debug!(target: "coffer_client_core::client", "too detailed");
        tracing::error!(target: "h2::codec", "frame with a bearer token");
        let lines = logger.lines();
        assert!(lines.contains(&(
            LogLevel::Info,
            "coffer_client_core::client".to_owned(),
            "key rotation finished volumes=2 volume=meta".to_owned()
        )));
        assert!(!lines.iter().any(|(_, _, m)| m.contains("too detailed")));
        assert!(!lines.iter().any(|(_, t, _)| t.starts_with("h2")));

        // Lower the level, then switch logging off.
        set_logger(
            Some(Arc::clone(&logger) as Arc<dyn Logger>),
            LogLevel::Debug,
        );
        tracing::debug!(target: "coffer_client_core::client", "now wanted");
        set_logger(None, LogLevel::Trace);
        tracing::error!(target: "coffer_client_core::client", "after switching off");
        let lines = logger.lines();
        assert!(lines.iter().any(|(_, _, m)| m == "now wanted"));
        assert!(
            !lines
                .iter()
                .any(|(_, _, m)| m.contains("after switching off"))
        );
    }
}
