//! Danmaku (bullet comments) and the rules around conversations: the keyword filter, block
//! lists, channel moderators and mutes. A danmaku is one row; deleting one stamps
//! `deleted_at` so a viewer resuming by cursor learns of the deletion.

use spool_model::{RoomId, UserId, VideoId, now_millis};
use sqlx::Row;

use crate::videos::corrupt;
use crate::{Result, Store, last_insert_id, with_retry};

/// A danmaku to store (checked by the interact crate first).
#[derive(Clone, Debug)]
pub struct NewDanmaku<'a> {
    /// The video it is over (for a live room: the room's recording).
    pub video_id: &'a VideoId,
    /// The live room it was sent in, if any.
    pub room_id: Option<&'a RoomId>,
    /// Who sent it.
    pub author_id: UserId,
    /// The text.
    pub text: &'a str,
    /// Where in the video (ms).
    pub time_ms: i64,
    /// scroll, top or bottom.
    pub mode: &'a str,
    /// 0xRRGGBB.
    pub color: i64,
    /// small, normal or large.
    pub size: &'a str,
    /// 1-10.
    pub weight: i64,
}

/// A stored danmaku.
#[derive(Clone, Debug, PartialEq)]
pub struct DanmakuRow {
    /// Increasing id (the resume cursor).
    pub id: i64,
    /// The video it is over.
    pub video_id: VideoId,
    /// The live room it was sent in.
    pub room_id: Option<RoomId>,
    /// Sender.
    pub author_id: UserId,
    /// Sender's name.
    pub author: String,
    /// The text.
    pub text: String,
    /// Where in the video (ms).
    pub time_ms: i64,
    /// scroll, top or bottom.
    pub mode: String,
    /// 0xRRGGBB.
    pub color: i64,
    /// small, normal or large.
    pub size: String,
    /// 1-10.
    pub weight: i64,
    /// Unix ms.
    pub created_at: i64,
    /// When a moderator or its author deleted it.
    pub deleted_at: Option<i64>,
}

/// A time window of a video's danmaku, at most `cap` of them.
#[derive(Clone, Debug, PartialEq)]
pub struct DanmakuWindow {
    /// The kept ones (highest weight first when over the cap), ordered by time.
    pub danmaku: Vec<DanmakuRow>,
    /// How many the window holds in all.
    pub total: i64,
}

const DANMAKU_SELECT: &str = "SELECT d.id, d.video_id, d.room_id, d.author_id, u.name AS author, \
    d.text, d.time_ms, d.mode, d.color, d.size, d.weight, d.created_at, d.deleted_at \
    FROM danmaku d JOIN users u ON u.id = d.author_id";

