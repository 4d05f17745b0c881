//! Stream aggregates over tracking events: per video views, unique viewers, watch time,
//! average view duration, completion rate, retention curve; per user a watch history with the
//! position to resume from.
//!
//! [`Aggregates::apply`] folds one event in. It is deterministic and idempotent by `event_id`
//! (an id seen in the last [`DEDUP_WINDOW_MS`] of event time is ignored), so replaying the log
//! from a checkpoint, or receiving a retried event twice, never counts anything twice, and a
//! recount from the whole log gives the same numbers.
//!
//! Definitions:
//! - a viewer is the signed-in user, else the device's `anonymous_id`;
//! - watch time is the sum of heartbeat intervals (the player sends one every 10 s of playback,
//!   listing the stretches played between seeks, and a last, partial one when playback stops);
//! - a **view** counts once a viewer has watched at least 10 s, or 30% of the video, since
//!   their last counted view, and at most once per viewer per hour;
//! - retention at `i`% is the share of unique viewers who watched any part of the `i`-th
//!   hundredth of the video; completion rate is the share who reached its last hundredth (or
//!   sent `ended`).
//!
//! Bounds ([`Limits`]), so that no sender can grow the aggregates without end or mint views:
//! - per-viewer state is dropped once a viewer was silent for a day of event time
//!   ([`Limits::viewer_ttl_ms`]); a viewer back after that counts as a new unique viewer;
//! - a video keeps at most [`Limits::max_viewers_per_video`] viewer states (the longest
//!   silent go first; their contributions to the counts stay);
//! - views of one video count at most [`Limits::views_per_address_hour`] times per sender
//!   address and [`Limits::views_per_session_hour`] times per `session_id` per hour of event
//!   time, however many `anonymous_id`s the sender makes up;
//! - [`Aggregates::remove_video`] forgets a deleted video (stats and history entries).
//!
//! Every bound is applied in event time, in log order, so two nodes folding the same log (and
//! a recount from the whole log) still agree.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::tracking::{EventType, TrackedEvent, heartbeat_intervals, uuid_bits};

/// How long an event id is remembered to ignore its duplicates, in event time.
pub const DEDUP_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// Ids per dedup generation at most (3 generations are kept: 48 MB of ids at most).
pub const MAX_IDS_PER_GENERATION: usize = 1_000_000;
/// Watched seconds that make a view.
pub const VIEW_AFTER_S: f64 = 10.0;
/// Watched share of the duration that makes a view (for videos shorter than 33 s).
pub const VIEW_AFTER_SHARE: f64 = 0.3;
/// A viewer's views of one video are counted at most once per this long.
pub const VIEW_EVERY_MS: i64 = 3600 * 1000;
/// Watch history entries kept per user (most recent first).
pub const HISTORY_LEN: usize = 200;
/// One hour of event time, the window of the per-address and per-session view caps.
const HOUR_MS: i64 = 3600 * 1000;
/// How often (in event time) stale per-viewer, per-address and per-session state is pruned.
const PRUNE_EVERY_MS: i64 = HOUR_MS;

/// What the aggregates keep and count at most; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A viewer silent this long (event time, ms) is forgotten.
    pub viewer_ttl_ms: i64,
    /// Viewer states kept per video.
    pub max_viewers_per_video: usize,
    /// Views one sender address adds to one video per hour; 0 for no cap.
    pub views_per_address_hour: u32,
    /// Views one `session_id` adds to one video per hour; 0 for no cap.
    pub views_per_session_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            viewer_ttl_ms: DEDUP_WINDOW_MS,
            max_viewers_per_video: 100_000,
            views_per_address_hour: 50,
            views_per_session_hour: 5,
        }
    }
}

/// What one viewer did with one video.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct ViewerState {
    /// Hundredths of the video watched, one bit each.
    watched: u128,
    /// Seconds watched since the last counted view.
    pending_s: f64,
    /// When the last view was counted (event time, ms); 0 for never.
    last_view_at: i64,
    completed: bool,
    /// The viewer's latest event (event time, ms), for forgetting silent viewers.
    #[serde(default)]
    last_seen: i64,
}

