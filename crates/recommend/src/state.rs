//! The discovery projection: the event log folded into viewer profiles, co-watch, trending
//! and the online ranking model, checkpointed with its log offset by the events crate's
//! projection runner (so all of it survives a restart and resumes where it was).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use spool_events::tracking::{EventType, TrackedEvent};
use spool_model::VideoId;

use crate::cowatch::CoWatch;
use crate::ease::Ease;
use crate::ftrl::Ftrl;
use crate::items::ItemFacts;
use crate::profile::{Limits, Profile, viewer_key};
use crate::rank::{self, Features};
use crate::trending::Trending;

/// An impression waits this long (event time) for a play before it counts as ignored.
pub const IMPRESSION_WINDOW_MS: i64 = 30 * 60_000;
/// Impressions waiting per viewer at most.
const PENDING_PER_VIEWER: usize = 64;
/// Event ids remembered for dropping duplicates (retried batches appended twice).
const RECENT_IDS: usize = 100_000;

/// An impression waiting to learn what followed it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    video: VideoId,
    at: i64,
    x: Features,
}

/// Event ids recently folded in.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RecentIds {
    order: VecDeque<String>,
    #[serde(skip)]
    set: HashSet<String>,
}

impl RecentIds {
    /// True the first time `id` is seen (within the last [`RECENT_IDS`]).
    fn insert(&mut self, id: &str) -> bool {
        if self.set.len() != self.order.len() {
            self.set = self.order.iter().cloned().collect();
        }
        if !self.set.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        while self.order.len() > RECENT_IDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// The folded state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DiscoveryState {
    /// Profiles by viewer key (`u:<name>`, `a:<anonymous id>`).
    pub profiles: HashMap<String, Profile>,
    /// Item-to-item co-watch.
    pub cowatch: CoWatch<VideoId>,
    /// View velocity and completion.
    pub trending: Trending<VideoId>,
    /// The online ranking model.
    pub ranker: Ftrl,
    /// Impressions awaiting their outcome, per viewer.
    #[serde(default)]
    pending: HashMap<String, Vec<Pending>>,
    #[serde(default)]
    recent_ids: RecentIds,
    /// The fastest video's velocity as of the last batch (a feature's scale).
    #[serde(default)]
    trending_max: f32,
    /// Latest event time folded in, Unix ms.
    pub now: i64,
    /// When faded trending entries were last dropped.
    #[serde(default)]
    pruned_at: i64,
    /// Events folded in that changed something.
    pub events: u64,
    #[serde(skip)]
    limits: Limits,
}

/// What one batch needs from outside: facts of its videos and the collaborative model.
#[derive(Default)]
pub struct BatchFacts {
    /// Facts by video; a video missing here is unknown (deleted) and its events are skipped.
    pub facts: HashMap<VideoId, ItemFacts>,
    /// The collaborative model, if trained.
    pub cf: Option<Arc<Ease<VideoId>>>,
}

impl DiscoveryState {
    /// An empty state with these bounds.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Sets the bounds (after a restore: they are configuration, not state).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// A viewer's profile.
    pub fn profile(&self, key: &str) -> Option<&Profile> {
        self.profiles.get(key)
    }

    /// Folds a batch of events in log order.
    pub fn apply(&mut self, events: &[TrackedEvent], batch: &BatchFacts) {
        for event in events {
            if self.recent_ids.insert(&event.event_id) {
                self.apply_one(event, batch);
            }
        }
        self.expire_pending();
        self.evict_profiles();
        let now = self.now;
        if now - self.pruned_at > 600_000 {
            self.trending.prune(now);
            self.pruned_at = now;
        }
        self.trending_max = self.trending.top(1, now).first().map_or(0.0, |(_, v)| *v);
    }

