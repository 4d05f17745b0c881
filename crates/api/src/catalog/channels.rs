//! Discovery and reactions around a video, as HTTP: a channel's page header, related videos
//! and likes (the catalog decides; this maps).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::auth::{AuthUser, MaybeUser};
use crate::catalog::videos::{VideoPage, parse_id};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, rfc3339};

/// Related videos returned when the client names no limit.
const DEFAULT_RELATED: usize = 12;
/// Most related videos one request may ask for.
const MAX_RELATED: usize = 50;

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
    let channel = state.catalog.channel(&name).await?;
    Ok(Json(ChannelJson {
        name: channel.name,
        created_at: rfc3339(channel.created_at),
        video_count: channel.video_count,
    }))
}

/// How many related videos to return.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelatedParams {
    /// 1 to 50, default 12.
    limit: Option<usize>,
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
    let limit = params
        .limit
        .unwrap_or(DEFAULT_RELATED)
        .clamp(1, MAX_RELATED);
    let id = parse_id(&id)?;
    let rows = state.catalog.related(user.as_ref(), &id, limit).await?;
    Ok(Json(crate::catalog::videos::page(
        &state,
        &headers,
        user.as_ref(),
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
