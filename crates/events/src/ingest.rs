//! Ingestion: what happens to a tracking batch between the HTTP handler and the log.
//!
//! In order: the per-address rate limit ([`Ingestion::admit`], before the sender is even
//! looked up), validation against the contract ([`crate::tracking`]), the **visibility check**
//! (events about a video the sender may not see, or that does not exist, are dropped and
//! counted in `spool_events_dropped_total{reason}`: never logged, so never in any stats or
//! history), dropping event ids accepted recently ([`RecentIds`]), and the append, answered
//! only once the events are stored. The sender's address goes into each stored event
//! (`address`: the IPv4 address, or the /64 network of an IPv6 one) so that projections can
//! cap what one address counts for.
//!
//! Who may see what is not decided here: the binary hands in a [`VideoAccess`] (the catalog's
//! one policy). Its answers are cached per (video, sender) for [`ACCESS_TTL`], and asked once
//! per request for all the videos of a batch, so the hot path costs no lookup per event.
//!
//! Server-observed events (CMCD on media requests) go through a bounded queue
//! ([`Ingestion::record_server_event`]) that [`ServerEventWriter::run`] appends in batches
//! and drains on shutdown.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};
use spool_model::{UserId, VideoId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::LogError;
use crate::shared::SharedLog;
use crate::tracking::{Batch, BatchError, EventType, Received, TrackedEvent, uuid_bits};

/// How long an answer of [`VideoAccess`] is reused for the same video and sender.
pub const ACCESS_TTL: Duration = Duration::from_secs(2);
/// Server-observed events queued for the log at most.
pub const SERVER_EVENT_QUEUE: usize = 10_000;
/// Server-observed events appended in one batch at most.
const SERVER_EVENT_BATCH: usize = 1000;
/// Address buckets kept before idle ones are pruned.
const MAX_BUCKETS: usize = 100_000;
/// Event ids remembered for deduplication at most (about 100 MB).
const MAX_REMEMBERED_IDS: u64 = 1_000_000;
/// Access answers cached at most before expired ones are pruned.
const MAX_ACCESS_ENTRIES: usize = 100_000;

/// A signed-in sender, as the server authenticated it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderUser {
    /// The user's id.
    pub id: UserId,
    /// The user's name (stored as the event's `user`).
    pub name: String,
    /// Admins see everything.
    pub is_admin: bool,
}

/// Who sent a batch: the server's facts, never the client's claims.
#[derive(Clone, Debug, Default)]
pub struct Sender {
    /// The signed-in user; `None` for anonymous.
    pub user: Option<SenderUser>,
    /// The peer address, when known.
    pub address: Option<IpAddr>,
}

/// What the catalog says about one video for one sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The sender may see it: its events are taken.
    Visible,
    /// It exists but the sender may not see it (private): its events are dropped.
    Hidden,
    /// No such video: its events are dropped.
    Unknown,
}

/// The catalog could not answer (its store is down); the batch is refused, to be resent.
#[derive(Debug, thiserror::Error)]
#[error("video access cannot be decided right now: {0}")]
pub struct AccessUnavailable(pub String);

/// "May this sender see these videos?", answered by the catalog's one visibility policy. The
/// binary provides it; events never decide visibility themselves.
pub trait VideoAccess: Send + Sync + 'static {
    /// One answer per id, in order.
    fn access<'a>(
        &'a self,
        user: Option<&'a SenderUser>,
        videos: &'a [VideoId],
    ) -> BoxFuture<'a, Result<Vec<Access>, AccessUnavailable>>;
}

/// Why ingestion refused a batch. Each has a stable code; the API maps them to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The batch breaks the contract.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The address sent too much; retry after the duration.
    #[error("too many events from this address; slow down and resend the batch")]
    RateLimited(Duration),
    /// The log could not store the batch; resend it later.
    #[error("events cannot be stored right now; retry the same batch later")]
    LogUnavailable(#[source] LogError),
    /// Visibility could not be decided; resend it later.
    #[error("events cannot be stored right now; retry the same batch later")]
    AccessUnavailable(#[source] AccessUnavailable),
}

impl IngestError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Batch(e) => e.code(),
            Self::RateLimited(_) => "rate_limited",
            Self::LogUnavailable(_) | Self::AccessUnavailable(_) => "event_log_unavailable",
        }
    }
}