/// Sums of the QoE samples of one video (CMCD on its media requests).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct QoeSums {
    samples: u64,
    throughput_kbps: (f64, u64),
    bitrate_kbps: (f64, u64),
    buffer_ms: (f64, u64),
    startup: u64,
    starvations: u64,
}

/// One video's numbers.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct VideoAggregate {
    duration_s: Option<f64>,
    #[serde(default)]
    qoe: QoeSums,
    views: u64,
    watch_time_s: f64,
    viewers: HashMap<String, ViewerState>,
    /// Viewers ever seen (forgotten ones included).
    #[serde(default)]
    unique: u64,
    /// Viewers who reached the end.
    #[serde(default)]
    completions: u64,
    /// Viewers who watched each hundredth (empty until a duration is known).
    #[serde(default)]
    retention: Vec<u64>,
    /// Views counted per sender address in the current hour: (hour, views).
    #[serde(default)]
    address_views: HashMap<IpAddr, (i64, u32)>,
    /// Views counted per session in the current hour: (hour, views).
    #[serde(default)]
    session_views: HashMap<String, (i64, u32)>,
}

impl VideoAggregate {
    /// Rebuilds the counts from the viewer states (checkpoints written before the counts).
    fn recount(&mut self) {
        self.unique = self.viewers.len() as u64;
        self.completions = self.viewers.values().filter(|v| v.completed).count() as u64;
        self.retention = if self.duration_s.is_some() {
            (0..100)
                .map(|i| {
                    self.viewers
                        .values()
                        .filter(|v| v.watched & (1 << i) != 0)
                        .count() as u64
                })
                .collect()
        } else {
            Vec::new()
        };
    }

    /// Drops the longest-silent half of the viewers (ties broken by key: deterministic).
    fn evict_viewers(&mut self, keep: usize) {
        let mut seen: Vec<(i64, &String)> =
            self.viewers.iter().map(|(k, v)| (v.last_seen, k)).collect();
        seen.sort_unstable();
        let drop: Vec<String> = seen
            .iter()
            .take(self.viewers.len().saturating_sub(keep))
            .map(|(_, k)| (*k).clone())
            .collect();
        for key in drop {
            self.viewers.remove(&key);
        }
    }
}

/// A video's stats as the API shows them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VideoStats {
    /// Counted views (see the module docs).
    pub views: u64,
    /// Distinct viewers who played any of it.
    pub unique_viewers: u64,
    /// Total seconds watched.
    pub watch_time_s: f64,
    /// Watch time divided by views (0 without views).
    pub avg_view_duration_s: f64,
    /// Share of unique viewers who reached the end, 0 to 1.
    pub completion_rate: f64,
    /// Share of unique viewers who watched each hundredth of the video, 100 values from 0 to 1
    /// (empty until the duration is known).
    pub retention: Vec<f64>,
    /// What players reported through CMCD on their media requests.
    pub qoe: QoeStats,
}

/// Quality of experience of a video, from the players' CMCD data.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct QoeStats {
    /// Media requests that carried CMCD.
    pub samples: u64,
    /// Mean measured throughput (`mtp`), kbit/s; None without samples.
    pub avg_throughput_kbps: Option<f64>,
    /// Mean encoded bitrate of the requested objects (`br`), kbit/s.
    pub avg_bitrate_kbps: Option<f64>,
    /// Mean buffer length when requesting (`bl`), ms.
    pub avg_buffer_ms: Option<f64>,
    /// Requests made during startup (`su`).
    pub startup_requests: u64,
    /// Requests after the buffer ran dry (`bs`).
    pub buffer_starvations: u64,
}

