//! Event tracking (埋点): the contract of what clients send ([`tracking`]), ingestion with its
//! dedup, rate limit and visibility check ([`ingest`]), the durable log (embedded, below, or
//! NATS JetStream, one interface in [`store`]), the projection runner that folds the log into
//! states and checkpoints them with their offset ([`projection`]), and its first projection,
//! the stats ([`stats`], over [`aggregate`]). [`Tracking`] holds it together for callers.
//!
//! Architecture Invariant: an event about a video is never logged unless the catalog said its
//! sender may see that video, and a projection's state is never written without the log offset
//! it covers (nor the offset without the state). This crate never decides who may see a video
//! (the binary hands in [`ingest::VideoAccess`]), never knows HTTP or SQL, and spawns no task
//! that nobody awaits: its loops are `run(self, stop)` for the binary's task set.
//!
//! The embedded log: append-only segment files in the data dir. Producers call
//! [`EventLog::append`]; concurrent appends are batched by one writer task
//! that writes them and fsyncs once per batch (group commit), and an append returns only
//! once its records are on disk. Consumers replay with [`EventLog::read`] from any retained
//! offset and keep their position with [`EventLog::commit_consumer`]. Old segments go by
//! [`EventLog::enforce_retention`]. Each record on disk is
//! `len u32 LE | crc32(payload) u32 LE | offset u64 LE | timestamp_ms i64 LE | payload`.

pub mod aggregate;
mod consumer;
mod error;
pub mod ingest;
pub mod jetstream;
pub mod projection;
mod segment;
mod service;
pub mod shared;
pub mod stats;
pub mod store;
pub mod tracking;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use consumer::validate_consumer_name;
pub use error::{LogError, Result};
pub use segment::Record;
pub use service::{RETENTION_EVERY, Tracking, TrackingConfig};
pub use shared::SharedLog;
pub use store::{EventStore, StoreConfig};

use consumer::Consumers;
use segment::{HEADER_LEN, Scanner, Summary, segment_path, sync_dir};

/// How the log lays out and keeps its files.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// A segment is rolled once the next record would take it past this many bytes
    /// (a single record larger than this still gets a segment of its own).
    pub segment_bytes: u64,
    /// Delete the oldest segments while the log is larger than this; `None` keeps all.
    pub retention_bytes: Option<u64>,
    /// Delete segments whose newest record is older than this; `None` keeps all.
    pub retention_age: Option<Duration>,
    /// The largest payload accepted by [`EventLog::append`].
    pub max_record_bytes: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 64 * 1024 * 1024,
            retention_bytes: None,
            retention_age: Some(Duration::from_secs(7 * 24 * 3600)),
            max_record_bytes: 1024 * 1024,
        }
    }
}

/// What retention removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes freed.
    pub bytes_deleted: u64,
    /// The oldest offset still retained afterwards.
    pub oldest_offset: u64,
}

/// One segment as the log knows it.
#[derive(Clone, Copy, Debug)]
struct SegmentInfo {
    base: u64,
    size: u64,
    newest_ts: Option<i64>,
}

/// State shared by the writer, readers and retention.
#[derive(Debug)]
struct State {
    /// Segments oldest first; the last one is the writer's active segment.
    segments: Vec<SegmentInfo>,
    /// Offsets below this are durable and visible to readers.
    committed: u64,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    config: LogConfig,
    state: Mutex<State>,
    consumers: Consumers,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A batch of payloads waiting for the writer.
struct Request {
    payloads: Vec<Bytes>,
    reply: oneshot::Sender<Result<Range<u64>>>,
}

/// The embedded durable event log. Cheap operations are `async` and run file I/O on
/// blocking threads; dropping the log lets the writer finish pending appends and stop.
#[derive(Debug)]
pub struct EventLog {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Request>,
    writer: JoinHandle<()>,
}

impl EventLog {
    /// Opens (creating) the log in `dir`, cutting a torn or corrupt tail off the last
    /// segment so the log ends at its last complete record. Must run inside a tokio runtime.
    pub async fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self> {
        if config.segment_bytes == 0 {
            return Err(LogError::InvalidConfig("segment_bytes must be positive"));
        }
        let dir = dir.as_ref().to_owned();
        let (shared, writer) = blocking(move || recover(dir, config)).await?;
        let shared = Arc::new(shared);
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(Arc::clone(&shared), writer, rx));
        Ok(Self { shared, tx, writer })
    }