/// What became of an accepted batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Events taken: appended, or dropped because the sender may not see their video (the
    /// client must not resend those, and cannot tell them apart from appended ones).
    pub accepted: usize,
    /// Events dropped because their `event_id` was accepted recently (a retry).
    pub duplicates: usize,
}

/// Ingestion settings.
#[derive(Clone, Debug)]
pub struct IngestConfig {
    /// Events one address may send per second, sustained; 0 turns the limit off.
    pub rate_limit_per_s: u32,
    /// Events one address may send at once.
    pub rate_limit_burst: u32,
    /// How long accepted event ids are remembered.
    pub dedup_window: Duration,
}

/// Told of every event stored from a client batch, as it is stored (the live service counts a
/// room's viewers from them). Called on the request's task: it must only note the event.
pub type EventObserver = Box<dyn Fn(&TrackedEvent) + Send + Sync>;

/// The ingestion side of event tracking.
pub struct Ingestion {
    observer: std::sync::OnceLock<EventObserver>,
    log: Arc<SharedLog>,
    seen: RecentIds,
    limiter: RateLimiter,
    access: Arc<dyn VideoAccess>,
    verdicts: AccessCache,
    server_events: mpsc::Sender<TrackedEvent>,
    /// Taken by the one [`ServerEventWriter`] that runs.
    server_queue: tokio::sync::Mutex<mpsc::Receiver<TrackedEvent>>,
}

impl Ingestion {
    /// Ingestion into `log`, deciding visibility with `access`.
    pub fn new(log: Arc<SharedLog>, config: &IngestConfig, access: Arc<dyn VideoAccess>) -> Self {
        let (server_events, queue) = mpsc::channel(SERVER_EVENT_QUEUE);
        Self {
            observer: std::sync::OnceLock::new(),
            log,
            seen: RecentIds::new(config.dedup_window.max(Duration::from_secs(1))),
            limiter: RateLimiter::new(config.rate_limit_per_s, config.rate_limit_burst),
            access,
            verdicts: AccessCache::default(),
            server_events,
            server_queue: tokio::sync::Mutex::new(queue),
        }
    }

    /// Sets the one [`EventObserver`] (a second is refused: false).
    pub fn observe(&self, observer: EventObserver) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// The log events go to.
    pub fn log(&self) -> &Arc<SharedLog> {
        &self.log
    }

    /// Takes `events` tokens of `address`'s rate limit, or says how long to wait.
    pub fn admit(&self, address: IpAddr, events: usize) -> Result<(), IngestError> {
        self.limiter
            .take(address, events)
            .map_err(IngestError::RateLimited)
    }

