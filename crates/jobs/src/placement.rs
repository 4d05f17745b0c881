//! Rendezvous (highest-random-weight) placement of videos on workers.
//!
//! Every worker scores every video with `blake3(worker_id || 0x00 || video_id)` (the first
//! 8 bytes, little-endian, as a `u64`); the highest score owns the video. All workers compute
//! the same owner from the same live set with no coordination, so every stage of one video runs
//! on one worker. When a worker joins, it takes only the videos it now scores highest on (about
//! 1/(N+1) of them); when one leaves, only its own videos move, each to its runner-up. Pure: no
//! I/O, no clock.

/// The score of `worker` for `video_id`: higher wins.
pub fn score(worker: &str, video_id: &str) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(worker.as_bytes());
    hasher.update(&[0]);
    hasher.update(video_id.as_bytes());
    let hash = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// The worker that owns `video_id` among `workers`, or `None` when there are none. Ties (equal
/// scores, practically never) go to the smaller worker id, so the answer never depends on the
/// order of `workers`.
pub fn owner<'w, W: AsRef<str>>(video_id: &str, workers: &'w [W]) -> Option<&'w str> {
    workers.iter().map(AsRef::as_ref).max_by(|a, b| {
        score(a, video_id)
            .cmp(&score(b, video_id))
            .then_with(|| b.cmp(a))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use spool_model::VideoId;

    use super::owner;

    const IDS: usize = 10_000;

    fn workers(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("host{i}-{}-abcd", 1000 + i))
            .collect()
    }

    fn videos() -> Vec<String> {
        (0..IDS)
            .map(|_| VideoId::random().as_str().to_owned())
            .collect()
    }

    fn assign<'w>(videos: &[String], workers: &'w [String]) -> Vec<&'w str> {
        videos.iter().map(|v| owner(v, workers).unwrap()).collect()
    }

    #[test]
    fn no_workers_no_owner() {
        assert_eq!(owner::<String>("abcdefghijk", &[]), None);
        assert_eq!(owner("abcdefghijk", &["solo"]), Some("solo"));
    }

    #[test]
    fn deterministic_and_order_independent() {
        let ws = workers(5);
        let mut reversed = ws.clone();
        reversed.reverse();
        for video in videos().iter().take(500) {
            let a = owner(video, &ws);
            assert_eq!(a, owner(video, &ws));
            assert_eq!(a, owner(video, &reversed));
        }
    }

    /// Each of `n` workers owns about 1/n of the ids (within ±15 %).
    fn check_balance(n: usize) {
        let ws = workers(n);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for w in assign(&videos(), &ws) {
            *counts.entry(w).or_default() += 1;
        }
        let expect = IDS as f64 / n as f64;
        for w in &ws {
            let got = counts.get(w.as_str()).copied().unwrap_or(0) as f64;
            assert!(
                (got - expect).abs() <= 0.15 * expect,
                "n={n}: {w} owns {got}, expected about {expect}"
            );
        }
    }

    #[test]
    fn balanced() {
        for n in [1, 2, 3, 5, 8] {
            check_balance(n);
        }
    }

    /// Going from `n` to `n + 1` workers moves only ids to the new worker, about 1/(n+1) of them
    /// (±20 % relative); removing it again moves exactly those ids back.
    fn check_join_and_leave(n: usize) {
        let videos = videos();
        let before = workers(n);
        let after = workers(n + 1);
        let joined = after[n].as_str();
        let old = assign(&videos, &before);
        let new = assign(&videos, &after);
        let mut moved = 0;
        for (o, w) in old.iter().zip(&new) {
            if o != w {
                assert_eq!(*w, joined, "n={n}: an id moved between old workers");
                moved += 1;
            }
        }
        let fraction = moved as f64 / IDS as f64;
        let expect = 1.0 / (n + 1) as f64;
        assert!(
            (fraction - expect).abs() <= 0.20 * expect,
            "n={n}: {fraction} of ids moved on join, expected about {expect}"
        );
        // Leave: only the leaver's ids move.
        let back = assign(&videos, &before);
        for ((o, w), b) in old.iter().zip(&new).zip(&back) {
            if *w != joined {
                assert_eq!(w, b, "n={n}: an id of a staying worker moved on leave");
            }
            assert_eq!(o, b);
        }
    }

    #[test]
    fn join_and_leave_move_only_the_fair_share() {
        for n in [1, 2, 3, 4, 7] {
            check_join_and_leave(n);
        }
    }

    #[test]
    fn leaving_worker_hands_its_ids_to_the_survivors() {
        let videos = videos();
        let all = workers(4);
        let leaver = all[1].clone();
        let survivors: Vec<String> = all.iter().filter(|w| **w != leaver).cloned().collect();
        let mut moved = 0;
        for (before, after) in assign(&videos, &all)
            .iter()
            .zip(assign(&videos, &survivors))
        {
            if *before == leaver {
                moved += 1;
            } else {
                assert_eq!(*before, after, "a survivor's id moved");
            }
        }
        let fraction = moved as f64 / IDS as f64;
        assert!((fraction - 0.25).abs() <= 0.20 * 0.25, "{fraction}");
    }
}
