//! Rate limits for senders and rooms: token buckets kept in memory per node (the scale-out
//! issue moves them to Redis so nodes share them).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 100_000;

/// A token bucket per key: `burst` tokens, refilled at `burst` per `window_ms`.
pub struct RateLimiter<K> {
    burst: f64,
    per_ms: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `burst` messages per `window_ms`, sustained, and `burst` at once.
    pub fn new(burst: u32, window_ms: u64) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            burst,
            per_ms: burst / window_ms.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key` at `now_ms`: `Ok` when there was one, else how many
    /// milliseconds until there is.
    pub fn take(&self, key: &K, now_ms: i64) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            // Full buckets carry no information: dropping them loses nothing.
            let (burst, per_ms) = (self.burst, self.per_ms);
            buckets.retain(|_, b| b.tokens + (now_ms - b.at_ms) as f64 * per_ms < burst);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at_ms: now_ms,
        });
        let elapsed = (now_ms - bucket.at_ms).max(0) as f64;
        bucket.tokens = (bucket.tokens + elapsed * self.per_ms).min(self.burst);
        bucket.at_ms = now_ms;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / self.per_ms).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_per_two_seconds_then_wait() {
        let limiter = RateLimiter::new(3, 2000);
        let key = 7u64;
        for _ in 0..3 {
            assert_eq!(limiter.take(&key, 0), Ok(()));
        }
        let wait = limiter.take(&key, 0).unwrap_err();
        assert_eq!(wait, 667, "one token per 667 ms");
        assert!(limiter.take(&key, 600).is_err());
        assert_eq!(limiter.take(&key, 700), Ok(()));
        assert_eq!(
            limiter.take(&8, 700),
            Ok(()),
            "another key has its own bucket"
        );
        // A long pause refills to the burst, not beyond.
        for _ in 0..3 {
            assert_eq!(limiter.take(&key, 60_000), Ok(()));
        }
        assert!(limiter.take(&key, 60_000).is_err());
    }
}