    /// Validates `batch` as sent by `sender`, drops what the sender may not see and what was
    /// accepted recently, and appends the rest; returns once it is stored.
    pub async fn accept(&self, batch: Batch, sender: &Sender) -> Result<Accepted, IngestError> {
        let received = Received {
            user: sender.user.as_ref().map(|u| u.name.clone()),
            received_at: now_ms(),
            address: sender.address.map(address_key),
        };
        let events = batch.validate(&received)?;
        let verdicts = self.verdicts(sender.user.as_ref(), &events).await?;
        let mut fresh_ids = Vec::with_capacity(events.len());
        let mut fresh = Vec::with_capacity(events.len());
        let mut payloads = Vec::with_capacity(events.len());
        let (mut hidden, mut unknown) = (0u64, 0u64);
        for event in &events {
            let verdict = event.video_id.as_deref().map_or(Access::Visible, |id| {
                verdicts.get(id).copied().unwrap_or(Access::Unknown)
            });
            match verdict {
                Access::Visible => {}
                Access::Hidden => {
                    hidden += 1;
                    continue;
                }
                Access::Unknown => {
                    unknown += 1;
                    continue;
                }
            }
            if self.seen.insert_if_new(&event.event_id) {
                fresh_ids.push(event.event_id.as_str());
                fresh.push(event);
                payloads.push((event.event_id.clone(), encode(event)));
            }
        }
        let appended = payloads.len();
        let dropped = (hidden + unknown) as usize;
        if !payloads.is_empty()
            && let Err(e) = self.log.append(payloads).await
        {
            // Not stored: forget the ids so the client's retry is taken.
            for id in fresh_ids {
                self.seen.forget(id);
            }
            tracing::error!("event log: {e}");
            return Err(IngestError::LogUnavailable(e));
        }
        if let Some(observer) = self.observer.get() {
            fresh.into_iter().for_each(observer);
        }
        if hidden > 0 {
            metrics::counter!("spool_events_dropped_total", "reason" => "hidden_video")
                .increment(hidden);
        }
        if unknown > 0 {
            metrics::counter!("spool_events_dropped_total", "reason" => "unknown_video")
                .increment(unknown);
        }
        let duplicates = events.len() - appended - dropped;
        metrics::counter!("spool_events_accepted_total").increment(appended as u64);
        metrics::counter!("spool_events_duplicates_total").increment(duplicates as u64);
        Ok(Accepted {
            accepted: appended + dropped,
            duplicates,
        })
    }

    /// Access to each video of `events`: cached answers, the rest asked in one call.
    async fn verdicts<'e>(
        &self,
        user: Option<&SenderUser>,
        events: &'e [TrackedEvent],
    ) -> Result<HashMap<&'e str, Access>, IngestError> {
        let viewer = user.map(|u| u.id);
        let mut known: HashMap<&'e str, Access> = HashMap::new();
        let mut missing: Vec<(&'e str, VideoId)> = Vec::new();
        let now = Instant::now();
        for id in events.iter().filter_map(|e| e.video_id.as_deref()) {
            if known.contains_key(id) || missing.iter().any(|(m, _)| *m == id) {
                continue;
            }
            // Validated events carry well-formed ids; anything else counts as unknown.
            let Ok(video) = id.parse::<VideoId>() else {
                known.insert(id, Access::Unknown);
                continue;
            };
            match self.verdicts.get(&video, viewer, now) {
                Some(access) => {
                    known.insert(id, access);
                }
                None => missing.push((id, video)),
            }
        }
        if !missing.is_empty() {
            let ids: Vec<VideoId> = missing.iter().map(|(_, v)| v.clone()).collect();
            let answers = self.access.access(user, &ids).await.map_err(|e| {
                tracing::error!("video access: {e}");
                IngestError::AccessUnavailable(e)
            })?;
            for ((id, video), access) in missing.into_iter().zip(answers) {
                self.verdicts.put(video, viewer, access, now);
                known.insert(id, access);
            }
        }
        Ok(known)
    }

    /// Appends an event a request asked for on the viewer's behalf (the recommender's "not
    /// interested", say), durably before returning: the caller has already decided the
    /// viewer may see the video. `user` is the signed-in user's name; `anonymous_id` the
    /// device's id otherwise.
    pub async fn record_for_viewer(
        &self,
        kind: EventType,
        video_id: &str,
        user: Option<&str>,
        anonymous_id: Option<&str>,
        properties: Map<String, Value>,
    ) -> Result<(), IngestError> {
        let mut event = server_event(kind, video_id, "server".to_owned(), properties);
        event.user = user.map(str::to_owned);
        event.anonymous_id = anonymous_id.map(str::to_owned);
        self.seen.insert_if_new(&event.event_id);
        self.log
            .append(vec![(event.event_id.clone(), encode(&event))])
            .await
            .map_err(|e| {
                tracing::error!("event log: {e}");
                IngestError::LogUnavailable(e)
            })?;
        metrics::counter!("spool_events_accepted_total").increment(1);
        Ok(())
    }

    /// Queues an event a signed-in user caused on the server (a danmaku sent) for
    /// [`ServerEventWriter`], like [`Ingestion::record_server_event`]: never delays the
    /// caller, dropped and counted when the queue is full. For the many, cheap signals whose
    /// record of truth is elsewhere (the danmaku is in the database already).
    pub fn queue_for_user(
        &self,
        kind: EventType,
        video_id: &str,
        user: &str,
        properties: Map<String, Value>,
    ) {
        let mut event = server_event(kind, video_id, "server".to_owned(), properties);
        event.user = Some(user.to_owned());
        if self.server_events.try_send(event).is_err() {
            metrics::counter!("spool_events_server_dropped_total").increment(1);
        }
    }

    /// Queues an event the server observed itself (CMCD from a media request) for
    /// [`ServerEventWriter`]: never delays the caller; dropped (and counted in
    /// `spool_events_server_dropped_total`) when the queue is full or shut.
    pub fn record_server_event(
        &self,
        kind: EventType,
        video_id: &str,
        session_id: String,
        properties: Map<String, Value>,
    ) {
        let event = server_event(kind, video_id, session_id, properties);
        if self.server_events.try_send(event).is_err() {
            metrics::counter!("spool_events_server_dropped_total").increment(1);
        }
    }
}

