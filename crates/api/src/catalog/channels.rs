//! Reactions around a video, as HTTP: a channel's page header and likes (related videos are
//! the recommender's, in `recommend/`). The catalog decides; this maps.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use crate::auth::{AuthUser, MaybeUser};
use crate::catalog::videos::parse_id;
use crate::error::ApiResult;
use crate::{AppState, rfc3339};

/// A channel (a user's public face).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelJson {
    name: String,
    created_at: String,
    /// Public, ready videos.
    video_count: i64,
    /// Users following the channel.
    follower_count: i64,
    /// Whether the caller follows it (null when not signed in).
    following: Option<bool>,
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/channels/{name}", tag = "videos",
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, body = ChannelJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn channel(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(name): Path<String>,
) -> ApiResult<Json<ChannelJson>> {
    let channel = state.catalog.channel(&name).await?;
    let follows = state.follows.state(user.as_ref(), &channel.name).await?;
    Ok(Json(ChannelJson {
        name: channel.name,
        created_at: rfc3339(channel.created_at),
        video_count: channel.video_count,
        follower_count: follows.followers,
        following: follows.following,
    }))
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
    let result = state.catalog.set_like(user, &id, liked).await?;
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
