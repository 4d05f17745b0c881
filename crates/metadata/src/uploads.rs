//! Resumable uploads and their completion into blobs, videos and jobs.
//!
//! The row's `upload_offset` is the acknowledged offset: the only source of truth after a crash.
//! Bytes beyond it in the partial file were never acknowledged and are cut off on resume.
//! Every change is conditional on the expected offset and state, so two writers can never both
//! advance one upload.

use spool_model::{ContentHash, UploadId, UserId, VideoId, VideoStatus, Visibility, now_millis};
use sqlx::{Any, Row, Transaction};

use crate::videos::corrupt;
use crate::{Backend, MetadataError, Result, Store, with_retry};

/// The job every completed upload queues for the media pipeline.
pub const PROCESS_JOB: &str = "process";

/// Where an upload is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadState {
    /// Accepting bytes.
    Active,
    /// All bytes arrived and the video was created.
    Complete,
    /// Not finished in time; bytes reclaimed.
    Expired,
    /// Deleted by its owner (tus termination).
    Terminated,
}

impl UploadState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Complete => "complete",
            Self::Expired => "expired",
            Self::Terminated => "terminated",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "active" => Self::Active,
            "complete" => Self::Complete,
            "expired" => Self::Expired,
            "terminated" => Self::Terminated,
            other => return Err(corrupt(format!("upload state `{other}`"))),
        })
    }
}

/// An upload as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRow {
    /// Upload id (the tus resource).
    pub id: UploadId,
    /// Owner.
    pub owner_id: UserId,
    /// The video this upload fills.
    pub video_id: VideoId,
    /// Total length; `None` while deferred.
    pub length: Option<i64>,
    /// Acknowledged offset.
    pub offset: i64,
    /// Bytes reserved against the owner's quota.
    pub reserved_bytes: i64,
    /// The raw `Upload-Metadata` header, echoed on HEAD.
    pub metadata: String,
    /// The BLAKE3 the client announced, if any.
    pub announced_blake3: Option<ContentHash>,
    /// The BLAKE3 the server computed once the last byte landed.
    pub final_blake3: Option<ContentHash>,
    /// Checkpoint of the incremental hasher at `offset` (opaque to this crate).
    pub hash_state: Vec<u8>,
    /// Life-cycle state.
    pub state: UploadState,
    /// Outstanding proof-of-possession challenge: nonce (hex) and ranges (`off-len,…`).
    pub proof: Option<(String, String)>,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Expiry time, Unix ms.
    pub expires_at: i64,
}

/// What is needed to create an upload and its video.
#[derive(Clone, Debug)]
pub struct NewUpload {
    /// New upload id.
    pub id: UploadId,
    /// New video id.
    pub video_id: VideoId,
    /// Owner.
    pub owner_id: UserId,
    /// Video title.
    pub title: String,
    /// Video visibility.
    pub visibility: Visibility,
    /// Declared length, or `None` when deferred.
    pub length: Option<i64>,
    /// Raw `Upload-Metadata`.
    pub metadata: String,
    /// Announced content hash.
    pub announced_blake3: Option<ContentHash>,
    /// Initial hasher checkpoint.
    pub hash_state: Vec<u8>,
    /// Expiry, Unix ms.
    pub expires_at: i64,
}

const UPLOAD_COLUMNS: &str = "id, owner_id, video_id, length, upload_offset, reserved_bytes, \
    metadata, announced_blake3, final_blake3, hash_state, state, proof_nonce, proof_ranges, \
    created_at, expires_at";

fn parse_hash(value: Option<String>) -> Result<Option<ContentHash>> {
    value.map(|h| h.parse()).transpose().map_err(corrupt)
}

