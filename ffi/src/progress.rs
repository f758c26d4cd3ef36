//! Progress listeners and cancellation tokens for the long operations (rotation after a
//! revocation or narrowed grant, publishing a large volume): the foreign faces of
//! client-core's `Progress` and `Cancel`.

use std::fmt;
use std::sync::Arc;

use coffer_client_core::client::{Cancel, Progress};

/// Receives progress reports of a long operation.
///
/// `on_progress(done, total, what)` is called before each step with the number of steps
/// already done, and once at the end with `done == total` and `what == "done"`. `what` is
/// `"unpair"`, `"narrow"`, `"rotate:<volume>"`, `"regrant"`, `"seal:<volume>"`,
/// `"upload:<volume>"` or `"done"` — never anything secret.
///
/// Called on a library worker thread: post UI updates to the main thread, return quickly, do
/// not throw and do not call back into the client.
#[uniffi::export(with_foreign)]
pub trait ProgressListener: Send + Sync {
    /// One report.
    fn on_progress(&self, done: u64, total: u64, what: String);
}

/// An optional foreign listener as client-core's [`Progress`].
pub(crate) struct ForeignProgress(Option<Arc<dyn ProgressListener>>);

impl ForeignProgress {
    pub(crate) fn new(listener: Option<Arc<dyn ProgressListener>>) -> Self {
        ForeignProgress(listener)
    }
}

impl Progress for ForeignProgress {
    fn on_progress(&self, done: u64, total: u64, what: &str) {
        if let Some(listener) = &self.0 {
            listener.on_progress(done, total, what.to_owned());
        }
    }
}

/// Cancels the operations it is passed to: `cancel()` makes them stop at their next step
/// (abandoning a request in flight) and throw `CofferError.Cancelled`. A cancelled rotation
/// stays resumable (`resumeRotation()`, or automatically before the next operation that
/// changes key state); a cancelled publish can be repeated.
///
/// Cancelling is permanent: make a new token for the next operation. One token may be passed
/// to several operations to cancel them together (e.g. when a screen closes).
#[derive(Default, uniffi::Object)]
pub struct CancellationToken(Cancel);

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[uniffi::export]
impl CancellationToken {
    /// A token that has not been cancelled.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(CancellationToken::default())
    }

    /// Cancels every operation using this token.
    pub fn cancel(&self) {
        self.0.cancel();
    }

    /// Whether `cancel()` was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// The client-core token of an optional foreign one (a fresh, never-cancelled one for none).
pub(crate) fn cancel_of(token: Option<Arc<CancellationToken>>) -> Cancel {
    token.map(|t| t.0.clone()).unwrap_or_default()
}
