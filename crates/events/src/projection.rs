//! The projection runner: fold the event log into a state, checkpoint the state together with
//! the offset it covers (one file, written atomically), and resume from there after a crash.
//!
//! A projection is a [`Projection`]: a state type, an optional asynchronous `prepare` step per
//! batch (look-ups the fold needs, outside any lock) and a deterministic `apply`. The
//! [`ProjectionRunner`] reads the log (embedded or JetStream, through [`SharedLog`]), parses
//! each batch and folds it on the blocking pool while the next batch is read, checkpoints every
//! [`RunnerConfig::checkpoint_every`] and on stop, and publishes the state through a
//! [`ProjectionHandle`] that readers share. Adding a projection is one `impl Projection` and
//! one `ProjectionRunner::new(..).run(stop)` in the binary's task set.
//!
//! Exactly once in effect: the checkpoint holds the state and `next_offset` together, so
//! after a crash the runner resumes from that offset with that state and folds every later
//! record once. Delivery from the log is at least once (a retried batch appended twice), so
//! a projection deduplicates by `event_id` if duplicates would change its numbers.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{RwLock, RwLockReadGuard};
use tokio_util::sync::CancellationToken;

use crate::segment::Record;
use crate::shared::SharedLog;
use crate::tracking::TrackedEvent;

/// A fold of the event log into a state.
pub trait Projection: Send + Sync + 'static {
    /// What the fold builds; checkpointed as JSON.
    type State: Default + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What [`prepare`](Self::prepare) hands to [`apply`](Self::apply) (`()` when nothing).
    type Context: Send + 'static;

    /// Names the checkpoint file, `<dir>/<name>.json`: `[a-z0-9_-]+`, unique per projection.
    fn name(&self) -> &'static str;

    /// Looks up what folding `events` needs (outside every lock; may read the state through
    /// `state`). Runs on an async worker: no blocking work here.
    fn prepare(
        &self,
        events: &[TrackedEvent],
        state: &ProjectionHandle<Self::State>,
    ) -> impl Future<Output = Self::Context> + Send;

    /// Folds `events` (in log order) into `state`. Runs on the blocking pool under the write
    /// lock; must be deterministic, so every node folding the same log agrees.
    fn apply(&self, state: &mut Self::State, events: &[TrackedEvent], context: Self::Context);

    /// Called once with a state just restored from a checkpoint (e.g. to set configuration
    /// that is not checkpointed, or upgrade an older format).
    fn restored(&self, state: &mut Self::State) {
        let _ = state;
    }
}

/// A state and the log offset it covers.
#[derive(Debug, Default)]
pub struct Folded<S> {
    /// The state.
    pub state: S,
    /// Every record below this offset is folded in.
    pub next_offset: u64,
}

/// The read side of a projection, shared by every reader; cheap to clone.
#[derive(Debug)]
pub struct ProjectionHandle<S> {
    inner: Arc<HandleInner<S>>,
}

#[derive(Debug)]
struct HandleInner<S> {
    folded: RwLock<Folded<S>>,
    next_offset: AtomicU64,
    running: AtomicBool,
}

impl<S> Clone for ProjectionHandle<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: Default> Default for ProjectionHandle<S> {
    fn default() -> Self {
        Self::new(S::default())
    }
}

impl<S> ProjectionHandle<S> {
    /// A handle over `state` at offset 0 (until a runner restores a checkpoint into it).
    pub fn new(state: S) -> Self {
        Self {
            inner: Arc::new(HandleInner {
                folded: RwLock::new(Folded {
                    state,
                    next_offset: 0,
                }),
                next_offset: AtomicU64::new(0),
                running: AtomicBool::new(false),
            }),
        }
    }

    /// The state and its offset, read-locked (folds wait while the guard lives: keep it short).
    pub async fn read(&self) -> RwLockReadGuard<'_, Folded<S>> {
        self.inner.folded.read().await
    }

    /// The log offset below which every record is folded in.
    pub fn next_offset(&self) -> u64 {
        self.inner.next_offset.load(Ordering::Acquire)
    }
}

