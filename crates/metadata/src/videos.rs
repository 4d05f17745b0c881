//! Video rows: reading one, listing pages (keyset pagination), owner edits with their
//! validation limits, deletion in one transaction, and batched view counts.

use spool_model::{ContentHash, UploadId, UserId, VideoId, VideoStatus, Visibility, now_millis};
use sqlx::Row;

use crate::{MetadataError, Result, Store, with_retry};

/// A video as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoRow {
    /// Public id.
    pub id: VideoId,
    /// Owner's user id.
    pub owner_id: UserId,
    /// Owner's user name.
    pub owner_name: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Category.
    pub category: String,
    /// Who may see it.
    pub visibility: Visibility,
    /// Where it is in its life.
    pub status: VideoStatus,
    /// Duration, once probed.
    pub duration_ms: Option<i64>,
    /// Width in pixels, once probed.
    pub width: Option<i64>,
    /// Height in pixels, once probed.
    pub height: Option<i64>,
    /// Content hash of the source, once complete.
    pub blake3: Option<ContentHash>,
    /// Source size, once complete.
    pub size_bytes: Option<i64>,
    /// Why processing failed.
    pub error: Option<String>,
    /// Processing progress, percent (0-100).
    pub progress: i64,
    /// What is published for playback (JSON of `spool_media::Published`), once anything is.
    pub media: Option<String>,
    /// Directory name of the current cover set, once there is one.
    pub cover_gen: Option<String>,
    /// True once the owner uploaded a cover (the pipeline then never replaces it).
    pub cover_custom: bool,
    /// Views counted so far (flushed in batches; the API adds what is still buffered).
    pub views: i64,
    /// Likes (one per user).
    pub likes: i64,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
    /// Why moderation holds it (status `held`), as its owner sees it.
    pub hold_reason: Option<String>,
    /// When it was held, Unix ms.
    pub held_at: Option<i64>,
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> MetadataError {
    MetadataError::Corrupt(what.to_string())
}

/// The columns of a [`VideoRow`], joined with the owner's name; callers append the filter.
pub(crate) const VIDEO_SELECT: &str = "SELECT v.id, v.owner_id, u.name AS owner_name, v.title, \
    v.description, v.tags, v.category, v.visibility, v.status, v.duration_ms, v.width, \
    v.height, v.blake3, v.size_bytes, v.error, v.progress, v.media, v.cover_gen, \
    v.cover_custom, v.views, v.likes, v.created_at, v.updated_at, v.hold_reason, v.held_at \
    FROM videos v JOIN users u ON u.id = v.owner_id";

pub(crate) fn video_from_row(row: &sqlx::any::AnyRow) -> Result<VideoRow> {
    let id: String = row.try_get("id")?;
    let visibility: String = row.try_get("visibility")?;
    let status: String = row.try_get("status")?;
    let tags: String = row.try_get("tags")?;
    let blake3: Option<String> = row.try_get("blake3")?;
    Ok(VideoRow {
        id: id.parse().map_err(corrupt)?,
        owner_id: row.try_get("owner_id")?,
        owner_name: row.try_get("owner_name")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        tags: serde_json::from_str(&tags).map_err(corrupt)?,
        category: row.try_get("category")?,
        visibility: visibility.parse().map_err(corrupt)?,
        status: status.parse().map_err(corrupt)?,
        duration_ms: row.try_get("duration_ms")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        blake3: blake3.map(|h| h.parse()).transpose().map_err(corrupt)?,
        size_bytes: row.try_get("size_bytes")?,
        error: row.try_get("error")?,
        progress: row.try_get("progress")?,
        media: row.try_get("media")?,
        cover_gen: row.try_get("cover_gen")?,
        cover_custom: row.try_get::<i64, _>("cover_custom")? != 0,
        views: row.try_get("views")?,
        likes: row.try_get("likes")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        hold_reason: row.try_get("hold_reason")?,
        held_at: row.try_get("held_at")?,
    })
}

impl Store {
    /// One video with its owner's name.
    pub async fn video(&self, id: &VideoId) -> Result<Option<VideoRow>> {
        let row = sqlx::query(&self.sql(&format!("{VIDEO_SELECT} WHERE v.id = ?")))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(video_from_row).transpose()
    }

    /// True when the user owns a finished video with this content.
    pub async fn user_owns_content(&self, user: UserId, hash: &ContentHash) -> Result<bool> {
        let row = sqlx::query(
            &self.sql("SELECT id FROM videos WHERE owner_id = ? AND blake3 = ? LIMIT 1"),
        )
        .bind(user)
        .bind(hash.to_hex())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }
}

/// Where a listing page starts: strictly after the video with this creation time (Unix ms)
/// and id, in the listing's order (newest first).
pub type ListCursor = (i64, VideoId);

/// An owner's edit of a video: `None` leaves a field as it is. The values are written as
/// given: the catalog (`spool_catalog::CheckedEdit`) checks and normalizes them first; the
/// columns' sizes are the catalog's limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VideoUpdate {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New tags, without duplicates.
    pub tags: Option<Vec<String>>,
    /// New category (empty = none).
    pub category: Option<String>,
    /// New visibility.
    pub visibility: Option<Visibility>,
}