fn danmaku_from_row(row: &sqlx::any::AnyRow) -> Result<DanmakuRow> {
    let video: String = row.try_get("video_id")?;
    let room: Option<String> = row.try_get("room_id")?;
    Ok(DanmakuRow {
        id: row.try_get("id")?,
        video_id: video
            .parse()
            .map_err(|_| corrupt(format!("danmaku.video_id {video:?}")))?,
        room_id: match room {
            Some(room) => Some(
                room.parse()
                    .map_err(|_| corrupt(format!("danmaku.room_id {room:?}")))?,
            ),
            None => None,
        },
        author_id: row.try_get("author_id")?,
        author: row.try_get("author")?,
        text: row.try_get("text")?,
        time_ms: row.try_get("time_ms")?,
        mode: row.try_get("mode")?,
        color: row.try_get("color")?,
        size: row.try_get("size")?,
        weight: row.try_get("weight")?,
        created_at: row.try_get("created_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// `AND d.author_id NOT IN (?, ?, …)` for a block list (empty when there is none).
fn not_by(authors: &[UserId]) -> String {
    if authors.is_empty() {
        String::new()
    } else {
        format!(
            " AND d.author_id NOT IN ({})",
            vec!["?"; authors.len()].join(", ")
        )
    }
}

impl Store {
    /// Stores danmaku in one transaction (one fsync for a batch gathered from many
    /// senders) and returns each one's id and stored time, in order.
    pub async fn insert_danmaku(&self, batch: &[NewDanmaku<'_>]) -> Result<Vec<(i64, i64)>> {
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            let at = now_millis();
            let mut ids = Vec::with_capacity(batch.len());
            for new in batch {
                sqlx::query(&self.sql(
                    "INSERT INTO danmaku (video_id, room_id, author_id, text, time_ms, mode, \
                     color, size, weight, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(new.video_id.as_str())
                .bind(new.room_id.map(RoomId::as_str))
                .bind(new.author_id)
                .bind(new.text)
                .bind(new.time_ms)
                .bind(new.mode)
                .bind(new.color)
                .bind(new.size)
                .bind(new.weight)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                ids.push((last_insert_id(self.backend(), &mut tx).await?, at));
            }
            tx.commit().await?;
            Ok(ids)
        })
        .await
    }

    /// One danmaku by id (deleted ones too).
    pub async fn danmaku(&self, id: i64) -> Result<Option<DanmakuRow>> {
        let row = sqlx::query(&self.sql(&format!("{DANMAKU_SELECT} WHERE d.id = ?")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(danmaku_from_row).transpose()
    }

    /// The danmaku of `video` from `from_ms` (inclusive) to `to_ms` (exclusive), not deleted,
    /// not by `blocked`: all of them up to `cap`, else the `cap` of highest weight (earliest
    /// sent first among equals). Ordered by time.
    pub async fn danmaku_window(
        &self,
        video: &VideoId,
        from_ms: i64,
        to_ms: i64,
        cap: i64,
        blocked: &[UserId],
    ) -> Result<DanmakuWindow> {
        let filter = format!(
            "d.video_id = ? AND d.time_ms >= ? AND d.time_ms < ? AND d.deleted_at IS NULL{}",
            not_by(blocked)
        );
        let count_sql = format!("SELECT COUNT(*) AS n FROM danmaku d WHERE {filter}");
        let count_sql = self.sql(&count_sql);
        let mut count = sqlx::query(&count_sql)
            .bind(video.as_str())
            .bind(from_ms)
            .bind(to_ms);
        for author in blocked {
            count = count.bind(*author);
        }
        let total: i64 = count.fetch_one(self.pool()).await?.try_get("n")?;
        let select_sql =
            format!("{DANMAKU_SELECT} WHERE {filter} ORDER BY d.weight DESC, d.id LIMIT ?");
        let select_sql = self.sql(&select_sql);
        let mut query = sqlx::query(&select_sql)
            .bind(video.as_str())
            .bind(from_ms)
            .bind(to_ms);
        for author in blocked {
            query = query.bind(*author);
        }
        let rows = query.bind(cap).fetch_all(self.pool()).await?;
        let mut danmaku = rows
            .iter()
            .map(danmaku_from_row)
            .collect::<Result<Vec<_>>>()?;
        danmaku.sort_by_key(|d| (d.time_ms, d.id));
        Ok(DanmakuWindow { danmaku, total })
    }

    /// What was sent in live room `room` (or over `video` when no room) after id `after`,
    /// deleted ones included (so a resuming viewer removes them), oldest first, at most
    /// `limit`.
    pub async fn danmaku_since(
        &self,
        room: Option<&RoomId>,
        video: &VideoId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<DanmakuRow>> {
        let rows = match room {
            Some(room) => {
                sqlx::query(&self.sql(&format!(
                    "{DANMAKU_SELECT} WHERE d.room_id = ? AND d.id > ? ORDER BY d.id LIMIT ?"
                )))
                .bind(room.as_str())
                .bind(after)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&self.sql(&format!(
                    "{DANMAKU_SELECT} WHERE d.video_id = ? AND d.room_id IS NULL AND d.id > ? \
                     ORDER BY d.id LIMIT ?"
                )))
                .bind(video.as_str())
                .bind(after)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(danmaku_from_row).collect()
    }

    /// Marks a danmaku deleted; false when it was already deleted or does not exist.
    pub async fn delete_danmaku(&self, id: i64) -> Result<bool> {
        let done = sqlx::query(
            &self.sql("UPDATE danmaku SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL"),
        )
        .bind(now_millis())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The keyword filter's words.
    pub async fn chat_filter_words(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(&self.sql("SELECT word FROM chat_filter_words ORDER BY word"))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("word")?))
            .collect()
    }

    /// Replaces the keyword filter's words, all at once.
    pub async fn set_chat_filter_words(&self, words: &[String]) -> Result<()> {
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            sqlx::query(&self.sql("DELETE FROM chat_filter_words"))
                .execute(&mut *tx)
                .await?;
            let at = now_millis();
            for word in words {
                sqlx::query(
                    &self.sql("INSERT INTO chat_filter_words (word, created_at) VALUES (?, ?)"),
                )
                .bind(word)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Adds `blocked` to `user`'s block list (or takes it off). Idempotent.
    pub async fn set_block(&self, user: UserId, blocked: UserId, on: bool) -> Result<()> {
        if on {
            let exists = sqlx::query(
                &self.sql("SELECT 1 AS x FROM user_blocks WHERE user_id = ? AND blocked_id = ?"),
            )
            .bind(user)
            .bind(blocked)
            .fetch_optional(self.pool())
            .await?
            .is_some();
            if !exists {
                let inserted = sqlx::query(&self.sql(
                    "INSERT INTO user_blocks (user_id, blocked_id, created_at) VALUES (?, ?, ?)",
                ))
                .bind(user)
                .bind(blocked)
                .bind(now_millis())
                .execute(self.pool())
                .await;
                match inserted {
                    Err(e) if crate::is_unique_violation(&e) => {} // a concurrent twin
                    other => {
                        other?;
                    }
                }
            }
        } else {
            sqlx::query(&self.sql("DELETE FROM user_blocks WHERE user_id = ? AND blocked_id = ?"))
                .bind(user)
                .bind(blocked)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// Who `user` blocked: (id, name), by name.
    pub async fn blocks(&self, user: UserId) -> Result<Vec<(UserId, String)>> {
        let rows = sqlx::query(&self.sql(
            "SELECT b.blocked_id, u.name FROM user_blocks b JOIN users u ON u.id = b.blocked_id \
             WHERE b.user_id = ? ORDER BY u.name",
        ))
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("blocked_id")?, r.try_get("name")?)))
            .collect()
    }

    /// Appoints (or dismisses) `moderator` for `owner`'s videos and rooms. Idempotent.
    pub async fn set_moderator(&self, owner: UserId, moderator: UserId, on: bool) -> Result<()> {
        sqlx::query(
            &self.sql("DELETE FROM channel_moderators WHERE owner_id = ? AND moderator_id = ?"),
        )
        .bind(owner)
        .bind(moderator)
        .execute(self.pool())
        .await?;
        if on {
            sqlx::query(
                &self.sql("INSERT INTO channel_moderators (owner_id, moderator_id, created_at) VALUES (?, ?, ?)"),
            )
            .bind(owner)
            .bind(moderator)
            .bind(now_millis())
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// `owner`'s moderators: (id, name), by name.
    pub async fn moderators(&self, owner: UserId) -> Result<Vec<(UserId, String)>> {
        let rows = sqlx::query(&self.sql(
            "SELECT m.moderator_id, u.name FROM channel_moderators m \
             JOIN users u ON u.id = m.moderator_id WHERE m.owner_id = ? ORDER BY u.name",
        ))
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("moderator_id")?, r.try_get("name")?)))
            .collect()
    }

    /// True when `user` moderates `owner`'s conversations.
    pub async fn is_moderator(&self, owner: UserId, user: UserId) -> Result<bool> {
        Ok(sqlx::query(
            &self.sql(
                "SELECT 1 AS x FROM channel_moderators WHERE owner_id = ? AND moderator_id = ?",
            ),
        )
        .bind(owner)
        .bind(user)
        .fetch_optional(self.pool())
        .await?
        .is_some())
    }

    /// Mutes `user` in `scope` (`video:<id>` or `room:<id>`) until `until_ms` (0 lifts it).
    pub async fn set_mute(
        &self,
        scope: &str,
        user: UserId,
        until_ms: i64,
        by: UserId,
    ) -> Result<()> {
        with_retry(|| async {
            let mut tx = self.begin_write().await?;
            sqlx::query(&self.sql("DELETE FROM chat_mutes WHERE scope = ? AND user_id = ?"))
                .bind(scope)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            if until_ms > 0 {
                sqlx::query(
                    &self.sql("INSERT INTO chat_mutes (scope, user_id, until_ms, muted_by) VALUES (?, ?, ?, ?)"),
                )
                .bind(scope)
                .bind(user)
                .bind(until_ms)
                .bind(by)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Until when `user` is muted in `scope` (Unix ms), if at all.
    pub async fn muted_until(&self, scope: &str, user: UserId) -> Result<Option<i64>> {
        let row = sqlx::query(
            &self.sql("SELECT until_ms FROM chat_mutes WHERE scope = ? AND user_id = ?"),
        )
        .bind(scope)
        .bind(user)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get("until_ms")).transpose()?)
    }
}