/// How a runner paces itself.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Records read and folded per batch at most.
    pub read_batch: usize,
    /// The checkpoint is written at most this often while records flow (a crash replays at
    /// most this much of the log), and on stop.
    pub checkpoint_every: Duration,
    /// How long the runner sleeps when no append through this process wakes it (appends by
    /// other nodes to a shared log are found this late at most).
    pub idle_poll: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            read_batch: 10_000,
            checkpoint_every: Duration::from_secs(30),
            idle_poll: Duration::from_millis(500),
        }
    }
}

/// Folds the log into one projection until stopped; see the module docs.
pub struct ProjectionRunner<P: Projection> {
    projection: Arc<P>,
    log: Arc<SharedLog>,
    checkpoint: PathBuf,
    handle: ProjectionHandle<P::State>,
    config: RunnerConfig,
}

/// The checkpoint file's content.
#[derive(Serialize, serde::Deserialize)]
struct Checkpoint<S> {
    /// Every record below this offset is folded into `state`.
    next_offset: u64,
    /// (`aggregates` in checkpoints written before the runner existed.)
    #[serde(alias = "aggregates")]
    state: S,
}

/// Borrowed form, so writing a checkpoint does not clone the state.
#[derive(Serialize)]
struct CheckpointRef<'a, S> {
    next_offset: u64,
    state: &'a S,
}

impl<P: Projection> ProjectionRunner<P> {
    /// A runner of `projection` over `log`, checkpointing into `dir`, publishing to `handle`
    /// (a handle made beforehand, so readers can hold it before the runner starts).
    pub fn new(
        projection: P,
        log: Arc<SharedLog>,
        dir: &Path,
        handle: ProjectionHandle<P::State>,
    ) -> Self {
        let checkpoint = dir.join(format!("{}.json", projection.name()));
        Self {
            projection: Arc::new(projection),
            log,
            checkpoint,
            handle,
            config: RunnerConfig::default(),
        }
    }

    /// The same with other pacing.
    pub fn with_config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// The read handle.
    pub fn handle(&self) -> ProjectionHandle<P::State> {
        self.handle.clone()
    }

    /// Where the checkpoint lives.
    pub fn checkpoint_path(&self) -> &Path {
        &self.checkpoint
    }

    /// Folds until `stop` fires, then writes the checkpoint once more and returns. A second
    /// runner on the same handle returns at once (it would fold everything twice).
    pub async fn run(self, stop: CancellationToken) {
        if self.handle.inner.running.swap(true, Ordering::AcqRel) {
            tracing::error!(
                projection = self.projection.name(),
                "a runner already folds into this handle"
            );
            return;
        }
        self.fold_until(stop).await;
        self.handle.inner.running.store(false, Ordering::Release);
    }