fn upload_from_row(row: &sqlx::any::AnyRow) -> Result<UploadRow> {
    let id: String = row.try_get("id")?;
    let video_id: String = row.try_get("video_id")?;
    let state: String = row.try_get("state")?;
    let nonce: Option<String> = row.try_get("proof_nonce")?;
    let ranges: Option<String> = row.try_get("proof_ranges")?;
    Ok(UploadRow {
        id: id.parse().map_err(corrupt)?,
        owner_id: row.try_get("owner_id")?,
        video_id: video_id.parse().map_err(corrupt)?,
        length: row.try_get("length")?,
        offset: row.try_get("upload_offset")?,
        reserved_bytes: row.try_get("reserved_bytes")?,
        metadata: row.try_get("metadata")?,
        announced_blake3: parse_hash(row.try_get("announced_blake3")?)?,
        final_blake3: parse_hash(row.try_get("final_blake3")?)?,
        hash_state: row.try_get("hash_state")?,
        state: UploadState::parse(&state)?,
        proof: nonce.zip(ranges),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Store {
    /// Charges `bytes` to the user unless it would pass `quota` (0 = unlimited); atomic in SQL so
    /// concurrent uploads cannot overshoot together.
    async fn reserve(
        &self,
        tx: &mut Transaction<'static, Any>,
        user: UserId,
        bytes: i64,
        quota: u64,
    ) -> Result<()> {
        let quota_i = i64::try_from(quota).unwrap_or(i64::MAX);
        let done = sqlx::query(
            &self.sql("UPDATE users SET used_bytes = used_bytes + ? WHERE id = ? AND (? = 0 OR used_bytes + ? <= ?)"),
        )
        .bind(bytes)
        .bind(user)
        .bind(quota_i)
        .bind(bytes)
        .bind(quota_i)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let used: i64 = sqlx::query(&self.sql("SELECT used_bytes FROM users WHERE id = ?"))
            .bind(user)
            .fetch_one(&mut **tx)
            .await?
            .try_get("used_bytes")?;
        Err(MetadataError::QuotaExceeded {
            used,
            quota,
            requested: bytes,
        })
    }
}

impl Store {
    /// The upload if it is active, read inside the transaction.
    async fn active_upload(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &UploadId,
    ) -> Result<Option<UploadRow>> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ? AND state = 'active'"
        )))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(upload_from_row).transpose()
    }
}