/// Appends the server-observed events of an [`Ingestion`] in batches; on stop, takes no more
/// and appends everything still queued before returning. Run one per process, after the
/// HTTP server stopped (cancel its token once requests have drained), so nothing a finished
/// request queued is lost.
pub struct ServerEventWriter {
    ingestion: Arc<Ingestion>,
}

impl ServerEventWriter {
    /// The writer of `ingestion`'s queue.
    pub fn new(ingestion: Arc<Ingestion>) -> Self {
        Self { ingestion }
    }

    /// Runs until `stop` fires and the queue is drained.
    pub async fn run(self, stop: CancellationToken) {
        let mut queue = self.ingestion.server_queue.lock().await;
        let mut batch = Vec::with_capacity(SERVER_EVENT_BATCH);
        loop {
            let received = tokio::select! {
                n = queue.recv_many(&mut batch, SERVER_EVENT_BATCH) => n,
                () = stop.cancelled() => break,
            };
            if received == 0 {
                return;
            }
            self.append(&mut batch).await;
        }
        // Shut the queue (later events are dropped and counted) and drain what it holds.
        queue.close();
        while queue.recv_many(&mut batch, SERVER_EVENT_BATCH).await > 0 {
            self.append(&mut batch).await;
        }
    }

    async fn append(&self, batch: &mut Vec<TrackedEvent>) {
        let records: Vec<(String, Bytes)> = batch
            .drain(..)
            .map(|e| {
                let payload = encode(&e);
                (e.event_id, payload)
            })
            .collect();
        let count = records.len() as u64;
        // A log that is down gets a few tries (the queue fills meanwhile and drops new events).
        for attempt in 0..3u32 {
            match self.ingestion.log.append(records.clone()).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(attempt, "appending server-observed events: {e}");
                    tokio::time::sleep(Duration::from_millis(200) * (attempt + 1)).await;
                }
            }
        }
        metrics::counter!("spool_events_server_dropped_total").increment(count);
    }
}

/// An event the server records itself, timed now, about `video_id`, nobody's yet.
fn server_event(
    kind: EventType,
    video_id: &str,
    session_id: String,
    properties: Map<String, Value>,
) -> TrackedEvent {
    let now = now_ms();
    TrackedEvent {
        event_id: new_event_id(),
        kind,
        anonymous_id: None,
        user: None,
        session_id,
        video_id: Some(video_id.to_owned()),
        position_s: None,
        properties,
        occurred_at: now,
        sent_at: now,
        received_at: now,
        at: now,
        address: None,
    }
}

fn encode(event: &TrackedEvent) -> Bytes {
    // A TrackedEvent holds only strings, numbers and JSON values: it always serializes.
    Bytes::from(serde_json::to_vec(event).unwrap_or_default())
}