    async fn fold_until(&self, stop: CancellationToken) {
        let name = self.projection.name();
        let log = loop {
            match self.log.get().await {
                Ok(log) => break log,
                Err(e) => {
                    tracing::warn!(projection = name, "opening the event log: {e}");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
            }
        };
        let mut offset = self.restore().await;
        let mut appended = self.log.appended();
        let mut saved_offset = offset;
        let mut saved_at = Instant::now();
        // The fold of one batch runs while the next is read, parsed and prepared.
        let mut folding: Option<Fold> = None;
        loop {
            let records = match log.read(offset, self.config.read_batch).await {
                Ok(records) => records,
                Err(e) => {
                    tracing::warn!(projection = name, "reading the event log: {e}");
                    Vec::new()
                }
            };
            if records.is_empty() {
                if !finish(&mut folding).await {
                    return;
                }
                if offset != saved_offset && saved_at.elapsed() >= self.config.checkpoint_every {
                    saved_offset = self.save().await.unwrap_or(saved_offset);
                    saved_at = Instant::now();
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = appended.changed() => {}
                    () = tokio::time::sleep(self.config.idle_poll) => {}
                }
                continue;
            }
            let next = records.last().map_or(offset, |r| r.offset + 1);
            // Parsing runs on the blocking pool too: OS threads of their own, so under heavy
            // ingestion the fold gets its share of the cores.
            let Ok(events) = tokio::task::spawn_blocking(move || parse_records(&records)).await
            else {
                break;
            };
            let context = self.projection.prepare(&events, &self.handle).await;
            // Batches fold in log order: the previous one finishes first.
            if !finish(&mut folding).await {
                return;
            }
            let (projection, handle) = (Arc::clone(&self.projection), self.handle.clone());
            folding = Some(tokio::task::spawn_blocking(move || {
                let mut folded = handle.inner.folded.blocking_write();
                projection.apply(&mut folded.state, &events, context);
                folded.next_offset = next;
                handle.inner.next_offset.store(next, Ordering::Release);
            }));
            offset = next;
            if saved_at.elapsed() >= self.config.checkpoint_every {
                if !finish(&mut folding).await {
                    return;
                }
                saved_offset = self.save().await.unwrap_or(saved_offset);
                saved_at = Instant::now();
            }
        }
        if finish(&mut folding).await && self.handle.next_offset() != saved_offset {
            self.save().await;
        }
    }

    /// Loads the checkpoint into the handle; returns the offset to read from.
    async fn restore(&self) -> u64 {
        let path = self.checkpoint.clone();
        let loaded = tokio::task::spawn_blocking(move || load::<P::State>(&path)).await;
        let checkpoint = match loaded {
            Ok(Ok(checkpoint)) => checkpoint,
            // An unreadable checkpoint is rebuilt from the log rather than trusted.
            Ok(Err(e)) => {
                tracing::warn!(
                    projection = self.projection.name(),
                    "checkpoint unreadable, refolding the log: {e}"
                );
                None
            }
            Err(e) => {
                tracing::warn!(projection = self.projection.name(), "restoring: {e}");
                None
            }
        };
        let mut folded = self.handle.inner.folded.write().await;
        let (mut state, offset) = match checkpoint {
            Some(c) => (c.state, c.next_offset),
            None => (P::State::default(), 0),
        };
        self.projection.restored(&mut state);
        *folded = Folded {
            state,
            next_offset: offset,
        };
        self.handle
            .inner
            .next_offset
            .store(offset, Ordering::Release);
        offset
    }

    /// Writes the checkpoint (state and offset read under one lock); the offset it covers.
    async fn save(&self) -> Option<u64> {
        let (handle, path) = (self.handle.clone(), self.checkpoint.clone());
        let written = tokio::task::spawn_blocking(move || {
            // Streamed into the file, not built in memory first: a large state (profiles)
            // would otherwise cost its whole JSON in memory at every checkpoint.
            let folded = handle.inner.folded.blocking_read();
            let offset = folded.next_offset;
            write_atomic(&path, |out| {
                serde_json::to_writer(
                    out,
                    &CheckpointRef {
                        next_offset: offset,
                        state: &folded.state,
                    },
                )
                .map_err(std::io::Error::other)
            })
            .map(|()| offset)
        })
        .await;
        match written {
            Ok(Ok(offset)) => Some(offset),
            Ok(Err(e)) => {
                tracing::warn!(
                    projection = self.projection.name(),
                    "writing the checkpoint: {e}"
                );
                None
            }
            Err(e) => {
                tracing::warn!(
                    projection = self.projection.name(),
                    "writing the checkpoint: {e}"
                );
                None
            }
        }
    }
}

/// A batch being folded.
type Fold = tokio::task::JoinHandle<()>;

/// Waits for the fold under way, if any; false when it failed (a panic): the state may then
/// hold part of a batch, so the runner stops without saving it, and a restart resumes from
/// the last checkpoint.
async fn finish(folding: &mut Option<Fold>) -> bool {
    let Some(fold) = folding.take() else {
        return true;
    };
    match fold.await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!("folding events failed: {e}");
            false
        }
    }
}

/// The events of log records; an unreadable record is logged and skipped.
fn parse_records(records: &[Record]) -> Vec<TrackedEvent> {
    records
        .iter()
        .filter_map(|r| match serde_json::from_slice(&r.payload) {
            Ok(event) => Some(event),
            Err(e) => {
                tracing::warn!(offset = r.offset, "unreadable event in the log: {e}");
                None
            }
        })
        .collect()
}

fn load<S: DeserializeOwned>(path: &Path) -> std::io::Result<Option<Checkpoint<S>>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `path` durably with what `write` writes: a temp file, fsynced, renamed over it,
/// the directory fsynced.
fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    write(&mut out)?;
    out.flush()?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
