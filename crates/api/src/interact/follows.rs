//! Follows as HTTP: follow and unfollow a channel, and what the caller follows (with the
//! channels' latest videos, for the home page). The interact crate decides; this maps.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::auth::AuthUser;
use crate::catalog::videos::{VideoJson, video_json};
use crate::error::{ApiQuery, ApiResult, ErrorBody};
use crate::{AppState, rfc3339};

/// A channel's followers after a change.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FollowJson {
    /// Whether the caller follows the channel now.
    following: bool,
    /// Users following the channel.
    follower_count: i64,
}

async fn set_follow(
    state: &AppState,
    user: &spool_metadata::User,
    name: &str,
    following: bool,
) -> ApiResult<Json<FollowJson>> {
    let result = state.follows.set(user, name, following).await?;
    Ok(Json(FollowJson {
        following: result.following.unwrap_or(following),
        follower_count: result.followers,
    }))
}

/// Follow a channel (idempotent).
#[utoipa::path(put, path = "/api/v1/channels/{name}/follow", tag = "interact",
    params(("name" = String, Path, description = "User name")), security(("bearer" = [])),
    responses((status = 200, body = FollowJson),
              (status = 401, body = ErrorBody),
              (status = 404, description = "`not_found`: no such channel", body = ErrorBody),
              (status = 409, description = "`cannot_follow_self`", body = ErrorBody)))]
pub async fn follow(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
) -> ApiResult<Json<FollowJson>> {
    set_follow(&state, &user, &name, true).await
}

/// Stop following a channel (idempotent).
#[utoipa::path(delete, path = "/api/v1/channels/{name}/follow", tag = "interact",
    params(("name" = String, Path, description = "User name")), security(("bearer" = [])),
    responses((status = 200, body = FollowJson),
              (status = 401, body = ErrorBody),
              (status = 404, description = "`not_found`: no such channel", body = ErrorBody)))]
pub async fn unfollow(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
) -> ApiResult<Json<FollowJson>> {
    set_follow(&state, &user, &name, false).await
}

/// How many videos `GET /api/v1/me/following` answers.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FollowingParams {
    /// Videos: 1 to 100, default 24 (larger values are cut to 100).
    limit: Option<u32>,
}

/// A followed channel.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FollowedJson {
    name: String,
    followed_at: String,
}

/// What the caller follows.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FollowingJson {
    /// Channels, latest follow first (at most 100).
    channels: Vec<FollowedJson>,
    /// The channels' latest public videos, newest first.
    videos: Vec<VideoJson>,
}

/// The channels the caller follows, and their latest public videos.
#[utoipa::path(get, path = "/api/v1/me/following", tag = "interact",
    params(FollowingParams), security(("bearer" = [])),
    responses((status = 200, body = FollowingJson),
              (status = 400, description = "`invalid_query`", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn following(
    State(state): State<AppState>,
    headers: HeaderMap,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<FollowingParams>,
) -> ApiResult<Json<FollowingJson>> {
    let found = state
        .follows
        .following(&user, params.limit.unwrap_or(24))
        .await?;
    Ok(Json(FollowingJson {
        channels: found
            .channels
            .into_iter()
            .map(|c| FollowedJson {
                name: c.name,
                followed_at: rfc3339(c.followed_at),
            })
            .collect(),
        videos: found
            .videos
            .into_iter()
            .map(|v| video_json(&state, &headers, Some(&user), v))
            .collect(),
    }))
}
