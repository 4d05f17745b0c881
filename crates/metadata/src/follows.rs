//! Follows: one row per (follower, channel), a channel being a user. Counts are `COUNT(*)`
//! over the channel index, so they always equal the rows. Following twice is a no-op.

use spool_model::{UserId, now_millis};
use sqlx::Row;

use crate::videos::{VIDEO_SELECT, video_from_row};
use crate::{Result, Store, VideoRow, is_unique_violation};

/// A channel someone follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowedChannel {
    /// The channel's user id.
    pub id: UserId,
    /// The channel's user name.
    pub name: String,
    /// When the follow started, Unix ms.
    pub followed_at: i64,
}

impl Store {
    /// Records that `follower` follows (or no longer follows) `channel`; idempotent. True
    /// when this call changed something.
    pub async fn set_follow(
        &self,
        follower: UserId,
        channel: UserId,
        following: bool,
    ) -> Result<bool> {
        if following {
            let inserted =
                sqlx::query(&self.sql(
                    "INSERT INTO follows (follower_id, channel_id, created_at) VALUES (?, ?, ?)",
                ))
                .bind(follower)
                .bind(channel)
                .bind(now_millis())
                .execute(self.pool())
                .await;
            match inserted {
                Ok(_) => Ok(true),
                // Followed already (or a concurrent request did it): the row is there.
                Err(e) if is_unique_violation(&e) => Ok(false),
                Err(e) => Err(e.into()),
            }
        } else {
            let gone = sqlx::query(
                &self.sql("DELETE FROM follows WHERE follower_id = ? AND channel_id = ?"),
            )
            .bind(follower)
            .bind(channel)
            .execute(self.pool())
            .await?;
            Ok(gone.rows_affected() == 1)
        }
    }

    /// True when `follower` follows `channel`.
    pub async fn follows(&self, follower: UserId, channel: UserId) -> Result<bool> {
        let row = sqlx::query(
            &self.sql("SELECT 1 AS one FROM follows WHERE follower_id = ? AND channel_id = ?"),
        )
        .bind(follower)
        .bind(channel)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// How many users follow `channel`.
    pub async fn follower_count(&self, channel: UserId) -> Result<i64> {
        let row = sqlx::query(&self.sql("SELECT COUNT(*) AS n FROM follows WHERE channel_id = ?"))
            .bind(channel)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The channels `follower` follows, latest follow first, at most `limit`.
    pub async fn followed_channels(
        &self,
        follower: UserId,
        limit: u32,
    ) -> Result<Vec<FollowedChannel>> {
        let rows = sqlx::query(&self.sql(
            "SELECT u.id, u.name, f.created_at FROM follows f JOIN users u ON u.id = f.channel_id \
             WHERE f.follower_id = ? ORDER BY f.created_at DESC, u.id DESC LIMIT ?",
        ))
        .bind(follower)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(FollowedChannel {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    followed_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Public, ready videos of the channels `follower` follows, newest first, at most `limit`.
    pub async fn list_public_videos_followed(
        &self,
        follower: UserId,
        limit: u32,
    ) -> Result<Vec<VideoRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "{VIDEO_SELECT} JOIN follows f ON f.channel_id = v.owner_id \
             WHERE f.follower_id = ? AND v.visibility = 'public' AND v.status = 'ready' \
             ORDER BY v.created_at DESC, v.id DESC LIMIT ?"
        )))
        .bind(follower)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(video_from_row).collect()
    }
}
