//! Comments under a video: threaded one level (a reply to a reply joins its top-level
//! comment's thread), newest or top (most liked) order with opaque cursors, likes, the owner's
//! pin, soft deletion and reports to the admins. Who may see a comment is who may see its
//! video (the catalog's policy); a new comment is announced on the video's chat topic and
//! recorded as a `comment` tracking event.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use spool_catalog::{Catalog, CatalogError};
use spool_events::Tracking;
use spool_events::tracking::EventType;
use spool_hub::{Hub, Topic};
use spool_metadata::{
    CommentCursor, CommentInsert, CommentOrder, CommentReport, CommentRow, MetadataError,
    NewComment, Store, User,
};
use spool_model::{CommentId, VideoId};
use spool_moderation::keywords::WordFilter;

/// Longest comment, in characters (after trimming).
pub const MAX_COMMENT_CHARS: usize = 2000;
/// Longest report reason, in characters (after trimming).
pub const MAX_REASON_CHARS: usize = 500;
/// Replies answered with each top-level comment of a page.
pub const FIRST_REPLIES: u32 = 3;
/// Largest page.
pub const MAX_PAGE: u32 = 50;

/// Why a comment operation failed, each with a stable machine code.
#[derive(Debug, thiserror::Error)]
pub enum CommentError {
    /// The comment (or its video) does not exist for this viewer.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A value past its limits; the message starts with the field (`text: ...`).
    #[error("{0}")]
    InvalidInput(String),
    /// A cursor this server did not hand out (or one for another order).
    #[error("`cursor` is not a cursor this server handed out for this listing")]
    InvalidCursor,
    /// Deleting someone else's comment on someone else's video.
    #[error("only the comment's author, the video's owner or an admin may delete it")]
    NotYours,
    /// Pinning on someone else's video.
    #[error("only the video's owner or an admin may pin its comments")]
    NotOwner,
    /// An admin-only listing.
    #[error("only admins may do this")]
    NotAdmin,
    /// Replying to, pinning or liking a deleted comment.
    #[error("the comment was deleted")]
    Deleted,
    /// Pinning a reply: only top-level comments are pinned.
    #[error("only a top-level comment can be pinned, not a reply")]
    IsReply,
    /// The text holds a word of the admins' keyword filter.
    #[error("the comment holds a filtered word")]
    Filtered,
    /// The catalog failed.
    #[error(transparent)]
    Catalog(CatalogError),
    /// The metadata store failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl CommentError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::InvalidInput(_) => "invalid_input",
            Self::InvalidCursor => "invalid_cursor",
            Self::NotYours => "not_comment_author",
            Self::NotOwner => "not_owner",
            Self::NotAdmin => "not_admin",
            Self::Deleted => "comment_deleted",
            Self::Filtered => "text_filtered",
            Self::IsReply => "comment_is_reply",
            Self::Catalog(e) => e.code(),
            Self::Metadata(e) => e.code(),
        }
    }
}

impl From<CatalogError> for CommentError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NotFound(what) => Self::NotFound(what),
            CatalogError::NotOwner => Self::NotOwner,
            CatalogError::Metadata(e) => Self::Metadata(e),
            other => Self::Catalog(other),
        }
    }
}

/// Shorthand for comment results.
pub type Result<T, E = CommentError> = std::result::Result<T, E>;

/// A comment as a viewer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentView {
    /// The stored comment (its body empty when deleted).
    pub row: CommentRow,
    /// Whether the viewer likes it (false when nobody is signed in).
    pub liked: bool,
}

/// A top-level comment with its first replies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    /// The top-level comment.
    pub comment: CommentView,
    /// Its first [`FIRST_REPLIES`] replies, oldest first; the rest by [`Comments::replies`].
    pub replies: Vec<CommentView>,
}

/// A page of a video's top-level comments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentPage {
    /// The pinned comment, on the first page only (it is not repeated in `threads`).
    pub pinned: Option<Thread>,
    /// Top-level comments in the asked order.
    pub threads: Vec<Thread>,
    /// The cursor of the next page; None on the last.
    pub next_cursor: Option<String>,
}