/// The address as projections key it: IPv4 as is, IPv6 by its /64 network (one subscriber
/// line gets a whole /64, so counting single IPv6 addresses would count nothing).
pub fn address_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// A random (version 4) UUID for events the server makes.
fn new_event_id() -> String {
    let mut bytes: [u8; 16] = rand_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push_str(&format!("{b:02x}"));
    }
    text
}

/// 16 random bytes from BLAKE3 over a process-random key and a counter (unique per process,
/// unpredictable across processes; event ids need uniqueness, not secrecy).
fn rand_bytes() -> [u8; 16] {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static KEY: std::sync::LazyLock<[u8; 32]> = std::sync::LazyLock::new(|| {
        let state = std::collections::hash_map::RandomState::new();
        let mut key = [0u8; 32];
        for (i, chunk) in key.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(
                &state
                    .hash_one((i, now_ms(), std::process::id()))
                    .to_le_bytes(),
            );
        }
        key
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hash = blake3::keyed_hash(&KEY, &n.to_le_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&hash.as_bytes()[..16]);
    out
}

/// Server clock, Unix ms.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Answers of [`VideoAccess`] per (video, signed-in user or anonymous), for [`ACCESS_TTL`].
#[derive(Default)]
struct AccessCache {
    entries: Mutex<AccessEntries>,
}

/// (video, signed-in user or anonymous) -> (answer, when it was given).
type AccessEntries = HashMap<(VideoId, Option<UserId>), (Access, Instant)>;

impl AccessCache {
    fn lock(&self) -> MutexGuard<'_, AccessEntries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, video: &VideoId, user: Option<UserId>, now: Instant) -> Option<Access> {
        // One key clone per distinct video of a request (std maps cannot look up a tuple
        // key by borrowed parts).
        let entries = self.lock();
        let (access, at) = entries.get(&(video.clone(), user))?;
        (now.duration_since(*at) < ACCESS_TTL).then_some(*access)
    }

    fn put(&self, video: VideoId, user: Option<UserId>, access: Access, now: Instant) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ACCESS_ENTRIES {
            entries.retain(|_, (_, at)| now.duration_since(*at) < ACCESS_TTL);
            if entries.len() >= MAX_ACCESS_ENTRIES {
                entries.clear();
            }
        }
        entries.insert((video, user), (access, now));
    }
}

/// Event ids accepted recently, in shards of two generations each: an id is remembered for
/// between half a window and a window (a generation is retired after half the window, or
/// early once a shard holds its share of [`MAX_REMEMBERED_IDS`], which bounds memory at high
/// rates). A hand-written set rather than a cache crate: this is on the path of every event,
/// and a mutex-guarded pair of hash sets per shard costs a hash and a lookup.
pub struct RecentIds {
    shards: Vec<Mutex<IdGenerations>>,
    generation: Duration,
    per_generation: usize,
}

struct IdGenerations {
    current: HashSet<u128>,
    previous: HashSet<u128>,
    started: Instant,
}

const ID_SHARDS: usize = 64;

