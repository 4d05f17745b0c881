//! Comments as HTTP: a video's threads (newest or top, opaque cursors), a thread's replies,
//! posting, deleting, pinning, likes, reports and the admins' list of reports. The interact
//! crate decides; this maps.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use spool_interact::comments::{CommentView, Thread};
use spool_metadata::CommentOrder;
use spool_model::CommentId;

use crate::auth::{AuthUser, MaybeUser};
use crate::catalog::videos::parse_id;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, ErrorBody};
use crate::{AppState, rfc3339};

/// A comment. `text` is plain text: clients show it as text, never as HTML.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CommentJson {
    id: String,
    video_id: String,
    /// The top-level comment this replies to; null for a top-level comment.
    parent_id: Option<String>,
    /// The author's user name.
    author: String,
    /// Empty when deleted.
    text: String,
    /// Deleted: kept as a placeholder while replies hang under it.
    deleted: bool,
    /// Pinned by the video's owner.
    pinned: bool,
    likes: i64,
    /// Whether the caller likes it (false when not signed in).
    liked: bool,
    /// Replies that are not deleted (0 for a reply).
    reply_count: i64,
    created_at: String,
}

/// A top-level comment with its first replies (the rest: `GET /api/v1/comments/{id}/replies`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ThreadJson {
    #[serde(flatten)]
    comment: CommentJson,
    /// The first three replies, oldest first.
    replies: Vec<CommentJson>,
}

/// A page of a video's top-level comments.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CommentPageJson {
    /// The pinned comment: on the first page only, and not repeated in `comments`.
    pinned: Option<ThreadJson>,
    comments: Vec<ThreadJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A page of a thread's replies, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReplyPageJson {
    replies: Vec<CommentJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

fn comment_json(view: CommentView) -> CommentJson {
    let row = view.row;
    CommentJson {
        id: row.id.to_string(),
        video_id: row.video_id.to_string(),
        parent_id: row.parent_id.map(|p| p.to_string()),
        author: row.author_name,
        text: row.body,
        deleted: row.deleted,
        pinned: row.pinned,
        likes: row.likes,
        liked: view.liked,
        reply_count: row.reply_count,
        created_at: rfc3339(row.created_at),
    }
}

fn thread_json(thread: Thread) -> ThreadJson {
    ThreadJson {
        comment: comment_json(thread.comment),
        replies: thread.replies.into_iter().map(comment_json).collect(),
    }
}

/// The order of a video's comments.
#[derive(Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderParam {
    /// Newest first.
    #[default]
    Newest,
    /// Most liked first, newest first among equals.
    Top,
}

/// Paging parameters of a video's comments.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommentListParams {
    /// `newest` (default) or `top`.
    #[param(inline)]
    order: Option<OrderParam>,
    /// `next_cursor` of the previous page (of the same order).
    cursor: Option<String>,
    /// Page size: 1 to 50, default 20 (larger values are cut to 50).
    limit: Option<u32>,
}

/// Paging parameters of replies and reports.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size: 1 to 50, default 20 (larger values are cut to 50).
    limit: Option<u32>,
}

pub(crate) fn parse_comment_id(id: &str) -> ApiResult<CommentId> {
    id.parse().map_err(|_| ApiError::not_found("comment"))
}

/// A video's top-level comments, each with its first replies; the pinned one apart.
#[utoipa::path(get, path = "/api/v1/videos/{id}/comments", tag = "interact",
    params(("id" = String, Path, description = "Video id"), CommentListParams),
    responses((status = 200, body = CommentPageJson),
              (status = 400, description = "`invalid_cursor` or `invalid_query`", body = ErrorBody),
              (status = 404, description = "`not_found`: no such video, or it is private", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<CommentListParams>,
) -> ApiResult<Json<CommentPageJson>> {
    let id = parse_id(&id)?;
    let order = match params.order.unwrap_or_default() {
        OrderParam::Newest => CommentOrder::Newest,
        OrderParam::Top => CommentOrder::Top,
    };
    let page = state
        .comments
        .list(
            user.as_ref(),
            &id,
            order,
            params.cursor.as_deref(),
            params.limit,
        )
        .await?;
    Ok(Json(CommentPageJson {
        pinned: page.pinned.map(thread_json),
        comments: page.threads.into_iter().map(thread_json).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// A new comment, or a reply.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewCommentBody {
    /// 1 to 2000 characters after trimming; line breaks kept, other control characters refused.
    text: String,
    /// Reply to this comment (a reply to a reply joins the same thread).
    parent_id: Option<String>,
}

/// Comment on a video (signed in). Viewers of the video get a hint over their socket.
#[utoipa::path(post, path = "/api/v1/videos/{id}/comments", tag = "interact",
    params(("id" = String, Path, description = "Video id")), security(("bearer" = [])),
    request_body = NewCommentBody,
    responses((status = 201, body = CommentJson),
              (status = 401, body = ErrorBody),
              (status = 404, description = "`not_found`: no such video, or it is private", body = ErrorBody),
              (status = 409, description = "`comment_deleted`: the parent was deleted", body = ErrorBody),
              (status = 422, description = "`invalid_input`: the text or parent_id is refused; the message names the field", body = ErrorBody)))]
pub async fn post(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewCommentBody>,
) -> ApiResult<(StatusCode, Json<CommentJson>)> {
    let id = parse_id(&id)?;
    let parent = match body.parent_id.as_deref() {
        None => None,
        Some(p) => Some(p.parse::<CommentId>().map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "parent_id: not a comment id",
            )
        })?),
    };
    let view = state
        .comments
        .post(&user, &id, &body.text, parent.as_ref())
        .await?;
    Ok((StatusCode::CREATED, Json(comment_json(view))))
}

