//! The jobs runner on both engines: outcomes, retries, dead letters, co-location across two
//! runners, takeover after a runner dies, graceful stop, and placement over real heartbeats.
//!
//! Timings are short (lease 500 ms, heartbeat 150 ms, poll 20 ms); assertions wait for outcomes
//! with generous deadlines and only check lower bounds on time, so a slow machine makes the
//! tests slower, never red.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spool_jobs::{
    CancellationToken, Handler, JobError, JobRow, JobState, Runner, RunnerConfig, owner,
};
use spool_metadata::Store;
use spool_metadata::testing::on_each_engine;
use spool_model::{VideoId, now_millis};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const DEADLINE: Duration = Duration::from_secs(15);

fn fast_config() -> RunnerConfig {
    RunnerConfig {
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_millis(500),
        heartbeat_interval: Duration::from_millis(150),
        max_attempts: 3,
        backoff_base: Duration::from_millis(60),
        backoff_cap: Duration::from_millis(200),
        batch: 256,
        shutdown_grace: Duration::from_secs(5),
    }
}

/// What a test handler does with a job.
#[derive(Clone, Debug)]
enum Act {
    Succeed,
    /// Fail retryably on runs 1..=n, then succeed.
    FailTimes(i64),
    Retryable(&'static str),
    Permanent(&'static str),
    /// Never return (until dropped).
    Hang,
    /// Take this long, then succeed.
    Sleep(Duration),
}

#[derive(Clone, Debug)]
struct Run {
    worker: String,
    kind: String,
    video: VideoId,
    attempt: i64,
    at: Instant,
}

type Log = Arc<Mutex<Vec<Run>>>;

/// Records every run in a shared log, then acts as `decide` says for the job's kind.
struct Recorder {
    worker: String,
    log: Log,
    decide: fn(&str) -> Act,
}

impl Handler for Recorder {
    async fn run(&self, job: &JobRow) -> Result<(), JobError> {
        self.log.lock().unwrap().push(Run {
            worker: self.worker.clone(),
            kind: job.kind.clone(),
            video: job.video_id.clone(),
            attempt: job.attempts,
            at: Instant::now(),
        });
        match (self.decide)(&job.kind) {
            Act::Succeed => Ok(()),
            Act::FailTimes(n) if job.attempts <= n => {
                Err(JobError::retryable(format!("flaky {}", job.attempts)))
            }
            Act::FailTimes(_) => Ok(()),
            Act::Retryable(why) => Err(JobError::retryable(why)),
            Act::Permanent(why) => Err(JobError::permanent(why)),
            Act::Hang => std::future::pending().await,
            Act::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
        }
    }
}

/// A runner spawned by the test (the test owns the task; the runner itself spawns nothing).
struct Running {
    id: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("runner stops")
            .expect("runner task");
    }
}

fn start(
    store: &Store,
    id: &str,
    log: &Log,
    decide: fn(&str) -> Act,
    config: RunnerConfig,
) -> Running {
    let handler = Recorder {
        worker: id.to_owned(),
        log: log.clone(),
        decide,
    };
    let runner = Runner::new(store.clone(), handler, config)
        .unwrap()
        .with_worker_id(id)
        .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { runner.run(stop).await }
    });
    Running {
        id: id.to_owned(),
        stop,
        task,
    }
}

/// Polls until `check` gives `Some`, or panics at the deadline.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the job is done or dead.
async fn settled(store: &Store, kind: &str, video: &VideoId) -> JobRow {
    wait_for(&format!("{kind} job of {video} to settle"), || async {
        let job = store.job_for(kind, video).await.unwrap()?;
        matches!(job.state, JobState::Done | JobState::Dead).then_some(job)
    })
    .await
}

async fn wait_live(store: &Store, ids: &[&str]) {
    wait_for("workers to be live", || async {
        let live = store.live_workers(now_millis() - 450).await.unwrap();
        ids.iter()
            .all(|id| live.iter().any(|l| l == id))
            .then_some(())
    })
    .await;
}

fn runs_of(log: &Log, kind: &str, video: &VideoId) -> Vec<Run> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| r.kind == kind && &r.video == video)
        .cloned()
        .collect()
}

