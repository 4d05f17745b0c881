//! Custom covers: the owner uploads a JPEG, PNG or WebP, or picks one of the frames the
//! pipeline proposed (the cover candidates of the published generation). Either is validated
//! (format sniffed from the bytes, dimensions checked before decoding, so a decompression bomb
//! is refused without allocating), resized to the standard widths and replaces the automatic
//! cover for good.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use spool_media::cover::{self, CoverLimits};
use spool_metadata::{CoverChange, VideoRow};
use spool_model::VideoId;

use crate::AppState;
use crate::auth::AuthUser;
use crate::catalog::videos::{owned_video, parse_id, published};
use crate::error::{ApiError, ApiResult};

/// Directory of a generation holding the candidate frames.
const CANDIDATES_DIR: &str = "candidates";

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
    let id = parse_id(&id)?;
    owned_video(&state, &user, &id).await?;
    let max_bytes = state.config.media.max_cover_bytes;
    let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit.saturating_add(1))
        .await
        .map_err(|_| too_large(max_bytes))?;
    let limits = CoverLimits {
        max_bytes,
        ..CoverLimits::default()
    };
    install_cover(&state, &id, bytes, limits).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One proposed cover frame.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CandidateJson {
    /// Pass to `POST .../cover/candidates/{index}`.
    index: u32,
    url: String,
}

/// The proposed cover frames.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CandidatesJson {
    candidates: Vec<CandidateJson>,
}

/// The candidate frames' indexes on disk, in order; empty before the first publication.
async fn candidate_indexes(state: &AppState, video: &VideoRow) -> ApiResult<Vec<u32>> {
    let Some(published) = published(video) else {
        return Ok(Vec::new());
    };
    let dir = candidates_dir(state, &video.id, &published.generation);
    let mut indexes = Vec::new();
    let mut entries = match tokio::fs::read_dir(&dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(indexes),
        Err(e) => return Err(io_error(&e)),
    };
    while let Some(entry) = entries.next_entry().await.map_err(|e| io_error(&e))? {
        let name = entry.file_name();
        let index: Option<u32> = name
            .to_str()
            .and_then(|n| n.strip_prefix("c_")?.strip_suffix(".jpg")?.parse().ok());
        indexes.extend(index);
    }
    indexes.sort_unstable();
    Ok(indexes)
}

fn candidates_dir(state: &AppState, id: &VideoId, generation: &str) -> std::path::PathBuf {
    state
        .playback
        .media_root()
        .join(id.as_str())
        .join(generation)
        .join(CANDIDATES_DIR)
}

fn io_error(e: &std::io::Error) -> ApiError {
    ApiError::internal(format_args!("reading cover candidates: {e}"))
}

/// The frames proposed as covers (owner or admin).
#[utoipa::path(get, path = "/api/v1/videos/{id}/cover/candidates", tag = "videos",
    params(("id" = String, Path, description = "Video id")), security(("bearer" = [])),
    responses((status = 200, body = CandidatesJson),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn candidates(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<CandidatesJson>> {
    let id = parse_id(&id)?;
    let video = owned_video(&state, &user, &id).await?;
    let indexes = candidate_indexes(&state, &video).await?;
    let generation = published(&video).map(|p| p.generation).unwrap_or_default();
    let prefix = crate::playback::media_prefix(&state, &headers, &video);
    let candidates = indexes
        .into_iter()
        .map(|index| CandidateJson {
            index,
            url: format!("{prefix}/{generation}/{CANDIDATES_DIR}/c_{index}.jpg"),
        })
        .collect();
    Ok(Json(CandidatesJson { candidates }))
}

/// Make a proposed frame the cover (owner or admin); like an uploaded cover, it is then never
/// replaced automatically.
#[utoipa::path(post, path = "/api/v1/videos/{id}/cover/candidates/{index}", tag = "videos",
    params(("id" = String, Path, description = "Video id"), ("index" = u32, Path, description = "Candidate index")),
    security(("bearer" = [])),
    responses((status = 204, description = "cover replaced"),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn choose(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((id, index)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    let video = owned_video(&state, &user, &id).await?;
    let index: u32 = index
        .parse()
        .map_err(|_| ApiError::not_found("cover candidate"))?;
    if !candidate_indexes(&state, &video).await?.contains(&index) {
        return Err(ApiError::not_found("cover candidate"));
    }
    let generation = published(&video).map(|p| p.generation).unwrap_or_default();
    let path = candidates_dir(&state, &id, &generation).join(format!("c_{index}.jpg"));
    let bytes = tokio::fs::read(&path).await.map_err(|e| io_error(&e))?;
    install_cover(&state, &id, Bytes::from(bytes), CoverLimits::default()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Decodes and resizes an image into a new cover set and points the video at it as a custom
/// cover; the previous set's files go.
async fn install_cover(
    state: &AppState,
    id: &VideoId,
    bytes: Bytes,
    limits: CoverLimits,
) -> ApiResult<()> {
    let covers = state.playback.media_root().join(id.as_str()).join("covers");
    let generation = format!("u{:016x}", rand::random::<u64>());
    let out_dir = covers.join(&generation);
    tokio::task::spawn_blocking(move || {
        let image = cover::decode_upload(&bytes, &limits)?;
        cover::write_cover_set(&image, &out_dir)
    })
    .await
    .map_err(|e| ApiError::internal(format_args!("cover task failed: {e}")))??;
    match state.store.set_cover(id, &generation, true).await? {
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
    state.videos.invalidate(id).await;
    Ok(())
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
