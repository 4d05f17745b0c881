//! Video rows.

use spool_model::{ContentHash, UserId, VideoId, VideoStatus, Visibility};
use sqlx::Row;

use crate::{MetadataError, Result, Store};

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
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> MetadataError {
    MetadataError::Corrupt(what.to_string())
}

/// The columns of a [`VideoRow`], joined with the owner's name; callers append the filter.
pub(crate) const VIDEO_SELECT: &str = "SELECT v.id, v.owner_id, u.name AS owner_name, v.title, \
    v.description, v.tags, v.category, v.visibility, v.status, v.duration_ms, v.width, \
    v.height, v.blake3, v.size_bytes, v.error, v.progress, v.media, v.cover_gen, \
    v.cover_custom, v.views, v.created_at, v.updated_at \
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
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// One video with its owner's name.
    pub async fn video(&self, id: &VideoId) -> Result<Option<VideoRow>> {
        let row = sqlx::query(&format!("{VIDEO_SELECT} WHERE v.id = ?"))
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(video_from_row).transpose()
    }

    /// True when the user owns a finished video with this content.
    pub async fn user_owns_content(&self, user: UserId, hash: &ContentHash) -> Result<bool> {
        let row = sqlx::query("SELECT id FROM videos WHERE owner_id = ? AND blake3 = ? LIMIT 1")
            .bind(user)
            .bind(hash.to_hex())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }
}
