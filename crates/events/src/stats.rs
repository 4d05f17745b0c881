//! The stats projection: the log folded into [`Aggregates`] (views, watch time, retention,
//! QoE, watch history), the first projection of the runner.
//!
//! What it needs from the catalog comes through [`VideoCatalog`], which the binary wires:
//! each batch's videos are looked up once (duration for retention and the view threshold,
//! and whether the video still exists: events of a video that does not are skipped and its
//! numbers forgotten), every [`SWEEP_EVERY`] the videos with numbers are checked again so
//! deleted ones go even when no events arrive for them, and after each fold the batch's view
//! totals are handed to [`VideoCatalog::note_views`] under the fold's lock, so whoever reads
//! the new stats also sees the new totals in the video rows.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use spool_model::VideoId;

use crate::aggregate::{Aggregates, Limits};
use crate::projection::{Projection, ProjectionHandle};
use crate::tracking::TrackedEvent;

/// How often the videos with numbers are checked for deletion.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How often the duration of a video still without one is asked for again.
const DURATION_RETRY: Duration = Duration::from_secs(10);
/// Videos looked up per call at most.
const LOOKUP_CHUNK: usize = 500;

/// What the stats need to know of one video.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VideoFacts {
    /// Its duration in seconds, once probed.
    pub duration_s: Option<f64>,
}

/// The catalog could not answer; the batch is folded without the facts it would have given.
#[derive(Debug, thiserror::Error)]
#[error("video look-up failed: {0}")]
pub struct LookupFailed(pub String);

/// The stats projection's window on the catalog, provided by the binary.
pub trait VideoCatalog: Send + Sync + 'static {
    /// One answer per id, in order: `None` when the video does not exist (deleted, or never).
    fn videos<'a>(
        &'a self,
        ids: &'a [VideoId],
    ) -> BoxFuture<'a, Result<Vec<Option<VideoFacts>>, LookupFailed>>;

    /// The latest view totals of videos a fold changed. Called on the blocking pool under
    /// the fold's lock: must not block for long (buffer them).
    fn note_views(&self, totals: &[(VideoId, u64)]);
}

/// The stats projection; see the module docs.
pub struct StatsProjection {
    catalog: Box<dyn VideoCatalog>,
    limits: Limits,
    durations: Mutex<HashMap<String, (Option<f64>, Instant)>>,
    swept_at: Mutex<Option<Instant>>,
}

/// What one batch's fold learnt from the catalog.
pub struct StatsContext {
    /// Durations of the batch's existing videos.
    durations: HashMap<String, Option<f64>>,
    /// Videos that do not exist: their events are skipped, their numbers forgotten.
    gone: HashSet<String>,
}

impl StatsProjection {
    /// Stats over `catalog` with `limits`.
    pub fn new(catalog: Box<dyn VideoCatalog>, limits: Limits) -> Self {
        Self {
            catalog,
            limits,
            durations: Mutex::new(HashMap::new()),
            swept_at: Mutex::new(None),
        }
    }

    /// Looks `ids` up in chunks; `None` for the lot when the catalog fails.
    async fn lookup(&self, ids: &[VideoId]) -> Option<Vec<Option<VideoFacts>>> {
        let mut facts = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            match self.catalog.videos(chunk).await {
                Ok(found) if found.len() == chunk.len() => facts.extend(found),
                Ok(_) => {
                    tracing::warn!("video look-up answered the wrong number of videos");
                    return None;
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    return None;
                }
            }
        }
        Some(facts)
    }

    fn sweep_due(&self) -> bool {
        let mut swept = self.swept_at.lock().unwrap_or_else(|e| e.into_inner());
        let due = swept.is_none_or(|at| at.elapsed() >= SWEEP_EVERY);
        if due {
            *swept = Some(Instant::now());
        }
        due
    }
}

impl Projection for StatsProjection {
    type State = Aggregates;
    type Context = StatsContext;

    fn name(&self) -> &'static str {
        "aggregates"
    }

    async fn prepare(
        &self,
        events: &[TrackedEvent],
        state: &ProjectionHandle<Aggregates>,
    ) -> StatsContext {
        let now = Instant::now();
        // Each video of the batch once, and only when its facts are not fresh.
        let mut wanted: Vec<VideoId> = Vec::new();
        let mut context = StatsContext {
            durations: HashMap::new(),
            gone: HashSet::new(),
        };
        {
            let durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
            let mut seen: HashSet<&str> = HashSet::new();
            for id in events.iter().filter_map(|e| e.video_id.as_deref()) {
                if !seen.insert(id) {
                    continue;
                }
                match durations.get(id) {
                    Some((Some(d), _)) => {
                        context.durations.insert(id.to_owned(), Some(*d));
                    }
                    // Not known yet (still processing): ask again now and then, not per event.
                    Some((None, asked)) if now.duration_since(*asked) < DURATION_RETRY => {
                        context.durations.insert(id.to_owned(), None);
                    }
                    _ => match id.parse::<VideoId>() {
                        Ok(video) => wanted.push(video),
                        Err(_) => {
                            context.gone.insert(id.to_owned());
                        }
                    },
                }
            }
        }
        if self.sweep_due() {
            let ids = state.read().await.state.video_ids();
            let batch: HashSet<&str> = wanted.iter().map(VideoId::as_str).collect();
            let extra: Vec<VideoId> = ids
                .iter()
                .filter(|id| !batch.contains(id.as_str()) && !context.durations.contains_key(*id))
                .filter_map(|id| id.parse().ok())
                .collect();
            wanted.extend(extra);
        }
        let found = self.lookup(&wanted).await;
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        match found {
            Some(found) => {
                for (video, facts) in wanted.iter().zip(found) {
                    match facts {
                        Some(facts) => {
                            durations.insert(video.as_str().to_owned(), (facts.duration_s, now));
                            context
                                .durations
                                .insert(video.as_str().to_owned(), facts.duration_s);
                        }
                        None => {
                            durations.remove(video.as_str());
                            context.gone.insert(video.as_str().to_owned());
                        }
                    }
                }
            }
            // The catalog is down: fold without durations, forget nothing.
            None => {
                for video in &wanted {
                    context.durations.insert(video.as_str().to_owned(), None);
                }
            }
        }
        if durations.len() > 100_000 {
            durations.clear();
        }
        context
    }

    fn apply(&self, state: &mut Aggregates, events: &[TrackedEvent], context: StatsContext) {
        state.set_limits(self.limits);
        for id in &context.gone {
            state.remove_video(id);
        }
        let mut dropped = 0u64;
        for event in events {
            let duration = match event.video_id.as_deref() {
                Some(id) if context.gone.contains(id) => {
                    dropped += 1;
                    continue;
                }
                Some(id) => context.durations.get(id).copied().flatten(),
                None => None,
            };
            state.apply(event, duration);
        }
        if dropped > 0 {
            metrics::counter!("spool_events_dropped_total", "reason" => "unknown_video")
                .increment(dropped);
        }
        let totals: Vec<(VideoId, u64)> = context
            .durations
            .keys()
            .filter_map(|id| Some((id.parse().ok()?, state.views(id))))
            .collect();
        if !totals.is_empty() {
            self.catalog.note_views(&totals);
        }
    }

    fn restored(&self, state: &mut Aggregates) {
        state.set_limits(self.limits);
        state.upgrade();
    }
}
