//! Reactions around a video: a channel's header and likes (related videos are the
//! recommender's).

use spool_metadata::{LikeState, User};
use spool_model::VideoId;

use crate::Catalog;
use crate::error::{CatalogError, Result};

/// A channel (a user's public face).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// User name.
    pub name: String,
    /// When the user signed up, Unix ms.
    pub created_at: i64,
    /// Public, ready videos.
    pub video_count: i64,
}

impl Catalog {
    /// One channel by user name.
    pub async fn channel(&self, name: &str) -> Result<Channel> {
        let (user, created_at) = self
            .inner
            .db
            .user_created_at(name)
            .await?
            .ok_or(CatalogError::NotFound("channel"))?;
        let video_count = self.inner.db.count_public_videos_by_owner(user.id).await?;
        Ok(Channel {
            name: user.name,
            created_at,
            video_count,
        })
    }

    /// Records that `user` likes (or no longer likes) a video they may see (idempotent).
    pub async fn set_like(&self, user: &User, id: &VideoId, liked: bool) -> Result<LikeState> {
        self.visible(Some(user), id).await?;
        let state = self
            .inner
            .db
            .set_like(user.id, id, liked)
            .await?
            .ok_or_else(CatalogError::video_not_found)?;
        self.inner.rows.invalidate(id).await;
        Ok(state)
    }
}
