//! `POST /api/v1/events`: tracking (埋点) batches into the durable event log.
//!
//! The contract (limits, types, validation, all-or-nothing batches) is
//! [`spool_events::tracking`]. Here: who sent it, a per-address rate limit, dropping events
//! whose `event_id` was accepted recently (so a retried batch is not appended twice), and the
//! append, answered only once the events are on disk.
//!
//! Who: a bearer token or a session cookie names the user. Browsers flush with
//! `navigator.sendBeacon`, which cannot set headers, so a cookie-authenticated batch may carry
//! the session's CSRF token in the body (`csrf_token`) instead of `X-CSRF-Token`; without a
//! matching token the batch is still taken, as anonymous: a forged beacon from another site can
//! then not put events in someone's history, and a real one is never lost.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use serde::Serialize;
use spool_config::EventsConfig;
use spool_events::tracking::{
    Batch, BatchError, MAX_BATCH_BYTES, Received, TrackedEvent, uuid_bits,
};
use spool_events::{EventStore, LogConfig, StoreConfig};
use spool_metadata::User;
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;

use crate::AppState;
use crate::auth::{SESSION_COOKIE, bearer_token, cookie, csrf_matches};
use crate::error::{ApiError, ApiResult};

/// Server-observed events queued for the log at most.
const SERVER_EVENT_QUEUE: usize = 10_000;
/// Address buckets kept before idle ones are pruned.
const MAX_BUCKETS: usize = 100_000;
/// Event ids remembered for deduplication at most (about 100 MB).
const MAX_REMEMBERED_IDS: u64 = 1_000_000;

/// The ingestion side of event tracking: the log (opened on first use), recent event ids and
/// the per-address rate limit.
pub struct Tracking {
    /// Local state (the aggregates checkpoint; the embedded log, when in use).
    pub(crate) dir: PathBuf,
    store_config: StoreConfig,
    log: OnceCell<EventStore>,
    seen: RecentIds,
    limiter: RateLimiter,
    /// The stream aggregates, as of [`Tracking::aggregated_offset`].
    pub(crate) aggregates: tokio::sync::RwLock<spool_events::aggregate::Aggregates>,
    /// Log offset the aggregates have folded in everything below.
    pub(crate) aggregated: std::sync::atomic::AtomicU64,
    /// The log's next offset after each append, so the aggregator and tails wake at once.
    pub(crate) appended: tokio::sync::watch::Sender<u64>,
    /// Events the server records itself (CMCD), for the background writer.
    server_events: std::sync::OnceLock<tokio::sync::mpsc::Sender<TrackedEvent>>,
}

impl Tracking {
    /// Tracking with its local state in `dir` and the log `config.log_url` names.
    pub fn new(dir: PathBuf, config: &EventsConfig) -> Self {
        let max_age = Duration::from_secs(config.retention_days * 24 * 3600);
        let max_bytes = (config.retention_bytes > 0).then_some(config.retention_bytes);
        let store_config = if config.log_url.is_empty() {
            StoreConfig::Embedded {
                dir: dir.clone(),
                config: LogConfig {
                    retention_age: Some(max_age),
                    retention_bytes: max_bytes,
                    ..LogConfig::default()
                },
            }
        } else {
            StoreConfig::JetStream {
                url: config.log_url.clone(),
                stream: config.nats_stream.clone(),
                max_age,
                max_bytes,
            }
        };
        Self {
            dir,
            store_config,
            log: OnceCell::new(),
            seen: RecentIds::new(Duration::from_secs(config.dedup_window_s.max(1))),
            limiter: RateLimiter::new(config.rate_limit_per_s, config.rate_limit_burst),
            aggregates: Default::default(),
            aggregated: Default::default(),
            appended: tokio::sync::watch::Sender::new(0),
            server_events: std::sync::OnceLock::new(),
        }
    }

    /// Queues an event the server observed itself (CMCD from a media request): written to
    /// the log in batches by a background task, never delaying the request; dropped (and
    /// counted) when the queue is full.
    pub fn record_server_event(
        self: &Arc<Self>,
        kind: spool_events::tracking::EventType,
        video_id: &str,
        session_id: String,
        properties: serde_json::Map<String, serde_json::Value>,
    ) {
        let now = now_ms();
        let event = TrackedEvent {
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
        };
        let queue = self.server_events.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(SERVER_EVENT_QUEUE);
            tokio::spawn(write_server_events(Arc::downgrade(self), rx));
            tx
        });
        if queue.try_send(event).is_err() {
            metrics::counter!("spool_events_server_dropped_total").increment(1);
        }
    }

    /// Appends `(event id, payload)` records; once stored, wakes the aggregator and tails.
    async fn append(&self, records: Vec<(String, Bytes)>) -> ApiResult<()> {
        let end = self
            .log()
            .await?
            .append(records)
            .await
            .map_err(log_unavailable)?;
        self.appended.send_if_modified(|next| {
            let newer = end > *next;
            *next = (*next).max(end);
            newer
        });
        Ok(())
    }

    /// The log offset below which every event is in the aggregates.
    pub fn aggregated_offset(&self) -> u64 {
        self.aggregated.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The event log, opened (recovered, or connected to) on first use.
    pub async fn log(&self) -> ApiResult<&EventStore> {
        self.log
            .get_or_try_init(|| EventStore::open(&self.store_config))
            .await
            .map_err(log_unavailable)
    }
}