/// What [`Store::delete_video`] left for the caller to remove from disk once it committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletedVideo {
    /// Storage key of the source blob when this video held its last reference (the blob row
    /// is gone; the file should go too). `None` when the blob is still used by another video,
    /// or the video never had one.
    pub blob_to_delete: Option<String>,
    /// Content hash of the blob named by `blob_to_delete`.
    pub blob_hash: Option<ContentHash>,
    /// The video's uploads, now deleted; an unfinished one may have left a partial file.
    pub uploads: Vec<UploadId>,
}

impl Store {
    /// Public, ready videos, newest first (`created_at DESC, id DESC`), at most `limit`,
    /// strictly after `after` (keyset pagination: stable while videos are added).
    pub async fn list_public_videos(
        &self,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<VideoRow>> {
        self.list_videos(
            "v.visibility = 'public' AND v.status = 'ready'",
            None,
            after,
            limit,
        )
        .await
    }

    /// Public, ready videos of one owner (their channel), newest first.
    pub async fn list_public_videos_by_owner(
        &self,
        owner: UserId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<VideoRow>> {
        self.list_videos(
            "v.visibility = 'public' AND v.status = 'ready' AND v.owner_id = ?",
            Some(owner),
            after,
            limit,
        )
        .await
    }

    /// How many public, ready videos `owner` has.
    pub async fn count_public_videos_by_owner(&self, owner: UserId) -> Result<i64> {
        let row = sqlx::query(&self.sql(
            "SELECT COUNT(*) AS n FROM videos \
             WHERE owner_id = ? AND visibility = 'public' AND status = 'ready'",
        ))
        .bind(owner)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Every video of `owner` whatever its status and visibility, newest first, at most
    /// `limit`, strictly after `after`.
    pub async fn list_videos_by_owner(
        &self,
        owner: UserId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<VideoRow>> {
        self.list_videos("v.owner_id = ?", Some(owner), after, limit)
            .await
    }

    /// Every video changed at or after `since` (Unix ms of `updated_at`), whatever its status
    /// and visibility, oldest change first, at most `limit`, strictly after `after` (a
    /// `(updated_at, id)` keyset): how an index kept elsewhere catches up after a restart.
    pub async fn list_videos_changed_since(
        &self,
        since: i64,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<VideoRow>> {
        let keyset = if after.is_some() {
            " AND (v.updated_at > ? OR (v.updated_at = ? AND v.id > ?))"
        } else {
            ""
        };
        let sql = format!(
            "{VIDEO_SELECT} WHERE v.updated_at >= ?{keyset} ORDER BY v.updated_at, v.id LIMIT ?"
        );
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql).bind(since);
        if let Some((updated_at, id)) = &after {
            query = query
                .bind(*updated_at)
                .bind(*updated_at)
                .bind(id.as_str().to_owned());
        }
        let rows = query.bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.iter().map(video_from_row).collect()
    }

    async fn list_videos(
        &self,
        filter: &str,
        owner: Option<UserId>,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<VideoRow>> {
        // The expanded OR (not a row-value comparison) lets MySQL range-scan the index.
        let keyset = if after.is_some() {
            " AND (v.created_at < ? OR (v.created_at = ? AND v.id < ?))"
        } else {
            ""
        };
        let sql = format!(
            "{VIDEO_SELECT} WHERE {filter}{keyset} ORDER BY v.created_at DESC, v.id DESC LIMIT ?"
        );
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql);
        if let Some(owner) = owner {
            query = query.bind(owner);
        }
        if let Some((created_at, id)) = &after {
            query = query
                .bind(*created_at)
                .bind(*created_at)
                .bind(id.as_str().to_owned());
        }
        let rows = query.bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.iter().map(video_from_row).collect()
    }

    /// Applies an owner's edit in one `UPDATE`. False when the video does not exist.
    pub async fn update_video(&self, id: &VideoId, update: &VideoUpdate) -> Result<bool> {
        let checked = update.clone();
        let tags = checked
            .tags
            .map(|t| serde_json::to_string(&t))
            .transpose()
            .map_err(corrupt)?;
        let mut sets = Vec::new();
        for (column, present) in [
            ("title", checked.title.is_some()),
            ("description", checked.description.is_some()),
            ("tags", tags.is_some()),
            ("category", checked.category.is_some()),
            ("visibility", checked.visibility.is_some()),
        ] {
            if present {
                sets.push(format!("{column} = ?"));
            }
        }
        sets.push("updated_at = ?".to_owned());
        let sql = format!("UPDATE videos SET {} WHERE id = ?", sets.join(", "));
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql);
        for value in [
            checked.title,
            checked.description,
            tags,
            checked.category,
            checked.visibility.map(|v| v.as_str().to_owned()),
        ]
        .into_iter()
        .flatten()
        {
            query = query.bind(value);
        }
        // sqlx asks MySQL for matched rows (CLIENT_FOUND_ROWS), so an edit that changes
        // nothing still counts the row.
        let done = query
            .bind(now_millis())
            .bind(id.as_str().to_owned())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a video in one transaction: its jobs and uploads go, the owner gets its quota
    /// back (never below zero), the source blob loses a reference (its row goes with the last
    /// one) and the row goes. `None` when the video does not exist. Files are the caller's:
    /// it removes them after this returns, as [`DeletedVideo`] says.
    pub async fn delete_video(&self, id: &VideoId) -> Result<Option<DeletedVideo>> {
        with_retry(|| self.try_delete_video(id)).await
    }

    async fn try_delete_video(&self, id: &VideoId) -> Result<Option<DeletedVideo>> {
        let mut tx = self.begin_write().await?;
        let Some(row) =
            sqlx::query(&self.sql("SELECT owner_id, blake3, size_bytes FROM videos WHERE id = ?"))
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?
        else {
            // Ended explicitly: a dropped transaction leaves its connection in it until reused.
            tx.rollback().await?;
            return Ok(None);
        };
        let owner: UserId = row.try_get("owner_id")?;
        let blake3: Option<String> = row.try_get("blake3")?;
        let size: Option<i64> = row.try_get("size_bytes")?;
        // The DELETE decides: of two concurrent deletions only one removes the row.
        let gone = sqlx::query(&self.sql("DELETE FROM videos WHERE id = ?"))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }

        let uploads = sqlx::query(
            &self.sql("SELECT id, state, reserved_bytes FROM uploads WHERE video_id = ?"),
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut upload_ids = Vec::with_capacity(uploads.len());
        let mut reserved = 0i64;
        for upload in &uploads {
            let upload_id: String = upload.try_get("id")?;
            upload_ids.push(upload_id.parse().map_err(corrupt)?);
            if upload.try_get::<String, _>("state")? == "active" {
                reserved += upload.try_get::<i64, _>("reserved_bytes")?;
            }
        }
        sqlx::query(&self.sql("DELETE FROM uploads WHERE video_id = ?"))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(&self.sql("DELETE FROM jobs WHERE video_id = ?"))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(&self.sql("DELETE FROM likes WHERE video_id = ?"))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;

        // A finished video is charged its size; an unfinished one what its upload reserved.
        let charged = size.unwrap_or(reserved);
        if charged > 0 {
            sqlx::query(&self.sql(
                "UPDATE users SET used_bytes = CASE WHEN used_bytes > ? THEN used_bytes - ? \
                 ELSE 0 END WHERE id = ?",
            ))
            .bind(charged)
            .bind(charged)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        }

        let mut blob_to_delete = None;
        let mut blob_hash = None;
        if let Some(hash) = blake3 {
            sqlx::query(
                &self.sql(
                    "UPDATE blobs SET refcount = refcount - 1 WHERE hash = ? AND refcount > 0",
                ),
            )
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
            let blob =
                sqlx::query(&self.sql("SELECT storage_key, refcount FROM blobs WHERE hash = ?"))
                    .bind(&hash)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(blob) = blob
                && blob.try_get::<i64, _>("refcount")? <= 0
            {
                sqlx::query(&self.sql("DELETE FROM blobs WHERE hash = ? AND refcount <= 0"))
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await?;
                blob_to_delete = Some(blob.try_get::<String, _>("storage_key")?);
                blob_hash = Some(hash.parse().map_err(corrupt)?);
            }
        }
        tx.commit().await?;
        Ok(Some(DeletedVideo {
            blob_to_delete,
            blob_hash,
            uploads: upload_ids,
        }))
    }

    /// The rows of those of `ids` that exist, in no order, in one query per 500 ids: how a
    /// cache in front of many videos fills its misses at once.
    pub async fn videos(&self, ids: &[VideoId]) -> Result<Vec<VideoRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("{VIDEO_SELECT} WHERE v.id IN ({marks})");
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.as_str().to_owned());
            }
            for row in query.fetch_all(self.pool()).await? {
                out.push(video_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// The version (`updated_at`) of each of `ids` that exists, in one query: how a watcher
    /// notices changes made by other processes without reading whole rows.
    pub async fn video_versions(&self, ids: &[VideoId]) -> Result<Vec<(VideoId, i64)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!("SELECT id, updated_at FROM videos WHERE id IN ({marks})");
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id.as_str().to_owned());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                Ok((id.parse().map_err(corrupt)?, row.try_get("updated_at")?))
            })
            .collect()
    }

    /// Raises stored view counts to the given totals, never lowering one, in one transaction.
    /// Every node folding the same event log computes the same totals, so writing them is
    /// idempotent (increments from several nodes would count each view once per node).
    /// Unknown videos are skipped.
    pub async fn raise_views(&self, totals: &[(VideoId, i64)]) -> Result<()> {
        let mut totals: Vec<&(VideoId, i64)> = totals.iter().filter(|(_, n)| *n > 0).collect();
        if totals.is_empty() {
            return Ok(());
        }
        totals.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            for (id, n) in &totals {
                sqlx::query(&self.sql("UPDATE videos SET views = ? WHERE id = ? AND views < ?"))
                    .bind(*n)
                    .bind(id.as_str())
                    .bind(*n)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}
