//! Custom covers: the owner uploads a JPEG, PNG or WebP; it is validated (format sniffed from
//! the bytes, dimensions checked before decoding, so a decompression bomb is refused without
//! allocating), resized to the standard widths and replaces the automatic cover for good.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use spool_media::cover::{self, CoverLimits};
use spool_metadata::CoverChange;
use spool_model::{VideoId, Visibility};

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};

/// Replace the video's cover.
#[utoipa::path(put, path = "/api/v1/videos/{id}/cover", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    request_body(content = Vec<u8>, description = "JPEG, PNG or WebP image", content_type = "image/jpeg"),
    responses((status = 204, description = "cover replaced"),
        (status = 413, body = crate::error::ErrorBody, description = "image_too_large"),
        (status = 415, body = crate::error::ErrorBody, description = "unsupported_image"),
        (status = 422, body = crate::error::ErrorBody, description = "invalid_media: corrupt, empty or too many pixels"),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    let id: VideoId = id.parse().map_err(|_| ApiError::not_found("video"))?;
    let video = state
        .store
        .video(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("video"))?;
    if !(user.is_admin || user.id == video.owner_id) {
        if video.visibility == Visibility::Private {
            return Err(ApiError::not_found("video"));
        }
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_owner",
            "only the owner can change the cover",
        ));
    }
    let max_bytes = state.config.media.max_cover_bytes;
    let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit.saturating_add(1))
        .await
        .map_err(|_| too_large(max_bytes))?;
    let limits = CoverLimits {
        max_bytes,
        ..CoverLimits::default()
    };
    let covers = state.playback.media_root().join(id.as_str()).join("covers");
    let generation = format!("u{:016x}", rand::random::<u64>());
    let out_dir = covers.join(&generation);
    tokio::task::spawn_blocking(move || {
        let image = cover::decode_upload(&bytes, &limits)?;
        cover::write_cover_set(&image, &out_dir)
    })
    .await
    .map_err(|e| {
        tracing::error!("cover task failed: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    })??;
    match state.store.set_cover(&id, &generation, true).await? {
        CoverChange::Replaced(previous) => {
            if let Some(previous) = previous {
                remove_dir(&covers.join(previous)).await;
            }
        }
        CoverChange::Unchanged => {
            remove_dir(&covers.join(&generation)).await;
            return Err(ApiError::not_found("video"));
        }
    }
    state.videos.invalidate(&id).await;
    Ok(StatusCode::NO_CONTENT)
}

fn too_large(max_bytes: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "image_too_large",
        format!("the cover is larger than {max_bytes} bytes"),
    )
}

async fn remove_dir(dir: &std::path::Path) {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot remove old cover {}: {e}", dir.display()),
    }
}