/// A thread's replies, oldest first (asked through a reply, its thread's).
#[utoipa::path(get, path = "/api/v1/comments/{id}/replies", tag = "interact",
    params(("id" = String, Path, description = "Comment id"), PageParams),
    responses((status = 200, body = ReplyPageJson),
              (status = 400, description = "`invalid_cursor` or `invalid_query`", body = ErrorBody),
              (status = 404, description = "`not_found`: no such comment, or its video is private", body = ErrorBody)))]
pub async fn replies(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ReplyPageJson>> {
    let id = parse_comment_id(&id)?;
    let page = state
        .comments
        .replies(user.as_ref(), &id, params.cursor.as_deref(), params.limit)
        .await?;
    Ok(Json(ReplyPageJson {
        replies: page.replies.into_iter().map(comment_json).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Delete a comment (its author, the video's owner or an admin): its text goes, a
/// placeholder stays while replies hang under it. Idempotent.
#[utoipa::path(delete, path = "/api/v1/comments/{id}", tag = "interact",
    params(("id" = String, Path, description = "Comment id")), security(("bearer" = [])),
    responses((status = 204, description = "deleted"),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_comment_author`", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_comment_id(&id)?;
    state.comments.delete(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pin a top-level comment (the video's owner or an admin); the one pinned before is unpinned.
#[utoipa::path(post, path = "/api/v1/comments/{id}/pin", tag = "interact",
    params(("id" = String, Path, description = "Comment id")), security(("bearer" = [])),
    responses((status = 204, description = "pinned"),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_owner`: not the video's owner", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "`comment_is_reply` or `comment_deleted`", body = ErrorBody)))]
pub async fn pin(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_comment_id(&id)?;
    state.comments.pin(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unpin a comment (the video's owner or an admin). Idempotent.
#[utoipa::path(delete, path = "/api/v1/comments/{id}/pin", tag = "interact",
    params(("id" = String, Path, description = "Comment id")), security(("bearer" = [])),
    responses((status = 204, description = "not pinned"),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_owner`: not the video's owner", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn unpin(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_comment_id(&id)?;
    state.comments.unpin(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A comment's likes after a change.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CommentLikeJson {
    likes: i64,
    liked: bool,
}

/// Like a comment (idempotent).
#[utoipa::path(post, path = "/api/v1/comments/{id}/like", tag = "interact",
    params(("id" = String, Path, description = "Comment id")), security(("bearer" = [])),
    responses((status = 200, body = CommentLikeJson),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "`comment_deleted`", body = ErrorBody)))]
pub async fn like(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CommentLikeJson>> {
    let id = parse_comment_id(&id)?;
    let likes = state.comments.set_like(&user, &id, true).await?;
    Ok(Json(CommentLikeJson { likes, liked: true }))
}

/// Take a comment's like back (idempotent).
#[utoipa::path(delete, path = "/api/v1/comments/{id}/like", tag = "interact",
    params(("id" = String, Path, description = "Comment id")), security(("bearer" = [])),
    responses((status = 200, body = CommentLikeJson),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn unlike(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CommentLikeJson>> {
    let id = parse_comment_id(&id)?;
    let likes = state.comments.set_like(&user, &id, false).await?;
    Ok(Json(CommentLikeJson {
        likes,
        liked: false,
    }))
}

/// Why a comment is reported.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReportBody {
    /// 1 to 500 characters after trimming, one line.
    reason: String,
}

/// Report a comment to the admins (once per user: a second report keeps the first reason).
#[utoipa::path(post, path = "/api/v1/comments/{id}/report", tag = "interact",
    params(("id" = String, Path, description = "Comment id")), security(("bearer" = [])),
    request_body = ReportBody,
    responses((status = 204, description = "reported"),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "`invalid_input`: the reason is refused", body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReportBody>,
) -> ApiResult<StatusCode> {
    let id = parse_comment_id(&id)?;
    state.comments.report(&user, &id, &body.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A report, with the comment as it is now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportJson {
    comment: CommentJson,
    /// Who reported it.
    reporter: String,
    reason: String,
    reported_at: String,
}

/// A page of reports, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportPageJson {
    reports: Vec<ReportJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Reported comments, newest report first (admins only).
#[utoipa::path(get, path = "/api/v1/admin/comment-reports", tag = "interact",
    params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = ReportPageJson),
              (status = 400, description = "`invalid_cursor` or `invalid_query`", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody)))]
pub async fn reports(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ReportPageJson>> {
    let page = state
        .comments
        .reports(&user, params.cursor.as_deref(), params.limit)
        .await?;
    Ok(Json(ReportPageJson {
        reports: page
            .reports
            .into_iter()
            .map(|r| ReportJson {
                comment: comment_json(CommentView {
                    row: r.comment,
                    liked: false,
                }),
                reporter: r.reporter_name,
                reason: r.reason,
                reported_at: rfc3339(r.created_at),
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}
