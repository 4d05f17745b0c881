//! Video stats and watch history from the event log: the aggregator task that folds the log
//! into [`Aggregates`] within moments of each append, its checkpoint, and the endpoints
//! `GET /api/v1/videos/{id}/stats` (owner or admin) and `GET /api/v1/me/history`.
//!
//! Exactly once in effect: the checkpoint file holds the aggregates together with the log
//! offset they cover, written atomically, so after a crash the task resumes from that offset
//! and folds in each record once; duplicates of an event (retries) are ignored by `event_id`
//! inside [`Aggregates`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use serde::{Deserialize, Serialize};
use spool_events::aggregate::{Aggregates, HistoryEntry};
use spool_events::tracking::TrackedEvent;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::auth::AuthUser;
use crate::catalog::videos::{owned_video, parse_id};
use crate::error::ApiResult;

/// Records folded in per read.
const READ_BATCH: usize = 10_000;
/// The checkpoint is written at most this often while events flow (a restart replays at most
/// this much of the log).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);
/// How often the event log's retention limits are enforced.
const RETENTION_EVERY: Duration = Duration::from_secs(600);
/// How often the duration of a video still without one is asked for again.
const DURATION_RETRY: Duration = Duration::from_secs(10);
/// How long the task sleeps when no append wakes it.
const IDLE_POLL: Duration = Duration::from_millis(500);

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    /// Every record below this offset is folded into `aggregates`.
    next_offset: u64,
    aggregates: Aggregates,
}

fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join("aggregates.json")
}

