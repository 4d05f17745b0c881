//! Moderation's tables: hash lists and their entries, videos' frame hashes and what they
//! matched, users' reports of videos and danmaku, holds and the audit trail of decisions, bans.
//! A hold, a release or a ban is one transaction with its audit row.

use spool_model::{UserId, VideoId, now_millis};
use sqlx::Row;

use crate::videos::{VIDEO_SELECT, video_from_row};
use crate::{MetadataError, Result, Store, VideoRow, is_unique_violation, with_retry};

/// Rows per multi-row INSERT (SQLite allows 32,766 bound values; MySQL 65,535).
const INSERT_BATCH: usize = 500;

/// A hash list as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashListRow {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// `pdq` or `blake3`.
    pub kind: String,
    /// How many entries it holds.
    pub entries: i64,
    /// Who created it (a user name, or `cli`).
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
}

/// One entry of a list to import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewListEntry {
    /// 64 lower-case hex digits.
    pub hash: String,
    /// PDQ quality, when known.
    pub quality: Option<i64>,
    /// Free text (may be empty).
    pub label: String,
}

/// A stored entry with its list, as the index is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEntryRow {
    /// Row id (stable; the index refers to it).
    pub id: i64,
    /// The list's name.
    pub list: String,
    /// `pdq` or `blake3`.
    pub kind: String,
    /// 64 lower-case hex digits.
    pub hash: String,
    /// Free text (may be empty).
    pub label: String,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedList {
    /// The list after the import.
    pub list: HashListRow,
    /// Entries written.
    pub imported: u64,
    /// Entries already in the list (or repeated in the file), not written twice.
    pub duplicates: u64,
    /// The ids of the rows written.
    pub new_ids: Vec<i64>,
}

/// A sampled frame's hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHashRow {
    /// Offset in the video, ms.
    pub at_ms: i64,
    /// 64 lower-case hex digits.
    pub hash: String,
    /// PDQ quality (50-100: lower ones are not kept).
    pub quality: i64,
}

/// What held a video: one matched list item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchRow {
    /// The list's name.
    pub list: String,
    /// The item (a label's stem, or a lone entry's hash).
    pub item: String,
    /// Percent of the item's distinct hashes with a frame of the video within the radius.
    pub query_share: i64,
    /// Percent of the video's distinct frame hashes with a counterpart in the item.
    pub compared_share: i64,
    /// The frame pairs shown to reviewers (JSON).
    pub pairs: String,
}

/// A user's report of a video or a danmaku.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRow {
    /// Row id (newest is largest).
    pub id: i64,
    /// `video` or `danmaku`.
    pub kind: String,
    /// The reported video's or danmaku's id.
    pub target_id: String,
    /// The video concerned.
    pub video_id: Option<String>,
    /// Who reported it.
    pub reporter: String,
    /// Why.
    pub reason: String,
    /// Unix ms.
    pub created_at: i64,
}

/// One audited decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionRow {
    /// Row id (newest is largest).
    pub id: i64,
    /// The video decided on (it may be gone).
    pub video_id: String,
    /// Its title then.
    pub video_title: String,
    /// Who decided; `None` for the system (a match, reports).
    pub actor: Option<String>,
    /// `hold`, `approve`, `remove` or `ban`.
    pub action: String,
    /// Why.
    pub reason: String,
    /// Unix ms.
    pub created_at: i64,
}

/// Who makes a decision: a user, or the system (`None`).
pub type Actor<'a> = Option<(UserId, &'a str)>;

const LIST_SELECT: &str = "SELECT l.id, l.name, l.kind, l.created_by, l.created_at, \
    (SELECT COUNT(*) FROM hash_list_entries e WHERE e.list_id = l.id) AS entries \
    FROM hash_lists l";

