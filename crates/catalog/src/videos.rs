//! A video's lifecycle through the catalog: reading it as a viewer may, listings, owner edits,
//! retry after a failure, and deletion with everything it leaves on disk.

use std::sync::Arc;

use spool_hub::Topic;
use spool_metadata::{DeletedVideo, ListCursor, User, VideoRow};
use spool_model::VideoId;

use crate::error::{CatalogError, Result};
use crate::policy::{self, may_see};
use crate::{Catalog, CheckedEdit};

impl Catalog {
    /// The video row, cached for about a second, WITHOUT a visibility decision: for callers
    /// that ask [`policy::access`] themselves with a viewer of their own (media serving
    /// through signed URLs).
    pub async fn row(&self, id: &VideoId) -> Result<Option<Arc<VideoRow>>> {
        Ok(self.inner.rows.get(id).await?)
    }

    /// The video if `viewer` may see it (from the hot-row cache), else
    /// [`CatalogError::NotFound`]: missing and hidden look the same.
    pub async fn visible(&self, viewer: Option<&User>, id: &VideoId) -> Result<VideoRow> {
        match self.inner.rows.get(id).await? {
            Some(video) if may_see(viewer, &video) => Ok(Arc::unwrap_or_clone(video)),
            _ => Err(CatalogError::video_not_found()),
        }
    }

    /// The video if `user` may change it, fresh from the database (an edit must not start
    /// from a cached row). Hidden: not found; visible but someone else's: not owner.
    pub async fn owned(&self, user: &User, id: &VideoId) -> Result<VideoRow> {
        let video = self
            .inner
            .db
            .video(id)
            .await?
            .ok_or_else(CatalogError::video_not_found)?;
        policy::may_change(user, &video)?;
        Ok(video)
    }

    /// Whether `user` likes `id`.
    pub async fn liked(&self, user: &User, id: &VideoId) -> Result<bool> {
        Ok(self.inner.db.likes_video(user.id, id).await?)
    }

    /// Public, ready videos newest first (of one channel when named), at most `limit`,
    /// strictly after `after`.
    pub async fn list_public(
        &self,
        viewer: Option<&User>,
        channel: Option<&str>,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<VideoRow>> {
        let db = &self.inner.db;
        let rows = match channel {
            None => db.list_public_videos(after, limit).await?,
            Some(name) => match db.user_by_name(name).await? {
                Some(owner) => {
                    db.list_public_videos_by_owner(owner.id, after, limit)
                        .await?
                }
                None => Vec::new(),
            },
        };
        Ok(rows.into_iter().filter(|v| may_see(viewer, v)).collect())
    }

    /// Every video of `user`, whatever its status and visibility, newest first.
    pub async fn list_mine(
        &self,
        user: &User,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<VideoRow>> {
        let rows = self
            .inner
            .db
            .list_videos_by_owner(user.id, after, limit)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|v| may_see(Some(user), v))
            .collect())
    }

    /// Applies an owner's (or admin's) checked edit; the row as it is now.
    pub async fn edit(&self, user: &User, id: &VideoId, edit: &CheckedEdit) -> Result<VideoRow> {
        self.owned(user, id).await?;
        let found = self.inner.db.update_video(id, edit.update()).await?;
        self.changed(id).await;
        // Deleted between the ownership check and the update: as if it never existed.
        let video = if found {
            self.inner.db.video(id).await?
        } else {
            None
        };
        video.ok_or_else(CatalogError::video_not_found)
    }

    /// Queues processing again after it failed (owner or admin); the row as it is now.
    pub async fn retry(&self, user: &User, id: &VideoId) -> Result<VideoRow> {
        self.owned(user, id).await?;
        if !self.inner.db.retry_processing(id).await? {
            return Err(CatalogError::NotRetryable);
        }
        self.changed(id).await;
        self.inner
            .db
            .video(id)
            .await?
            .ok_or_else(CatalogError::video_not_found)
    }

    /// Deletes a video (owner or admin): its rows at once, in one transaction, then its media
    /// and, when no other video shares the content, its source file and partial uploads.
    pub async fn delete(&self, user: &User, id: &VideoId) -> Result<()> {
        self.owned(user, id).await?;
        let deleted = self
            .inner
            .db
            .delete_video(id)
            .await?
            .ok_or_else(CatalogError::video_not_found)?;
        self.inner.rows.invalidate(id).await;
        self.inner.hub.notify(&Topic::video(id));
        self.remove_files(id, deleted).await;
        Ok(())
    }

    /// Removes what a deleted video left on disk: the one place that does. The database is
    /// the truth and already says the video is gone, so a failure here is logged (the files
    /// are orphans), not returned.
    async fn remove_files(&self, id: &VideoId, deleted: DeletedVideo) {
        // Content uploaded again since the transaction (same hash) has a blob row again and
        // owns the file now: keep it.
        let blob = match (&deleted.blob_to_delete, &deleted.blob_hash) {
            (Some(key), Some(hash)) => match self.inner.db.blob(hash).await {
                Ok(None) => Some(key.clone()),
                Ok(Some(_)) => None,
                Err(e) => {
                    tracing::warn!(video = %id, "checking blob before deleting its file: {e}");
                    None
                }
            },
            _ => None,
        };
        let layout = self.inner.layout.clone();
        let blobs = self.inner.blobs.clone();
        let id = id.clone();
        let done = tokio::task::spawn_blocking(move || {
            if let Err(e) = layout.remove_video(&id) {
                tracing::warn!(video = %id, "removing its media: {e}");
            }
            if let Some(key) = blob
                && let Err(e) = blobs.delete_blob(&key)
            {
                tracing::warn!(video = %id, "deleting blob {key}: {e}");
            }
            for upload in deleted.uploads {
                if let Err(e) = blobs.remove_partial(&upload) {
                    tracing::warn!(video = %id, "deleting partial upload {upload}: {e}");
                }
            }
        })
        .await;
        if let Err(e) = done {
            tracing::warn!("removing a deleted video's files: {e}");
        }
    }
}
