//! Likes: one row per (user, video) and a count on the video row, changed together in one
//! transaction so the count always equals the rows. Liking twice is a no-op, not a double count.

use spool_model::{UserId, VideoId, now_millis};
use sqlx::Row;

use crate::{Result, Store, with_retry};

/// A video's likes after a change, and whether the caller likes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LikeState {
    /// Likes of the video.
    pub likes: i64,
    /// True when the caller likes it.
    pub liked: bool,
}

impl Store {
    /// Records that `user` likes (or no longer likes) `video`. None when the video does not
    /// exist.
    pub async fn set_like(
        &self,
        user: UserId,
        video: &VideoId,
        liked: bool,
    ) -> Result<Option<LikeState>> {
        with_retry(|| self.try_set_like(user, video, liked)).await
    }

    async fn try_set_like(
        &self,
        user: UserId,
        video: &VideoId,
        liked: bool,
    ) -> Result<Option<LikeState>> {
        let mut tx = self.begin_write().await?;
        // Takes the video's row lock first (MySQL), so two likes by one user serialize here
        // instead of racing to the primary key; SQLite's BEGIN IMMEDIATE already serializes.
        sqlx::query(&self.sql("UPDATE videos SET likes = likes WHERE id = ?"))
            .bind(video.as_str())
            .execute(&mut *tx)
            .await?;
        let exists = sqlx::query(&self.sql("SELECT id FROM videos WHERE id = ?"))
            .bind(video.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        let had =
            sqlx::query(&self.sql("SELECT user_id FROM likes WHERE user_id = ? AND video_id = ?"))
                .bind(user)
                .bind(video.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if had != liked {
            if liked {
                sqlx::query(
                    &self.sql("INSERT INTO likes (user_id, video_id, created_at) VALUES (?, ?, ?)"),
                )
                .bind(user)
                .bind(video.as_str())
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(&self.sql("DELETE FROM likes WHERE user_id = ? AND video_id = ?"))
                    .bind(user)
                    .bind(video.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(&self.sql("UPDATE videos SET likes = likes + ? WHERE id = ?"))
                .bind(if liked { 1i64 } else { -1 })
                .bind(video.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let likes: i64 = sqlx::query(&self.sql("SELECT likes FROM videos WHERE id = ?"))
            .bind(video.as_str())
            .fetch_one(&mut *tx)
            .await?
            .try_get("likes")?;
        tx.commit().await?;
        Ok(Some(LikeState { likes, liked }))
    }

    /// True when `user` likes `video`.
    pub async fn likes_video(&self, user: UserId, video: &VideoId) -> Result<bool> {
        let row =
            sqlx::query(&self.sql("SELECT user_id FROM likes WHERE user_id = ? AND video_id = ?"))
                .bind(user)
                .bind(video.as_str())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }
}
