//! The runner: one worker's loop that heartbeats, claims the jobs placement gives it, runs them
//! under a renewed lease and records the outcome.
//!
//! Everything the runner does is owned by [`Runner::run`]: it spawns no task, so when `run`
//! returns nothing of it is left running. One runner runs one job at a time; a process that
//! wants more runs several runners (each is a worker of its own for placement).

use std::future::Future;
use std::time::Duration;

use spool_metadata::{JobRow, JobState, MAX_WORKER_ID_LEN, MetadataError, Store};
use spool_model::now_millis;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::placement;

/// How a handler's run of a job failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (a network blip, a busy disk): retried with backoff until the
    /// attempts run out, then dead with this reason.
    #[error("{0}")]
    Retryable(String),
    /// Will fail the same way every time (a corrupt source): dead at once with this reason.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    /// A retryable error from anything printable.
    pub fn retryable(reason: impl std::fmt::Display) -> Self {
        Self::Retryable(reason.to_string())
    }

    /// A permanent error from anything printable.
    pub fn permanent(reason: impl std::fmt::Display) -> Self {
        Self::Permanent(reason.to_string())
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Retryable(_) => "job_retryable",
            Self::Permanent(_) => "job_permanent",
        }
    }
}

/// Why a runner could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A configuration value is out of range.
    #[error("invalid jobs runner config: {0}")]
    InvalidConfig(String),
    /// The worker id is empty or longer than the schema holds.
    #[error("worker id must be 1 to {MAX_WORKER_ID_LEN} bytes, got {0} bytes")]
    InvalidWorkerId(usize),
}

impl RunnerError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidConfig(_) => "invalid_config",
            Self::InvalidWorkerId(_) => "invalid_worker_id",
        }
    }
}

/// Runs jobs of every kind the runner is given.
///
/// **Handlers must be idempotent.** A job can run again after it already did its work: the
/// worker may crash between the work and recording `done`, or lose its lease (a long stall) and
/// see another worker take the job over. A stage therefore writes its output under a name
/// derived from its input and publishes it with one atomic step (a rename, a conditional
/// UPDATE), so a second run overwrites or skips, never publishes twice.
pub trait Handler: Send + Sync {
    /// Does the work of `job` (dispatch on `job.kind`). The future may be dropped at an await
    /// point when the runner loses the job's lease or shuts down past its grace period.
    fn run(&self, job: &JobRow) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// Timings and limits of a runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Pause between looks for work when the last look found none.
    pub poll_interval: Duration,
    /// How long a claim holds before another worker may take the job over; renewed every
    /// third of it while the handler runs.
    pub lease: Duration,
    /// How often the worker row is refreshed. A worker not seen for three intervals is dead to
    /// placement: its videos pass to their next owner.
    pub heartbeat_interval: Duration,
    /// Runs before a retryably failing job goes dead (at least 1).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles with every attempt.
    pub backoff_base: Duration,
    /// Longest delay between retries.
    pub backoff_cap: Duration,
    /// How many runnable jobs one query fetches; a look pages through the whole backlog.
    pub batch: u32,
    /// On stop, how long the running job may still take before its lease is given back.
    pub shutdown_grace: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(5),
            max_attempts: 5,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(600),
            batch: 256,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl RunnerConfig {
    fn validate(&self) -> Result<(), RunnerError> {
        let bad = |what: &str| Err(RunnerError::InvalidConfig(what.to_owned()));
        if self.poll_interval.is_zero() {
            return bad("poll_interval must be above zero");
        }
        if self.lease < Duration::from_millis(30) {
            return bad("lease must be at least 30 ms");
        }
        if self.heartbeat_interval.is_zero() {
            return bad("heartbeat_interval must be above zero");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if self.backoff_base > self.backoff_cap {
            return bad("backoff_base must not exceed backoff_cap");
        }
        if self.batch == 0 {
            return bad("batch must be at least 1");
        }
        Ok(())
    }

    /// Workers seen within this window count as live.
    fn live_window(&self) -> Duration {
        self.heartbeat_interval * 3
    }
}

/// The longest delay before the retry that follows run number `attempts` (1-based):
/// `base * 2^(attempts-1)`, capped at `cap`.
pub fn backoff_ceiling(attempts: i64, base: Duration, cap: Duration) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 31)).unwrap_or(31);
    base.saturating_mul(1u32 << doublings).min(cap)
}

