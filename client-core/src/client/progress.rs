//! Progress reports and cancellation for the long operations: a rotation after a revocation or
//! a narrowed grant, and publishing a large volume.
//!
//! Why it exists: a rotation re-encrypts and uploads every volume a revoked friend could read,
//! then re-grants every remaining friend; on a phone with a slow link that takes long enough
//! for the user to want to see it move, and to leave the screen. Both must be possible
//! without weakening the crash-safety of rotation: cancelling is just an earlier, cleaner
//! version of the app being killed. The stored plan stays, and the next
//! [`SystemClient::resume_rotation_with`](super::SystemClient::resume_rotation_with) (or any
//! operation that changes key state) finishes it.
//!
//! What it must never do: report anything secret. A step is described by a fixed word and, at
//! most, a volume name (volume names are metadata the relay sees anyway).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::ClientError;

/// Receives progress reports of a long operation.
///
/// `on_progress(done, total, what)` is called **before** each step with the number of steps
/// already done (steps finished by an interrupted earlier run count as done), and once at the
/// end with `done == total` and `what == "done"`. `what` is one of:
///
/// | `what` | step |
/// |---|---|
/// | `unpair` | delete the revoked friend's pairing on the relay |
/// | `narrow` | upload the narrowed friend's reduced grant |
/// | `rotate:<volume>` | re-encrypt the latest version of `<volume>` under a new key epoch |
/// | `regrant` | upload a new grant to one remaining friend |
/// | `seal:<volume>` | encrypt and sign a volume (publish) |
/// | `upload:<volume>` | upload it (publish) |
/// | `done` | finished |
///
/// Called on the thread that runs the operation: keep it short, and hand UI updates to the UI
/// thread. It must not call back into the client.
pub trait Progress: Send + Sync {
    /// One report: `done` of `total` steps finished; `what` is about to run (or `"done"`).
    fn on_progress(&self, done: u64, total: u64, what: &str);
}

/// A [`Progress`] that ignores every report.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn on_progress(&self, _done: u64, _total: u64, _what: &str) {}
}

/// A cancellation signal shared between the app and one or more operations.
///
/// [`cancel`](Self::cancel) makes every operation using this token stop at its next
/// cancellation point with [`ClientError::Cancelled`]: between the steps of a rotation, and in
/// the middle of a network request of a step (the request is abandoned; every step is
/// idempotent, so a half-sent request is harmless). A cancelled rotation keeps its stored plan
/// and resumes later; a cancelled publish may or may not have reached the relay, and the next
/// publish numbers its version above whatever the relay holds.
///
/// Cancelling is permanent: make a new token for the next operation. Clones share the signal.
#[derive(Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Cancel {
    /// A token that has not been cancelled.
    #[must_use]
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Signals cancellation to every operation holding this token (or a clone).
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Completes once the token is cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a `cancel` in between is not missed.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// [`ClientError::Cancelled`] once cancelled.
    pub(crate) fn check(&self) -> Result<(), ClientError> {
        if self.is_cancelled() {
            return Err(ClientError::Cancelled);
        }
        Ok(())
    }

    /// Runs `work` unless the token is, or becomes, cancelled first; then `work` is dropped at
    /// its current await point and the result is [`ClientError::Cancelled`]. Only for work
    /// that may be abandoned anywhere (idempotent steps, uploads that are numbered again).
    pub(crate) async fn guard<T>(
        &self,
        work: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        self.check()?;
        tokio::select! {
            biased;
            () = self.cancelled() => Err(ClientError::Cancelled),
            result = work => result,
        }
    }
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancel")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Counts steps for a [`Progress`].
pub(super) struct Steps<'a> {
    progress: &'a dyn Progress,
    done: u64,
    total: u64,
}

impl<'a> Steps<'a> {
    pub(super) fn new(progress: &'a dyn Progress, done: u64, total: u64) -> Steps<'a> {
        Steps {
            progress,
            done,
            total,
        }
    }

    /// Reports that `what` starts now.
    pub(super) fn start(&self, what: &str) {
        self.progress.on_progress(self.done, self.total, what);
    }

    /// Counts one step as done.
    pub(super) fn finish(&mut self) {
        self.done = (self.done + 1).min(self.total);
    }

    /// Reports the end.
    pub(super) fn done(&mut self) {
        self.done = self.total;
        self.progress.on_progress(self.total, self.total, "done");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn cancel_wakes_a_waiting_operation_and_stays_cancelled() {
        let token = Cancel::new();
        let clone = token.clone();
        let waiting = tokio::spawn(async move {
            clone
                .guard(async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(())
                })
                .await
        });
        tokio::task::yield_now().await;
        token.cancel();
        let result = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("a cancelled wait ends")
            .expect("task");
        assert!(matches!(result, Err(ClientError::Cancelled)));
        // Permanent, and checked before any work starts.
        assert!(token.is_cancelled());
        let ran = AtomicBool::new(false);
        let again = token
            .guard(async {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert!(matches!(again, Err(ClientError::Cancelled)));
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn an_uncancelled_guard_returns_the_work_result() {
        let token = Cancel::new();
        assert_eq!(
            token.guard(async { Ok(7) }).await.expect("not cancelled"),
            7
        );
        assert!(matches!(
            token
                .guard(async { Err::<(), _>(ClientError::NotFound) })
                .await,
            Err(ClientError::NotFound)
        ));
    }

    #[test]
    fn steps_report_before_each_step_and_at_the_end() {
        #[derive(Default)]
        struct Seen(Mutex<Vec<(u64, u64, String)>>);
        impl Progress for Seen {
            fn on_progress(&self, done: u64, total: u64, what: &str) {
                self.0
                    .lock()
                    .expect("lock")
                    .push((done, total, what.to_owned()));
            }
        }
        let seen = Seen::default();
        let mut steps = Steps::new(&seen, 1, 3);
        steps.start("rotate:meta");
        steps.finish();
        steps.start("regrant");
        steps.finish();
        steps.done();
        assert_eq!(
            *seen.0.lock().expect("lock"),
            vec![
                (1, 3, "rotate:meta".to_owned()),
                (2, 3, "regrant".to_owned()),
                (3, 3, "done".to_owned())
            ]
        );
    }
}
