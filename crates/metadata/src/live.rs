//! Live rooms: who broadcasts, under which stream key (only its SHA-256 is stored, like API
//! tokens and sessions), and where the room is in its life. Status changes are single
//! conditional statements, so two publishers racing for one room cannot both go live.

use spool_model::{LiveStatus, RoomId, UserId, VideoId, Visibility, now_millis};
use sqlx::Row;

use crate::sessions::{random_token, secret_hash};
use crate::videos::corrupt;
use crate::{MetadataError, Result, Store, is_unique_violation};

/// The job that finishes a live recording that became a video: storyboard and cover
/// (queued when the broadcast ends; run by the pipeline).
pub const RECORDING_JOB: &str = "recording";

/// A live room as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RoomRow {
    /// Room id.
    pub id: RoomId,
    /// The broadcaster.
    pub owner_id: UserId,
    /// The broadcaster's name.
    pub owner_name: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Who may watch.
    pub visibility: Visibility,
    /// Idle, live or ended.
    pub status: LiveStatus,
    /// Unix ms.
    pub created_at: i64,
    /// When the broadcast began (Unix ms).
    pub started_at: Option<i64>,
    /// When it ended (Unix ms).
    pub ended_at: Option<i64>,
    /// The video the broadcast became.
    pub recording_id: Option<VideoId>,
}

/// What a new room needs.
#[derive(Clone, Debug)]
pub struct NewRoom<'a> {
    /// The broadcaster.
    pub owner_id: UserId,
    /// Title.
    pub title: &'a str,
    /// Description.
    pub description: &'a str,
    /// Who may watch.
    pub visibility: Visibility,
}

const ROOM_SELECT: &str = "SELECT r.id, r.owner_id, u.name AS owner_name, r.title, \
    r.description, r.visibility, r.status, r.created_at, r.started_at, r.ended_at, \
    r.recording_id FROM live_rooms r JOIN users u ON u.id = r.owner_id";

fn room_from_row(row: &sqlx::any::AnyRow) -> Result<RoomRow> {
    let id: String = row.try_get("id")?;
    let visibility: String = row.try_get("visibility")?;
    let status: String = row.try_get("status")?;
    let recording: Option<String> = row.try_get("recording_id")?;
    Ok(RoomRow {
        id: id.parse().map_err(corrupt)?,
        owner_id: row.try_get("owner_id")?,
        owner_name: row.try_get("owner_name")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        visibility: visibility.parse().map_err(corrupt)?,
        status: status.parse().map_err(corrupt)?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        recording_id: recording.map(|r| r.parse()).transpose().map_err(corrupt)?,
    })
}

impl Store {
    /// Creates an idle room and returns it with its stream key (the only time the key is
    /// known in clear).
    pub async fn create_room(&self, new: &NewRoom<'_>) -> Result<(RoomRow, String)> {
        // A clash of a 66-bit id or a 256-bit key is astronomically rare; one retry covers it.
        for _ in 0..2 {
            let id = RoomId::random();
            let key = random_token();
            let done = sqlx::query(&self.sql(
                "INSERT INTO live_rooms (id, owner_id, title, description, visibility, status, \
                 key_hash, created_at) VALUES (?, ?, ?, ?, ?, 'idle', ?, ?)",
            ))
            .bind(id.as_str())
            .bind(new.owner_id)
            .bind(new.title)
            .bind(new.description)
            .bind(new.visibility.as_str())
            .bind(secret_hash(&key))
            .bind(now_millis())
            .execute(self.pool())
            .await;
            match done {
                Ok(_) => {
                    let row = self
                        .room(&id)
                        .await?
                        .ok_or_else(|| corrupt("a created room vanished"))?;
                    return Ok((row, key));
                }
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(MetadataError::AlreadyExists("live room"))
    }

    /// One room.
    pub async fn room(&self, id: &RoomId) -> Result<Option<RoomRow>> {
        sqlx::query(&self.sql(&format!("{ROOM_SELECT} WHERE r.id = ?")))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?
            .map(|row| room_from_row(&row))
            .transpose()
    }

    /// The room a stream key opens, if any (the key is compared by its hash).
    pub async fn room_by_key(&self, key: &str) -> Result<Option<RoomRow>> {
        sqlx::query(&self.sql(&format!("{ROOM_SELECT} WHERE r.key_hash = ?")))
            .bind(secret_hash(key))
            .fetch_optional(self.pool())
            .await?
            .map(|row| room_from_row(&row))
            .transpose()
    }

    /// Rooms in `status`, most recently started (or created) first, at most `limit`.
    pub async fn rooms_with_status(&self, status: LiveStatus, limit: u32) -> Result<Vec<RoomRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "{ROOM_SELECT} WHERE r.status = ? ORDER BY COALESCE(r.started_at, r.created_at) DESC, \
             r.id LIMIT ?"
        )))
        .bind(status.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(room_from_row).collect()
    }

    /// A user's rooms, newest first.
    pub async fn rooms_of(&self, owner: UserId) -> Result<Vec<RoomRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "{ROOM_SELECT} WHERE r.owner_id = ? ORDER BY r.created_at DESC, r.id"
        )))
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(room_from_row).collect()
    }

    /// Replaces a room's stream key; the new key, or None when the room does not exist.
    pub async fn rotate_room_key(&self, id: &RoomId) -> Result<Option<String>> {
        let key = random_token();
        let done = sqlx::query(&self.sql("UPDATE live_rooms SET key_hash = ? WHERE id = ?"))
            .bind(secret_hash(&key))
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok((done.rows_affected() == 1).then_some(key))
    }

    /// Puts a room on air for a new broadcast (from idle, or ended: a room is reusable) and
    /// creates the video its recording becomes (`processing`, the room's title, description,
    /// visibility and owner), in one transaction. None when the room is already live, so two
    /// publishers cannot both start one.
    pub async fn start_broadcast(&self, id: &RoomId) -> Result<Option<VideoId>> {
        crate::with_retry(|| self.try_start_broadcast(id)).await
    }

    async fn try_start_broadcast(&self, id: &RoomId) -> Result<Option<VideoId>> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        let video = VideoId::random();
        let started = sqlx::query(&self.sql(
            "UPDATE live_rooms SET status = 'live', started_at = ?, ended_at = NULL, \
             recording_id = ? WHERE id = ? AND status <> 'live'",
        ))
        .bind(now)
        .bind(video.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if started.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        sqlx::query(&self.sql(
            "INSERT INTO videos (id, owner_id, title, description, tags, category, visibility, \
             status, created_at, updated_at) \
             SELECT ?, owner_id, title, description, '[]', '', visibility, 'processing', ?, ? \
             FROM live_rooms WHERE id = ?",
        ))
        .bind(video.as_str())
        .bind(now)
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(video))
    }

    /// Ends a live room; `recording` is the video its broadcast became, or None when the
    /// broadcast recorded nothing (its video is gone). False when it was not live.
    pub async fn end_room(&self, id: &RoomId, recording: Option<&VideoId>) -> Result<bool> {
        let done = sqlx::query(&self.sql(
            "UPDATE live_rooms SET status = 'ended', ended_at = ?, recording_id = ? \
             WHERE id = ? AND status = 'live'",
        ))
        .bind(now_millis())
        .bind(recording.map(VideoId::as_str))
        .bind(id.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a room. False when it did not exist.
    pub async fn delete_room(&self, id: &RoomId) -> Result<bool> {
        let done = sqlx::query(&self.sql("DELETE FROM live_rooms WHERE id = ?"))
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