/// A video id that `want` owns among `workers`.
fn video_owned_by(want: &str, workers: &[&str]) -> VideoId {
    loop {
        let video = VideoId::random();
        if owner(video.as_str(), workers) == Some(want) {
            return video;
        }
    }
}

fn decide_by_kind(kind: &str) -> Act {
    match kind {
        "flaky" => Act::FailTimes(2),
        "doomed" => Act::Retryable("disk on fire"),
        "corrupt" => Act::Permanent("not a video: moov atom missing"),
        "hang" => Act::Hang,
        "slow" => Act::Sleep(Duration::from_millis(300)),
        _ => Act::Succeed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_done_retry_dead() {
    on_each_engine(|engine, store, _url| async move {
        let log = Log::default();
        let runner = start(&store, "solo", &log, decide_by_kind, fast_config());
        let video = VideoId::random();
        for kind in ["probe", "flaky", "doomed", "corrupt"] {
            assert!(store.enqueue(kind, &video).await.unwrap());
        }

        // Runs once, ends done.
        let probe = settled(&store, "probe", &video).await;
        assert_eq!(
            (probe.state, probe.attempts),
            (JobState::Done, 1),
            "{engine:?}"
        );
        assert_eq!(probe.worker_id.as_deref(), Some("solo"));

        // Retryable failures are retried with backoff, then it succeeds.
        let flaky = settled(&store, "flaky", &video).await;
        assert_eq!((flaky.state, flaky.attempts), (JobState::Done, 3));
        assert_eq!(flaky.last_error.as_deref(), Some("flaky 2"));
        let runs = runs_of(&log, "flaky", &video);
        assert_eq!(
            runs.iter().map(|r| r.attempt).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // Backoff is at least half its ceiling: 60 ms after run 1, 120 ms after run 2
        // (a millisecond of slack for clock rounding).
        assert!(
            runs[1].at - runs[0].at >= Duration::from_millis(29),
            "{runs:?}"
        );
        assert!(
            runs[2].at - runs[1].at >= Duration::from_millis(59),
            "{runs:?}"
        );

        // Exhausting the attempts ends dead with the reason.
        let doomed = settled(&store, "doomed", &video).await;
        assert_eq!((doomed.state, doomed.attempts), (JobState::Dead, 3));
        assert_eq!(
            doomed.last_error.as_deref(),
            Some("gave up after 3 attempts: disk on fire")
        );
        assert_eq!(runs_of(&log, "doomed", &video).len(), 3);

        // A permanent error ends dead at once.
        let corrupt = settled(&store, "corrupt", &video).await;
        assert_eq!((corrupt.state, corrupt.attempts), (JobState::Dead, 1));
        assert_eq!(
            corrupt.last_error.as_deref(),
            Some("not a video: moov atom missing")
        );

        // Nothing runs twice after it settled; a clean stop removes the worker row.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(runs_of(&log, "probe", &video).len(), 1);
        assert_eq!(runs_of(&log, "corrupt", &video).len(), 1);
        runner.stop().await;
        assert!(store.live_workers(0).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_colocate_every_stage_of_a_video() {
    on_each_engine(|engine, store, url| async move {
        // Two workers as two processes would be: each with its own pool.
        let other = Store::connect(&url, 4).await.unwrap();
        let log = Log::default();
        // A roomy heartbeat window: a loaded machine must not make a live runner look dead
        // for a moment (that would move its videos, which is right, but not what this tests).
        let config = RunnerConfig {
            heartbeat_interval: Duration::from_secs(1),
            lease: Duration::from_secs(3),
            ..fast_config()
        };
        let a = start(&store, "runner-a", &log, decide_by_kind, config.clone());
        let b = start(&other, "runner-b", &log, decide_by_kind, config);
        wait_live(&store, &[&a.id, &b.id]).await;

        let kinds = ["probe", "transcode", "storyboard", "covers", "hashes"];
        let videos: Vec<VideoId> = (0..12).map(|_| VideoId::random()).collect();
        for kind in kinds {
            for video in &videos {
                store.enqueue(kind, video).await.unwrap();
            }
        }
        for kind in kinds {
            for video in &videos {
                let job = settled(&store, kind, video).await;
                assert_eq!(job.state, JobState::Done, "{engine:?}");
            }
        }

        let log = log.lock().unwrap().clone();
        assert_eq!(
            log.len(),
            kinds.len() * videos.len(),
            "a job ran twice: {log:?}"
        );
        let mut where_ran: HashMap<&VideoId, &str> = HashMap::new();
        for run in &log {
            let first = *where_ran.entry(&run.video).or_insert(run.worker.as_str());
            assert_eq!(
                first, run.worker,
                "stages of {} ran on two workers",
                run.video
            );
        }
        let expected_owner = |v: &VideoId| owner(v.as_str(), &["runner-a", "runner-b"]).unwrap();
        for video in &videos {
            assert_eq!(where_ran[video], expected_owner(video));
        }
        let on_a = where_ran.values().filter(|w| **w == "runner-a").count();
        assert!(
            on_a > 0 && on_a < videos.len(),
            "jobs did not spread: {on_a} of {} videos on runner-a",
            videos.len()
        );
        a.stop().await;
        b.stop().await;
        other.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_runners_jobs_pass_to_the_next_owner() {
    on_each_engine(|engine, store, url| async move {
        let other = Store::connect(&url, 4).await.unwrap();
        let log = Log::default();
        // Runner a hangs on `hang` jobs; b completes everything.
        let a = start(&store, "runner-a", &log, |_| Act::Hang, fast_config());
        let b = start(&other, "runner-b", &log, decide_by_kind, fast_config());
        wait_live(&store, &[&a.id, &b.id]).await;

        let video = video_owned_by("runner-a", &["runner-a", "runner-b"]);
        store.enqueue("transcode", &video).await.unwrap();
        wait_for("runner-a to start the job", || async {
            (!runs_of(&log, "transcode", &video).is_empty()).then_some(())
        })
        .await;
        // Kill runner a: no cleanup, its worker row and its lease stay behind.
        a.task.abort();
        assert!(a.task.await.unwrap_err().is_cancelled());
        let killed_at = Instant::now();
        let held = store.job_for("transcode", &video).await.unwrap().unwrap();
        assert_eq!(held.state, JobState::Running, "{engine:?}");
        assert_eq!(held.worker_id.as_deref(), Some("runner-a"));
        // A later stage of the same video follows the video to its next owner.
        store.enqueue("covers", &video).await.unwrap();

        let taken_over = settled(&store, "transcode", &video).await;
        assert_eq!(taken_over.state, JobState::Done);
        assert_eq!(taken_over.worker_id.as_deref(), Some("runner-b"));
        assert_eq!(taken_over.attempts, 2);
        // Not before the dead worker's lease passed (renewed every 500/3 ms, so at least
        // 333 ms of it were left at the kill).
        assert!(killed_at.elapsed() >= Duration::from_millis(250));
        let covers = settled(&store, "covers", &video).await;
        assert_eq!(covers.worker_id.as_deref(), Some("runner-b"));
        let runs = runs_of(&log, "transcode", &video);
        let workers: Vec<&str> = runs.iter().map(|r| r.worker.as_str()).collect();
        assert_eq!(workers, ["runner-a", "runner-b"]);
        assert!(
            runs_of(&log, "covers", &video)
                .iter()
                .all(|r| r.worker == "runner-b")
        );
        // The dead worker is no longer live; its row is still there (nobody cleaned up).
        assert_eq!(
            store.live_workers(now_millis() - 450).await.unwrap(),
            ["runner-b"]
        );
        b.stop().await;
        other.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_lets_the_job_finish_or_gives_its_lease_back() {
    on_each_engine(|engine, store, _url| async move {
        let log = Log::default();
        // Within the grace period: the running job finishes and is recorded done.
        let runner = start(&store, "graceful", &log, decide_by_kind, fast_config());
        let video = VideoId::random();
        store.enqueue("slow", &video).await.unwrap();
        wait_for("the slow job to start", || async {
            (!runs_of(&log, "slow", &video).is_empty()).then_some(())
        })
        .await;
        runner.stop().await;
        let slow = store.job_for("slow", &video).await.unwrap().unwrap();
        assert_eq!(slow.state, JobState::Done, "{engine:?}");
        assert!(store.live_workers(0).await.unwrap().is_empty());

        // Past the grace period: the job goes back to the queue, runnable at once.
        let config = RunnerConfig {
            shutdown_grace: Duration::from_millis(100),
            ..fast_config()
        };
        let runner = start(&store, "impatient", &log, decide_by_kind, config);
        store.enqueue("hang", &video).await.unwrap();
        wait_for("the hanging job to start", || async {
            (!runs_of(&log, "hang", &video).is_empty()).then_some(())
        })
        .await;
        runner.stop().await;
        let hang = store.job_for("hang", &video).await.unwrap().unwrap();
        assert_eq!(hang.state, JobState::Queued);
        assert_eq!(hang.worker_id, None);
        assert!(hang.run_after <= now_millis());
        assert_eq!(
            hang.last_error.as_deref(),
            Some("worker shut down during the run")
        );
        assert!(store.live_workers(0).await.unwrap().is_empty());
    })
    .await;
}

/// Placement over the live set read from real heartbeats: joining a worker moves only the ids
/// it takes (about 1/(N+1)); leaving moves only the leaver's ids.
#[tokio::test]
async fn movement_fraction_over_live_workers() {
    on_each_engine(|engine, store, _url| async move {
        let now = now_millis();
        for i in 0..3 {
            store
                .heartbeat_worker(&format!("node-{i}"), now)
                .await
                .unwrap();
        }
        let videos: Vec<VideoId> = (0..10_000).map(|_| VideoId::random()).collect();
        let assign = |live: &[String]| -> Vec<String> {
            videos
                .iter()
                .map(|v| owner(v.as_str(), live).unwrap().to_owned())
                .collect()
        };
        let three = store.live_workers(now - 1_000).await.unwrap();
        assert_eq!(three.len(), 3, "{engine:?}");
        let before = assign(&three);

        store.heartbeat_worker("node-3", now).await.unwrap();
        let four = store.live_workers(now - 1_000).await.unwrap();
        let after = assign(&four);
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            if b != a {
                assert_eq!(a, "node-3", "an id moved between staying workers");
                moved += 1;
            }
        }
        let fraction = moved as f64 / videos.len() as f64;
        assert!(
            (fraction - 0.25).abs() <= 0.20 * 0.25,
            "join moved {fraction}"
        );

        store.remove_worker("node-1").await.unwrap();
        let left = assign(&store.live_workers(now - 1_000).await.unwrap());
        let mut moved = 0;
        for (a, l) in after.iter().zip(&left) {
            if a == "node-1" {
                moved += 1;
            } else {
                assert_eq!(a, l, "an id of a staying worker moved on leave");
            }
        }
        let fraction = moved as f64 / videos.len() as f64;
        assert!(
            (fraction - 0.25).abs() <= 0.20 * 0.25,
            "leave moved {fraction}"
        );
    })
    .await;
}

/// Jobs of other live workers, however many, never hide this worker's own: the runner pages
/// through the runnable backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_other_workers_jobs_does_not_starve_this_one() {
    on_each_engine(|engine, store, _url| async move {
        // A live worker that never runs anything (its heartbeat is far in the future).
        store
            .heartbeat_worker("busy", now_millis() + 3_600_000)
            .await
            .unwrap();
        let workers = ["busy", "mine"];
        for _ in 0..10 {
            let video = video_owned_by("busy", &workers);
            store.enqueue("transcode", &video).await.unwrap();
        }
        let video = video_owned_by("mine", &workers);
        store.enqueue("transcode", &video).await.unwrap();

        let log = Log::default();
        let config = RunnerConfig {
            batch: 3,
            ..fast_config()
        };
        let runner = start(&store, "mine", &log, decide_by_kind, config);
        let job = settled(&store, "transcode", &video).await;
        assert_eq!(job.worker_id.as_deref(), Some("mine"), "{engine:?}");
        runner.stop().await;
        let runs = log.lock().unwrap().clone();
        assert_eq!(runs.len(), 1, "ran another worker's job: {runs:?}");
        assert_eq!(
            store.runnable_jobs(now_millis(), 100).await.unwrap().len(),
            10
        );
    })
    .await;
}
