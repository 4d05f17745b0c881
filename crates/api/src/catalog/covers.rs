//! Custom covers: the owner uploads a JPEG, PNG or WebP, or picks one of the frames the
//! pipeline proposed (the cover candidates of the published generation). Either is validated
//! (format sniffed from the bytes, dimensions checked before decoding, so a decompression bomb
//! is refused without allocating), resized to the standard widths and replaces the automatic
//! cover for good.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use spool_catalog::CANDIDATES_DIR;
use spool_media::cover::{self, CoverCommit, CoverLimits, CoverSource};
use spool_metadata::CoverChange;
use spool_model::VideoId;
use spool_storage::Generation;

use crate::AppState;
use crate::auth::AuthUser;
use crate::catalog::videos::{owned_video, parse_id};
use crate::error::{ApiError, ApiResult};

/// Replace the video's cover.
#[utoipa::path(put, path = "/api/v1/videos/{id}/cover", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    request_body(content = [u8], description = "JPEG, PNG or WebP image (recognised by its bytes)", content_type = "image/jpeg"),
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
    let source = CoverSource::Upload {
        bytes: bytes.into(),
        limits,
    };
    install_cover(&state, &id, source).await?;
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
    let (generation, indexes) = state.catalog.cover_candidates(&video).await?;
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
    let path = state.catalog.cover_candidate_file(&video, &index).await?;
    install_cover(&state, &id, CoverSource::Frame(path)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Decodes and resizes an image into a new cover set and points the video at it as a custom
/// cover; the previous set's files go (the one cover installation, shared with the pipeline).
async fn install_cover(state: &AppState, id: &VideoId, source: CoverSource) -> ApiResult<()> {
    let installed = cover::install(
        state.playback.layout(),
        id,
        source,
        |cover: Generation| async move {
            Ok::<_, ApiError>(
                match state.store.set_cover(id, cover.as_str(), true).await? {
                    CoverChange::Replaced(previous) => CoverCommit::Replaced { previous },
                    CoverChange::Unchanged => CoverCommit::Refused,
                },
            )
        },
    )
    .await?;
    if installed.is_none() {
        return Err(ApiError::not_found("video"));
    }
    state.catalog.changed(id).await;
    Ok(())
}

fn too_large(max_bytes: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "image_too_large",
        format!("the cover is larger than {max_bytes} bytes"),
    )
}