/// A page of one thread's replies, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyPage {
    /// The replies.
    pub replies: Vec<CommentView>,
    /// The cursor of the next page; None on the last.
    pub next_cursor: Option<String>,
}

/// A page of reports for the admins, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportPage {
    /// The reports.
    pub reports: Vec<CommentReport>,
    /// The cursor of the next page; None on the last.
    pub next_cursor: Option<String>,
}

/// The comment service; cheap to clone.
#[derive(Clone)]
pub struct Comments {
    store: Store,
    catalog: Catalog,
    hub: Hub,
    tracking: Arc<Tracking>,
    keywords: WordFilter,
}

/// Checks a comment's text: trimmed, 1 to [`MAX_COMMENT_CHARS`] characters, line breaks
/// kept (`\r\n` becomes `\n`), any other control character refused.
pub fn check_text(raw: &str) -> Result<String> {
    check_line(raw, "text", MAX_COMMENT_CHARS, true)
}

/// Checks a report's reason: trimmed, 1 to [`MAX_REASON_CHARS`] characters, one line.
pub fn check_reason(raw: &str) -> Result<String> {
    check_line(raw, "reason", MAX_REASON_CHARS, false)
}

fn check_line(raw: &str, field: &str, max: usize, multiline: bool) -> Result<String> {
    // Counted as sent (what a client's schema checks), before anything proportional to the
    // length is built.
    let too_long = raw.chars().nth(max).is_some();
    let text = raw.replace("\r\n", "\n");
    let text = text.trim();
    if text.is_empty() {
        return Err(CommentError::InvalidInput(format!(
            "{field}: must not be empty"
        )));
    }
    if too_long {
        return Err(CommentError::InvalidInput(format!(
            "{field}: at most {max} characters"
        )));
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !(multiline && *c == '\n'))
    {
        return Err(CommentError::InvalidInput(format!(
            "{field}: control character U+{:04X} is not allowed",
            u32::from(c)
        )));
    }
    Ok(text.to_owned())
}

/// The opaque cursor after `row` in `order`: `n<seq>` (newest), `t<likes>.<seq>` (top).
fn encode_cursor(order: CommentOrder, row: &CommentRow) -> String {
    match order {
        CommentOrder::Newest => format!("n{}", row.seq),
        CommentOrder::Top => format!("t{}.{}", row.likes, row.seq),
    }
}

fn decode_cursor(order: CommentOrder, cursor: &str) -> Result<CommentCursor> {
    let number = |s: &str| {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0 && s.bytes().all(|b| b.is_ascii_digit()))
    };
    let parsed = match (order, cursor.split_at_checked(1)) {
        (CommentOrder::Newest, Some(("n", seq))) => {
            number(seq).map(|seq| CommentCursor { likes: 0, seq })
        }
        (CommentOrder::Top, Some(("t", rest))) => rest.split_once('.').and_then(|(l, s)| {
            Some(CommentCursor {
                likes: number(l)?,
                seq: number(s)?,
            })
        }),
        _ => None,
    };
    parsed.ok_or(CommentError::InvalidCursor)
}

fn decode_reply_cursor(cursor: &str) -> Result<i64> {
    cursor
        .strip_prefix('r')
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or(CommentError::InvalidCursor)
}

/// `limit` within 1..=[`MAX_PAGE`] (default 20).
fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(20).clamp(1, MAX_PAGE)
}

impl Comments {
    /// The service over `store`, deciding visibility through `catalog`'s policy, announcing
    /// on `hub`, recording into `tracking`.
    pub fn new(store: Store, catalog: Catalog, hub: Hub, tracking: Arc<Tracking>) -> Self {
        Self {
            store,
            catalog,
            hub,
            tracking,
            keywords: WordFilter::default(),
        }
    }

    /// The same service refusing comments that hold a word of `keywords` (the admins' filter,
    /// shared with danmaku: [`crate::Interact::keywords`]).
    pub fn with_keywords(mut self, keywords: WordFilter) -> Self {
        self.keywords = keywords;
        self
    }