fn log_unavailable(e: spool_events::LogError) -> ApiError {
    tracing::error!("event log: {e}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "event_log_unavailable",
        "events cannot be stored right now; retry the same batch later",
    )
}

/// The answer to an accepted batch.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IngestResult {
    /// Events appended to the log.
    accepted: usize,
    /// Events dropped because their `event_id` was accepted recently (a retry).
    duplicates: usize,
}

fn batch_error(e: BatchError) -> ApiError {
    ApiError::coded(e.code(), e.to_string())
}

/// Record a batch of tracking events.
#[utoipa::path(post, path = "/api/v1/events", tag = "events",
    request_body(content = String, description = "{\"events\": [ ... ], \"csrf_token\"?: \"...\"}: at most 500 KB, 1000 events, 32 KB per event; see docs/events.md"),
    responses((status = 200, body = IngestResult, description = "every event is durable (or was already)"),
        (status = 400, body = crate::error::ErrorBody, description = "invalid_json, empty_batch or invalid_event (names the event and field); nothing is stored"),
        (status = 413, body = crate::error::ErrorBody, description = "batch_too_large or event_too_large"),
        (status = 429, body = crate::error::ErrorBody, description = "rate_limited; see Retry-After"),
        (status = 503, body = crate::error::ErrorBody, description = "event_log_unavailable: retry the same batch")))]
pub async fn ingest(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<IngestResult>> {
    let body = axum::body::to_bytes(body, MAX_BATCH_BYTES + 1)
        .await
        .map_err(|_| {
            batch_error(BatchError::BatchTooLarge {
                len: MAX_BATCH_BYTES + 1,
            })
        })?;
    let batch = Batch::parse(&body).map_err(batch_error)?;
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer
        && let Err(wait) = state.tracking.limiter.take(peer, batch.len())
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many events from this address; slow down and resend the batch",
        )
        .with_retry_after(wait));
    }
    let user = sender(&state, &headers, batch.csrf_token.as_deref()).await?;
    let received = Received {
        user: user.map(|u| u.name),
        received_at: now_ms(),
    };
    let events = batch.validate(&received).map_err(batch_error)?;
    let tracking = &state.tracking;
    let mut fresh_ids = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    for event in &events {
        if tracking.seen.insert_if_new(&event.event_id) {
            fresh_ids.push(event.event_id.as_str());
            payloads.push((
                event.event_id.clone(),
                Bytes::from(serde_json::to_vec(event).expect("events serialize")),
            ));
        }
    }
    let accepted = payloads.len();
    if !payloads.is_empty()
        && let Err(e) = tracking.append(payloads).await
    {
        // Not stored: forget the ids so the client's retry is taken.
        for id in fresh_ids {
            tracking.seen.forget(id);
        }
        return Err(e);
    }
    metrics::counter!("spool_events_accepted_total").increment(accepted as u64);
    metrics::counter!("spool_events_duplicates_total").increment((events.len() - accepted) as u64);
    Ok(Json(IngestResult {
        accepted,
        duplicates: events.len() - accepted,
    }))
}

/// The user a batch is attributed to: the bearer token's, or the session's when the CSRF token
/// matches (in the header or the body); anonymous otherwise. A wrong bearer token is 401.
async fn sender(
    state: &AppState,
    headers: &HeaderMap,
    body_csrf: Option<&str>,
) -> ApiResult<Option<User>> {
    if let Some(token) = bearer_token(headers)? {
        return match state.store.user_by_token(token).await? {
            Some(user) => Ok(Some(user)),
            None => Err(ApiError::unauthorized()),
        };
    }
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = state.store.session(secret).await? else {
        return Ok(None);
    };
    let in_body = body_csrf
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(session.csrf_token.as_bytes())));
    Ok((in_body || csrf_matches(headers, &session.csrf_token)).then_some(session.user))
}

/// Appends queued server-observed events in batches until the tracking state is gone.
async fn write_server_events(
    tracking: Weak<Tracking>,
    mut queue: tokio::sync::mpsc::Receiver<TrackedEvent>,
) {
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, 1000).await > 0 {
        let Some(tracking) = tracking.upgrade() else {
            break;
        };
        let records: Vec<(String, Bytes)> = batch
            .drain(..)
            .map(|e| {
                let payload = serde_json::to_vec(&e).expect("events serialize");
                (e.event_id, Bytes::from(payload))
            })
            .collect();
        let count = records.len();
        if tracking.append(records).await.is_err() {
            metrics::counter!("spool_events_server_dropped_total").increment(count as u64);
        }
    }
}

