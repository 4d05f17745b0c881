//! Comments, their likes and reports. A comment is top-level or a reply to a top-level one
//! (one level); counters (`reply_count`, `likes`) change in the transaction that changes the
//! rows they count. Every comment of a video gets the next `seq` of the video (the video row's
//! `comment_seq`, bumped under its row lock), so pages keyed by `seq` never skip or repeat a
//! comment while others are written.

use std::collections::HashSet;

use spool_model::{CommentId, UserId, VideoId, now_millis};
use sqlx::Row;

use crate::videos::corrupt;
use crate::{Result, Store, is_unique_violation, with_retry};

/// A comment as stored, with its author's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentRow {
    /// Its id.
    pub id: CommentId,
    /// The video it is about.
    pub video_id: VideoId,
    /// Who wrote it.
    pub author_id: UserId,
    /// The author's user name.
    pub author_name: String,
    /// The top-level comment it replies to; None when it is top-level.
    pub parent_id: Option<CommentId>,
    /// Position among the video's comments in commit order (1, 2, …).
    pub seq: i64,
    /// The text; empty once deleted.
    pub body: String,
    /// Replies that are not deleted (top-level comments only).
    pub reply_count: i64,
    /// Likes.
    pub likes: i64,
    /// Pinned by the video's owner (at most one per video).
    pub pinned: bool,
    /// Deleted: the row stays so its replies keep their thread, without text.
    pub deleted: bool,
    /// Unix ms.
    pub created_at: i64,
}

/// A comment to store; the caller checked the text and resolved the parent to a top-level
/// comment of the same video.
#[derive(Clone, Debug)]
pub struct NewComment<'a> {
    /// A fresh id.
    pub id: CommentId,
    /// The video.
    pub video_id: &'a VideoId,
    /// The author.
    pub author: UserId,
    /// The top-level comment replied to.
    pub parent_id: Option<&'a CommentId>,
    /// The checked text.
    pub body: &'a str,
}

/// What storing a comment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommentInsert {
    /// Stored, as it is now.
    Inserted(CommentRow),
    /// The video does not exist (any more).
    NoVideo,
    /// The parent is not a live top-level comment of the video (any more).
    NoParent,
}

/// How a video's top-level comments are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentOrder {
    /// Newest first.
    Newest,
    /// Most liked first, newest first among equals.
    Top,
}

/// Where a page of comments ends: the last comment's likes (top order) and seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommentCursor {
    /// Likes of the last comment served (only the top order uses it).
    pub likes: i64,
    /// Seq of the last comment served.
    pub seq: i64,
}

/// A report of a comment, with what the admins need to judge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentReport {
    /// The report's id (newest reports have the largest).
    pub id: i64,
    /// The comment as it is now.
    pub comment: CommentRow,
    /// Who reported it.
    pub reporter_name: String,
    /// Why.
    pub reason: String,
    /// Unix ms.
    pub created_at: i64,
}

const COMMENT_SELECT: &str = "SELECT c.id, c.video_id, c.author_id, u.name AS author_name, \
    c.parent_id, c.seq, c.body, c.reply_count, c.likes, c.pinned, c.deleted, c.created_at \
    FROM comments c JOIN users u ON u.id = c.author_id";

/// Top-level comments listed: not the pinned one (it is answered apart), and deleted ones
/// only while replies hang under them.
const LISTED_TOP_LEVEL: &str = "c.video_id = ? AND c.parent_id IS NULL AND c.pinned = 0 \
    AND (c.deleted = 0 OR c.reply_count > 0)";