    /// Appends `payloads` as consecutive records and returns their offsets once they are
    /// durable (written and fsynced). Concurrent calls share one fsync.
    pub async fn append(&self, payloads: Vec<Bytes>) -> Result<Range<u64>> {
        let max = self.shared.config.max_record_bytes;
        if let Some(p) = payloads.iter().find(|p| p.len() > max as usize) {
            return Err(LogError::RecordTooLarge { len: p.len(), max });
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { payloads, reply })
            .map_err(|_| LogError::Unavailable("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| LogError::Unavailable("the writer has stopped".into()))?
    }

    /// Up to `max_records` durable records from `from_offset` on, across segments; a
    /// `from_offset` below the oldest retained offset reads from the oldest.
    pub async fn read(&self, from_offset: u64, max_records: usize) -> Result<Vec<Record>> {
        let shared = Arc::clone(&self.shared);
        blocking(move || read_records(&shared, from_offset, max_records)).await
    }

    /// The offset the next appended record will get (everything below is durable).
    pub fn next_offset(&self) -> u64 {
        self.shared.state().committed
    }

    /// The oldest offset still retained.
    pub fn oldest_offset(&self) -> u64 {
        self.shared.state().segments[0].base
    }

    /// Deletes whole old segments, oldest first and never the active one, while the log is
    /// over `retention_bytes` or the segment's newest record is older than `retention_age`.
    pub async fn enforce_retention(&self) -> Result<RetentionReport> {
        self.enforce_retention_at(now_ms()).await
    }

    /// [`enforce_retention`](Self::enforce_retention) with an explicit "now" in Unix ms.
    pub async fn enforce_retention_at(&self, now_ms: i64) -> Result<RetentionReport> {
        let shared = Arc::clone(&self.shared);
        blocking(move || retain(&shared, now_ms)).await
    }

    /// Durably records that consumer `name` will next read `next_offset`.
    pub async fn commit_consumer(&self, name: &str, next_offset: u64) -> Result<()> {
        validate_consumer_name(name)?;
        let (shared, name) = (Arc::clone(&self.shared), name.to_owned());
        blocking(move || shared.consumers.commit(&name, next_offset)).await
    }

    /// The offset consumer `name` last committed, or `None` if it never did.
    pub async fn consumer_offset(&self, name: &str) -> Result<Option<u64>> {
        validate_consumer_name(name)?;
        let (shared, name) = (Arc::clone(&self.shared), name.to_owned());
        blocking(move || shared.consumers.get(&name)).await
    }

    /// Stops accepting appends, lets the writer finish those already queued, and waits for it.
    pub async fn close(self) {
        drop(self.tx);
        let _ = self.writer.await;
    }
}

/// Runs blocking file I/O off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LogError::Unavailable(format!("blocking task failed: {e}")))?
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The writer's private handle on the active segment.
struct Writer {
    dir: PathBuf,
    segment_bytes: u64,
    base: u64,
    file: File,
    size: u64,
    next: u64,
    /// Timestamp of the newest record in the active segment.
    newest_ts: Option<i64>,
    /// Set after a failed write: the file may hold a partial batch, so stop appending.
    failed: Option<String>,
}

fn recover(dir: PathBuf, config: LogConfig) -> Result<(Shared, Writer)> {
    fs::create_dir_all(&dir).map_err(LogError::io(&dir))?;
    let consumers = Consumers::open(dir.join("consumers"))?;
    let mut bases: Vec<u64> = fs::read_dir(&dir)
        .map_err(LogError::io(&dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| segment::parse_segment_name(e.file_name().to_str()?))
        .collect();
    bases.sort_unstable();
    if bases.is_empty() {
        File::create(segment_path(&dir, 0)).map_err(LogError::io(&dir))?;
        sync_dir(&dir)?;
        bases.push(0);
    }
    let mut segments = Vec::with_capacity(bases.len());
    let (&last, older) = bases.split_last().expect("at least one segment");
    for &base in older {
        let Summary {
            valid_len,
            newest_ts,
            ..
        } = segment::summarize_trusted(&segment_path(&dir, base), base)?;
        segments.push(SegmentInfo {
            base,
            size: valid_len,
            newest_ts,
        });
    }
    let path = segment_path(&dir, last);
    let tail = segment::recover_tail(&path, last)?;
    segments.push(SegmentInfo {
        base: last,
        size: tail.valid_len,
        newest_ts: tail.newest_ts,
    });
    let file = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(LogError::io(&path))?;
    let writer = Writer {
        dir: dir.clone(),
        segment_bytes: config.segment_bytes,
        base: last,
        file,
        size: tail.valid_len,
        next: tail.next_offset,
        newest_ts: tail.newest_ts,
        failed: None,
    };
    let shared = Shared {
        dir,
        config,
        state: Mutex::new(State {
            segments,
            committed: tail.next_offset,
        }),
        consumers,
    };
    Ok((shared, writer))
}

/// Drains every queued request into one batch, writes and fsyncs it, then answers all.
async fn write_loop(
    shared: Arc<Shared>,
    mut writer: Writer,
    mut rx: mpsc::UnboundedReceiver<Request>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let (payloads, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|r| (r.payloads, r.reply)).unzip();
        let shared2 = Arc::clone(&shared);
        let joined = tokio::task::spawn_blocking(move || {
            let result = writer.write_batch(&shared2, &payloads);
            (writer, result)
        })
        .await;
        let (w, result) = match joined {
            Ok(done) => done,
            Err(e) => {
                let msg = format!("writer thread failed: {e}");
                for reply in replies {
                    let _ = reply.send(Err(LogError::Unavailable(msg.clone())));
                }
                return;
            }
        };
        writer = w;
        match result {
            Ok(ranges) => {
                for (reply, range) in replies.into_iter().zip(ranges) {
                    let _ = reply.send(Ok(range));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "event log: append failed; refusing appends until reopened");
                let msg = e.to_string();
                writer.failed = Some(msg.clone());
                let mut first = Some(e);
                for reply in replies {
                    let err = first
                        .take()
                        .unwrap_or_else(|| LogError::Unavailable(msg.clone()));
                    let _ = reply.send(Err(err));
                }
            }
        }
    }
}

impl Writer {
    fn write_batch(&mut self, shared: &Shared, batches: &[Vec<Bytes>]) -> Result<Vec<Range<u64>>> {
        if let Some(msg) = &self.failed {
            return Err(LogError::Unavailable(msg.clone()));
        }
        let ts = now_ms();
        let mut ranges = Vec::with_capacity(batches.len());
        let mut buf = Vec::new();
        let mut wrote_any = false;
        for payloads in batches {
            let start = self.next;
            for payload in payloads {
                let rec_len = HEADER_LEN + payload.len() as u64;
                let pending = buf.len() as u64;
                if self.size + pending > 0 && self.size + pending + rec_len > self.segment_bytes {
                    self.flush(&mut buf)?;
                    self.roll(shared)?;
                }
                segment::encode(&mut buf, self.next, ts, payload);
                self.next += 1;
                self.newest_ts = Some(ts);
                wrote_any = true;
            }
            ranges.push(start..self.next);
        }
        self.flush(&mut buf)?;
        if wrote_any {
            self.file.sync_data().map_err(self.io_err())?;
            let mut state = shared.state();
            let active = state.segments.last_mut().expect("active segment");
            active.size = self.size;
            active.newest_ts = self.newest_ts;
            state.committed = self.next;
        }
        Ok(ranges)
    }

    fn io_err(&self) -> impl FnOnce(io::Error) -> LogError {
        LogError::io(segment_path(&self.dir, self.base))
    }

    fn flush(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        if !buf.is_empty() {
            self.file.write_all(buf).map_err(self.io_err())?;
            self.size += buf.len() as u64;
            buf.clear();
        }
        Ok(())
    }

    /// Seals the active segment (durably) and starts a new one at the next offset.
    fn roll(&mut self, shared: &Shared) -> Result<()> {
        self.file.sync_data().map_err(self.io_err())?;
        let path = segment_path(&self.dir, self.next);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(LogError::io(&path))?;
        sync_dir(&self.dir)?;
        let mut state = shared.state();
        let sealed = state.segments.last_mut().expect("active segment");
        sealed.size = self.size;
        sealed.newest_ts = self.newest_ts;
        state.segments.push(SegmentInfo {
            base: self.next,
            size: 0,
            newest_ts: None,
        });
        drop(state);
        self.file = file;
        self.base = self.next;
        self.size = 0;
        self.newest_ts = None;
        Ok(())
    }
}

fn read_records(shared: &Shared, from: u64, max: usize) -> Result<Vec<Record>> {
    let (bases, committed) = {
        let state = shared.state();
        let bases: Vec<u64> = state.segments.iter().map(|s| s.base).collect();
        (bases, state.committed)
    };
    let from = from.max(bases[0]);
    let mut out = Vec::new();
    if max == 0 || from >= committed {
        return Ok(out);
    }
    let first = bases.partition_point(|&b| b <= from).saturating_sub(1);
    for &base in &bases[first..] {
        let path = segment_path(&shared.dir, base);
        let mut scan = match Scanner::open(&path) {
            Ok(scan) => scan,
            // Retention removed it after we looked; its records are gone.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(LogError::io(&path)(e)),
        };
        while let Some(header) = scan.next_header()? {
            if header.offset >= committed {
                return Ok(out);
            }
            if header.offset < from {
                scan.skip(header.len)?;
                continue;
            }
            let position = scan.position() - HEADER_LEN;
            let payload = scan
                .payload(header.len, header.crc)?
                .ok_or(LogError::Corrupt {
                    path: path.clone(),
                    position,
                })?;
            out.push(Record {
                offset: header.offset,
                timestamp_ms: header.timestamp_ms,
                payload: Bytes::from(payload),
            });
            if out.len() == max {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

fn retain(shared: &Shared, now_ms: i64) -> Result<RetentionReport> {
    let config = &shared.config;
    let cutoff = config
        .retention_age
        .map(|age| now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)));
    let mut state = shared.state();
    let mut total: u64 = state.segments.iter().map(|s| s.size).sum();
    let mut report = RetentionReport::default();
    while state.segments.len() > 1 {
        let oldest = state.segments[0];
        let over_size = config.retention_bytes.is_some_and(|max| total > max);
        let too_old = matches!((cutoff, oldest.newest_ts), (Some(c), Some(ts)) if ts < c);
        if !over_size && !too_old {
            break;
        }
        let path = segment_path(&shared.dir, oldest.base);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogError::io(&path)(e)),
        }
        state.segments.remove(0);
        total -= oldest.size;
        report.segments_deleted += 1;
        report.bytes_deleted += oldest.size;
    }
    report.oldest_offset = state.segments[0].base;
    drop(state);
    if report.segments_deleted > 0 {
        sync_dir(&shared.dir)?;
        tracing::info!(
            segments = report.segments_deleted,
            bytes = report.bytes_deleted,
            oldest = report.oldest_offset,
            "event log: retention removed old segments"
        );
    }
    Ok(report)
}