fn list_from_row(row: &sqlx::any::AnyRow) -> Result<HashListRow> {
    Ok(HashListRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        entries: row.try_get("entries")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

fn decision_from_row(row: &sqlx::any::AnyRow) -> Result<DecisionRow> {
    Ok(DecisionRow {
        id: row.try_get("id")?,
        video_id: row.try_get("video_id")?,
        video_title: row.try_get("video_title")?,
        actor: row.try_get("actor_name")?,
        action: row.try_get("action")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
    })
}

fn report_from_row(row: &sqlx::any::AnyRow) -> Result<ReportRow> {
    Ok(ReportRow {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        target_id: row.try_get("target_id")?,
        video_id: row.try_get("video_id")?,
        reporter: row.try_get("reporter")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    async fn insert_decision(
        &self,
        conn: &mut sqlx::AnyConnection,
        video: &VideoRow,
        actor: Actor<'_>,
        action: &str,
        reason: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(&self.sql(
            "INSERT INTO moderation_decisions (video_id, video_title, owner_id, actor_id, \
             actor_name, action, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(video.id.as_str())
        .bind(&video.title)
        .bind(video.owner_id)
        .bind(actor.map(|a| a.0))
        .bind(actor.map(|a| a.1.to_owned()))
        .bind(action)
        .bind(reason)
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}

impl Store {
    /// Every list, by name.
    pub async fn hash_lists(&self) -> Result<Vec<HashListRow>> {
        let rows = sqlx::query(&self.sql(&format!("{LIST_SELECT} ORDER BY l.name")))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(list_from_row).collect()
    }

    /// The list named `name`.
    pub async fn hash_list(&self, name: &str) -> Result<Option<HashListRow>> {
        let row = sqlx::query(&self.sql(&format!("{LIST_SELECT} WHERE l.name = ?")))
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(list_from_row).transpose()
    }

    /// Adds `entries` to the list `name` of `kind`, creating it, in one transaction: all of
    /// them or none. Entries already in the list, or repeated, are counted as duplicates.
    /// `Err(InvalidInput)` when the list exists with another kind (callers check first, to
    /// answer it better; this is the race's answer).
    pub async fn import_hash_list(
        &self,
        name: &str,
        kind: &str,
        created_by: &str,
        entries: &[NewListEntry],
    ) -> Result<ImportedList> {
        with_retry(|| self.try_import(name, kind, created_by, entries)).await
    }

    async fn try_import(
        &self,
        name: &str,
        kind: &str,
        created_by: &str,
        entries: &[NewListEntry],
    ) -> Result<ImportedList> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        let existing = sqlx::query(&self.sql("SELECT id, kind FROM hash_lists WHERE name = ?"))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let list_id: i64 = match existing {
            Some(row) => {
                let stored: String = row.try_get("kind")?;
                if stored != kind {
                    return Err(MetadataError::InvalidInput(format!(
                        "list {name} holds {stored} hashes, not {kind}"
                    )));
                }
                row.try_get("id")?
            }
            None => {
                sqlx::query(&self.sql(
                    "INSERT INTO hash_lists (name, kind, created_by, created_at) \
                     VALUES (?, ?, ?, ?)",
                ))
                .bind(name)
                .bind(kind)
                .bind(created_by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(&self.sql("SELECT id FROM hash_lists WHERE name = ?"))
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("id")?
            }
        };
        let mut seen: std::collections::HashSet<String> =
            sqlx::query(&self.sql("SELECT hash FROM hash_list_entries WHERE list_id = ?"))
                .bind(list_id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| row.try_get("hash"))
                .collect::<std::result::Result<_, _>>()?;
        let fresh: Vec<&NewListEntry> = entries
            .iter()
            .filter(|e| seen.insert(e.hash.clone()))
            .collect();
        let before: i64 =
            sqlx::query(&self.sql("SELECT COALESCE(MAX(id), 0) AS top FROM hash_list_entries"))
                .fetch_one(&mut *tx)
                .await?
                .try_get("top")?;
        for chunk in fresh.chunks(INSERT_BATCH) {
            let values = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO hash_list_entries (list_id, hash, quality, label) VALUES {values}"
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for entry in chunk {
                query = query
                    .bind(list_id)
                    .bind(&entry.hash)
                    .bind(entry.quality)
                    .bind(&entry.label);
            }
            query.execute(&mut *tx).await?;
        }
        // The rows this transaction wrote: ids above the largest before it (writers are
        // serialized by the unique index on (list_id, hash) and the engines' id allocation).
        let new_ids = sqlx::query(
            &self.sql("SELECT id FROM hash_list_entries WHERE list_id = ? AND id > ? ORDER BY id"),
        )
        .bind(list_id)
        .bind(before)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<std::result::Result<Vec<i64>, _>>()?;
        let list = list_from_row(
            &sqlx::query(&self.sql(&format!("{LIST_SELECT} WHERE l.id = ?")))
                .bind(list_id)
                .fetch_one(&mut *tx)
                .await?,
        )?;
        tx.commit().await?;
        Ok(ImportedList {
            list,
            imported: fresh.len() as u64,
            duplicates: (entries.len() - fresh.len()) as u64,
            new_ids,
        })
    }

    /// Deletes the list `name` with its entries. False when there is none.
    pub async fn delete_hash_list(&self, name: &str) -> Result<bool> {
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            let Some(row) = sqlx::query(&self.sql("SELECT id FROM hash_lists WHERE name = ?"))
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(false);
            };
            let id: i64 = row.try_get("id")?;
            // Explicitly: SQLite enforces ON DELETE CASCADE only with foreign keys on.
            sqlx::query(&self.sql("DELETE FROM hash_list_entries WHERE list_id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&self.sql("DELETE FROM hash_lists WHERE id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Entries with ids above `after`, in id order, at most `limit` (to build the index in
    /// pages).
    pub async fn list_entries_after(&self, after: i64, limit: u32) -> Result<Vec<ListEntryRow>> {
        let rows = sqlx::query(&self.sql(
            "SELECT e.id, l.name, l.kind, e.hash, e.label FROM hash_list_entries e \
             JOIN hash_lists l ON l.id = e.list_id WHERE e.id > ? ORDER BY e.id LIMIT ?",
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ListEntryRow {
                    id: row.try_get("id")?,
                    list: row.try_get("name")?,
                    kind: row.try_get("kind")?,
                    hash: row.try_get("hash")?,
                    label: row.try_get("label")?,
                })
            })
            .collect()
    }

    /// A value that changes whenever a list or an entry is added or removed (cheap: three
    /// index lookups), so a node can tell its in-memory lists are stale.
    pub async fn hash_lists_version(&self) -> Result<(i64, i64, i64)> {
        let row = sqlx::query(&self.sql(
            "SELECT (SELECT COUNT(*) FROM hash_lists) AS lists, \
             (SELECT COALESCE(MAX(id), 0) FROM hash_lists) AS top_list, \
             (SELECT COALESCE(MAX(id), 0) FROM hash_list_entries) AS top_entry",
        ))
        .fetch_one(self.pool())
        .await?;
        Ok((
            row.try_get("lists")?,
            row.try_get("top_list")?,
            row.try_get("top_entry")?,
        ))
    }

    /// Replaces the frame hashes of `video` (one transaction).
    pub async fn replace_frame_hashes(
        &self,
        video: &VideoId,
        frames: &[FrameHashRow],
    ) -> Result<()> {
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            sqlx::query(&self.sql("DELETE FROM video_frame_hashes WHERE video_id = ?"))
                .bind(video.as_str())
                .execute(&mut *tx)
                .await?;
            for chunk in frames.chunks(INSERT_BATCH) {
                let values = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
                let sql = format!(
                    "INSERT INTO video_frame_hashes (video_id, at_ms, hash, quality) VALUES {values}"
                );
                let sql = self.sql(&sql);
                let mut query = sqlx::query(&sql);
                for frame in chunk {
                    query = query
                        .bind(video.as_str())
                        .bind(frame.at_ms)
                        .bind(&frame.hash)
                        .bind(frame.quality);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// The frame hashes of `video`, by offset.
    pub async fn frame_hashes(&self, video: &VideoId) -> Result<Vec<FrameHashRow>> {
        let rows = sqlx::query(&self.sql(
            "SELECT at_ms, hash, quality FROM video_frame_hashes WHERE video_id = ? ORDER BY at_ms",
        ))
        .bind(video.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(FrameHashRow {
                    at_ms: row.try_get("at_ms")?,
                    hash: row.try_get("hash")?,
                    quality: row.try_get("quality")?,
                })
            })
            .collect()
    }

    /// Ids of videos with frame hashes, above `after` in id order, at most `limit`.
    pub async fn hashed_videos_after(&self, after: &str, limit: u32) -> Result<Vec<VideoId>> {
        let rows = sqlx::query(&self.sql(
            "SELECT DISTINCT video_id FROM video_frame_hashes WHERE video_id > ? \
             ORDER BY video_id LIMIT ?",
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("video_id")?;
                id.parse().map_err(crate::videos::corrupt)
            })
            .collect()
    }

    /// Videos whose source digest is `hash` (64 hex digits), any status.
    pub async fn videos_with_source(&self, hash: &str) -> Result<Vec<VideoId>> {
        let rows = sqlx::query(&self.sql("SELECT id FROM videos WHERE blake3 = ?"))
            .bind(hash)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                id.parse().map_err(crate::videos::corrupt)
            })
            .collect()
    }

    /// Holds `video` with `reason` and what matched (replacing earlier matches), auditing the
    /// hold, in one transaction. False when the video is gone, uploading, or held already.
    pub async fn hold_video(
        &self,
        video: &VideoId,
        reason: &str,
        matches: &[MatchRow],
        actor: Actor<'_>,
    ) -> Result<bool> {
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            let now = now_millis();
            let Some(row) = sqlx::query(&self.sql(&format!("{VIDEO_SELECT} WHERE v.id = ?")))
                .bind(video.as_str())
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(false);
            };
            let row = video_from_row(&row)?;
            let held = sqlx::query(&self.sql(
                "UPDATE videos SET status = 'held', hold_reason = ?, held_at = ?, updated_at = ? \
                 WHERE id = ? AND status IN ('uploaded', 'processing', 'ready', 'failed')",
            ))
            .bind(reason)
            .bind(now)
            .bind(now)
            .bind(video.as_str())
            .execute(&mut *tx)
            .await?;
            if held.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(&self.sql("DELETE FROM video_matches WHERE video_id = ?"))
                .bind(video.as_str())
                .execute(&mut *tx)
                .await?;
            for m in matches {
                sqlx::query(&self.sql(
                    "INSERT INTO video_matches (video_id, list_name, item, query_share, \
                     compared_share, pairs, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(video.as_str())
                .bind(&m.list)
                .bind(&m.item)
                .bind(m.query_share)
                .bind(m.compared_share)
                .bind(&m.pairs)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            self.insert_decision(&mut tx, &row, actor, "hold", reason, now)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Releases a held video (an admin approved it): back to `failed` if its processing
    /// failed, `ready` if media is published, else `processing`; its open reports closed; the
    /// approval audited; one transaction. False when it is not held.
    pub async fn release_video(
        &self,
        video: &VideoId,
        actor: Actor<'_>,
        reason: &str,
    ) -> Result<bool> {
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            let now = now_millis();
            let Some(row) = sqlx::query(&self.sql(&format!("{VIDEO_SELECT} WHERE v.id = ?")))
                .bind(video.as_str())
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(false);
            };
            let row = video_from_row(&row)?;
            let released = sqlx::query(&self.sql(
                "UPDATE videos SET status = CASE WHEN error IS NOT NULL THEN 'failed' \
                 WHEN media IS NOT NULL THEN 'ready' ELSE 'processing' END, \
                 hold_reason = NULL, held_at = NULL, updated_at = ? \
                 WHERE id = ? AND status = 'held'",
            ))
            .bind(now)
            .bind(video.as_str())
            .execute(&mut *tx)
            .await?;
            if released.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(
                &self.sql(
                    "UPDATE reports SET closed_at = ? WHERE video_id = ? AND closed_at IS NULL",
                ),
            )
            .bind(now)
            .bind(video.as_str())
            .execute(&mut *tx)
            .await?;
            self.insert_decision(&mut tx, &row, actor, "approve", reason, now)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Audits a decision on its own (a removal or a ban, before the catalogue deletes the
    /// video), closing the video's open reports.
    pub async fn record_decision(
        &self,
        video: &VideoRow,
        actor: Actor<'_>,
        action: &str,
        reason: &str,
    ) -> Result<()> {
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            let now = now_millis();
            sqlx::query(
                &self.sql(
                    "UPDATE reports SET closed_at = ? WHERE video_id = ? AND closed_at IS NULL",
                ),
            )
            .bind(now)
            .bind(video.id.as_str())
            .execute(&mut *tx)
            .await?;
            self.insert_decision(&mut tx, video, actor, action, reason, now)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// What matched `video` when it was held.
    pub async fn video_matches(&self, video: &VideoId) -> Result<Vec<MatchRow>> {
        let rows = sqlx::query(&self.sql(
            "SELECT list_name, item, query_share, compared_share, pairs FROM video_matches \
             WHERE video_id = ? ORDER BY query_share DESC, list_name, item",
        ))
        .bind(video.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MatchRow {
                    list: row.try_get("list_name")?,
                    item: row.try_get("item")?,
                    query_share: row.try_get("query_share")?,
                    compared_share: row.try_get("compared_share")?,
                    pairs: row.try_get("pairs")?,
                })
            })
            .collect()
    }

    /// Held videos, oldest hold first, after the cursor `(held_at, id)`, at most `limit`.
    pub async fn held_videos(
        &self,
        after: Option<(i64, &str)>,
        limit: u32,
    ) -> Result<Vec<VideoRow>> {
        let (at, id) = after.unwrap_or((i64::MIN, ""));
        let rows = sqlx::query(&self.sql(&format!(
            "{VIDEO_SELECT} WHERE v.status = 'held' AND (v.held_at > ? OR (v.held_at = ? AND v.id > ?)) \
             ORDER BY v.held_at, v.id LIMIT ?"
        )))
        .bind(at)
        .bind(at)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(video_from_row).collect()
    }

    /// Records `reporter`'s report; false when they had reported it already.
    pub async fn insert_report(
        &self,
        kind: &str,
        target_id: &str,
        video: Option<&VideoId>,
        reporter: UserId,
        reason: &str,
    ) -> Result<bool> {
        let result = sqlx::query(&self.sql(
            "INSERT INTO reports (kind, target_id, video_id, reporter_id, reason, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        ))
        .bind(kind)
        .bind(target_id)
        .bind(video.map(VideoId::as_str))
        .bind(reporter)
        .bind(reason)
        .bind(now_millis())
        .execute(self.pool())
        .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// How many distinct users reported `video` itself since its last decision.
    pub async fn open_video_reports(&self, video: &VideoId) -> Result<i64> {
        Ok(sqlx::query(&self.sql(
            "SELECT COUNT(*) AS n FROM reports WHERE kind = 'video' AND target_id = ? \
             AND closed_at IS NULL",
        ))
        .bind(video.as_str())
        .fetch_one(self.pool())
        .await?
        .try_get("n")?)
    }

    /// Open reports, newest first, with ids below `before`, at most `limit`; of one video
    /// (itself and its danmaku) when `video` is given.
    pub async fn open_reports(
        &self,
        video: Option<&VideoId>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ReportRow>> {
        let rows = sqlx::query(&self.sql(
            "SELECT r.id, r.kind, r.target_id, r.video_id, u.name AS reporter, r.reason, \
             r.created_at FROM reports r JOIN users u ON u.id = r.reporter_id \
             WHERE r.closed_at IS NULL AND r.id < ? AND (? = '' OR r.video_id = ?) \
             ORDER BY r.id DESC LIMIT ?",
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(video.map_or("", VideoId::as_str))
        .bind(video.map_or("", VideoId::as_str))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(report_from_row).collect()
    }

    /// Decisions on `video`, oldest first.
    pub async fn video_decisions(&self, video: &VideoId) -> Result<Vec<DecisionRow>> {
        let rows = sqlx::query(&self.sql(
            "SELECT id, video_id, video_title, actor_name, action, reason, created_at \
             FROM moderation_decisions WHERE video_id = ? ORDER BY id",
        ))
        .bind(video.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(decision_from_row).collect()
    }

    /// The audit trail, newest first, ids below `before`, at most `limit`.
    pub async fn decisions(&self, before: Option<i64>, limit: u32) -> Result<Vec<DecisionRow>> {
        let rows = sqlx::query(&self.sql(
            "SELECT id, video_id, video_title, actor_name, action, reason, created_at \
             FROM moderation_decisions WHERE id < ? ORDER BY id DESC LIMIT ?",
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(decision_from_row).collect()
    }

    /// Bans `user`: they can no longer sign in, and their sessions and tokens end, in one
    /// transaction. False when there is no such user.
    pub async fn ban_user(&self, user: UserId) -> Result<bool> {
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(
                &self.sql("UPDATE users SET banned_at = COALESCE(banned_at, ?) WHERE id = ?"),
            )
            .bind(now_millis())
            .bind(user)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            for table in ["sessions", "api_tokens"] {
                sqlx::query(&self.sql(&format!("DELETE FROM {table} WHERE user_id = ?")))
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Ids of `owner`'s videos that could be held (not uploading, not held already).
    pub async fn holdable_videos_of(&self, owner: UserId) -> Result<Vec<VideoId>> {
        let rows = sqlx::query(&self.sql(
            "SELECT id FROM videos WHERE owner_id = ? \
             AND status IN ('uploaded', 'processing', 'ready', 'failed')",
        ))
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                id.parse().map_err(crate::videos::corrupt)
            })
            .collect()
    }
}