/// A random (version 4) UUID for events the server makes.
fn new_event_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Event ids accepted recently, in shards of two generations each: an id is remembered for
/// between half a window and a window (a generation is retired after half the window, or
/// early once a shard holds its share of [`MAX_REMEMBERED_IDS`], which bounds memory at high
/// rates). A hand-written set rather than a cache crate: this is on the path of every event,
/// and a mutex-guarded pair of hash sets per shard costs a hash and a lookup.
struct RecentIds {
    shards: Vec<Mutex<IdGenerations>>,
    generation: Duration,
    per_generation: usize,
}

struct IdGenerations {
    current: std::collections::HashSet<u128>,
    previous: std::collections::HashSet<u128>,
    started: Instant,
}

const ID_SHARDS: usize = 64;

impl RecentIds {
    fn new(window: Duration) -> Self {
        Self {
            shards: (0..ID_SHARDS)
                .map(|_| {
                    Mutex::new(IdGenerations {
                        current: Default::default(),
                        previous: Default::default(),
                        started: Instant::now(),
                    })
                })
                .collect(),
            generation: window / 2,
            per_generation: (MAX_REMEMBERED_IDS as usize / ID_SHARDS / 2).max(1),
        }
    }

    fn shard(&self, id: u128) -> std::sync::MutexGuard<'_, IdGenerations> {
        use std::hash::BuildHasher;
        static HASHER: std::sync::LazyLock<std::collections::hash_map::RandomState> =
            std::sync::LazyLock::new(Default::default);
        let index = (HASHER.hash_one(id) % ID_SHARDS as u64) as usize;
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers `id` (a validated event id: a UUID); false when it was already remembered.
    fn insert_if_new(&self, id: &str) -> bool {
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
    fn forget(&self, id: &str) {
        if let Some(id) = uuid_bits(id) {
            let mut shard = self.shard(id);
            shard.current.remove(&id);
            shard.previous.remove(&id);
        }
    }
}

/// Token buckets per client address: `per_s` events a second sustained, `burst` at once.
struct RateLimiter {
    per_s: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    fn new(per_s: u32, burst: u32) -> Self {
        Self {
            per_s: f64::from(per_s),
            burst: f64::from(burst.max(per_s)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `events` tokens for `addr`, or says how long until there would be enough.
    fn take(&self, addr: IpAddr, events: usize) -> Result<(), Duration> {
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
}

/// Query of `GET /api/v1/events/tail`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TailParams {
    /// First log offset wanted; default: the end of the log (only new events).
    from: Option<u64>,
    /// Most events per answer, 1 to 1000 (default 100).
    limit: Option<usize>,
    /// How long to wait for new events before answering empty, ms (default 25000, at most 60000).
    wait_ms: Option<u64>,
}

/// Logged events, as `GET /api/v1/events/tail` answers them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TailPage {
    /// Each with its `offset` and the log's `logged_at` (Unix ms) added.
    events: Vec<serde_json::Value>,
    /// Pass as `from` to continue.
    next: u64,
}

/// The live event stream, for debugging (admins only): long-polls for events from `from` on.
#[utoipa::path(get, path = "/api/v1/events/tail", tag = "events", params(TailParams),
    responses((status = 200, body = TailPage), (status = 403, body = crate::error::ErrorBody, description = "not_admin")),
    security(("bearer" = [])))]
pub async fn tail(
    State(state): State<AppState>,
    crate::auth::AuthUser(user): crate::auth::AuthUser,
    crate::error::ApiQuery(params): crate::error::ApiQuery<TailParams>,
) -> ApiResult<Json<TailPage>> {
    if !user.is_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            "only admins may read the event stream",
        ));
    }
    let tracking = &state.tracking;
    let log = tracking.log().await?;
    let from = match params.from {
        Some(from) => from,
        None => log.next_offset().await.map_err(log_unavailable)?,
    };
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let wait = Duration::from_millis(params.wait_ms.unwrap_or(25_000).min(60_000));
    let mut appended = tracking.appended.subscribe();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let records = log.read(from, limit).await.map_err(log_unavailable)?;
        if !records.is_empty() {
            let next = records.last().map_or(from, |r| r.offset + 1);
            let events = records
                .iter()
                .map(|r| {
                    let mut event: serde_json::Value =
                        serde_json::from_slice(&r.payload).unwrap_or(serde_json::Value::Null);
                    if let Some(map) = event.as_object_mut() {
                        map.insert("offset".into(), r.offset.into());
                        map.insert("logged_at".into(), r.timestamp_ms.into());
                    }
                    event
                })
                .collect();
            return Ok(Json(TailPage { events, next }));
        }
        // Appends through this node wake the tail at once; other nodes' (a shared JetStream
        // log) are found by looking again every half second.
        tokio::select! {
            changed = appended.changed() => if changed.is_err() { break },
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            () = tokio::time::sleep_until(deadline) => break,
            () = state.stop.cancelled() => break,
        }
    }
    let oldest = log.oldest_offset().await.map_err(log_unavailable)?;
    Ok(Json(TailPage {
        events: Vec::new(),
        next: from.max(oldest),
    }))
}
