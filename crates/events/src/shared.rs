//! [`SharedLog`]: the one event log of a process, opened (recovered, or connected to) on first
//! use and shared by ingestion, the projections and the tail, with a signal on every append so
//! readers wake at once instead of polling. Also [`LogRetention`], the task that enforces the
//! log's retention limits.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OnceCell, watch};
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::segment::Record;
use crate::store::{EventStore, StoreConfig};

/// How long a tail waits between looks at a log other nodes append to (JetStream).
const TAIL_POLL: Duration = Duration::from_millis(500);

/// The event log, opened on first use, plus a notification of each append made through it.
#[derive(Debug)]
pub struct SharedLog {
    config: StoreConfig,
    store: OnceCell<EventStore>,
    /// The log's next offset after each append through this process.
    appended: watch::Sender<u64>,
}

/// What [`SharedLog::tail`] found.
#[derive(Debug)]
pub struct TailPage {
    /// Records from the requested offset on (empty when none came within the wait).
    pub records: Vec<Record>,
    /// Where to continue.
    pub next: u64,
}

impl SharedLog {
    /// A log that `config` names; nothing is opened yet.
    pub fn new(config: StoreConfig) -> Self {
        Self {
            config,
            store: OnceCell::new(),
            appended: watch::Sender::new(0),
        }
    }

    /// The log, opened (recovered, or connected to) on first use. A failed open is retried by
    /// the next call.
    pub async fn get(&self) -> Result<&EventStore> {
        self.store
            .get_or_try_init(|| EventStore::open(&self.config))
            .await
    }

    /// Appends `(event id, payload)` records; once stored, wakes every reader.
    pub async fn append(&self, records: Vec<(String, Bytes)>) -> Result<u64> {
        let end = self.get().await?.append(records).await?;
        self.appended.send_if_modified(|next| {
            let newer = end > *next;
            *next = (*next).max(end);
            newer
        });
        Ok(end)
    }

    /// A receiver that changes whenever an append through this process is stored.
    pub fn appended(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Up to `limit` records from `from` on (`None`: from the end, i.e. only new ones), waiting
    /// up to `wait` for the first, or until `stop` fires.
    pub async fn tail(
        &self,
        from: Option<u64>,
        limit: usize,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<TailPage> {
        let log = self.get().await?;
        let from = match from {
            Some(from) => from,
            None => log.next_offset().await?,
        };
        let mut appended = self.appended();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let records = log.read(from, limit).await?;
            if let Some(last) = records.last() {
                let next = last.offset + 1;
                return Ok(TailPage { records, next });
            }
            // Appends through this node wake the tail at once; other nodes' (a shared JetStream
            // log) are found by looking again now and then.
            tokio::select! {
                changed = appended.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(TAIL_POLL) => {}
                () = tokio::time::sleep_until(deadline) => break,
                () = stop.cancelled() => break,
            }
        }
        let oldest = log.oldest_offset().await?;
        Ok(TailPage {
            records: Vec::new(),
            next: from.max(oldest),
        })
    }
}

/// Enforces the log's retention limits (whole old segments of the embedded log; JetStream
/// enforces its own) once at start and then every `every`, until stopped.
pub struct LogRetention {
    log: std::sync::Arc<SharedLog>,
    every: Duration,
}

impl LogRetention {
    /// Retention of `log`, checked every `every`.
    pub fn new(log: std::sync::Arc<SharedLog>, every: Duration) -> Self {
        Self { log, every }
    }

    /// Runs until `stop` fires.
    pub async fn run(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let log = match self.log.get().await {
                Ok(log) => log,
                Err(e) => {
                    tracing::warn!("event log retention: {e}");
                    continue;
                }
            };
            match log.enforce_retention().await {
                Ok(freed) if freed > 0 => tracing::info!(freed, "event log retention"),
                Ok(_) => {}
                Err(e) => tracing::warn!("event log retention: {e}"),
            }
        }
    }
}
