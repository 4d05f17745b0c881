//! Scores that fade with event time, and maps of them kept to a size.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

/// A score that halves every half-life of event time; stored with the time it was last
/// brought up to date, decayed lazily when read or added to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decayed {
    /// The score at `at`.
    #[serde(rename = "v")]
    pub value: f32,
    /// Unix ms of event time.
    #[serde(rename = "t")]
    pub at: i64,
}

impl Decayed {
    /// The score at `now` (never grows back for a `now` before `at`).
    pub fn at_time(self, now: i64, half_life_ms: i64) -> f32 {
        if now <= self.at || half_life_ms <= 0 {
            return self.value;
        }
        self.value * 0.5f32.powf((now - self.at) as f32 / half_life_ms as f32)
    }

    /// Adds `delta` at `now` (an event older than the last one is added at the last one's time).
    pub fn add(&mut self, delta: f32, now: i64, half_life_ms: i64) {
        let now = now.max(self.at);
        self.value = self.at_time(now, half_life_ms) + delta;
        self.at = now;
    }
}

/// Adds `delta` to `key`'s score and keeps `map` at about `cap` entries: past a quarter over,
/// the weakest (by magnitude at `now`) go.
pub fn bump<K: Hash + Eq + Clone>(
    map: &mut HashMap<K, Decayed>,
    key: &K,
    delta: f32,
    now: i64,
    half_life_ms: i64,
    cap: usize,
) {
    match map.get_mut(key) {
        Some(score) => score.add(delta, now, half_life_ms),
        None => {
            map.insert(
                key.clone(),
                Decayed {
                    value: delta,
                    at: now,
                },
            );
        }
    }
    if map.len() > cap + cap / 4 {
        trim(map, cap, now, half_life_ms);
    }
}

/// Keeps the `cap` strongest entries of `map`.
pub fn trim<K: Hash + Eq + Clone>(
    map: &mut HashMap<K, Decayed>,
    cap: usize,
    now: i64,
    half_life_ms: i64,
) {
    if map.len() <= cap {
        return;
    }
    let mut strengths: Vec<(f32, K)> = map
        .iter()
        .map(|(k, d)| (d.at_time(now, half_life_ms).abs(), k.clone()))
        .collect();
    strengths.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, key) in strengths.drain(cap..) {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn halves_every_half_life_and_adds_at_the_latest_time() {
        let mut d = Decayed { value: 8.0, at: 0 };
        assert!((d.at_time(HOUR, HOUR) - 4.0).abs() < 1e-5);
        assert!((d.at_time(3 * HOUR, HOUR) - 1.0).abs() < 1e-5);
        assert_eq!(d.at_time(-HOUR, HOUR), 8.0, "no growth backwards");
        d.add(1.0, 2 * HOUR, HOUR);
        assert!((d.value - 3.0).abs() < 1e-5);
        // A late event is added at the latest time, not rewinding it.
        d.add(1.0, HOUR, HOUR);
        assert_eq!(d.at, 2 * HOUR);
        assert!((d.value - 4.0).abs() < 1e-5);
    }

    #[test]
    fn bump_keeps_the_strongest_within_the_cap() {
        let mut map = HashMap::new();
        for i in 0..100u32 {
            bump(&mut map, &i, i as f32, 0, HOUR, 10);
        }
        assert!(map.len() <= 12, "{}", map.len());
        assert!(map.contains_key(&99) && !map.contains_key(&0));
        trim(&mut map, 10, 0, HOUR);
        assert_eq!(map.len(), 10);
        assert!((90..100).all(|i| map.contains_key(&i)));
    }
}
