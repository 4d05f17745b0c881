//! Item-to-item co-watch: two videos the same viewer liked (watched well, liked, shared)
//! close together in their history are related. Maintained incrementally as events fold in,
//! time-decayed, and bounded per video.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::decay::{Decayed, bump, trim};

/// Co-watch halves in two weeks of event time.
pub const COWATCH_HALF_LIFE_MS: i64 = 14 * 24 * 3_600_000;
/// Neighbours kept per video.
pub const NEIGHBOURS: usize = 64;
/// How far back in a viewer's positives a new one pairs.
pub const WINDOW: usize = 10;

/// Decayed co-occurrence between videos.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq",
    deserialize = "K: Deserialize<'de> + Hash + Eq"
))]
pub struct CoWatch<K> {
    neighbours: HashMap<K, HashMap<K, Decayed>>,
}

impl<K> Default for CoWatch<K> {
    fn default() -> Self {
        Self {
            neighbours: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> CoWatch<K> {
    /// A viewer's new positive `video` at `now`, after `history` (their earlier positives,
    /// oldest first): pairs it with the last [`WINDOW`] of them, nearer ones weighing more.
    pub fn add(&mut self, history: &[K], video: &K, weight: f32, now: i64) {
        let earlier = history.iter().rev().filter(|v| *v != video).take(WINDOW);
        for (distance, other) in earlier.enumerate() {
            let w = weight / (1.0 + distance as f32 * 0.5);
            for (a, b) in [(video, other), (other, video)] {
                let map = self.neighbours.entry(a.clone()).or_default();
                bump(map, b, w, now, COWATCH_HALF_LIFE_MS, NEIGHBOURS);
            }
        }
    }

    /// `video`'s neighbours at `now`, strongest first.
    pub fn neighbours(&self, video: &K, now: i64) -> Vec<(K, f32)> {
        let Some(map) = self.neighbours.get(video) else {
            return Vec::new();
        };
        let mut out: Vec<(K, f32)> = map
            .iter()
            .map(|(k, d)| (k.clone(), d.at_time(now, COWATCH_HALF_LIFE_MS)))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    /// Forgets a video (deleted, or no longer shown).
    pub fn forget(&mut self, video: &K) {
        if let Some(map) = self.neighbours.remove(video) {
            for other in map.keys() {
                if let Some(back) = self.neighbours.get_mut(other) {
                    back.remove(video);
                }
            }
        }
    }

    /// Trims every neighbour list to [`NEIGHBOURS`] (after a restore, say).
    pub fn trim_all(&mut self, now: i64) {
        for map in self.neighbours.values_mut() {
            trim(map, NEIGHBOURS, now, COWATCH_HALF_LIFE_MS);
        }
    }

    /// Videos with neighbours.
    pub fn len(&self) -> usize {
        self.neighbours.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.neighbours.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_recent_positives_both_ways_nearer_ones_stronger() {
        let mut cw = CoWatch::default();
        cw.add(&[1, 2, 3], &4, 1.0, 0);
        let n4 = cw.neighbours(&4, 0);
        assert_eq!(
            n4.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            vec![3, 2, 1]
        );
        assert_eq!(cw.neighbours(&1, 0)[0].0, 4);
        cw.add(&[5], &4, 1.0, 0);
        cw.add(&[5], &4, 1.0, 0);
        assert_eq!(cw.neighbours(&4, 0)[0].0, 5, "two co-watches beat one");
        cw.forget(&5);
        assert!(cw.neighbours(&4, 0).iter().all(|(k, _)| *k != 5));
    }
}
