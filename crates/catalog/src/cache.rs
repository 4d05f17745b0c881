//! Hot video rows in front of SQL ([`HotRows`]), and view totals buffered in memory
//! ([`ViewTotals`]).
//!
//! Rows live in a `moka` cache for a short time only (about one second): `spool worker`
//! processes update rows (status, progress, published media) behind this process's back, so
//! nothing here can be told about every change. Changes made through this process (edits,
//! deletions) invalidate the entry at once, and so does every hub notification about a video
//! ([`RowInvalidator`]: the in-process pipeline publishing, or the change watcher relaying a
//! worker's change), so the TTL only bounds what nobody announced. Missing videos are not cached: a video created a
//! moment ago by an upload must not answer 404 for a second.
//!
//! View counts come from the events aggregator as totals ([`ViewTotals::note_views`]) and are
//! written in one batch per second by [`ViewTotals::run`], which `spool serve` awaits in its
//! task set and which flushes once more on the way out; the store only ever raises a count to
//! a total. Until then the API shows [`ViewTotals::known_views`] when it is higher than the
//! stored count, so a view shows at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moka::future::Cache;
use spool_metadata::{Store, VideoRow};
use spool_model::VideoId;
use tokio_util::sync::CancellationToken;

/// How many video rows are kept.
const CAPACITY: u64 = 10_000;
/// How long a row is served from memory. Short, because worker processes change rows without
/// telling this process.
const TTL: Duration = Duration::from_secs(1);
/// How often buffered view counts are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Why a load found nothing to cache.
#[derive(Debug)]
enum LoadError {
    Missing,
    Failed,
}

/// Video rows served from memory for about a second; cheap to clone (clones share rows).
/// Rows are shared, not copied, per read: a media request reads its video's row and a row
/// carries the published-media JSON, title and description.
#[derive(Clone)]
pub(crate) struct HotRows {
    db: Store,
    rows: Cache<VideoId, Arc<VideoRow>>,
}

impl HotRows {
    pub(crate) fn new(db: Store) -> Self {
        Self {
            db,
            rows: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
        }
    }

    /// The video row, from memory when fresh (at most about a second old). Concurrent misses
    /// for one video share a single query.
    pub(crate) async fn get(&self, id: &VideoId) -> spool_metadata::Result<Option<Arc<VideoRow>>> {
        let loaded = AtomicBool::new(false);
        let result = self
            .rows
            .try_get_with(id.clone(), async {
                loaded.store(true, Ordering::Relaxed);
                match self.db.video(id).await {
                    Ok(Some(row)) => Ok(Arc::new(row)),
                    Ok(None) => Err(LoadError::Missing),
                    Err(e) => {
                        tracing::warn!(video = %id, "loading video row: {e}");
                        Err(LoadError::Failed)
                    }
                }
            })
            .await;
        let outcome = if loaded.load(Ordering::Relaxed) {
            "miss"
        } else {
            "hit"
        };
        metrics::counter!("spool_video_cache_requests_total", "result" => outcome).increment(1);
        match result {
            Ok(row) => Ok(Some(row)),
            Err(e) => match *e {
                LoadError::Missing => Ok(None),
                // The error is shared between coalesced callers and cannot be moved out: ask
                // the store once more to hand the caller a typed error (or, by now, the row).
                LoadError::Failed => Ok(self.db.video(id).await?.map(Arc::new)),
            },
        }
    }

    /// The rows of `ids`, in order: fresh ones from memory, all the others in one query
    /// (a tracking batch or a page of recommendations names many videos at once).
    pub(crate) async fn get_many(
        &self,
        ids: &[VideoId],
    ) -> spool_metadata::Result<Vec<Option<Arc<VideoRow>>>> {
        let mut rows = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            let row = self.rows.get(id).await;
            if row.is_none() {
                missing.push(id.clone());
            }
            rows.push(row);
        }
        let (hits, misses) = (ids.len() - missing.len(), missing.len());
        metrics::counter!("spool_video_cache_requests_total", "result" => "hit")
            .increment(hits as u64);
        metrics::counter!("spool_video_cache_requests_total", "result" => "miss")
            .increment(misses as u64);
        if missing.is_empty() {
            return Ok(rows);
        }
        missing.sort();
        missing.dedup();
        let loaded: std::collections::HashMap<VideoId, Arc<VideoRow>> = self
            .db
            .videos(&missing)
            .await?
            .into_iter()
            .map(|row| (row.id.clone(), Arc::new(row)))
            .collect();
        for (id, row) in ids.iter().zip(rows.iter_mut()) {
            if row.is_none()
                && let Some(found) = loaded.get(id)
            {
                self.rows.insert(id.clone(), found.clone()).await;
                *row = Some(found.clone());
            }
        }
        Ok(rows)
    }

    /// Forgets `id` (after a change made through this process).
    pub(crate) async fn invalidate(&self, id: &VideoId) {
        self.rows.invalidate(id).await;
    }
}

