//! The binary's one supervised task set. Every background task of a role runs here, watching
//! the shared shutdown signal; `shutdown` awaits every one of them before the store closes.
//! A task that ends on its own before shutdown (a panic, or a loop that gave up) stops the
//! whole process in order rather than leaving it half alive.

use std::future::Future;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Background tasks sharing one shutdown signal.
pub struct Tasks {
    set: JoinSet<&'static str>,
    stop: CancellationToken,
}

impl Tasks {
    /// An empty set whose tasks watch `stop`.
    pub fn new(stop: CancellationToken) -> Self {
        Self {
            set: JoinSet::new(),
            stop,
        }
    }

    /// The shutdown signal the tasks watch.
    pub fn stop(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs `task` until it returns; it must return soon after the stop signal fires.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.set.spawn(async move {
            task.await;
            name
        });
    }

    /// Waits for the stop signal, or for a task that ends before it (which fires the signal:
    /// a process with a dead background task is not healthy).
    pub async fn supervise(&mut self) {
        tokio::select! {
            () = self.stop.cancelled() => {}
            Some(ended) = self.set.join_next() => {
                match ended {
                    // The signal watcher ends by firing the signal itself.
                    Ok(_) if self.stop.is_cancelled() => {}
                    Ok(name) => tracing::error!("background task {name} ended before shutdown; stopping"),
                    Err(e) => tracing::error!("a background task failed: {e}; stopping"),
                }
                self.stop.cancel();
            }
        }
    }

    /// Fires the stop signal and awaits every task.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        while let Some(ended) = self.set.join_next().await {
            match ended {
                Ok(name) => tracing::debug!("{name} stopped"),
                Err(e) => tracing::error!("a background task failed while stopping: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn shutdown_awaits_every_task_after_the_signal() {
        let finished = Arc::new(AtomicUsize::new(0));
        let mut tasks = Tasks::new(CancellationToken::new());
        for _ in 0..3 {
            let (stop, finished) = (tasks.stop(), finished.clone());
            tasks.spawn("waiter", async move {
                stop.cancelled().await;
                tokio::task::yield_now().await;
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        tasks.shutdown().await;
        assert_eq!(finished.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_task_ending_early_stops_the_others() {
        let mut tasks = Tasks::new(CancellationToken::new());
        let stop = tasks.stop();
        tasks.spawn("quitter", async {});
        tasks.spawn("waiter", async move { stop.cancelled().await });
        tasks.supervise().await;
        assert!(tasks.stop().is_cancelled());
        tasks.shutdown().await;
    }
}