impl Store {
    async fn release(
        &self,
        tx: &mut Transaction<'static, Any>,
        user: UserId,
        bytes: i64,
    ) -> Result<()> {
        sqlx::query(&self.sql("UPDATE users SET used_bytes = used_bytes - ? WHERE id = ?"))
            .bind(bytes)
            .bind(user)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Creates the upload and its video (status `uploading`) and reserves the declared length
    /// against the owner's quota, all or nothing.
    pub async fn create_upload(&self, new: &NewUpload, quota: u64) -> Result<()> {
        with_retry(|| self.try_create_upload(new, quota)).await
    }

    async fn try_create_upload(&self, new: &NewUpload, quota: u64) -> Result<()> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        if let Some(length) = new.length {
            self.reserve(&mut tx, new.owner_id, length, quota).await?;
        }
        sqlx::query(&self.sql(
            "INSERT INTO videos (id, owner_id, title, description, tags, category, visibility, \
             status, created_at, updated_at) VALUES (?, ?, ?, '', '[]', '', ?, ?, ?, ?)",
        ))
        .bind(new.video_id.as_str())
        .bind(new.owner_id)
        .bind(&new.title)
        .bind(new.visibility.as_str())
        .bind(VideoStatus::Uploading.as_str())
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&self.sql(
            "INSERT INTO uploads (id, owner_id, video_id, length, upload_offset, reserved_bytes, \
             metadata, announced_blake3, hash_state, state, created_at, updated_at, expires_at) \
             VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, 'active', ?, ?, ?)",
        ))
        .bind(new.id.as_str())
        .bind(new.owner_id)
        .bind(new.video_id.as_str())
        .bind(new.length)
        .bind(new.length.unwrap_or(0))
        .bind(&new.metadata)
        .bind(new.announced_blake3.map(|h| h.to_hex()))
        .bind(new.hash_state.clone())
        .bind(now)
        .bind(now)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One upload by id.
    pub async fn upload(&self, id: &UploadId) -> Result<Option<UploadRow>> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?"
        )))
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    /// Sets the length of a deferred-length upload and reserves it against the quota.
    /// Returns false when the upload is not active or its length is already known.
    pub async fn declare_length(&self, id: &UploadId, length: i64, quota: u64) -> Result<bool> {
        with_retry(|| self.try_declare_length(id, length, quota)).await
    }

    async fn try_declare_length(&self, id: &UploadId, length: i64, quota: u64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&self.sql(
            "SELECT owner_id FROM uploads WHERE id = ? AND state = 'active' AND length IS NULL",
        ))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Explicitly: a dropped transaction's ROLLBACK is only sent when the pooled MySQL
            // connection is next used, holding its locks until then.
            tx.rollback().await?;
            return Ok(false);
        };
        let owner: i64 = row.try_get("owner_id")?;
        self.reserve(&mut tx, owner, length, quota).await?;
        sqlx::query(&self.sql("UPDATE uploads SET length = ?, reserved_bytes = ? WHERE id = ?"))
            .bind(length)
            .bind(length)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records an acknowledged offset with the matching hasher checkpoint, only if the stored
    /// offset is still `expected` and the upload active. `final_hash` is set with the last byte,
    /// before the file moves into the blob store, so an interrupted completion can be finished.
    pub async fn commit_offset(
        &self,
        id: &UploadId,
        expected: i64,
        offset: i64,
        hash_state: &[u8],
        final_hash: Option<&ContentHash>,
        expires_at: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            &self.sql("UPDATE uploads SET upload_offset = ?, hash_state = ?, final_blake3 = ?, \
             updated_at = ?, expires_at = ? WHERE id = ? AND upload_offset = ? AND state = 'active'"),
        )
        .bind(offset)
        .bind(hash_state.to_vec())
        .bind(final_hash.map(|h| h.to_hex()))
        .bind(now_millis())
        .bind(expires_at)
        .bind(id.as_str())
        .bind(expected)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finishes an upload: the blob gains a reference (created with `storage_key` if new), the
    /// video becomes `uploaded` with its hash and size, and a `process` job is queued — in one
    /// transaction. Returns false if the upload was not active (already completed: idempotent).
    pub async fn complete_upload(
        &self,
        id: &UploadId,
        hash: &ContentHash,
        size: i64,
        storage_key: &str,
    ) -> Result<bool> {
        with_retry(|| async {
            let now = now_millis();
            let mut tx = self.begin_write().await?;
            let Some(upload) = self.active_upload(&mut tx, id).await? else {
                tx.rollback().await?;
                return Ok(false);
            };
            // One upsert statement: an UPDATE-then-INSERT takes a gap lock on MySQL and two
            // completions of new content deadlock on it.
            let upsert = match self.backend() {
                Backend::Sqlite | Backend::Postgres => {
                    "INSERT INTO blobs (hash, storage_key, size_bytes, refcount, created_at) \
                     VALUES (?, ?, ?, 1, ?) ON CONFLICT(hash) DO UPDATE SET refcount = blobs.refcount + 1"
                }
                Backend::MySql => {
                    "INSERT INTO blobs (hash, storage_key, size_bytes, refcount, created_at) \
                     VALUES (?, ?, ?, 1, ?) ON DUPLICATE KEY UPDATE refcount = refcount + 1"
                }
            };
            sqlx::query(&self.sql(upsert))
                .bind(hash.to_hex())
                .bind(storage_key)
                .bind(size)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                &self.sql("UPDATE uploads SET state = 'complete', upload_offset = ?, length = ?, \
                 reserved_bytes = ?, final_blake3 = ?, proof_nonce = NULL, proof_ranges = NULL, \
                 updated_at = ? WHERE id = ?"),
            )
            .bind(size)
            .bind(size)
            .bind(size)
            .bind(hash.to_hex())
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            if upload.reserved_bytes != size {
                // Deferred-length uploads are charged what actually arrived.
                self.release(&mut tx, upload.owner_id, upload.reserved_bytes - size).await?;
            }
            sqlx::query(
                &self.sql("UPDATE videos SET status = ?, blake3 = ?, size_bytes = ?, updated_at = ? WHERE id = ?"),
            )
            .bind(VideoStatus::Uploaded.as_str())
            .bind(hash.to_hex())
            .bind(size)
            .bind(now)
            .bind(upload.video_id.as_str())
            .execute(&mut *tx)
            .await?;
            self.insert_job(&mut *tx, PROCESS_JOB, &upload.video_id, now).await?;
            tx.commit().await?;
            self.notify_job_queued();
            Ok(true)
        })
        .await
    }

    /// Ends an active upload as expired or terminated: its video goes, its reservation is
    /// released. Returns false if it was not active.
    pub async fn end_upload(&self, id: &UploadId, state: UploadState) -> Result<bool> {
        debug_assert!(matches!(
            state,
            UploadState::Expired | UploadState::Terminated
        ));
        with_retry(|| self.try_end_upload(id, state)).await
    }

    async fn try_end_upload(&self, id: &UploadId, state: UploadState) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let Some(upload) = self.active_upload(&mut tx, id).await? else {
            tx.rollback().await?;
            return Ok(false);
        };
        sqlx::query(&self.sql(
            "UPDATE uploads SET state = ?, reserved_bytes = 0, hash_state = ?, updated_at = ? \
             WHERE id = ?",
        ))
        .bind(state.as_str())
        .bind(Vec::<u8>::new())
        .bind(now_millis())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        self.release(&mut tx, upload.owner_id, upload.reserved_bytes)
            .await?;
        sqlx::query(&self.sql("DELETE FROM videos WHERE id = ? AND status = ?"))
            .bind(upload.video_id.as_str())
            .bind(VideoStatus::Uploading.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends the record of a completed upload (tus termination after the last byte): the upload
    /// id stops answering, its video and blob stay. False when it was not complete.
    pub async fn close_completed_upload(&self, id: &UploadId) -> Result<bool> {
        let done = sqlx::query(&self.sql(
            "UPDATE uploads SET state = ?, hash_state = ?, updated_at = ? \
             WHERE id = ? AND state = ?",
        ))
        .bind(UploadState::Terminated.as_str())
        .bind(Vec::<u8>::new())
        .bind(now_millis())
        .bind(id.as_str())
        .bind(UploadState::Complete.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The owner's active, unexpired uploads that announced this hash, newest first.
    pub async fn uploads_by_hash(
        &self,
        owner: UserId,
        hash: &ContentHash,
    ) -> Result<Vec<UploadRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE owner_id = ? AND announced_blake3 = ? \
             AND state = 'active' AND expires_at > ? ORDER BY created_at DESC LIMIT 20"
        )))
        .bind(owner)
        .bind(hash.to_hex())
        .bind(now_millis())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(upload_from_row).collect()
    }

    /// Active uploads whose expiry has passed.
    pub async fn expired_uploads(&self, now: i64, limit: i64) -> Result<Vec<UploadRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE state = 'active' AND expires_at <= ? \
             ORDER BY expires_at LIMIT ?"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(upload_from_row).collect()
    }

    /// Active uploads whose last byte landed but whose completion was interrupted (a crash
    /// between recording the final hash and the completion transaction).
    pub async fn interrupted_completions(&self) -> Result<Vec<UploadRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE state = 'active' AND final_blake3 IS NOT NULL"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(upload_from_row).collect()
    }

    /// Stores a proof-of-possession challenge for the upload.
    pub async fn set_proof_challenge(
        &self,
        id: &UploadId,
        nonce: &str,
        ranges: &str,
    ) -> Result<()> {
        sqlx::query(&self.sql("UPDATE uploads SET proof_nonce = ?, proof_ranges = ? WHERE id = ?"))
            .bind(nonce)
            .bind(ranges)
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Spends the challenge: true only for the one caller that cleared it.
    pub async fn spend_proof_challenge(&self, id: &UploadId, nonce: &str) -> Result<bool> {
        let done = sqlx::query(&self.sql(
            "UPDATE uploads SET proof_nonce = NULL, proof_ranges = NULL \
             WHERE id = ? AND proof_nonce = ? AND state = 'active'",
        ))
        .bind(id.as_str())
        .bind(nonce)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