/// View totals from the events aggregator, buffered and written in batches; cheap to clone.
#[derive(Clone)]
pub struct ViewTotals {
    inner: Arc<ViewsInner>,
}

struct ViewsInner {
    db: Store,
    rows: HotRows,
    views: Mutex<Views>,
    /// One flush at a time, so there is at most one batch in flight.
    flushing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Views {
    /// Latest totals not yet handed to the store.
    buffered: HashMap<VideoId, i64>,
    /// Handed to the store by the flush under way (still shown by `known_views`).
    in_flight: HashMap<VideoId, i64>,
}

impl ViewTotals {
    pub(crate) fn new(db: Store, rows: HotRows) -> Self {
        Self {
            inner: Arc::new(ViewsInner {
                db,
                rows,
                views: Mutex::default(),
                flushing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn views(&self) -> std::sync::MutexGuard<'_, Views> {
        // Every critical section leaves the maps consistent.
        self.inner
            .views
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `id` has `total` views (from the events aggregator); written to the store
    /// by the next [`flush`](Self::flush). A lower total than one already noted is ignored.
    pub fn note_views(&self, id: &VideoId, total: i64) {
        let mut views = self.views();
        let noted = views.buffered.entry(id.clone()).or_insert(0);
        *noted = (*noted).max(total);
    }

    /// The latest total noted for `id` and not yet stored (0 when none).
    pub fn known_views(&self, id: &VideoId) -> i64 {
        let views = self.views();
        let buffered = views.buffered.get(id).copied().unwrap_or(0);
        buffered.max(views.in_flight.get(id).copied().unwrap_or(0))
    }

    /// Writes every buffered total to the store in one batch. On failure the totals go back
    /// into the buffer for the next flush, so none is lost while the process lives.
    pub async fn flush(&self) -> spool_metadata::Result<()> {
        let _one_at_a_time = self.inner.flushing.lock().await;
        let batch: Vec<(VideoId, i64)> = {
            let mut views = self.views();
            let taken = std::mem::take(&mut views.buffered);
            views.in_flight = taken.clone();
            taken.into_iter().collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        let result = self.inner.db.raise_views(&batch).await;
        if result.is_ok() {
            // The stored counts changed: cached rows would now be short of them.
            for (id, _) in &batch {
                self.inner.rows.invalidate(id).await;
            }
            metrics::counter!("spool_views_flushed_total").increment(batch.len() as u64);
        }
        let mut views = self.views();
        let in_flight = std::mem::take(&mut views.in_flight);
        if result.is_err() {
            for (id, n) in in_flight {
                let noted = views.buffered.entry(id).or_insert(0);
                *noted = (*noted).max(n);
            }
        }
        result
    }

    /// Flushes view counts every second until `stop` fires, then once more. The binary awaits
    /// it in its task set (the library spawns nothing itself).
    pub async fn run(self, stop: CancellationToken) {
        let mut every = tokio::time::interval(FLUSH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = every.tick() => {
                    if let Err(e) = self.flush().await {
                        tracing::warn!("flushing view counts (kept for the next try): {e}");
                    }
                }
            }
        }
        if let Err(e) = self.flush().await {
            tracing::error!("flushing view counts at shutdown, counts lost: {e}");
        }
    }
}

/// Drops a video's cached row whenever the hub says the video changed (all rows when it fell
/// behind). [`RowInvalidator::run`] is a task for the binary's task set.
pub struct RowInvalidator {
    rows: HotRows,
    firehose: spool_hub::Firehose,
}

impl RowInvalidator {
    /// Observing starts here, so nothing published after this call is missed.
    pub(crate) fn new(rows: HotRows, hub: &spool_hub::Hub) -> Self {
        Self {
            rows,
            firehose: hub.observe_all(),
        }
    }

    /// Invalidates until `stop` (or until the hub is gone).
    pub async fn run(mut self, stop: CancellationToken) {
        loop {
            let observed = tokio::select! {
                () = stop.cancelled() => return,
                observed = self.firehose.recv() => observed,
            };
            match observed {
                None => return,
                Some(spool_hub::Observed::Changed(topic)) => {
                    if let Some(id) = topic.video_id() {
                        self.rows.invalidate(&id).await;
                    }
                }
                Some(spool_hub::Observed::Lagged(_)) => self.rows.rows.invalidate_all(),
            }
        }
    }
}
