//! Durable jobs and worker heartbeats: the SQL half of the jobs runner (`spool-jobs`).
//!
//! A job is `queued` until a worker claims it; the claim is one conditional UPDATE, so two
//! workers can never both hold a job. A claimed job is `running` under a lease (`worker_id`,
//! `lease_until`); the holder renews the lease while it works and ends the job `done`, back in
//! `queued` with a later `run_after` (retry), or `dead` with the reason in `last_error`. A job
//! whose lease has passed is runnable again: its worker is presumed dead. Every change after the
//! claim is conditional on the caller still holding the job, so a worker that lost its lease can
//! no longer touch it.

use std::fmt;
use std::str::FromStr;

use spool_model::{VideoId, now_millis};
use sqlx::Row;

use crate::videos::corrupt;
use crate::{Backend, MetadataError, Result, Store, is_unique_violation};

impl Store {
    /// Inserts a queued `kind` job for `video_id`, runnable at `now`; `false` when the video already
    /// has one of that kind (the unique `(kind, video_id)` key makes enqueueing idempotent). Takes
    /// any executor so the upload-completion transaction enqueues through the same statement.
    pub(crate) async fn insert_job<'e>(
        &self,
        executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
        kind: &str,
        video_id: &VideoId,
        now: i64,
    ) -> Result<bool> {
        // PostgreSQL aborts the whole transaction on a failed statement, so there the duplicate
        // is skipped by the statement itself; MySQL has no such clause short of `INSERT
        // IGNORE` (which would hide other errors) and keeps the transaction usable.
        let on_conflict = match self.backend() {
            Backend::Sqlite | Backend::Postgres => " ON CONFLICT (kind, video_id) DO NOTHING",
            Backend::MySql => "",
        };
        let sql = format!(
            "INSERT INTO jobs (kind, video_id, state, attempts, run_after, created_at, updated_at) \
             VALUES (?, ?, 'queued', 0, ?, ?, ?){on_conflict}"
        );
        let inserted = sqlx::query(&self.sql(&sql))
            .bind(kind)
            .bind(video_id.as_str())
            .bind(now)
            .bind(now)
            .bind(now)
            .execute(executor)
            .await;
        match inserted {
            Ok(done) => Ok(done.rows_affected() > 0),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Longest job kind the schema holds (`jobs.kind VARCHAR(32)`).
pub const MAX_JOB_KIND_LEN: usize = 32;
/// Longest worker id the schema holds (`workers.id VARCHAR(64)`).
pub const MAX_WORKER_ID_LEN: usize = 64;
/// Longest error text kept in `jobs.last_error` (characters); longer texts are cut.
pub const MAX_JOB_ERROR_LEN: usize = 2000;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for `run_after` and a worker.
    Queued,
    /// Claimed by a worker under a lease.
    Running,
    /// Finished successfully; never runs again.
    Done,
    /// Given up on (permanent error or attempts exhausted); the reason is in `last_error`.
    Dead,
}

impl JobState {
    /// The name stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = MetadataError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            "dead" => Self::Dead,
            other => return Err(corrupt(format!("unknown job state `{other}`"))),
        })
    }
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    /// Row id.
    pub id: i64,
    /// What to do (e.g. `process`, `transcode`); handlers dispatch on it.
    pub kind: String,
    /// The video the job works on; placement hashes it.
    pub video_id: VideoId,
    /// Where the job is in its life.
    pub state: JobState,
    /// How many times a worker has claimed it (including the current run).
    pub attempts: i64,
    /// Not runnable before this time, Unix ms.
    pub run_after: i64,
    /// The worker that holds (or last held) it.
    pub worker_id: Option<String>,
    /// While `running`: the holder's lease ends at this time, Unix ms.
    pub lease_until: Option<i64>,
    /// The last failure; for a `dead` job, why it was given up.
    pub last_error: Option<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

const JOB_COLUMNS: &str = "id, kind, video_id, state, attempts, run_after, worker_id, \
                           lease_until, last_error, created_at, updated_at";