impl QoeSums {
    fn add(&mut self, event: &TrackedEvent) {
        let get = |key: &str| {
            event
                .properties
                .get(key)
                .and_then(serde_json::Value::as_f64)
        };
        let flag = |key: &str| {
            event
                .properties
                .get(key)
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
        };
        self.samples += 1;
        for (sum, key) in [
            (&mut self.throughput_kbps, "throughput_kbps"),
            (&mut self.bitrate_kbps, "bitrate_kbps"),
            (&mut self.buffer_ms, "buffer_ms"),
        ] {
            if let Some(v) = get(key).filter(|v| v.is_finite() && *v >= 0.0) {
                sum.0 += v;
                sum.1 += 1;
            }
        }
        self.startup += u64::from(flag("startup"));
        self.starvations += u64::from(flag("buffer_starvation"));
    }

    fn stats(&self) -> QoeStats {
        let mean = |(sum, n): (f64, u64)| (n > 0).then(|| sum / n as f64);
        QoeStats {
            samples: self.samples,
            avg_throughput_kbps: mean(self.throughput_kbps),
            avg_bitrate_kbps: mean(self.bitrate_kbps),
            avg_buffer_ms: mean(self.buffer_ms),
            startup_requests: self.startup,
            buffer_starvations: self.starvations,
        }
    }
}

/// One entry of a user's watch history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    /// The video.
    pub video_id: String,
    /// Where to resume, seconds.
    pub position_s: f64,
    /// When it was last watched (event time, Unix ms).
    pub watched_at: i64,
}

/// The aggregates of a stream of events.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Aggregates {
    videos: HashMap<String, VideoAggregate>,
    /// Per user name, most recent first.
    history: HashMap<String, VecDeque<HistoryEntry>>,
    /// Event ids seen (as 128-bit numbers), in generations of half the dedup window of event
    /// time or [`MAX_IDS_PER_GENERATION`] ids, whichever comes first, for dropping duplicates:
    /// an id is remembered for one to one and a half windows, or at least 2 generations' worth
    /// of ids at high rates (which bounds memory).
    seen: VecDeque<(i64, HashSet<u128>)>,
    /// Events folded in (duplicates excluded).
    pub applied: u64,
    /// Duplicates ignored.
    pub duplicates: u64,
    /// The latest event time seen (ms), the clock of pruning.
    #[serde(default)]
    newest_at: i64,
    /// When (event time) stale state was last pruned.
    #[serde(default)]
    pruned_at: i64,
    /// 2 once the per-video counts are kept incrementally (older checkpoints get them
    /// rebuilt from the viewer states on restore).
    #[serde(default)]
    version: u32,
    #[serde(skip)]
    limits: Limits,
}