    /// A page of `video`'s top-level comments with their first replies.
    pub async fn list(
        &self,
        viewer: Option<&User>,
        video: &VideoId,
        order: CommentOrder,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<CommentPage> {
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(|c| decode_cursor(order, c))
            .transpose()?;
        self.catalog.visible(viewer, video).await?;
        let limit = page_size(limit);
        let mut rows = self
            .store
            .list_comments(video, order, after, limit + 1)
            .await?;
        // One more row than the page was read, so the last page says so.
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = more
            .then(|| rows.last().map(|r| encode_cursor(order, r)))
            .flatten();
        let pinned = match after {
            None => self.store.pinned_comment(video).await?,
            Some(_) => None,
        };
        let pinned_id = pinned.as_ref().map(|p| p.id.clone());
        rows.extend(pinned);
        let mut threads = self.threads(viewer, rows).await?;
        let pinned = pinned_id.and_then(|id| {
            let i = threads.iter().position(|t| t.comment.row.id == id)?;
            Some(threads.remove(i))
        });
        Ok(CommentPage {
            pinned,
            threads,
            next_cursor,
        })
    }

    /// The threads of top-level `rows`: their first replies and what the viewer likes, in
    /// two queries.
    async fn threads(&self, viewer: Option<&User>, rows: Vec<CommentRow>) -> Result<Vec<Thread>> {
        let parents: Vec<CommentId> = rows
            .iter()
            .filter(|r| r.reply_count > 0)
            .map(|r| r.id.clone())
            .collect();
        let replies = self.store.first_replies(&parents, FIRST_REPLIES).await?;
        let mut all: Vec<CommentRow> = rows;
        let top_level = all.len();
        all.extend(replies);
        let mut views = self.views(viewer, all).await?;
        let replies = views.split_off(top_level);
        let mut by_parent: HashMap<CommentId, Vec<CommentView>> = HashMap::new();
        for reply in replies {
            if let Some(parent) = reply.row.parent_id.clone() {
                by_parent.entry(parent).or_default().push(reply);
            }
        }
        Ok(views
            .into_iter()
            .map(|comment| Thread {
                replies: by_parent.remove(&comment.row.id).unwrap_or_default(),
                comment,
            })
            .collect())
    }

    async fn views(
        &self,
        viewer: Option<&User>,
        rows: Vec<CommentRow>,
    ) -> Result<Vec<CommentView>> {
        let liked = match viewer {
            Some(user) => {
                let ids: Vec<CommentId> = rows.iter().map(|r| r.id.clone()).collect();
                self.store.comment_likes_of(user.id, &ids).await?
            }
            None => Default::default(),
        };
        Ok(rows
            .into_iter()
            .map(|row| CommentView {
                liked: liked.contains(&row.id),
                row,
            })
            .collect())
    }

    /// A page of one thread's replies, oldest first.
    pub async fn replies(
        &self,
        viewer: Option<&User>,
        id: &CommentId,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ReplyPage> {
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(decode_reply_cursor)
            .transpose()?;
        let comment = self.visible(viewer, id).await?;
        // A reply's "replies" are its thread's: one level.
        let parent = comment.parent_id.unwrap_or(comment.id);
        let limit = page_size(limit);
        let mut rows = self.store.list_replies(&parent, after, limit + 1).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = more
            .then(|| rows.last().map(|r| format!("r{}", r.seq)))
            .flatten();
        Ok(ReplyPage {
            replies: self.views(viewer, rows).await?,
            next_cursor,
        })
    }

    /// The comment if `viewer` may see its video; missing and hidden look the same.
    async fn visible(&self, viewer: Option<&User>, id: &CommentId) -> Result<CommentRow> {
        let comment = self
            .store
            .comment(id)
            .await?
            .ok_or(CommentError::NotFound("comment"))?;
        match self.catalog.visible(viewer, &comment.video_id).await {
            Ok(_) => Ok(comment),
            Err(CatalogError::NotFound(_)) => Err(CommentError::NotFound("comment")),
            Err(e) => Err(e.into()),
        }
    }

    /// Posts `user`'s comment on `video`, or a reply when `parent` is given (a reply to a
    /// reply joins the same thread). Announced on the video's chat topic and recorded as a
    /// tracking event once stored.
    pub async fn post(
        &self,
        user: &User,
        video: &VideoId,
        text: &str,
        parent: Option<&CommentId>,
    ) -> Result<CommentView> {
        let text = check_text(text)?;
        if self.keywords.blocks(&text) {
            return Err(CommentError::Filtered);
        }
        self.catalog.visible(Some(user), video).await?;
        let parent = match parent {
            None => None,
            Some(id) => {
                let parent = self
                    .store
                    .comment(id)
                    .await?
                    .filter(|p| p.video_id == *video)
                    .ok_or_else(|| {
                        CommentError::InvalidInput("parent_id: not a comment of this video".into())
                    })?;
                if parent.deleted {
                    return Err(CommentError::Deleted);
                }
                Some(parent.parent_id.unwrap_or(parent.id))
            }
        };
        let new = NewComment {
            id: CommentId::random(),
            video_id: video,
            author: user.id,
            parent_id: parent.as_ref(),
            body: &text,
        };
        let row = match self.store.insert_comment(&new).await? {
            CommentInsert::Inserted(row) => row,
            CommentInsert::NoVideo => return Err(CommentError::NotFound("video")),
            // The thread's first comment was deleted since it was read.
            CommentInsert::NoParent => return Err(CommentError::Deleted),
        };
        self.announce(&row).await;
        metrics::counter!("spool_comments_posted_total").increment(1);
        Ok(CommentView { row, liked: false })
    }

    /// Tells the video's viewers a comment arrived (a hint: they load it by the API), and the
    /// event log that `user` commented. The comment is stored already: an event log that is
    /// down costs the recommender one signal, not the comment.
    async fn announce(&self, row: &CommentRow) {
        let hint = serde_json::json!({
            "type": "comment",
            "id": row.id,
            "video_id": row.video_id,
            "parent_id": row.parent_id,
            "author": row.author_name,
            "at": row.created_at,
        });
        self.hub.publish(
            &Topic::video_chat(&row.video_id),
            Bytes::from(hint.to_string()),
        );
        let mut properties = serde_json::Map::new();
        properties.insert("comment_id".into(), row.id.to_string().into());
        let recorded = self
            .tracking
            .ingestion()
            .record_for_viewer(
                EventType::Comment,
                row.video_id.as_str(),
                Some(&row.author_name),
                None,
                properties,
            )
            .await;
        if let Err(e) = recorded {
            tracing::warn!(comment = %row.id, "comment event not recorded: {e}");
        }
    }

    /// Deletes a comment softly: its author, the video's owner or an admin. Deleting a
    /// deleted comment changes nothing.
    pub async fn delete(&self, user: &User, id: &CommentId) -> Result<()> {
        let comment = self.visible(Some(user), id).await?;
        if comment.author_id != user.id {
            match self.catalog.owned(user, &comment.video_id).await {
                Ok(_) => {}
                Err(CatalogError::NotOwner) => return Err(CommentError::NotYours),
                Err(CatalogError::NotFound(_)) => return Err(CommentError::NotFound("comment")),
                Err(e) => return Err(e.into()),
            }
        }
        self.store.delete_comment(id).await?;
        Ok(())
    }

    /// Pins a top-level comment on its video (the video's owner or an admin), unpinning the
    /// one pinned before; pinning again changes nothing.
    pub async fn pin(&self, user: &User, id: &CommentId) -> Result<()> {
        let comment = self.owned_video_comment(user, id).await?;
        if comment.parent_id.is_some() {
            return Err(CommentError::IsReply);
        }
        if comment.deleted {
            return Err(CommentError::Deleted);
        }
        if !self.store.pin_comment(&comment.video_id, id).await? {
            // Deleted between the read and the pin.
            return Err(CommentError::Deleted);
        }
        Ok(())
    }

    /// Unpins a comment (the video's owner or an admin); idempotent.
    pub async fn unpin(&self, user: &User, id: &CommentId) -> Result<()> {
        self.owned_video_comment(user, id).await?;
        self.store.unpin_comment(id).await?;
        Ok(())
    }

    async fn owned_video_comment(&self, user: &User, id: &CommentId) -> Result<CommentRow> {
        let comment = self.visible(Some(user), id).await?;
        match self.catalog.owned(user, &comment.video_id).await {
            Ok(_) => Ok(comment),
            Err(CatalogError::NotFound(_)) => Err(CommentError::NotFound("comment")),
            Err(e) => Err(e.into()),
        }
    }

    /// Likes (or takes back a like of) a comment the user may see; its likes after.
    pub async fn set_like(&self, user: &User, id: &CommentId, liked: bool) -> Result<i64> {
        let comment = self.visible(Some(user), id).await?;
        if liked && comment.deleted {
            return Err(CommentError::Deleted);
        }
        self.store
            .set_comment_like(user.id, id, liked)
            .await?
            .ok_or(CommentError::NotFound("comment"))
    }

    /// Reports a comment to the admins; reporting it again keeps the first reason. True when
    /// this report is new.
    pub async fn report(&self, user: &User, id: &CommentId, reason: &str) -> Result<bool> {
        let reason = check_reason(reason)?;
        self.visible(Some(user), id).await?;
        Ok(self.store.report_comment(id, user.id, &reason).await?)
    }

    /// Reports newest first, for admins.
    pub async fn reports(
        &self,
        user: &User,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ReportPage> {
        if !user.is_admin {
            return Err(CommentError::NotAdmin);
        }
        let before = cursor
            .filter(|c| !c.is_empty())
            .map(|c| {
                c.strip_prefix('p')
                    .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or(CommentError::InvalidCursor)
            })
            .transpose()?;
        let limit = page_size(limit);
        let mut reports = self.store.list_comment_reports(before, limit + 1).await?;
        let more = reports.len() > limit as usize;
        reports.truncate(limit as usize);
        let next_cursor = more
            .then(|| reports.last().map(|r| format!("p{}", r.id)))
            .flatten();
        Ok(ReportPage {
            reports,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expect: std::result::Result<&str, &str>) {
        let got = check_text(raw).map_err(|e| e.to_string());
        match expect {
            Ok(text) => assert_eq!(got.as_deref(), Ok(text), "{raw:?}"),
            Err(part) => {
                let message = got.expect_err(raw);
                assert!(message.contains(part), "{raw:?}: {message}");
            }
        }
    }

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        check("  hello  ", Ok("hello"));
        check("line one\r\nline two", Ok("line one\nline two"));
        check("<script>alert(1)</script>", Ok("<script>alert(1)</script>"));
        check("   ", Err("must not be empty"));
        check("", Err("must not be empty"));
        check("bell\u{7}", Err("U+0007"));
        check("nul\0byte", Err("U+0000"));
        check("tab\there", Err("U+0009"));
        check(
            &"字".repeat(MAX_COMMENT_CHARS),
            Ok(&"字".repeat(MAX_COMMENT_CHARS)),
        );
        check(&"a".repeat(MAX_COMMENT_CHARS + 1), Err("at most 2000"));
        assert!(check_reason("spam\nspam").is_err(), "a reason is one line");
    }

    #[test]
    fn cursors_round_trip_only_for_their_order() {
        let row = CommentRow {
            id: CommentId::random(),
            video_id: VideoId::random(),
            author_id: 1,
            author_name: "ann".into(),
            parent_id: None,
            seq: 42,
            body: "x".into(),
            reply_count: 0,
            likes: 7,
            pinned: false,
            deleted: false,
            created_at: 0,
        };
        for order in [CommentOrder::Newest, CommentOrder::Top] {
            let cursor = encode_cursor(order, &row);
            let back = decode_cursor(order, &cursor).unwrap();
            assert_eq!(back.seq, 42);
        }
        assert_eq!(decode_cursor(CommentOrder::Top, "t7.42").unwrap().likes, 7);
        for bad in [
            "",
            "n",
            "n-1",
            "n+1",
            "t7",
            "t.1",
            "x1",
            "n1.2",
            "t1.2.3",
            "n99999999999999999999",
        ] {
            assert!(decode_cursor(CommentOrder::Newest, bad).is_err(), "{bad}");
        }
        assert!(decode_cursor(CommentOrder::Newest, "t7.42").is_err());
        assert!(decode_cursor(CommentOrder::Top, "n42").is_err());
        assert_eq!(decode_reply_cursor("r5").unwrap(), 5);
        assert!(decode_reply_cursor("r").is_err() && decode_reply_cursor("5").is_err());
    }
}