fn job_from_row(row: &sqlx::any::AnyRow) -> Result<JobRow> {
    let video_id: String = row.try_get("video_id")?;
    let state: String = row.try_get("state")?;
    Ok(JobRow {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        video_id: video_id.parse().map_err(corrupt)?,
        state: state.parse()?,
        attempts: row.try_get("attempts")?,
        run_after: row.try_get("run_after")?,
        worker_id: row.try_get("worker_id")?,
        lease_until: row.try_get("lease_until")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn check_worker_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_WORKER_ID_LEN {
        return Err(MetadataError::InvalidInput(format!(
            "worker id must be 1 to {MAX_WORKER_ID_LEN} bytes"
        )));
    }
    Ok(())
}

/// Cuts an error text to what `last_error` holds, on a character boundary.
fn bounded_error(error: &str) -> &str {
    match error.char_indices().nth(MAX_JOB_ERROR_LEN) {
        Some((cut, _)) => &error[..cut],
        None => error,
    }
}

/// The runnable condition, shared by listing and claiming so they can never disagree:
/// queued and due, or running under a lease that has passed. Binds `now` twice.
const RUNNABLE: &str =
    "((state = 'queued' AND run_after <= ?) OR (state = 'running' AND lease_until < ?))";

impl Store {
    /// Records that worker `id` is alive at `now` (Unix ms), creating its row on first call.
    pub async fn heartbeat_worker(&self, id: &str, now: i64) -> Result<()> {
        check_worker_id(id)?;
        // Portable upsert: UPDATE, then INSERT when no row matched. A unique violation means the
        // row appeared meanwhile (only this worker writes it), so it is alive either way.
        let updated = sqlx::query(&self.sql("UPDATE workers SET last_seen = ? WHERE id = ?"))
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        if updated.rows_affected() > 0 {
            return Ok(());
        }
        let inserted = sqlx::query(
            &self.sql("INSERT INTO workers (id, started_at, last_seen) VALUES (?, ?, ?)"),
        )
        .bind(id)
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    /// Forgets worker `id` (a clean shutdown); its videos pass to their next owner at once.
    pub async fn remove_worker(&self, id: &str) -> Result<()> {
        sqlx::query(&self.sql("DELETE FROM workers WHERE id = ?"))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ids of the workers seen at or after `since` (Unix ms), sorted.
    pub async fn live_workers(&self, since: i64) -> Result<Vec<String>> {
        let rows =
            sqlx::query(&self.sql("SELECT id FROM workers WHERE last_seen >= ? ORDER BY id"))
                .bind(since)
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("id").map_err(Into::into))
            .collect()
    }

    /// Queues a `kind` job for `video_id`, runnable now. Idempotent: when the video already has
    /// a job of this kind (in any state) nothing changes and the result is `false`.
    pub async fn enqueue(&self, kind: &str, video_id: &VideoId) -> Result<bool> {
        if kind.is_empty() || kind.len() > MAX_JOB_KIND_LEN {
            return Err(MetadataError::InvalidInput(format!(
                "job kind must be 1 to {MAX_JOB_KIND_LEN} bytes"
            )));
        }
        let queued = self
            .insert_job(self.pool(), kind, video_id, now_millis())
            .await?;
        self.notify_job_queued();
        Ok(queued)
    }

    /// Up to `limit` jobs runnable at `now`: queued and due, or running under an expired lease
    /// (a dead worker's job). Oldest due first.
    pub async fn runnable_jobs(&self, now: i64, limit: u32) -> Result<Vec<JobRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE {RUNNABLE} ORDER BY run_after, id LIMIT ?"
        )))
        .bind(now)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Up to `limit` jobs runnable at `now` with an id above `after_id`, in id order: pages
    /// through a backlog (`after_id` = the last id of the previous page, 0 to start).
    pub async fn runnable_jobs_after(
        &self,
        now: i64,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<JobRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id > ? AND {RUNNABLE} ORDER BY id LIMIT ?"
        )))
        .bind(after_id)
        .bind(now)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Claims job `id` for `worker` until `now + lease_ms`, counting an attempt. Succeeds only
    /// if the job is still runnable at `now`; of two racing workers exactly one wins.
    pub async fn claim_job(&self, id: i64, worker: &str, now: i64, lease_ms: i64) -> Result<bool> {
        check_worker_id(worker)?;
        let claimed = sqlx::query(&self.sql(&format!(
            "UPDATE jobs SET state = 'running', worker_id = ?, lease_until = ?, \
             attempts = attempts + 1, updated_at = ? WHERE id = ? AND {RUNNABLE}"
        )))
        .bind(worker)
        .bind(now + lease_ms)
        .bind(now)
        .bind(id)
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Extends `worker`'s lease on job `id` to `until`. False when the worker no longer holds
    /// the job (it finished, or another worker took it over after the lease passed).
    pub async fn renew_lease(&self, id: i64, worker: &str, until: i64) -> Result<bool> {
        let renewed = sqlx::query(&self.sql(
            "UPDATE jobs SET lease_until = ?, updated_at = ? \
             WHERE id = ? AND state = 'running' AND worker_id = ?",
        ))
        .bind(until)
        .bind(now_millis())
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Marks job `id` done. False (and no change) when `worker` does not hold it.
    pub async fn finish_job(&self, id: i64, worker: &str) -> Result<bool> {
        let finished = sqlx::query(&self.sql(
            "UPDATE jobs SET state = 'done', lease_until = NULL, updated_at = ? \
             WHERE id = ? AND state = 'running' AND worker_id = ?",
        ))
        .bind(now_millis())
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(finished.rows_affected() == 1)
    }

    /// Records a failure of job `id`: with `retry_at` (Unix ms) it goes back to `queued`,
    /// runnable from then; without, it goes `dead` with `error` as the reason. False (and no
    /// change) when `worker` does not hold it. `error` is cut to [`MAX_JOB_ERROR_LEN`] characters.
    pub async fn fail_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool> {
        let now = now_millis();
        let error = bounded_error(error);
        let failed = match retry_at {
            Some(at) => {
                sqlx::query(&self.sql(
                    "UPDATE jobs SET state = 'queued', run_after = ?, last_error = ?, \
                     worker_id = NULL, lease_until = NULL, updated_at = ? \
                     WHERE id = ? AND state = 'running' AND worker_id = ?",
                ))
                .bind(at)
                .bind(error)
                .bind(now)
                .bind(id)
                .bind(worker)
                .execute(self.pool())
                .await?
            }
            None => {
                sqlx::query(&self.sql(
                    "UPDATE jobs SET state = 'dead', last_error = ?, lease_until = NULL, \
                     updated_at = ? WHERE id = ? AND state = 'running' AND worker_id = ?",
                ))
                .bind(error)
                .bind(now)
                .bind(id)
                .bind(worker)
                .execute(self.pool())
                .await?
            }
        };
        Ok(failed.rows_affected() == 1)
    }

    /// One job by id.
    pub async fn job(&self, id: i64) -> Result<Option<JobRow>> {
        let row = sqlx::query(&self.sql(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The job of `kind` for `video_id`, if any.
    pub async fn job_for(&self, kind: &str, video_id: &VideoId) -> Result<Option<JobRow>> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = ? AND video_id = ?"
        )))
        .bind(kind)
        .bind(video_id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_JOB_ERROR_LEN, bounded_error};

    fn check(input: &str, expect_chars: usize) {
        assert_eq!(bounded_error(input).chars().count(), expect_chars);
    }

    #[test]
    fn errors_are_cut_on_character_boundaries() {
        check("", 0);
        check("boom", 4);
        check(&"é".repeat(MAX_JOB_ERROR_LEN), MAX_JOB_ERROR_LEN);
        check(&"é".repeat(MAX_JOB_ERROR_LEN + 5), MAX_JOB_ERROR_LEN);
        check(&"x".repeat(MAX_JOB_ERROR_LEN * 3), MAX_JOB_ERROR_LEN);
    }
}