impl RecentIds {
    /// Ids remembered for about `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            shards: (0..ID_SHARDS)
                .map(|_| {
                    Mutex::new(IdGenerations {
                        current: HashSet::new(),
                        previous: HashSet::new(),
                        started: Instant::now(),
                    })
                })
                .collect(),
            generation: window / 2,
            per_generation: (MAX_REMEMBERED_IDS as usize / ID_SHARDS / 2).max(1),
        }
    }

    fn shard(&self, id: u128) -> MutexGuard<'_, IdGenerations> {
        use std::hash::BuildHasher;
        static HASHER: std::sync::LazyLock<std::collections::hash_map::RandomState> =
            std::sync::LazyLock::new(Default::default);
        let index = (HASHER.hash_one(id) % ID_SHARDS as u64) as usize;
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers `id` (a validated event id: a UUID); false when it was already remembered.
    pub fn insert_if_new(&self, id: &str) -> bool {
        let Some(id) = uuid_bits(id) else {
            return true;
        };
        let mut shard = self.shard(id);
        let age = shard.started.elapsed();
        if age >= self.generation * 2 {
            shard.current.clear();
            shard.previous.clear();
            shard.started = Instant::now();
        } else if age >= self.generation || shard.current.len() >= self.per_generation {
            shard.previous = std::mem::take(&mut shard.current);
            shard.started = Instant::now();
        }
        if shard.current.contains(&id) || shard.previous.contains(&id) {
            return false;
        }
        shard.current.insert(id);
        true
    }

    /// Forgets `id` (its events were not stored after all).
    pub fn forget(&self, id: &str) {
        if let Some(id) = uuid_bits(id) {
            let mut shard = self.shard(id);
            shard.current.remove(&id);
            shard.previous.remove(&id);
        }
    }
}

/// Token buckets per client address: `per_s` events a second sustained, `burst` at once.
pub struct RateLimiter {
    per_s: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_s` events a second per address, `burst` at once; `per_s == 0` turns it off.
    pub fn new(per_s: u32, burst: u32) -> Self {
        Self {
            per_s: f64::from(per_s),
            burst: f64::from(burst.max(per_s)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `events` tokens for `addr`, or says how long until there would be enough.
    pub fn take(&self, addr: IpAddr, events: usize) -> Result<(), Duration> {
        if self.per_s == 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let wanted = events as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            // Full buckets carry no state worth keeping.
            let (per_s, burst) = (self.per_s, self.burst);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_s < burst);
        }
        let bucket = buckets.entry(addr).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.per_s)
            .min(self.burst);
        bucket.at = now;
        if bucket.tokens >= wanted {
            bucket.tokens -= wanted;
            Ok(())
        } else {
            // A batch larger than the burst can never pass; tell it the longest sensible wait.
            let missing = (wanted.min(self.burst) - bucket.tokens).max(0.0);
            Err(Duration::from_secs_f64(missing / self.per_s).max(Duration::from_secs(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_remember_for_the_window_and_forget_on_request() {
        let ids = RecentIds::new(Duration::from_millis(200));
        let a = "0b8f5f7e-3c1a-4d2b-9e6f-1a2b3c4d5e6f";
        assert!(ids.insert_if_new(a));
        assert!(!ids.insert_if_new(a), "a repeat within the window");
        ids.forget(a);
        assert!(ids.insert_if_new(a), "forgotten ids are new again");
        std::thread::sleep(Duration::from_millis(250));
        assert!(ids.insert_if_new(a), "remembered at most a window");
    }

    #[test]
    fn rate_limit_allows_a_burst_then_the_sustained_rate() {
        let limiter = RateLimiter::new(100, 1000);
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limiter.take(addr, 1000).is_ok(), "the burst is allowed");
        let wait = limiter.take(addr, 50).unwrap_err();
        assert!(wait >= Duration::from_secs(1), "{wait:?}");
        assert!(
            limiter.take(other, 500).is_ok(),
            "addresses are independent"
        );
        assert!(
            RateLimiter::new(0, 0).take(addr, 1_000_000).is_ok(),
            "0 turns it off"
        );
    }

    fn check_address(input: &str, expect: &str) {
        let key = address_key(input.parse().unwrap());
        assert_eq!(key.to_string(), expect, "{input}");
    }

    #[test]
    fn addresses_are_keyed_by_ipv4_address_or_ipv6_network() {
        check_address("192.0.2.7", "192.0.2.7");
        check_address("::ffff:192.0.2.7", "192.0.2.7");
        check_address("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::");
        check_address("2001:db8:1:2:ffff::1", "2001:db8:1:2::");
    }

    #[test]
    fn server_event_ids_are_distinct_uuids() {
        let (a, b) = (new_event_id(), new_event_id());
        assert_ne!(a, b);
        assert!(uuid_bits(&a).is_some(), "{a}");
    }
}
