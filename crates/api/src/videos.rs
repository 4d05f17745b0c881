//! Video endpoints. Private videos are visible to their owner and admins only; to anyone
//! else they do not exist (404, not 403, so ids cannot be probed).

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use spool_metadata::VideoRow;
use spool_model::{VideoId, VideoStatus, Visibility};

use crate::auth::MaybeUser;
use crate::error::{ApiError, ApiResult};
use crate::{AppState, rfc3339};

/// A video as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VideoJson {
    id: String,
    title: String,
    description: String,
    tags: Vec<String>,
    category: String,
    visibility: Visibility,
    status: VideoStatus,
    /// Owner's user name.
    owner: String,
    size_bytes: Option<i64>,
    /// BLAKE3 of the source, once the upload completed.
    blake3: Option<String>,
    duration_s: Option<f64>,
    width: Option<i64>,
    height: Option<i64>,
    error: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<VideoRow> for VideoJson {
    fn from(v: VideoRow) -> Self {
        Self {
            id: v.id.to_string(),
            title: v.title,
            description: v.description,
            tags: v.tags,
            category: v.category,
            visibility: v.visibility,
            status: v.status,
            owner: v.owner_name,
            size_bytes: v.size_bytes,
            blake3: v.blake3.map(|h| h.to_hex()),
            duration_s: v.duration_ms.map(|ms| ms as f64 / 1000.0),
            width: v.width,
            height: v.height,
            error: v.error,
            created_at: rfc3339(v.created_at),
            updated_at: rfc3339(v.updated_at),
        }
    }
}

/// One video.
#[utoipa::path(get, path = "/api/v1/videos/{id}", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses((status = 200, body = VideoJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<VideoJson>> {
    let id: VideoId = id.parse().map_err(|_| ApiError::not_found("video"))?;
    let video = state
        .store
        .video(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("video"))?;
    let may_see = video.visibility != Visibility::Private
        || user
            .as_ref()
            .is_some_and(|u| u.is_admin || u.id == video.owner_id);
    if !may_see {
        return Err(ApiError::not_found("video"));
    }
    Ok(Json(video.into()))
}
