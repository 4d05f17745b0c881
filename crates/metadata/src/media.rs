//! The media pipeline's writes to a video row: processing state, probe results, progress,
//! published media and covers. Every write is conditional on the row still being in a state the
//! pipeline may change, so a deleted video or a failed one is never resurrected by a late stage.

use spool_model::{VideoId, now_millis};

use crate::videos::{VIDEO_SELECT, video_from_row};
use crate::{Blob, Result, Store, VideoRow};

/// Longest failure reason kept (`videos.error VARCHAR(2000)`); longer texts are cut.
pub const MAX_VIDEO_ERROR_LEN: usize = 2000;

/// Statuses the pipeline may write to. A `held` video is processed like any other (its
/// reviewers watch it) but stays `held`: see [`KEEP_HELD`].
const PIPELINE_STATUSES: &str = "('uploaded', 'processing', 'ready', 'held')";

/// `status = <this>'new'`: the new status, unless the video is held.
const KEEP_HELD: &str = "CASE WHEN status = 'held' THEN 'held' ELSE ";

impl Store {
    /// The source blob of a video (its content hash's blob), once the upload completed.
    pub async fn video_source(&self, id: &VideoId) -> Result<Option<Blob>> {
        match self.video(id).await?.and_then(|v| v.blake3) {
            Some(hash) => self.blob(&hash).await,
            None => Ok(None),
        }
    }

    /// Ready videos made from the content `hash`, other than `except`, newest first (at most
    /// 16): media a new video of the same content may share instead of transcoding again.
    pub async fn media_donors(
        &self,
        hash: &spool_model::ContentHash,
        except: &VideoId,
    ) -> Result<Vec<VideoRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "{VIDEO_SELECT} WHERE v.blake3 = ? AND v.status = 'ready' AND v.id <> ? \
             ORDER BY v.created_at DESC LIMIT 16"
        )))
        .bind(hash.to_hex())
        .bind(except.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(video_from_row).collect()
    }

    /// Marks an uploaded video `processing` (idempotent; a video already published keeps
    /// `ready`). False when the video is gone or not in a pipeline state.
    pub async fn start_processing(&self, id: &VideoId) -> Result<bool> {
        let done = sqlx::query(&self.sql(&format!(
            "UPDATE videos SET status = CASE WHEN status IN ('ready', 'held') THEN status ELSE 'processing' END, \
             error = NULL, updated_at = ? WHERE id = ? AND status IN {PIPELINE_STATUSES}"
        )))
        .bind(now_millis())
        .bind(id.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records what the probe found: duration and display size (none for audio-only).
    pub async fn record_probe(
        &self,
        id: &VideoId,
        duration_ms: i64,
        size: Option<(u32, u32)>,
    ) -> Result<bool> {
        let done = sqlx::query(&self.sql(&format!(
            "UPDATE videos SET duration_ms = ?, width = ?, height = ?, updated_at = ? \
             WHERE id = ? AND status IN {PIPELINE_STATUSES}"
        )))
        .bind(duration_ms)
        .bind(size.map(|s| i64::from(s.0)))
        .bind(size.map(|s| i64::from(s.1)))
        .bind(now_millis())
        .bind(id.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Raises the progress (percent, 0-100); never lowers it.
    pub async fn set_progress(&self, id: &VideoId, percent: i64) -> Result<bool> {
        let done = sqlx::query(&self.sql(&format!(
            "UPDATE videos SET progress = ?, updated_at = ? \
             WHERE id = ? AND progress < ? AND status IN {PIPELINE_STATUSES}"
        )))
        .bind(percent.clamp(0, 100))
        .bind(now_millis())
        .bind(id.as_str())
        .bind(percent.clamp(0, 100))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Publishes media for playback in one statement: the video becomes `ready` with `media`
    /// (JSON) and the progress. False when the video is gone or failed meanwhile.
    pub async fn publish_media(
        &self,
        id: &VideoId,
        media_json: &str,
        percent: i64,
    ) -> Result<bool> {
        let done = sqlx::query(&self.sql(&format!(
            "UPDATE videos SET status = {KEEP_HELD}'ready' END, media = ?, \
             progress = CASE WHEN progress > ? THEN progress ELSE ? END, error = NULL, \
             updated_at = ? WHERE id = ? AND status IN {PIPELINE_STATUSES}"
        )))
        .bind(media_json)
        .bind(percent)
        .bind(percent)
        .bind(now_millis())
        .bind(id.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends processing as `failed` with a human-readable reason (cut to
    /// [`MAX_VIDEO_ERROR_LEN`] characters).
    pub async fn fail_video(&self, id: &VideoId, reason: &str) -> Result<bool> {
        let reason: String = reason.chars().take(MAX_VIDEO_ERROR_LEN).collect();
        let done = sqlx::query(&self.sql(&format!(
            "UPDATE videos SET status = {KEEP_HELD}'failed' END, error = ?, updated_at = ? \
             WHERE id = ? AND status IN {PIPELINE_STATUSES}"
        )))
        .bind(reason)
        .bind(now_millis())
        .bind(id.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Queues processing again for a failed video whose upload completed: back to `uploaded`
    /// with the error cleared and the video's jobs replaced by a fresh `process` job, in one
    /// transaction. False when the video is not `failed` or has no source to process.
    pub async fn retry_processing(&self, id: &VideoId) -> Result<bool> {
        crate::with_retry(|| self.try_retry_processing(id)).await
    }

    async fn try_retry_processing(&self, id: &VideoId) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        let reset = sqlx::query(&self.sql(
            "UPDATE videos SET status = 'uploaded', error = NULL, progress = 0, updated_at = ? \
             WHERE id = ? AND status = 'failed' AND blake3 IS NOT NULL",
        ))
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if reset.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(&self.sql("DELETE FROM jobs WHERE video_id = ?"))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        self.insert_job(&mut *tx, crate::PROCESS_JOB, id, now)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Points the video at a new cover set. An automatic cover (`custom = false`) never
    /// replaces one the owner uploaded. Says what changed, naming the set replaced (its files
    /// can go).
    pub async fn set_cover(
        &self,
        id: &VideoId,
        cover_gen: &str,
        custom: bool,
    ) -> Result<CoverChange> {
        let mut tx = self.begin_write().await?;
        let previous: Option<(Option<String>, i64)> =
            sqlx::query_as(&self.sql("SELECT cover_gen, cover_custom FROM videos WHERE id = ?"))
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((previous, was_custom)) = previous else {
            // Explicitly: a dropped transaction's ROLLBACK is only sent when the pooled MySQL
            // connection is next used, holding its locks until then.
            tx.rollback().await?;
            return Ok(CoverChange::Unchanged);
        };
        if !custom && was_custom != 0 {
            tx.rollback().await?;
            return Ok(CoverChange::Unchanged);
        }
        sqlx::query(
            &self.sql(
                "UPDATE videos SET cover_gen = ?, cover_custom = ?, updated_at = ? WHERE id = ?",
            ),
        )
        .bind(cover_gen)
        .bind(i64::from(custom))
        .bind(now_millis())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CoverChange::Replaced(previous))
    }
}

/// What [`Store::set_cover`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoverChange {
    /// The video is gone, or an automatic cover met a custom one: nothing changed.
    Unchanged,
    /// The new set is in place; this is the set it replaced, if any (its files can go).
    Replaced(Option<String>),
}