    fn apply_one(&mut self, event: &TrackedEvent, batch: &BatchFacts) {
        let Some(key) = viewer_key(event.user.as_deref(), event.anonymous_id.as_deref()) else {
            return;
        };
        self.now = self.now.max(event.at);
        // Signing in takes the device's anonymous profile into the account's.
        if event.user.is_some()
            && let Some(anon) = event.anonymous_id.as_deref()
            && let Some(before) = self.profiles.remove(&format!("a:{anon}"))
        {
            let limits = self.limits;
            self.profiles
                .entry(key.clone())
                .or_default()
                .merge(before, &limits);
            if let Some(p) = self.pending.remove(&format!("a:{anon}")) {
                self.pending.entry(key.clone()).or_default().extend(p);
            }
        }
        let Some(video) = event
            .video_id
            .as_deref()
            .and_then(|v| v.parse::<VideoId>().ok())
        else {
            return;
        };
        let Some(facts) = batch.facts.get(&video) else {
            return;
        };
        if event.kind == EventType::HideCreator {
            let limits = self.limits;
            self.profiles
                .entry(key)
                .or_default()
                .hide_creator(&facts.creator, event.at, &limits);
            self.events += 1;
            return;
        }
        if event.kind == EventType::Impression {
            let position = event
                .properties
                .get("position")
                .and_then(|v| v.as_u64())
                .unwrap_or(0) as usize;
            let x = self.features_for(&key, &video, facts, batch.cf.as_deref(), position);
            let pending = self.pending.entry(key.clone()).or_default();
            if !pending.iter().any(|p| p.video == video) {
                pending.push(Pending {
                    video: video.clone(),
                    at: event.at,
                    x,
                });
                if pending.len() > PENDING_PER_VIEWER {
                    let first = pending.remove(0);
                    self.ranker.learn(&first.x, rank::prior(&first.x), false);
                }
            }
        }
        let limits = self.limits;
        let profile = self.profiles.entry(key.clone()).or_default();
        let applied = profile.apply(event, &video, facts, &limits);
        if applied.new_positive {
            let history: Vec<VideoId> = profile
                .recent
                .iter()
                .filter(|v| **v != video)
                .cloned()
                .collect();
            self.cowatch
                .add(&history, &video, applied.signal.min(3.0), event.at);
        }
        if applied.first_watch {
            self.trending.watched(&video, event.at);
        }
        if applied.completed {
            self.trending.completed(&video);
        }
        if applied.signal != 0.0 || event.kind == EventType::Impression {
            self.events += 1;
        }
        let outcome = match event.kind {
            EventType::Play
            | EventType::Heartbeat
            | EventType::Like
            | EventType::Share
            | EventType::Comment => Some(true),
            EventType::Skip | EventType::NotInterested => Some(false),
            _ => None,
        };
        if let Some(label) = outcome
            && let Some(pending) = self.pending.get_mut(&key)
            && let Some(i) = pending.iter().position(|p| p.video == video)
        {
            let p = pending.swap_remove(i);
            self.ranker.learn(&p.x, rank::prior(&p.x), label);
        }
    }

    /// The ranking features of `video` for viewer `key` now.
    fn features_for(
        &self,
        key: &str,
        video: &VideoId,
        facts: &ItemFacts,
        cf: Option<&Ease<VideoId>>,
        position: usize,
    ) -> Features {
        let profile = self.profiles.get(key);
        let cowatch = rank::cowatch_score(self, profile, video, self.now);
        let cf_score = match (cf, profile) {
            (Some(cf), Some(p)) => p.positives().iter().map(|r| cf.similarity(r, video)).sum(),
            _ => 0.0,
        };
        rank::features(
            self,
            profile,
            video,
            facts,
            cowatch,
            cf_score,
            self.trending_max,
            position,
            self.now,
        )
    }

    /// Impressions nobody played within the window are learnt as ignored.
    fn expire_pending(&mut self) {
        let cutoff = self.now - IMPRESSION_WINDOW_MS;
        let ranker = &mut self.ranker;
        self.pending.retain(|_, pending| {
            pending.retain(|p| {
                if p.at < cutoff {
                    ranker.learn(&p.x, rank::prior(&p.x), false);
                    false
                } else {
                    true
                }
            });
            !pending.is_empty()
        });
    }

    /// Past the profile cap, the least recently active profiles go.
    fn evict_profiles(&mut self) {
        let cap = self.limits.profiles;
        if self.profiles.len() <= cap + cap / 4 {
            return;
        }
        let mut by_age: Vec<(i64, String)> = self
            .profiles
            .iter()
            .map(|(k, p)| (p.at, k.clone()))
            .collect();
        by_age.sort_unstable();
        for (_, key) in by_age.drain(..by_age.len() - cap) {
            self.profiles.remove(&key);
            self.pending.remove(&key);
        }
    }
}