impl Aggregates {
    /// Empty aggregates with the default [`Limits`].
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// Empty aggregates with `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            version: 2,
            limits,
            ..Self::default()
        }
    }

    /// Sets the limits (they are configuration, not state: a checkpoint does not carry them).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Brings a checkpoint of an older version up to date; called after restoring one.
    pub fn upgrade(&mut self) {
        if self.version < 2 {
            for video in self.videos.values_mut() {
                video.recount();
            }
            self.version = 2;
        }
    }

    /// Forgets a video that no longer exists: its numbers and its history entries.
    pub fn remove_video(&mut self, video_id: &str) {
        if self.videos.remove(video_id).is_some() {
            for history in self.history.values_mut() {
                history.retain(|h| h.video_id != video_id);
            }
            self.history.retain(|_, h| !h.is_empty());
        }
    }

    /// The ids of every video with numbers.
    pub fn video_ids(&self) -> Vec<String> {
        self.videos.keys().cloned().collect()
    }

    /// Viewer states kept, over all videos (for bounds checks and metrics).
    pub fn viewer_states(&self) -> usize {
        self.videos.values().map(|v| v.viewers.len()).sum()
    }

    /// Drops state that no longer matters at event time `now`: silent viewers, past hours'
    /// address and session counters.
    fn prune(&mut self, now: i64) {
        let (ttl, hour) = (self.limits.viewer_ttl_ms, now.div_euclid(HOUR_MS));
        for video in self.videos.values_mut() {
            video.viewers.retain(|_, v| now - v.last_seen < ttl);
            video.address_views.retain(|_, (h, _)| *h >= hour);
            video.session_views.retain(|_, (h, _)| *h >= hour);
        }
        self.pruned_at = now;
    }

    /// Folds `event` in; `duration_s` is the video's duration when known. Returns false for a
    /// duplicate (nothing changes).
    pub fn apply(&mut self, event: &TrackedEvent, duration_s: Option<f64>) -> bool {
        // Ids are UUIDs once validated; anything else is keyed by a hash of its text.
        let id = uuid_bits(&event.event_id).unwrap_or_else(|| {
            u128::from_le_bytes(
                blake3::hash(event.event_id.as_bytes()).as_bytes()[..16]
                    .try_into()
                    .expect("16 bytes"),
            )
        });
        if self.seen.iter().any(|(_, ids)| ids.contains(&id)) {
            self.duplicates += 1;
            return false;
        }
        self.remember(id, event.at);
        self.applied += 1;
        if self.version < 2 {
            self.upgrade();
        }
        if event.at > self.newest_at {
            self.newest_at = event.at;
            if self.newest_at - self.pruned_at >= PRUNE_EVERY_MS {
                self.prune(self.newest_at);
            }
        }
        let Some(video_id) = event.video_id.as_deref() else {
            return true;
        };
        let limits = self.limits;
        let video = entry(&mut self.videos, video_id);
        if event.kind == EventType::Qoe {
            video.qoe.add(event);
            return true;
        }
        let Some(viewer) = event.user.as_deref().or(event.anonymous_id.as_deref()) else {
            return true;
        };
        if let Some(d) = duration_s.filter(|d| d.is_finite() && *d > 0.0) {
            video.duration_s = Some(d);
        }
        let duration = video.duration_s;
        if duration.is_some() && video.retention.is_empty() {
            video.retention = vec![0; 100];
        }
        if !video.viewers.contains_key(viewer) {
            if video.viewers.len() >= limits.max_viewers_per_video.max(1) {
                video.evict_viewers(limits.max_viewers_per_video / 2);
            }
            video.unique += 1;
        }
        let state = entry(&mut video.viewers, viewer);
        state.last_seen = state.last_seen.max(event.at);
        let (watched_before, completed_before) = (state.watched, state.completed);
        match event.kind {
            EventType::Heartbeat => {
                for (from, to) in heartbeat_intervals(&event.properties).unwrap_or_default() {
                    let watched = (to - from).max(0.0);
                    video.watch_time_s += watched;
                    state.pending_s += watched;
                    if let Some(d) = duration {
                        state.watched |= hundredths(from, to, d);
                    }
                }
            }
            EventType::Ended => state.completed = true,
            _ => {}
        }
        // Views: enough watched since the last counted one, not within the hour, and neither
        // the sender's address nor its session has used up its views of the hour.
        let threshold = duration.map_or(VIEW_AFTER_S, |d| (d * VIEW_AFTER_SHARE).min(VIEW_AFTER_S));
        if state.pending_s >= threshold
            && (state.last_view_at == 0 || event.at - state.last_view_at >= VIEW_EVERY_MS)
        {
            let hour = event.at.div_euclid(HOUR_MS);
            let by_address = event
                .address
                .filter(|_| limits.views_per_address_hour > 0)
                .map(|a| {
                    let n = video.address_views.get(&a).filter(|(h, _)| *h == hour);
                    (a, n.map_or(0, |(_, n)| *n))
                });
            let by_session = (limits.views_per_session_hour > 0).then(|| {
                let n = video
                    .session_views
                    .get(event.session_id.as_str())
                    .filter(|(h, _)| *h == hour);
                n.map_or(0, |(_, n)| *n)
            });
            let capped = by_address.is_some_and(|(_, n)| n >= limits.views_per_address_hour)
                || by_session.is_some_and(|n| n >= limits.views_per_session_hour);
            if !capped {
                video.views += 1;
                state.last_view_at = event.at;
                if let Some((address, n)) = by_address {
                    video.address_views.insert(address, (hour, n + 1));
                }
                if let Some(n) = by_session {
                    *entry(&mut video.session_views, &event.session_id) = (hour, n + 1);
                }
            }
            // Capped or not, this stretch is spent: a capped viewer does not bank it.
            state.pending_s = 0.0;
        }
        if state.watched & (1 << 99) != 0 {
            state.completed = true;
        }
        let added = state.watched & !watched_before;
        if added != 0 && !video.retention.is_empty() {
            for (i, count) in video.retention.iter_mut().enumerate() {
                if added & (1 << i) != 0 {
                    *count += 1;
                }
            }
        }
        if state.completed && !completed_before {
            video.completions += 1;
        }
        if let (Some(user), Some(position)) = (event.user.as_deref(), event.position_s) {
            let history = self.history.entry(user.to_owned()).or_default();
            history.retain(|h| h.video_id != video_id);
            history.push_front(HistoryEntry {
                video_id: video_id.to_owned(),
                position_s: position,
                watched_at: event.at,
            });
            history.truncate(HISTORY_LEN);
        }
        true
    }

    fn remember(&mut self, id: u128, at: i64) {
        const GENERATION_MS: i64 = DEDUP_WINDOW_MS / 2;
        let generation = at.div_euclid(GENERATION_MS);
        // Deterministic: the same events in the same order keep and forget the same ids.
        match self.seen.back_mut() {
            Some((g, ids)) if *g >= generation && ids.len() < MAX_IDS_PER_GENERATION => {
                ids.insert(id);
            }
            _ => {
                let newest = self
                    .seen
                    .back()
                    .map_or(generation, |(g, _)| (*g).max(generation));
                self.seen.push_back((newest, HashSet::from([id])));
            }
        }
        let newest = self.seen.back().map_or(generation, |(g, _)| *g);
        while self.seen.len() > 3 || self.seen.front().is_some_and(|(g, _)| *g < newest - 2) {
            self.seen.pop_front();
        }
    }

    /// The stats of a video (zeros when nothing was seen).
    pub fn video(&self, video_id: &str) -> VideoStats {
        let Some(video) = self.videos.get(video_id) else {
            return VideoStats {
                views: 0,
                unique_viewers: 0,
                watch_time_s: 0.0,
                avg_view_duration_s: 0.0,
                completion_rate: 0.0,
                retention: Vec::new(),
                qoe: QoeStats::default(),
            };
        };
        let unique = video.unique;
        let completions = video.completions as f64;
        let retention = if video.duration_s.is_some() && unique > 0 {
            video
                .retention
                .iter()
                .map(|n| *n as f64 / unique as f64)
                .collect()
        } else {
            Vec::new()
        };
        VideoStats {
            views: video.views,
            unique_viewers: unique,
            watch_time_s: video.watch_time_s,
            avg_view_duration_s: if video.views > 0 {
                video.watch_time_s / video.views as f64
            } else {
                0.0
            },
            completion_rate: if unique > 0 {
                completions / unique as f64
            } else {
                0.0
            },
            retention,
            qoe: video.qoe.stats(),
        }
    }

    /// The counted views of a video (0 when nothing was seen).
    pub fn views(&self, video_id: &str) -> u64 {
        self.videos.get(video_id).map_or(0, |v| v.views)
    }

    /// A user's watch history, most recent first.
    pub fn history(&self, user: &str) -> Vec<HistoryEntry> {
        self.history
            .get(user)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// `map[key]`, inserted as the default first if missing; allocates the key only then (this is
/// on the path of every event).
fn entry<'a, V: Default>(map: &'a mut HashMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("just inserted")
}

/// The hundredths of a `duration`-second video that `from..to` touches, as bits.
fn hundredths(from: f64, to: f64, duration: f64) -> u128 {
    let bucket = |t: f64| ((t / duration * 100.0).floor().clamp(0.0, 99.0)) as u32;
    // `to` is exclusive: an interval ending on a boundary does not touch the next hundredth.
    let (first, last) = (bucket(from), bucket((to - 1e-9).max(from)));
    let mut bits = 0u128;
    for i in first..=last {
        bits |= 1 << i;
    }
    bits
}
