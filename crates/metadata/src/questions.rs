//! Live Q&A: questions to a room's host. Votes are one row per (question, user) and a count on
//! the question, changed together in one transaction; pinning one question unpins the room's
//! others in the same transaction, so a room has at most one pinned.

use spool_model::{RoomId, UserId, now_millis};
use sqlx::Row;

use crate::videos::corrupt;
use crate::{Result, Store, last_insert_id, with_retry};

/// A question as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct QuestionRow {
    /// Increasing id.
    pub id: i64,
    /// The room it was asked in.
    pub room_id: RoomId,
    /// Who asked.
    pub author_id: UserId,
    /// Their name.
    pub author: String,
    /// The question.
    pub text: String,
    /// Upvotes.
    pub votes: i64,
    /// The host shows it now.
    pub pinned: bool,
    /// When the host marked it answered (Unix ms).
    pub answered_at: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// When it was taken down.
    pub deleted_at: Option<i64>,
}

const QUESTION_SELECT: &str = "SELECT q.id, q.room_id, q.author_id, u.name AS author, q.text, \
    q.votes, q.pinned, q.answered_at, q.created_at, q.deleted_at \
    FROM questions q JOIN users u ON u.id = q.author_id";

fn question_from_row(row: &sqlx::any::AnyRow) -> Result<QuestionRow> {
    let room: String = row.try_get("room_id")?;
    Ok(QuestionRow {
        id: row.try_get("id")?,
        room_id: room
            .parse()
            .map_err(|_| corrupt(format!("questions.room_id {room:?}")))?,
        author_id: row.try_get("author_id")?,
        author: row.try_get("author")?,
        text: row.try_get("text")?,
        votes: row.try_get("votes")?,
        pinned: row.try_get::<i64, _>("pinned")? != 0,
        answered_at: row.try_get("answered_at")?,
        created_at: row.try_get("created_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

impl Store {
    /// Stores a question.
    pub async fn insert_question(
        &self,
        room: &RoomId,
        author: UserId,
        text: &str,
    ) -> Result<QuestionRow> {
        let mut conn = self.pool().acquire().await?;
        sqlx::query(&self.sql(
            "INSERT INTO questions (room_id, author_id, text, votes, pinned, created_at) \
             VALUES (?, ?, ?, 0, 0, ?)",
        ))
        .bind(room.as_str())
        .bind(author)
        .bind(text)
        .bind(now_millis())
        .execute(&mut *conn)
        .await?;
        let id = last_insert_id(self.backend(), &mut conn).await?;
        drop(conn);
        self.question(id)
            .await?
            .ok_or_else(|| corrupt("question vanished after insert"))
    }

    /// One question (deleted ones too).
    pub async fn question(&self, id: i64) -> Result<Option<QuestionRow>> {
        let row = sqlx::query(&self.sql(&format!("{QUESTION_SELECT} WHERE q.id = ?")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(question_from_row).transpose()
    }

    /// A room's questions, not deleted: the pinned one first, then unanswered by votes, then
    /// answered; at most `limit`.
    pub async fn questions(&self, room: &RoomId, limit: i64) -> Result<Vec<QuestionRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "{QUESTION_SELECT} WHERE q.room_id = ? AND q.deleted_at IS NULL \
             ORDER BY q.pinned DESC, CASE WHEN q.answered_at IS NULL THEN 0 ELSE 1 END, \
             q.votes DESC, q.id LIMIT ?"
        )))
        .bind(room.as_str())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(question_from_row).collect()
    }

    /// Which of `ids` `user` voted for.
    pub async fn question_votes_of(&self, user: UserId, ids: &[i64]) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT question_id FROM question_votes WHERE user_id = ? AND question_id IN ({})",
            vec!["?"; ids.len()].join(", ")
        );
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql).bind(user);
        for id in ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(|r| Ok(r.try_get("question_id")?)).collect()
    }

    /// Records `user`'s vote for a question (or takes it back); voting twice counts once.
    /// None when the question does not exist or was deleted.
    pub async fn vote_question(
        &self,
        id: i64,
        user: UserId,
        on: bool,
    ) -> Result<Option<QuestionRow>> {
        let found = with_retry(|| async {
            let mut tx = self.begin_write().await?;
            // The question's row lock first (MySQL), so one user's two votes serialize.
            sqlx::query(&self.sql("UPDATE questions SET votes = votes WHERE id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let exists = sqlx::query(&self.sql("SELECT id FROM questions WHERE id = ? AND deleted_at IS NULL"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                tx.rollback().await?;
                return Ok(None);
            }
            let had = sqlx::query(&self.sql("SELECT user_id FROM question_votes WHERE question_id = ? AND user_id = ?"))
                .bind(id)
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if had != on {
                if on {
                    sqlx::query(
                        &self.sql("INSERT INTO question_votes (question_id, user_id, created_at) VALUES (?, ?, ?)"),
                    )
                    .bind(id)
                    .bind(user)
                    .bind(now_millis())
                    .execute(&mut *tx)
                    .await?;
                } else {
                    sqlx::query(&self.sql("DELETE FROM question_votes WHERE question_id = ? AND user_id = ?"))
                        .bind(id)
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(&self.sql("UPDATE questions SET votes = votes + ? WHERE id = ?"))
                    .bind(if on { 1i64 } else { -1 })
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(Some(()))
        })
        .await?;
        match found {
            Some(()) => self.question(id).await,
            None => Ok(None),
        }
    }

    /// Pins a question in its room (unpinning the room's others) or unpins it.
    pub async fn pin_question(&self, id: i64, pinned: bool) -> Result<Option<QuestionRow>> {
        let Some(question) = self.question(id).await? else {
            return Ok(None);
        };
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            if pinned {
                sqlx::query(
                    &self.sql("UPDATE questions SET pinned = 0 WHERE room_id = ? AND pinned = 1"),
                )
                .bind(question.room_id.as_str())
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(&self.sql("UPDATE questions SET pinned = ? WHERE id = ?"))
                .bind(i64::from(pinned))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.question(id).await
    }

    /// Marks a question answered (it also leaves the pin).
    pub async fn answer_question(&self, id: i64) -> Result<Option<QuestionRow>> {
        sqlx::query(&self.sql(
            "UPDATE questions SET answered_at = ?, pinned = 0 WHERE id = ? AND answered_at IS NULL",
        ))
        .bind(now_millis())
        .bind(id)
        .execute(self.pool())
        .await?;
        self.question(id).await
    }

    /// Takes a question down.
    pub async fn delete_question(&self, id: i64) -> Result<bool> {
        let done = sqlx::query(&self.sql(
            "UPDATE questions SET deleted_at = ?, pinned = 0 WHERE id = ? AND deleted_at IS NULL",
        ))
        .bind(now_millis())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
