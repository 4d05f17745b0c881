//! Trending: view velocity, a count of first watches that halves every few hours of event
//! time, so a video rises while people start watching it and sinks when they stop.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::decay::Decayed;

/// Velocity halves in six hours.
pub const TRENDING_HALF_LIFE_MS: i64 = 6 * 3_600_000;

/// Decayed watch starts per video, and completions for the completion rate.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq",
    deserialize = "K: Deserialize<'de> + Hash + Eq"
))]
pub struct Trending<K> {
    velocity: HashMap<K, Decayed>,
    totals: HashMap<K, (u32, u32)>,
    /// Latest event time folded in, Unix ms.
    pub now: i64,
}

impl<K> Default for Trending<K> {
    fn default() -> Self {
        Self {
            velocity: HashMap::new(),
            totals: HashMap::new(),
            now: 0,
        }
    }
}

impl<K: Hash + Eq + Clone> Trending<K> {
    /// A viewer started watching `video` at `now`.
    pub fn watched(&mut self, video: &K, now: i64) {
        self.now = self.now.max(now);
        self.velocity
            .entry(video.clone())
            .or_default()
            .add(1.0, now, TRENDING_HALF_LIFE_MS);
        self.totals.entry(video.clone()).or_default().0 += 1;
    }

    /// A viewer finished `video`.
    pub fn completed(&mut self, video: &K) {
        let t = self.totals.entry(video.clone()).or_default();
        t.1 += 1;
        t.0 = t.0.max(t.1);
    }

    /// `video`'s velocity at `now`.
    pub fn velocity(&self, video: &K, now: i64) -> f32 {
        self.velocity
            .get(video)
            .map_or(0.0, |d| d.at_time(now, TRENDING_HALF_LIFE_MS))
    }

    /// Share of watches that finished, smoothed towards 0.3 for videos with few watches.
    pub fn completion_rate(&self, video: &K) -> f32 {
        let (started, finished) = self.totals.get(video).copied().unwrap_or_default();
        (finished as f32 + 0.3 * 5.0) / (started as f32 + 5.0)
    }

    /// The `n` fastest at `now`, fastest first.
    pub fn top(&self, n: usize, now: i64) -> Vec<(K, f32)> {
        let mut all: Vec<(K, f32)> = self
            .velocity
            .iter()
            .map(|(k, d)| (k.clone(), d.at_time(now, TRENDING_HALF_LIFE_MS)))
            .filter(|(_, v)| *v > 0.01)
            .collect();
        let n = n.min(all.len());
        if n == 0 {
            return Vec::new();
        }
        all.select_nth_unstable_by(n - 1, |a, b| b.1.total_cmp(&a.1));
        all.truncate(n);
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all
    }

    /// Drops videos whose velocity has faded to nothing (keeps the map bounded by what is
    /// being watched).
    pub fn prune(&mut self, now: i64) {
        self.velocity
            .retain(|_, d| d.at_time(now, TRENDING_HALF_LIFE_MS) > 0.001);
    }

    /// Forgets a video.
    pub fn forget(&mut self, video: &K) {
        self.velocity.remove(video);
        self.totals.remove(video);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn recent_watches_outrank_old_ones() {
        let mut t = Trending::default();
        for _ in 0..10 {
            t.watched(&"old", 0);
        }
        for _ in 0..4 {
            t.watched(&"new", 24 * HOUR);
        }
        let top = t.top(2, 24 * HOUR);
        assert_eq!(top[0].0, "new");
        let before = t.completion_rate(&"new");
        assert!(before < 0.3, "smoothed towards 0.3 from below: {before}");
        t.completed(&"new");
        assert!(t.completion_rate(&"new") > before);
        t.prune(1000 * HOUR);
        assert!(t.top(5, 1000 * HOUR).is_empty());
    }
}
