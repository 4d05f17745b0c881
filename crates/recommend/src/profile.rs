//! Viewer profiles, computed from the event stream: time-decayed interest per tag, category
//! and creator, what the viewer has seen, finished, refused or hidden, and their latest
//! positive videos (the seeds of co-watch and the collaborative model).
//!
//! Signals: watch ratio (heartbeat intervals over the duration; watching past the duration
//! again is a replay and counts again), completion, likes, shares, and a play's start are
//! positive; a skip in the first seconds, a skip before a third, "not interested" and an unlike
//! are negative. Weights are in [`signal`]; everything is bounded ([`Limits`]).

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use spool_events::tracking::{EventType, TrackedEvent};
use spool_model::VideoId;

use crate::decay::{Decayed, bump};
use crate::items::{ItemFacts, terms};

/// Interest halves in a week of event time.
pub const INTEREST_HALF_LIFE_MS: i64 = 7 * 24 * 3_600_000;
/// A skip this early (seconds) is a strong "not for me".
pub const EARLY_SKIP_S: f64 = 3.0;
/// Affinity a follow adds to its creator (an unfollow takes it back): a standing choice of
/// the creator, worth more than one liked video's share (0.7 × 3).
pub const FOLLOW_AFFINITY: f32 = 4.0;

/// The bounds of one profile and of the whole set.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Profiles kept; past it the least recently active go.
    pub profiles: usize,
    /// Terms (tags and categories) per profile.
    pub terms: usize,
    /// Creators per profile.
    pub creators: usize,
    /// Videos remembered as seen per profile.
    pub seen: usize,
    /// Latest positive videos per profile.
    pub recent: usize,
    /// Refused videos and hidden creators per profile.
    pub refused: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            profiles: 200_000,
            terms: 48,
            creators: 24,
            seen: 300,
            recent: 30,
            refused: 500,
        }
    }
}

/// Who a profile belongs to: `u:<user name>` or `a:<anonymous id>`.
pub fn viewer_key(user: Option<&str>, anonymous_id: Option<&str>) -> Option<String> {
    match (user, anonymous_id) {
        (Some(user), _) => Some(format!("u:{user}")),
        (None, Some(anon)) => Some(format!("a:{anon}")),
        (None, None) => None,
    }
}

/// What a viewer did with one video.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    /// Times shown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub impressions: u32,
    /// Seconds watched in all.
    #[serde(default)]
    pub watched_s: f32,
    /// Played to the end (or watched its whole length).
    #[serde(default)]
    pub completed: bool,
    /// The viewer liked it (a strong positive signal: watched well, liked, shared) and has
    /// not taken it back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub positive: bool,
    /// Last event about it, Unix ms.
    pub at: i64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One viewer's profile.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Profile {
    /// Interest per term (`t:<tag>`, `c:<category>`).
    pub interests: HashMap<String, Decayed>,
    /// Affinity per creator.
    pub creators: HashMap<String, Decayed>,
    /// Videos seen, with what happened.
    pub seen: HashMap<VideoId, Seen>,
    /// Latest positive videos, newest last.
    pub recent: VecDeque<VideoId>,
    /// Videos the viewer said they are not interested in.
    pub not_interested: HashSet<VideoId>,
    /// Creators the viewer hid.
    pub hidden_creators: HashSet<String>,
    /// Events that changed the profile.
    pub interactions: u32,
    /// Last event, Unix ms.
    pub at: i64,
}

