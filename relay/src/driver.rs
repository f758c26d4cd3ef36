//! A back end's own runtime: one thread that opens and drives the sockets of a connection pool
//! (PostgreSQL's, the object store's HTTP client). A socket is registered with the reactor of
//! the runtime that created it, so a pool filled from actix workers' runtimes would have its
//! connections driven by whichever worker opened them: stalled while that worker is busy,
//! closed when it stops. Work is spawned here and awaited from anywhere.

use std::future::Future;

/// The runtime; shut down in the background when dropped (a runtime may not be dropped inside
/// another's async context).
#[derive(Debug)]
pub struct Driver(Option<tokio::runtime::Runtime>);

impl Driver {
    /// Starts the driver thread, named `name`.
    pub fn start(name: &str) -> std::io::Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .map(|rt| Self(Some(rt)))
    }

    /// A handle to spawn on.
    pub fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.0.as_ref().map(|rt| rt.handle().clone())
    }

    /// Runs `work` on the driver and awaits it from the caller's context; `None` if the
    /// driver is gone (the relay is stopping) or the task panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        self.0.as_ref()?.spawn(work).await.ok()
    }

    /// Runs `work` on the driver and blocks the calling thread until it is done: for a
    /// blocking thread (never an async worker), as a download's blob reader runs on.
    pub fn block_on<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.0.as_ref()?.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv().ok()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}
