//! Retry delays: exponential backoff (0.5 s doubling to a 30 s cap) with jitter, so that many
//! clients cut off by the same outage do not come back in lockstep.

use std::time::Duration;

use rand::Rng;

/// An exponential backoff schedule. Each [`Backoff::next_delay`] doubles the base delay up to the
/// cap; [`Backoff::reset`] starts over after progress.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

impl Backoff {
    /// A schedule starting at `initial` and doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The delay before retry number `attempt` (0-based), without jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The next delay, jittered, and advances the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.base_delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        jitter(d, &mut rand::rng())
    }

    /// Starts over from the initial delay (call after progress).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// "Equal jitter": a delay uniformly drawn from `[d/2, d]`.
pub fn jitter(d: Duration, rng: &mut impl Rng) -> Duration {
    let half = d / 2;
    let spread = (d - half).as_micros() as u64;
    half + Duration::from_micros(rng.random_range(0..=spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(initial_ms: u64, max_ms: u64, expect_ms: &[u64]) {
        let b = Backoff::new(
            Duration::from_millis(initial_ms),
            Duration::from_millis(max_ms),
        );
        let got: Vec<u64> = (0..expect_ms.len() as u32)
            .map(|a| b.base_delay(a).as_millis() as u64)
            .collect();
        assert_eq!(got, expect_ms);
    }

    #[test]
    fn schedule_doubles_to_cap() {
        check(
            500,
            30_000,
            &[500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
        );
        check(100, 250, &[100, 200, 250, 250]);
        let b = Backoff::default();
        assert_eq!(b.base_delay(1000), Duration::from_secs(30));
        assert_eq!(b.base_delay(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_half_and_full() {
        let mut b = Backoff::default();
        for attempt in 0..20 {
            let base = b.base_delay(attempt);
            let d = b.next_delay();
            assert!(
                d >= base / 2 && d <= base,
                "attempt {attempt}: {d:?} vs {base:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(500));
    }
}
