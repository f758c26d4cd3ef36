//! The tokio runtime behind every `async` binding function.
//!
//! Why it exists: client-core's networking (reqwest/hyper) needs a tokio reactor, but the
//! foreign side polls our futures from its own executor — Kotlin coroutines, Swift tasks,
//! Python's asyncio loop. Each async binding therefore spawns its work onto this small
//! multi-threaded runtime and lets the foreign executor await only the completion. Rust work
//! (sealing, Argon2, TLS) never runs on the app's main thread or its event loop.
//!
//! One runtime per process, created on first use: a runtime per client would multiply worker
//! threads for nothing, and tokio needs no global state besides it.
//!
//! Cancellation from the foreign side (a cancelled coroutine or `Task`, a cancelled asyncio
//! task) drops the awaited handle, which aborts the spawned work at its next await point: as
//! if the app had been killed there, which every client operation is built to survive. For a
//! cancellation that reports where it stopped, pass a `CancellationToken`.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

use crate::error::CofferError;

/// Worker threads: client work is I/O-bound with short bursts of crypto; two keep one busy
/// rotation from starving a fetch without costing a phone much.
const WORKERS: usize = 2;

fn runtime() -> Result<&'static Runtime, CofferError> {
    static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(WORKERS)
                .thread_name("coffer-worker")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
        .ok_or(CofferError::Internal {
            reason: "the library's worker threads could not be started".to_owned(),
        })
}

/// Aborts the task when the foreign side stops awaiting it.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `work` on the library's runtime and waits for its result from any executor. A panic
/// inside becomes [`CofferError::Internal`] instead of crossing the boundary.
pub(crate) async fn run<T, F>(work: F) -> Result<T, CofferError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, CofferError>> + Send + 'static,
{
    let mut task = AbortOnDrop(runtime()?.spawn(work));
    match (&mut task.0).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(CofferError::Internal {
            reason: "a library task panicked".to_owned(),
        }),
        Err(_) => Err(CofferError::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_the_library_runtime_from_a_foreign_executor() {
        // A plain executor without tokio stands in for the foreign side.
        let on_worker = futures_lite_block_on(run(async {
            tokio::task::yield_now().await;
            Ok(std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("coffer-worker")))
        }));
        assert_eq!(on_worker, Ok(true));
        let panicked: Result<(), _> = futures_lite_block_on(run(async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok(())
        }));
        assert!(matches!(panicked, Err(CofferError::Internal { .. })));
    }

    /// A minimal executor without tokio: polls on this thread, parks until woken.
    fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
        use std::sync::Arc;
        use std::task::{Context, Poll, Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::park();
        }
    }
}
