//! Discovery and reactions around a video: a channel's header, related videos (same tags or
//! channel, for now; the recommender replaces this) and likes.

use spool_metadata::{LikeState, User, VideoRow};
use spool_model::VideoId;

use crate::Catalog;
use crate::error::{CatalogError, Result};
use crate::policy::may_see;

/// Recent public videos scanned for related ones.
const RELATED_POOL: u32 = 200;

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

/// How related `other` is to `video`: two points per shared tag, one for the same channel.
fn relatedness(video: &VideoRow, other: &VideoRow) -> usize {
    let shared = other
        .tags
        .iter()
        .filter(|t| video.tags.iter().any(|own| own.eq_ignore_ascii_case(t)))
        .count();
    2 * shared + usize::from(other.owner_id == video.owner_id)
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

    /// Up to `limit` videos related to `id` that `viewer` may see: most shared tags and the
    /// same channel first, then the newest.
    pub async fn related(
        &self,
        viewer: Option<&User>,
        id: &VideoId,
        limit: usize,
    ) -> Result<Vec<VideoRow>> {
        let video = self.visible(viewer, id).await?;
        let mut pool: Vec<(usize, VideoRow)> = self
            .inner
            .db
            .list_public_videos(None, RELATED_POOL)
            .await?
            .into_iter()
            .filter(|other| other.id != video.id && may_see(viewer, other))
            .map(|other| (relatedness(&video, &other), other))
            .collect();
        // Stable: equal scores keep the listing's newest-first order.
        pool.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
        pool.truncate(limit);
        Ok(pool.into_iter().map(|(_, v)| v).collect())
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