/// How much one event says about the viewer's taste for its video: positive for liking it,
/// negative for refusing it; `None` when it says nothing.
pub fn signal(event: &TrackedEvent, facts: &ItemFacts, before: Option<&Seen>) -> Option<f32> {
    let duration = facts.duration_s.filter(|d| *d > 0.0);
    match event.kind {
        EventType::Heartbeat => {
            let watched = watched_s(event);
            let ratio = duration.map_or(watched / 60.0, |d| watched / d);
            (watched > 0.0).then_some((2.0 * ratio).min(2.0) as f32)
        }
        EventType::Play => before.is_none_or(|s| s.watched_s == 0.0).then_some(0.3),
        EventType::Ended => Some(1.0),
        EventType::Like => Some(3.0),
        EventType::Unlike => Some(-3.0),
        EventType::Share => Some(2.0),
        // Writing about a video says as much as sharing it.
        EventType::Comment => Some(2.0),
        EventType::NotInterested => Some(-4.0),
        EventType::Skip => {
            let at = event.position_s.unwrap_or(0.0);
            let watched = before.map_or(0.0, |s| f64::from(s.watched_s)).max(at);
            if at < EARLY_SKIP_S {
                Some(-1.5)
            } else if duration.is_some_and(|d| watched < d / 3.0) {
                Some(-0.5)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Seconds a heartbeat says were watched.
pub fn watched_s(event: &TrackedEvent) -> f64 {
    let props = &event.properties;
    let span = |from: Option<f64>, to: Option<f64>| match (from, to) {
        (Some(from), Some(to)) if to > from => to - from,
        _ => 0.0,
    };
    if let Some(intervals) = props.get("intervals").and_then(|v| v.as_array()) {
        return intervals
            .iter()
            .filter_map(|pair| {
                let pair = pair.as_array()?;
                Some(span(pair.first()?.as_f64(), pair.get(1)?.as_f64()))
            })
            .sum();
    }
    span(
        props.get("from_s").and_then(|v| v.as_f64()),
        props.get("to_s").and_then(|v| v.as_f64()),
    )
}

/// What folding one event into a profile did, for the other parts of the fold.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Applied {
    /// The signal's weight (0 when none).
    pub signal: f32,
    /// The video became one of the viewer's positives with this event.
    pub new_positive: bool,
    /// The viewer started watching it with this event (their first watched second).
    pub first_watch: bool,
    /// The viewer finished it with this event.
    pub completed: bool,
}

impl Profile {
    /// Folds one event about `video` (with its facts) in.
    pub fn apply(
        &mut self,
        event: &TrackedEvent,
        video: &VideoId,
        facts: &ItemFacts,
        limits: &Limits,
    ) -> Applied {
        let now = event.at;
        self.at = self.at.max(now);
        let before = self.seen.get(video).cloned();
        let weight = signal(event, facts, before.as_ref()).unwrap_or(0.0);
        let seen = self.seen.entry(video.clone()).or_default();
        seen.at = seen.at.max(now);
        let mut applied = Applied {
            signal: weight,
            ..Applied::default()
        };
        match event.kind {
            EventType::Impression => seen.impressions = seen.impressions.saturating_add(1),
            EventType::Heartbeat => {
                applied.first_watch = seen.watched_s == 0.0;
                seen.watched_s += watched_s(event) as f32;
                if let Some(d) = facts.duration_s.filter(|d| *d > 0.0)
                    && f64::from(seen.watched_s) >= d * 0.95
                    && !seen.completed
                {
                    seen.completed = true;
                    applied.completed = true;
                }
            }
            EventType::Ended if !seen.completed => {
                seen.completed = true;
                applied.completed = true;
            }
            EventType::NotInterested => {
                insert_bounded(&mut self.not_interested, video.clone(), limits.refused);
            }
            // About the creator, not the video it was recorded on.
            EventType::Follow | EventType::Unfollow if !facts.creator.is_empty() => {
                let delta = if event.kind == EventType::Follow {
                    FOLLOW_AFFINITY
                } else {
                    -FOLLOW_AFFINITY
                };
                bump(
                    &mut self.creators,
                    &facts.creator,
                    delta,
                    now,
                    INTEREST_HALF_LIFE_MS,
                    limits.creators,
                );
            }
            _ => {}
        }
        if weight != 0.0 {
            self.interactions = self.interactions.saturating_add(1);
            let terms = terms(facts);
            // A video's weight is shared among its terms, so one with many tags does not
            // outweigh one with a single exact tag.
            let share = weight / (terms.len().max(1) as f32).sqrt();
            for term in terms {
                let w = if term.starts_with("c:") {
                    weight
                } else {
                    share
                };
                bump(
                    &mut self.interests,
                    term,
                    w,
                    now,
                    INTEREST_HALF_LIFE_MS,
                    limits.terms,
                );
            }
            if !facts.creator.is_empty() {
                bump(
                    &mut self.creators,
                    &facts.creator,
                    0.7 * weight,
                    now,
                    INTEREST_HALF_LIFE_MS,
                    limits.creators,
                );
            }
        }
        if weight > 0.5 {
            seen.positive = true;
        } else if weight < 0.0 {
            seen.positive = false;
        }
        if weight > 0.5 && !self.recent.contains(video) {
            applied.new_positive = true;
            self.recent.push_back(video.clone());
            while self.recent.len() > limits.recent {
                self.recent.pop_front();
            }
        } else if weight < 0.0 {
            self.recent.retain(|v| v != video);
        }
        if self.seen.len() > limits.seen + limits.seen / 4 {
            let mut by_age: Vec<(i64, VideoId)> =
                self.seen.iter().map(|(v, s)| (s.at, v.clone())).collect();
            by_age.sort_unstable();
            for (_, v) in by_age.drain(..by_age.len() - limits.seen) {
                self.seen.remove(&v);
            }
        }
        applied
    }

    /// Hides a creator from the viewer's recommendations.
    pub fn hide_creator(&mut self, creator: &str, at: i64, limits: &Limits) {
        self.at = self.at.max(at);
        insert_bounded(
            &mut self.hidden_creators,
            creator.to_owned(),
            limits.refused,
        );
        self.creators.remove(creator);
    }

    /// Takes `other` (an anonymous profile of the same person) into this one.
    pub fn merge(&mut self, other: Profile, limits: &Limits) {
        let now = self.at.max(other.at);
        for (term, d) in other.interests {
            let v = d.at_time(now, INTEREST_HALF_LIFE_MS);
            bump(
                &mut self.interests,
                &term,
                v,
                now,
                INTEREST_HALF_LIFE_MS,
                limits.terms,
            );
        }
        for (creator, d) in other.creators {
            let v = d.at_time(now, INTEREST_HALF_LIFE_MS);
            bump(
                &mut self.creators,
                &creator,
                v,
                now,
                INTEREST_HALF_LIFE_MS,
                limits.creators,
            );
        }
        for (video, seen) in other.seen {
            let mine = self.seen.entry(video).or_default();
            mine.impressions = mine.impressions.saturating_add(seen.impressions);
            mine.watched_s += seen.watched_s;
            mine.completed |= seen.completed;
            mine.positive |= seen.positive;
            mine.at = mine.at.max(seen.at);
        }
        for video in other.recent {
            if !self.recent.contains(&video) {
                self.recent.push_back(video);
            }
        }
        while self.recent.len() > limits.recent {
            self.recent.pop_front();
        }
        for v in other.not_interested {
            insert_bounded(&mut self.not_interested, v, limits.refused);
        }
        for c in other.hidden_creators {
            insert_bounded(&mut self.hidden_creators, c, limits.refused);
        }
        self.interactions = self.interactions.saturating_add(other.interactions);
        self.at = now;
    }

    /// Every video the viewer liked that the profile still remembers (the latest positives
    /// and the seen ones marked positive): the history the collaborative model scores from.
    pub fn positives(&self) -> Vec<VideoId> {
        let mut out: Vec<VideoId> = self.recent.iter().cloned().collect();
        out.extend(
            self.seen
                .iter()
                .filter(|(v, s)| s.positive && !self.recent.contains(v))
                .map(|(v, _)| v.clone()),
        );
        out
    }

    /// Interest in a term at `now`.
    pub fn interest(&self, term: &str, now: i64) -> f32 {
        self.interests
            .get(term)
            .map_or(0.0, |d| d.at_time(now, INTEREST_HALF_LIFE_MS))
    }

    /// Affinity for a creator at `now`.
    pub fn affinity(&self, creator: &str, now: i64) -> f32 {
        self.creators
            .get(creator)
            .map_or(0.0, |d| d.at_time(now, INTEREST_HALF_LIFE_MS))
    }

    /// How well a video's terms match the viewer's interests, in (-1, 1).
    pub fn interest_match(&self, facts: &ItemFacts, now: i64) -> f32 {
        let terms = terms(facts);
        if terms.is_empty() {
            return 0.0;
        }
        let sum: f32 = terms.iter().map(|t| self.interest(t, now)).sum();
        (sum / (terms.len() as f32).sqrt() / 3.0).tanh()
    }

    /// The viewer's strongest positive terms at `now`, strongest first.
    pub fn top_terms(&self, n: usize, now: i64) -> Vec<(String, f32)> {
        let mut terms: Vec<(String, f32)> = self
            .interests
            .iter()
            .map(|(t, d)| (t.clone(), d.at_time(now, INTEREST_HALF_LIFE_MS)))
            .filter(|(_, v)| *v > 0.05)
            .collect();
        terms.sort_by(|a, b| b.1.total_cmp(&a.1));
        terms.truncate(n);
        terms
    }

    /// True when this video must not be recommended to the viewer again: finished, refused,
    /// or by a hidden creator.
    pub fn excludes(&self, video: &VideoId, facts: &ItemFacts) -> bool {
        self.not_interested.contains(video)
            || self.hidden_creators.contains(&facts.creator)
            || self.seen.get(video).is_some_and(|s| s.completed)
    }
}

fn insert_bounded<T: std::hash::Hash + Eq + Clone>(set: &mut HashSet<T>, value: T, cap: usize) {
    if set.len() >= cap
        && let Some(any) = set.iter().next().cloned()
    {
        set.remove(&any);
    }
    set.insert(value);
}