/// The delay before the retry that follows run number `attempts`: between half the
/// [`backoff_ceiling`] and all of it, at random, so failed jobs do not retry in lockstep.
pub fn backoff(attempts: i64, base: Duration, cap: Duration) -> Duration {
    let ceiling = backoff_ceiling(attempts, base, cap);
    let half = ceiling / 2;
    let spread = u64::try_from((ceiling - half).as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(rand::random_range(0..=spread))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A fresh worker id: `hostname-pid-random`, within what the schema holds.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(40)
        .collect();
    let host = if host.is_empty() {
        "worker".into()
    } else {
        host
    };
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// How one run of a job ended, as the runner saw it.
enum Outcome {
    /// The handler returned.
    Finished(Result<(), JobError>),
    /// Another worker holds the job now; the handler was dropped.
    LostLease,
    /// Stop was requested and the handler outlasted the grace period; it was dropped.
    ShutDown,
}

/// One worker: claims the jobs whose videos it owns and runs them with its handler.
#[derive(Debug)]
pub struct Runner<H> {
    store: Store,
    handler: H,
    config: RunnerConfig,
    worker_id: String,
}

impl<H: Handler> Runner<H> {
    /// A runner with a fresh worker id ([`default_worker_id`]).
    pub fn new(store: Store, handler: H, config: RunnerConfig) -> Result<Self, RunnerError> {
        config.validate()?;
        Ok(Self {
            store,
            handler,
            config,
            worker_id: default_worker_id(),
        })
    }

    /// The same runner under the given worker id. Ids must be unique among live workers.
    pub fn with_worker_id(mut self, id: impl Into<String>) -> Result<Self, RunnerError> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_WORKER_ID_LEN {
            return Err(RunnerError::InvalidWorkerId(id.len()));
        }
        self.worker_id = id;
        Ok(self)
    }

    /// This worker's id, as stored in `workers` and in the jobs it holds.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The loop: heartbeat, look for runnable jobs, claim one this worker owns, run it, repeat;
    /// until `stop` is cancelled. Then it claims nothing more, lets the running job finish
    /// within [`RunnerConfig::shutdown_grace`] (or gives its lease back for another worker to
    /// run it at once), removes the worker row and returns. Database errors are logged and the
    /// loop goes on after a poll interval: a database outage pauses work, it does not end it.
    pub async fn run(&self, stop: CancellationToken) {
        tracing::info!(worker = %self.worker_id, "jobs runner started");
        let mut last_heartbeat = None;
        while !stop.is_cancelled() {
            let worked = match self.look_for_work(&stop, &mut last_heartbeat).await {
                Ok(worked) => worked,
                Err(e) => {
                    tracing::warn!(worker = %self.worker_id, "jobs runner: {e}");
                    false
                }
            };
            if !worked {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = sleep(self.config.poll_interval) => {}
                    // A job queued in this process: look at once (others wait for the poll).
                    () = self.store.job_queued() => {}
                }
            }
        }
        if let Err(e) = self.store.remove_worker(&self.worker_id).await {
            tracing::warn!(worker = %self.worker_id, "could not remove worker row: {e}");
        }
        tracing::info!(worker = %self.worker_id, "jobs runner stopped");
    }

    /// Refreshes the worker row when a heartbeat is due (always when `force`).
    async fn heartbeat(
        &self,
        last: &mut Option<Instant>,
        force: bool,
    ) -> Result<(), MetadataError> {
        if force || last.is_none_or(|at| at.elapsed() >= self.config.heartbeat_interval) {
            self.store
                .heartbeat_worker(&self.worker_id, now_millis())
                .await?;
            *last = Some(Instant::now());
        }
        Ok(())
    }

    /// One look: true when a job was claimed and run (look again at once).
    async fn look_for_work(
        &self,
        stop: &CancellationToken,
        last_heartbeat: &mut Option<Instant>,
    ) -> Result<bool, MetadataError> {
        self.heartbeat(last_heartbeat, false).await?;
        let now = now_millis();
        let live = self
            .store
            .live_workers(now - millis(self.config.live_window()))
            .await?;
        let lease_ms = millis(self.config.lease);
        // Page through the whole runnable backlog: other workers' jobs (busy, or waiting for
        // their worker to be declared dead) must not hide this worker's own further down.
        let mut after_id = 0;
        loop {
            let page = self
                .store
                .runnable_jobs_after(now, after_id, self.config.batch)
                .await?;
            let last_page = page.len() < self.config.batch as usize;
            for job in page {
                if stop.is_cancelled() {
                    return Ok(false);
                }
                after_id = job.id;
                // Only the owner by the current live set claims, so all stages of a video run
                // on one worker; a dead worker's job waits until its heartbeat is stale and its
                // lease has passed, then goes to the next owner.
                if placement::owner(job.video_id.as_str(), &live) != Some(self.worker_id.as_str()) {
                    continue;
                }
                let now = now_millis();
                if !self
                    .store
                    .claim_job(job.id, &self.worker_id, now, lease_ms)
                    .await?
                {
                    continue; // someone else was quicker, or it is no longer runnable
                }
                let claimed = JobRow {
                    state: JobState::Running,
                    attempts: job.attempts + 1,
                    worker_id: Some(self.worker_id.clone()),
                    lease_until: Some(now + lease_ms),
                    updated_at: now,
                    ..job
                };
                self.execute(claimed, stop, last_heartbeat).await;
                return Ok(true);
            }
            if last_page {
                return Ok(false);
            }
        }
    }

    /// Runs one claimed job to its recorded outcome.
    async fn execute(
        &self,
        job: JobRow,
        stop: &CancellationToken,
        last_heartbeat: &mut Option<Instant>,
    ) {
        let max = i64::from(self.config.max_attempts);
        if job.attempts > max {
            // Claimed again after its worker vanished mid-run too often: a job that kills or
            // stalls its workers is given up on instead of taking the fleet down one by one.
            let reason = format!(
                "gave up after {max} attempts; last: {}",
                job.last_error
                    .as_deref()
                    .unwrap_or("the worker was lost during the run")
            );
            self.record(&job, &reason, None).await;
            return;
        }
        tracing::debug!(worker = %self.worker_id, job = job.id, kind = %job.kind,
            video = %job.video_id, attempt = job.attempts, "running job");
        let outcome = self.supervise(&job, stop, last_heartbeat).await;
        match outcome {
            Outcome::Finished(Ok(())) => {
                let finished = retry_db(|| self.store.finish_job(job.id, &self.worker_id)).await;
                if !matches!(finished, Ok(true)) {
                    tracing::warn!(worker = %self.worker_id, job = job.id,
                        "finished a job this worker no longer held: {finished:?}");
                }
            }
            Outcome::Finished(Err(JobError::Retryable(reason))) if job.attempts < max => {
                let delay = backoff(
                    job.attempts,
                    self.config.backoff_base,
                    self.config.backoff_cap,
                );
                tracing::info!(worker = %self.worker_id, job = job.id, attempt = job.attempts,
                    ?delay, "job failed, will retry: {reason}");
                self.record(&job, &reason, Some(now_millis() + millis(delay)))
                    .await;
            }
            Outcome::Finished(Err(JobError::Retryable(reason))) => {
                let reason = format!("gave up after {} attempts: {reason}", job.attempts);
                self.record(&job, &reason, None).await;
            }
            Outcome::Finished(Err(JobError::Permanent(reason))) => {
                self.record(&job, &reason, None).await;
            }
            Outcome::LostLease => {
                tracing::warn!(worker = %self.worker_id, job = job.id,
                    "lost the lease on a running job; dropped it");
            }
            Outcome::ShutDown => {
                self.record(&job, "worker shut down during the run", Some(now_millis()))
                    .await;
            }
        }
    }

    /// Records a failure: retry at `retry_at`, or dead when `None`.
    async fn record(&self, job: &JobRow, reason: &str, retry_at: Option<i64>) {
        if retry_at.is_none() {
            tracing::warn!(worker = %self.worker_id, job = job.id, kind = %job.kind,
                video = %job.video_id, "job is dead: {reason}");
        }
        let failed = retry_db(|| {
            self.store
                .fail_job(job.id, &self.worker_id, reason, retry_at)
        })
        .await;
        if !matches!(failed, Ok(true)) {
            tracing::warn!(worker = %self.worker_id, job = job.id,
                "could not record the failure of a job: {failed:?}");
        }
    }

    /// Drives the handler while renewing the lease and the heartbeat, and watching `stop`.
    async fn supervise(
        &self,
        job: &JobRow,
        stop: &CancellationToken,
        last_heartbeat: &mut Option<Instant>,
    ) -> Outcome {
        let work = self.handler.run(job);
        tokio::pin!(work);
        let lease_ms = millis(self.config.lease);
        let renew_every = self.config.lease / 3;
        let mut renew = interval_at(Instant::now() + renew_every, renew_every);
        renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let beat_every = self.config.heartbeat_interval;
        let mut beat = interval_at(Instant::now() + beat_every, beat_every);
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut give_up_at: Option<Instant> = None;
        loop {
            let grace = async move {
                match give_up_at {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = &mut work => return Outcome::Finished(result),
                _ = renew.tick() => {
                    let until = now_millis() + lease_ms;
                    match self.store.renew_lease(job.id, &self.worker_id, until).await {
                        Ok(true) => {}
                        Ok(false) => return Outcome::LostLease,
                        // Keep working: the next renewal may get through before the lease ends.
                        Err(e) => tracing::warn!(worker = %self.worker_id, job = job.id,
                            "could not renew lease: {e}"),
                    }
                }
                _ = beat.tick() => {
                    if let Err(e) = self.heartbeat(last_heartbeat, true).await {
                        tracing::warn!(worker = %self.worker_id, "heartbeat failed: {e}");
                    }
                }
                () = stop.cancelled(), if give_up_at.is_none() => {
                    give_up_at = Some(Instant::now() + self.config.shutdown_grace);
                }
                () = grace => return Outcome::ShutDown,
            }
        }
    }
}

/// Retries a single-statement write a few times on database errors, so a blip does not leave a
/// finished job to be run again after its lease.
async fn retry_db<F, Fut>(mut op: F) -> Result<bool, MetadataError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, MetadataError>>,
{
    let mut delay = Duration::from_millis(50);
    let mut tries = 0;
    loop {
        match op().await {
            Err(e) if tries < 4 => {
                tracing::debug!("retrying job update after: {e}");
                sleep(delay).await;
                delay *= 2;
                tries += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{RunnerConfig, backoff, backoff_ceiling};

    fn check(attempts: i64, base_ms: u64, cap_ms: u64, expect_ms: u64) {
        let base = Duration::from_millis(base_ms);
        let cap = Duration::from_millis(cap_ms);
        let ceiling = backoff_ceiling(attempts, base, cap);
        assert_eq!(
            ceiling,
            Duration::from_millis(expect_ms),
            "attempts {attempts}"
        );
        for _ in 0..50 {
            let d = backoff(attempts, base, cap);
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "{d:?} outside [{ceiling:?}/2, {ceiling:?}]"
            );
        }
    }

    #[test]
    fn backoff_doubles_then_caps() {
        check(1, 100, 10_000, 100);
        check(2, 100, 10_000, 200);
        check(3, 100, 10_000, 400);
        check(7, 100, 10_000, 6_400);
        check(8, 100, 10_000, 10_000);
        check(1_000, 100, 10_000, 10_000);
        check(i64::MAX, 100, 10_000, 10_000);
        check(0, 100, 10_000, 100);
        check(-5, 100, 10_000, 100);
        check(3, 0, 0, 0);
    }

    #[test]
    fn config_is_validated() {
        assert!(RunnerConfig::default().validate().is_ok());
        let bad = [
            RunnerConfig {
                max_attempts: 0,
                ..Default::default()
            },
            RunnerConfig {
                lease: Duration::ZERO,
                ..Default::default()
            },
            RunnerConfig {
                poll_interval: Duration::ZERO,
                ..Default::default()
            },
            RunnerConfig {
                batch: 0,
                ..Default::default()
            },
            RunnerConfig {
                backoff_base: Duration::from_secs(10),
                backoff_cap: Duration::from_secs(1),
                ..Default::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