fn load_checkpoint(path: &Path) -> std::io::Result<Option<Checkpoint>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the checkpoint atomically: a temp file, fsynced, renamed over the old one.
fn write_checkpoint(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

async fn save(state: &AppState, next_offset: u64) {
    let bytes = {
        let aggregates = state.tracking.aggregates.read().await;
        serde_json::to_vec(&Checkpoint {
            next_offset,
            aggregates: aggregates.clone(),
        })
        .expect("aggregates serialize")
    };
    let path = checkpoint_path(&state.tracking.dir);
    match tokio::task::spawn_blocking(move || write_checkpoint(&path, &bytes)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("writing the aggregates checkpoint: {e}"),
        Err(e) => tracing::warn!("writing the aggregates checkpoint: {e}"),
    }
}

/// Folds the event log into the aggregates until `stop`; run once per `spool serve`.
pub async fn run_aggregator(state: AppState, stop: CancellationToken) {
    let tracking = state.tracking.clone();
    let log = loop {
        match tracking.log().await {
            Ok(log) => break log,
            Err(_) => {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    };
    let path = checkpoint_path(&tracking.dir);
    let mut offset = match tokio::task::spawn_blocking(move || load_checkpoint(&path)).await {
        Ok(Ok(Some(checkpoint))) => {
            *tracking.aggregates.write().await = checkpoint.aggregates;
            checkpoint.next_offset
        }
        Ok(Ok(None)) => 0,
        // An unreadable checkpoint is rebuilt from the log rather than trusted.
        Ok(Err(e)) => {
            tracing::warn!("aggregates checkpoint unreadable, recounting from the log: {e}");
            0
        }
        Err(e) => {
            tracing::warn!("aggregates checkpoint unreadable, recounting from the log: {e}");
            0
        }
    };
    tracking.aggregated.store(offset, Ordering::Release);
    let mut appended = tracking.appended.subscribe();
    let mut durations: HashMap<String, (Option<f64>, Instant)> = HashMap::new();
    let mut saved_offset = offset;
    let mut saved_at = Instant::now();
    // Retention runs once at start and then every RETENTION_EVERY, when the log is caught up.
    let mut retained_at = Instant::now() - RETENTION_EVERY;
    // The fold of one batch runs while the next is read and parsed (two blocking threads).
    let mut folding: Option<Fold> = None;
    loop {
        let records = match log.read(offset, READ_BATCH).await {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!("reading the event log: {e}");
                Vec::new()
            }
        };
        if records.is_empty() {
            if !finish_fold(&mut folding).await {
                return;
            }
            if retained_at.elapsed() >= RETENTION_EVERY {
                match log.enforce_retention().await {
                    Ok(freed) if freed > 0 => tracing::info!(freed, "event log retention"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("event log retention: {e}"),
                }
                retained_at = Instant::now();
            }
            if offset != saved_offset && saved_at.elapsed() >= CHECKPOINT_EVERY {
                save(&state, offset).await;
                (saved_offset, saved_at) = (offset, Instant::now());
            }
            tokio::select! {
                () = stop.cancelled() => break,
                _ = appended.changed() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
            continue;
        }
        let next = records.last().map_or(offset, |r| r.offset + 1);
        // Parsing and folding run on the blocking pool: OS threads of their own, so under
        // heavy ingestion the aggregator gets its share of the cores instead of one task's
        // share of the async workers.
        let Ok(events) = tokio::task::spawn_blocking(move || parse_records(&records)).await else {
            break;
        };
        let now = Instant::now();
        // Each video of the batch once (not once per event).
        let wanted: HashSet<&str> = events
            .iter()
            .filter_map(|e| e.video_id.as_deref())
            .collect();
        let mut batch_durations: HashMap<String, Option<f64>> = HashMap::new();
        for id in wanted {
            let fresh = match durations.get(id) {
                Some((Some(_), _)) => true,
                // Not known yet (still processing): ask again now and then, not per event.
                Some((None, asked)) => now.duration_since(*asked) < DURATION_RETRY,
                None => false,
            };
            if !fresh {
                durations.insert(id.to_owned(), (duration_of(&state, id).await, now));
            }
            batch_durations.insert(id.to_owned(), durations.get(id).and_then(|(d, _)| *d));
        }
        // Batches fold in log order: the previous one finishes first.
        if !finish_fold(&mut folding).await {
            return;
        }
        let (target, videos) = (Arc::clone(&tracking), state.catalog.views().clone());
        let fold = tokio::task::spawn_blocking(move || {
            let mut aggregates = target.aggregates.blocking_write();
            for event in &events {
                let duration = event
                    .video_id
                    .as_deref()
                    .and_then(|id| batch_durations.get(id).copied().flatten());
                aggregates.apply(event, duration);
            }
            // Still under the write lock, so that whoever reads the new numbers also sees the
            // batch's view totals in the video rows and the offset they cover.
            for id in batch_durations.keys() {
                if let Ok(video) = id.parse::<spool_model::VideoId>() {
                    let views = i64::try_from(aggregates.views(id)).unwrap_or(i64::MAX);
                    videos.note_views(&video, views);
                }
            }
            target.aggregated.store(next, Ordering::Release);
        });
        folding = Some(fold);
        offset = next;
        if saved_at.elapsed() >= CHECKPOINT_EVERY {
            if !finish_fold(&mut folding).await {
                return;
            }
            save(&state, offset).await;
            (saved_offset, saved_at) = (offset, Instant::now());
        }
    }
    if finish_fold(&mut folding).await {
        let folded = tracking.aggregated_offset();
        if folded != saved_offset {
            save(&state, folded).await;
        }
    }
}

/// A batch being folded; it ends with the view totals of the videos it touched.
type Fold = tokio::task::JoinHandle<()>;

/// Waits for the fold under way, if any; false when it failed (a panic): the aggregates may
/// then hold part of a batch, so the task stops without saving them, and a restart resumes
/// from the last checkpoint.
async fn finish_fold(folding: &mut Option<Fold>) -> bool {
    let Some(fold) = folding.take() else {
        return true;
    };
    match fold.await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!("folding events into the aggregates failed: {e}");
            false
        }
    }
}

/// The events of log records; an unreadable record is logged and skipped.
fn parse_records(records: &[spool_events::Record]) -> Vec<TrackedEvent> {
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

async fn duration_of(state: &AppState, id: &str) -> Option<f64> {
    let id = id.parse().ok()?;
    state
        .catalog
        .row(&id)
        .await
        .ok()
        .flatten()?
        .duration_ms
        .map(|ms| ms as f64 / 1000.0)
}

/// A video's numbers for its owner.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatsJson {
    /// Counted views: 10 s or 30% watched, once per viewer per hour.
    views: u64,
    unique_viewers: u64,
    watch_time_s: f64,
    avg_view_duration_s: f64,
    /// Share of viewers who reached the end, 0 to 1.
    completion_rate: f64,
    /// Share of viewers who watched each hundredth of the video (100 values, 0 to 1).
    retention: Vec<f64>,
    likes: i64,
    /// Quality of experience from the players' CMCD data on media requests.
    #[schema(value_type = Object)]
    qoe: spool_events::aggregate::QoeStats,
    /// Events in the log folded into these numbers (its offset).
    events_counted: u64,
}

/// A video's stats (owner or admin).
#[utoipa::path(get, path = "/api/v1/videos/{id}/stats", tag = "events",
    params(("id" = String, Path, description = "Video id")),
    responses((status = 200, body = StatsJson), (status = 403, body = crate::error::ErrorBody, description = "not_owner"),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn video_stats(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<StatsJson>> {
    let video = owned_video(&state, &user, &parse_id(&id)?).await?;
    let stats = state
        .tracking
        .aggregates
        .read()
        .await
        .video(video.id.as_str());
    Ok(Json(StatsJson {
        views: stats.views,
        unique_viewers: stats.unique_viewers,
        watch_time_s: stats.watch_time_s,
        avg_view_duration_s: stats.avg_view_duration_s,
        completion_rate: stats.completion_rate,
        retention: stats.retention,
        qoe: stats.qoe,
        likes: video.likes,
        events_counted: state.tracking.aggregated_offset(),
    }))
}

/// One watched video.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryJson {
    video_id: String,
    /// Where to resume, seconds.
    position_s: f64,
    /// When it was last watched, RFC 3339.
    watched_at: String,
}

/// The caller's watch history, most recent first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    history: Vec<HistoryJson>,
}

/// My watch history with resume positions.
#[utoipa::path(get, path = "/api/v1/me/history", tag = "events",
    responses((status = 200, body = HistoryPage), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn my_history(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Json<HistoryPage>> {
    let entries: Vec<HistoryEntry> = state.tracking.aggregates.read().await.history(&user.name);
    Ok(Json(HistoryPage {
        history: entries
            .into_iter()
            .map(|e| HistoryJson {
                video_id: e.video_id,
                position_s: e.position_s,
                watched_at: crate::rfc3339(e.watched_at),
            })
            .collect(),
    }))
}
