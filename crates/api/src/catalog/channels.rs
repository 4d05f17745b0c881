//! Discovery and reactions around a video: a channel's page header, related videos (same tags
//! or channel, for now; the recommender replaces this) and likes.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use spool_metadata::VideoRow;

use crate::auth::{AuthUser, MaybeUser};
use crate::catalog::videos::{VideoPage, may_see, parse_id, visible_video};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, rfc3339};

/// Recent public videos scanned for related ones.
const RELATED_POOL: u32 = 200;
/// Related videos returned when the client names no limit.
const DEFAULT_RELATED: usize = 12;

/// A channel (a user's public face).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelJson {
    name: String,
    created_at: String,
    /// Public, ready videos.
    video_count: i64,
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/channels/{name}", tag = "videos",
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, body = ChannelJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn channel(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<ChannelJson>> {
    let (user, created_at) = state
        .store
        .user_created_at(&name)
        .await?
        .ok_or_else(|| ApiError::not_found("channel"))?;
    let video_count = state.store.count_public_videos_by_owner(user.id).await?;
    Ok(Json(ChannelJson {
        name: user.name,
        created_at: rfc3339(created_at),
        video_count,
    }))
}

/// How many related videos to return.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelatedParams {
    /// 1 to 50, default 12.
    limit: Option<usize>,
}

/// How related `other` is to `video`: two points per shared tag, one for the same channel.
fn relatedness(video: &VideoRow, other: &VideoRow) -> usize {
    let shared = other
        .tags
        .iter()
        .filter(|t| video.tags.iter().any(|own| own.eq_ignore_ascii_case(t)))
        .count();
    2 * shared + usize::from(other.owner_id == video.owner_id)
}

/// Public videos related to one: most shared tags and the same channel first, then the newest.
#[utoipa::path(get, path = "/api/v1/videos/{id}/related", tag = "videos",
    params(("id" = String, Path, description = "Video id"), RelatedParams),
    responses((status = 200, body = VideoPage), (status = 404, body = crate::error::ErrorBody)))]
pub async fn related(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Result<Query<RelatedParams>, QueryRejection>,
) -> ApiResult<Json<VideoPage>> {
    let Query(params) = params.map_err(|e| {
        ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "invalid_query",
            e.body_text(),
        )
    })?;
    let limit = params.limit.unwrap_or(DEFAULT_RELATED).clamp(1, 50);
    let id = parse_id(&id)?;
    let video = visible_video(&state, user.as_ref(), &id).await?;
    let mut pool: Vec<(usize, VideoRow)> = state
        .store
        .list_public_videos(None, RELATED_POOL)
        .await?
        .into_iter()
        .filter(|other| other.id != video.id && may_see(user.as_ref(), other))
        .map(|other| (relatedness(&video, &other), other))
        .collect();
    // Stable: equal scores keep the listing's newest-first order.
    pool.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    pool.truncate(limit);
    let rows = pool.into_iter().map(|(_, v)| v).collect();
    Ok(Json(crate::catalog::videos::page(
        &state,
        &headers,
        rows,
        u32::MAX,
    )))
}

/// A video's likes after a change.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LikeJson {
    likes: i64,
    liked: bool,
}

async fn set_like(
    state: &AppState,
    user: &spool_metadata::User,
    id: &str,
    liked: bool,
) -> ApiResult<Json<LikeJson>> {
    let id = parse_id(id)?;
    visible_video(state, Some(user), &id).await?;
    let result = state
        .store
        .set_like(user.id, &id, liked)
        .await?
        .ok_or_else(|| ApiError::not_found("video"))?;
    state.videos.invalidate(&id).await;
    Ok(Json(LikeJson {
        likes: result.likes,
        liked: result.liked,
    }))
}

/// Like a video (idempotent).
#[utoipa::path(put, path = "/api/v1/videos/{id}/like", tag = "videos",
    params(("id" = String, Path, description = "Video id")), security(("bearer" = [])),
    responses((status = 200, body = LikeJson), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn like(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LikeJson>> {
    set_like(&state, &user, &id, true).await
}

/// Take a like back (idempotent).
#[utoipa::path(delete, path = "/api/v1/videos/{id}/like", tag = "videos",
    params(("id" = String, Path, description = "Video id")), security(("bearer" = [])),
    responses((status = 200, body = LikeJson), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn unlike(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LikeJson>> {
    set_like(&state, &user, &id, false).await
}