fn comment_from_row(row: &sqlx::any::AnyRow) -> Result<CommentRow> {
    let id: String = row.try_get("id")?;
    let video_id: String = row.try_get("video_id")?;
    let parent_id: Option<String> = row.try_get("parent_id")?;
    Ok(CommentRow {
        id: id.parse().map_err(corrupt)?,
        video_id: video_id.parse().map_err(corrupt)?,
        author_id: row.try_get("author_id")?,
        author_name: row.try_get("author_name")?,
        parent_id: parent_id.map(|p| p.parse()).transpose().map_err(corrupt)?,
        seq: row.try_get("seq")?,
        body: row.try_get("body")?,
        reply_count: row.try_get("reply_count")?,
        likes: row.try_get("likes")?,
        pinned: row.try_get::<i64, _>("pinned")? != 0,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Stores a comment: the video's next seq and the parent's reply count in one transaction.
    pub async fn insert_comment(&self, new: &NewComment<'_>) -> Result<CommentInsert> {
        with_retry(|| self.try_insert_comment(new)).await
    }

    async fn try_insert_comment(&self, new: &NewComment<'_>) -> Result<CommentInsert> {
        let mut tx = self.begin_write().await?;
        // The video's row lock orders its comments: seq is handed out in commit order.
        let bumped =
            sqlx::query(&self.sql("UPDATE videos SET comment_seq = comment_seq + 1 WHERE id = ?"))
                .bind(new.video_id.as_str())
                .execute(&mut *tx)
                .await?;
        if bumped.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(CommentInsert::NoVideo);
        }
        let seq: i64 = sqlx::query(&self.sql("SELECT comment_seq FROM videos WHERE id = ?"))
            .bind(new.video_id.as_str())
            .fetch_one(&mut *tx)
            .await?
            .try_get("comment_seq")?;
        if let Some(parent) = new.parent_id {
            let counted = sqlx::query(&self.sql(
                "UPDATE comments SET reply_count = reply_count + 1 \
                 WHERE id = ? AND video_id = ? AND parent_id IS NULL AND deleted = 0",
            ))
            .bind(parent.as_str())
            .bind(new.video_id.as_str())
            .execute(&mut *tx)
            .await?;
            if counted.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(CommentInsert::NoParent);
            }
        }
        sqlx::query(&self.sql(
            "INSERT INTO comments (id, video_id, author_id, parent_id, seq, body, reply_count, \
             likes, pinned, deleted, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, ?)",
        ))
        .bind(new.id.as_str())
        .bind(new.video_id.as_str())
        .bind(new.author)
        .bind(new.parent_id.map(|p| p.as_str().to_owned()))
        .bind(seq)
        .bind(new.body)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&self.sql(&format!("{COMMENT_SELECT} WHERE c.id = ?")))
            .bind(new.id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let row = comment_from_row(&row)?;
        tx.commit().await?;
        Ok(CommentInsert::Inserted(row))
    }

    /// One comment, deleted or not.
    pub async fn comment(&self, id: &CommentId) -> Result<Option<CommentRow>> {
        let row = sqlx::query(&self.sql(&format!("{COMMENT_SELECT} WHERE c.id = ?")))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(comment_from_row).transpose()
    }

    /// A video's listed top-level comments in `order`, at most `limit`, strictly after
    /// `after`.
    pub async fn list_comments(
        &self,
        video: &VideoId,
        order: CommentOrder,
        after: Option<CommentCursor>,
        limit: u32,
    ) -> Result<Vec<CommentRow>> {
        // Expanded ORs, not row values, so both engines range-scan the indexes.
        let (keyset, order_by) = match order {
            CommentOrder::Newest => (" AND c.seq < ?", "c.seq DESC"),
            CommentOrder::Top => (
                " AND (c.likes < ? OR (c.likes = ? AND c.seq < ?))",
                "c.likes DESC, c.seq DESC",
            ),
        };
        let keyset = if after.is_some() { keyset } else { "" };
        let sql = format!(
            "{COMMENT_SELECT} WHERE {LISTED_TOP_LEVEL}{keyset} ORDER BY {order_by} LIMIT ?"
        );
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql).bind(video.as_str());
        if let Some(cursor) = after {
            if order == CommentOrder::Top {
                query = query.bind(cursor.likes).bind(cursor.likes);
            }
            query = query.bind(cursor.seq);
        }
        let rows = query.bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.iter().map(comment_from_row).collect()
    }

    /// The video's pinned comment, if any.
    pub async fn pinned_comment(&self, video: &VideoId) -> Result<Option<CommentRow>> {
        let row = sqlx::query(&self.sql(&format!(
            "{COMMENT_SELECT} WHERE c.video_id = ? AND c.pinned = 1"
        )))
        .bind(video.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(comment_from_row).transpose()
    }

    /// The first `per_parent` live replies of each of `parents`, oldest first, in one query.
    pub async fn first_replies(
        &self,
        parents: &[CommentId],
        per_parent: u32,
    ) -> Result<Vec<CommentRow>> {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; parents.len()].join(", ");
        let sql = format!(
            "SELECT * FROM (SELECT c.id, c.video_id, c.author_id, u.name AS author_name, \
             c.parent_id, c.seq, c.body, c.reply_count, c.likes, c.pinned, c.deleted, \
             c.created_at, ROW_NUMBER() OVER (PARTITION BY c.parent_id ORDER BY c.seq) AS nth \
             FROM comments c JOIN users u ON u.id = c.author_id \
             WHERE c.parent_id IN ({marks}) AND c.deleted = 0) r \
             WHERE r.nth <= ? ORDER BY r.parent_id, r.seq"
        );
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql);
        for parent in parents {
            query = query.bind(parent.as_str());
        }
        let rows = query
            .bind(i64::from(per_parent))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(comment_from_row).collect()
    }

    /// Live replies of `parent`, oldest first, at most `limit`, with seq after `after_seq`.
    pub async fn list_replies(
        &self,
        parent: &CommentId,
        after_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<CommentRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "{COMMENT_SELECT} WHERE c.parent_id = ? AND c.deleted = 0 AND c.seq > ? \
             ORDER BY c.seq LIMIT ?"
        )))
        .bind(parent.as_str())
        .bind(after_seq.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(comment_from_row).collect()
    }

    /// Deletes a comment softly (text emptied, unpinned; a reply no longer counts in its
    /// parent). False when it was already deleted or does not exist.
    pub async fn delete_comment(&self, id: &CommentId) -> Result<bool> {
        with_retry(|| self.try_delete_comment(id)).await
    }

    async fn try_delete_comment(&self, id: &CommentId) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let gone = sqlx::query(&self.sql(
            "UPDATE comments SET deleted = 1, body = '', pinned = 0 WHERE id = ? AND deleted = 0",
        ))
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if gone.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let parent: Option<String> =
            sqlx::query(&self.sql("SELECT parent_id FROM comments WHERE id = ?"))
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await?
                .try_get("parent_id")?;
        if let Some(parent) = parent {
            sqlx::query(
                &self.sql("UPDATE comments SET reply_count = reply_count - 1 WHERE id = ?"),
            )
            .bind(parent)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Pins `id` on `video`, unpinning whatever was pinned there. False (nothing changed)
    /// when `id` is not a live top-level comment of `video`.
    pub async fn pin_comment(&self, video: &VideoId, id: &CommentId) -> Result<bool> {
        with_retry(|| self.try_pin_comment(video, id)).await
    }

    async fn try_pin_comment(&self, video: &VideoId, id: &CommentId) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        // The video's row lock: two pins on one video serialize, so one stays pinned.
        sqlx::query(&self.sql("UPDATE videos SET comment_seq = comment_seq + 0 WHERE id = ?"))
            .bind(video.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(&self.sql("UPDATE comments SET pinned = 0 WHERE video_id = ? AND pinned = 1"))
            .bind(video.as_str())
            .execute(&mut *tx)
            .await?;
        let pinned = sqlx::query(&self.sql(
            "UPDATE comments SET pinned = 1 \
             WHERE id = ? AND video_id = ? AND parent_id IS NULL AND deleted = 0",
        ))
        .bind(id.as_str())
        .bind(video.as_str())
        .execute(&mut *tx)
        .await?;
        if pinned.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Unpins `id` (a no-op when it is not pinned).
    pub async fn unpin_comment(&self, id: &CommentId) -> Result<()> {
        sqlx::query(&self.sql("UPDATE comments SET pinned = 0 WHERE id = ?"))
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records that `user` likes (or no longer likes) a comment; its likes after the change,
    /// None when the comment does not exist. Idempotent.
    pub async fn set_comment_like(
        &self,
        user: UserId,
        id: &CommentId,
        liked: bool,
    ) -> Result<Option<i64>> {
        with_retry(|| self.try_set_comment_like(user, id, liked)).await
    }

    async fn try_set_comment_like(
        &self,
        user: UserId,
        id: &CommentId,
        liked: bool,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await?;
        // The comment's row lock first (MySQL), so one user's likes serialize here.
        let found = sqlx::query(&self.sql("UPDATE comments SET likes = likes + 0 WHERE id = ?"))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let exists = found.rows_affected() == 1
            || sqlx::query(&self.sql("SELECT id FROM comments WHERE id = ?"))
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if !exists {
            tx.rollback().await?;
            return Ok(None);
        }
        let had = sqlx::query(
            &self.sql("SELECT user_id FROM comment_likes WHERE user_id = ? AND comment_id = ?"),
        )
        .bind(user)
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if had != liked {
            if liked {
                sqlx::query(&self.sql(
                    "INSERT INTO comment_likes (user_id, comment_id, created_at) VALUES (?, ?, ?)",
                ))
                .bind(user)
                .bind(id.as_str())
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(
                    &self.sql("DELETE FROM comment_likes WHERE user_id = ? AND comment_id = ?"),
                )
                .bind(user)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(&self.sql("UPDATE comments SET likes = likes + ? WHERE id = ?"))
                .bind(if liked { 1i64 } else { -1 })
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let likes: i64 = sqlx::query(&self.sql("SELECT likes FROM comments WHERE id = ?"))
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?
            .try_get("likes")?;
        tx.commit().await?;
        Ok(Some(likes))
    }

    /// Which of `ids` `user` likes.
    pub async fn comment_likes_of(
        &self,
        user: UserId,
        ids: &[CommentId],
    ) -> Result<HashSet<CommentId>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!(
            "SELECT comment_id FROM comment_likes WHERE user_id = ? AND comment_id IN ({marks})"
        );
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql).bind(user);
        for id in ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("comment_id")?;
                id.parse().map_err(corrupt)
            })
            .collect()
    }

    /// Records `reporter`'s report of a comment. False when they had reported it already
    /// (the first reason stands).
    pub async fn report_comment(
        &self,
        id: &CommentId,
        reporter: UserId,
        reason: &str,
    ) -> Result<bool> {
        let result = sqlx::query(&self.sql(
            "INSERT INTO comment_reports (comment_id, reporter_id, reason, created_at) \
             VALUES (?, ?, ?, ?)",
        ))
        .bind(id.as_str())
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

    /// Reports newest first, at most `limit`, with ids below `before`.
    pub async fn list_comment_reports(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<CommentReport>> {
        let rows = sqlx::query(&self.sql(
            "SELECT r.id AS report_id, r.reason, r.created_at AS reported_at, \
             ru.name AS reporter_name, c.id, c.video_id, c.author_id, u.name AS author_name, \
             c.parent_id, c.seq, c.body, c.reply_count, c.likes, c.pinned, c.deleted, \
             c.created_at FROM comment_reports r \
             JOIN comments c ON c.id = r.comment_id \
             JOIN users u ON u.id = c.author_id \
             JOIN users ru ON ru.id = r.reporter_id \
             WHERE r.id < ? ORDER BY r.id DESC LIMIT ?",
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CommentReport {
                    id: row.try_get("report_id")?,
                    comment: comment_from_row(row)?,
                    reporter_name: row.try_get("reporter_name")?,
                    reason: row.try_get("reason")?,
                    created_at: row.try_get("reported_at")?,
                })
            })
            .collect()
    }
}
