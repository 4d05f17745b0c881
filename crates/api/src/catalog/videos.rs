//! Video endpoints: one video, the public listing and the caller's own, owner edits, deletion
//! and a server-sent-events feed of processing progress.
//!
//! Private videos are visible to their owner and admins only; to anyone else they do not exist
//! (404, not 403, so ids cannot be probed). A visible video someone else owns answers 403
//! `not_owner` to edits and deletion.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use spool_media::Published;
use spool_metadata::{DeletedVideo, ListCursor, User, VideoRow, VideoUpdate};
use spool_model::{VideoId, VideoStatus, Visibility};

use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, rfc3339};

/// Page size of listings when the client names none.
const DEFAULT_LIMIT: u32 = 24;
/// Largest page a client may ask for.
const MAX_LIMIT: u32 = 100;
/// How often the events feed reads the store: workers may be other processes, so only the
/// database knows about every change.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// Cover sizes (width in pixels) every cover set has.
const COVER_WIDTHS: [u32; 3] = [320, 640, 1280];

/// One playable rendition.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RenditionJson {
    /// "720p".
    name: String,
    width: u32,
    height: u32,
    /// Peak bit rate, bits/s.
    bandwidth: u64,
    /// RFC 6381 codec string.
    codecs: String,
}

/// Cover image URLs by width.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CoversJson {
    #[serde(rename = "320")]
    #[schema(rename = "320")]
    w320: String,
    #[serde(rename = "640")]
    #[schema(rename = "640")]
    w640: String,
    #[serde(rename = "1280")]
    #[schema(rename = "1280")]
    w1280: String,
}

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
    /// Why processing failed.
    error: Option<String>,
    /// Processing progress, percent (0-100).
    progress: i64,
    /// Playable renditions, highest first (empty until media is published).
    renditions: Vec<RenditionJson>,
    /// True once the whole ladder is published.
    processing_complete: bool,
    /// HLS master playlist, once media is published.
    hls_url: Option<String>,
    /// DASH manifest, once media is published.
    dash_url: Option<String>,
    /// WebVTT storyboard (thumbnails for seeking), once published.
    storyboard_vtt_url: Option<String>,
    /// The 1280-pixel cover, once there is a cover.
    cover_url: Option<String>,
    /// Every cover size, once there is a cover.
    covers: Option<CoversJson>,
    /// Tracked views (10 s or 30% watched, once per viewer per hour): the stored count, or the
    /// aggregator's newer total not yet written.
    views: i64,
    /// Likes.
    likes: i64,
    /// Whether the caller likes it (only on a single video fetched while signed in).
    liked: Option<bool>,
    created_at: String,
    updated_at: String,
}

/// The published media of a row; a row the code cannot read counts as nothing published.
pub(crate) fn published(video: &VideoRow) -> Option<Published> {
    let json = video.media.as_deref()?;
    match Published::from_json(json) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(video = %video.id, "unreadable published media: {e}");
            None
        }
    }
}

/// Renditions highest first, whatever order the row holds them in.
fn renditions(published: Option<&Published>) -> Vec<RenditionJson> {
    let mut out: Vec<RenditionJson> = published
        .map(|p| {
            p.renditions
                .iter()
                .map(|r| RenditionJson {
                    name: r.name.clone(),
                    width: r.width,
                    height: r.height,
                    bandwidth: r.bandwidth,
                    codecs: r.codecs.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|r| std::cmp::Reverse((r.height, r.width, r.bandwidth)));
    out
}

/// The JSON of a row the caller may see; media URLs are signed for private videos.
pub(crate) fn video_json(state: &AppState, headers: &HeaderMap, video: VideoRow) -> VideoJson {
    let published = published(&video);
    let prefix = (published.is_some() || video.cover_gen.is_some())
        .then(|| crate::playback::media_prefix(state, headers, &video));
    let media_url = |tail: &str| prefix.as_ref().map(|p| format!("{p}/{tail}"));
    let (hls_url, dash_url, storyboard_vtt_url) = match &published {
        Some(p) => (
            media_url("master.m3u8"),
            media_url("manifest.mpd"),
            if p.storyboard {
                media_url(&format!("{}/storyboard/storyboard.vtt", p.generation))
            } else {
                None
            },
        ),
        None => (None, None, None),
    };
    let covers = video.cover_gen.as_ref().and_then(|g| {
        let [w320, w640, w1280] = COVER_WIDTHS.map(|w| media_url(&format!("covers/{g}/{w}.jpg")));
        Some(CoversJson {
            w320: w320?,
            w640: w640?,
            w1280: w1280?,
        })
    });
    let views = video.views.max(state.videos.known_views(&video.id));
    VideoJson {
        id: video.id.to_string(),
        title: video.title,
        description: video.description,
        tags: video.tags,
        category: video.category,
        visibility: video.visibility,
        status: video.status,
        owner: video.owner_name,
        size_bytes: video.size_bytes,
        blake3: video.blake3.map(|h| h.to_hex()),
        duration_s: video.duration_ms.map(|ms| ms as f64 / 1000.0),
        width: video.width,
        height: video.height,
        error: video.error,
        progress: video.progress.clamp(0, 100),
        renditions: renditions(published.as_ref()),
        processing_complete: published.as_ref().is_some_and(|p| p.complete),
        hls_url,
        dash_url,
        storyboard_vtt_url,
        cover_url: covers.as_ref().map(|c| c.w1280.clone()),
        covers,
        views,
        likes: video.likes,
        liked: None,
        created_at: rfc3339(video.created_at),
        updated_at: rfc3339(video.updated_at),
    }
}

pub(crate) fn may_see(user: Option<&User>, video: &VideoRow) -> bool {
    video.visibility != Visibility::Private
        || user.is_some_and(|u| u.is_admin || u.id == video.owner_id)
}

pub(crate) fn parse_id(id: &str) -> ApiResult<VideoId> {
    id.parse().map_err(|_| ApiError::not_found("video"))
}

/// The video if `user` may see it, else 404 (missing and hidden look the same).
pub(crate) async fn visible_video(
    state: &AppState,
    user: Option<&User>,
    id: &VideoId,
) -> ApiResult<VideoRow> {
    match state.videos.get(id).await? {
        Some(video) if may_see(user, &video) => Ok(video),
        _ => Err(ApiError::not_found("video")),
    }
}

/// The video if `user` may change it: fresh from the store (an edit must not start from a
/// cached row). Hidden: 404; visible but someone else's: 403 `not_owner`.
pub(crate) async fn owned_video(
    state: &AppState,
    user: &User,
    id: &VideoId,
) -> ApiResult<VideoRow> {
    let video = state
        .store
        .video(id)
        .await?
        .filter(|v| may_see(Some(user), v))
        .ok_or_else(|| ApiError::not_found("video"))?;
    if user.is_admin || user.id == video.owner_id {
        Ok(video)
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_owner",
            "only the video's owner or an admin may change it",
        ))
    }
}

/// One video.
#[utoipa::path(get, path = "/api/v1/videos/{id}", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses((status = 200, body = VideoJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<VideoJson>> {
    let id = parse_id(&id)?;
    let video = visible_video(&state, user.as_ref(), &id).await?;
    let mut json = video_json(&state, &headers, video);
    if let Some(user) = &user {
        json.liked = Some(state.store.likes_video(user.id, &id).await?);
    }
    Ok(Json(json))
}

/// Paging parameters of a listing.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this channel's (user name's) videos.
    channel: Option<String>,
    /// Page size: 1 to 100, default 24 (larger values are cut to 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of videos.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VideoPage {
    videos: Vec<VideoJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Opaque cursor: URL-safe base64 of the creation time (8 bytes, big-endian) and the id.
fn encode_cursor(video: &VideoRow) -> String {
    let mut bytes = video.created_at.to_be_bytes().to_vec();
    bytes.extend_from_slice(video.id.as_str().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(cursor: &str) -> Option<ListCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    if bytes.len() != 8 + VideoId::LEN {
        return None;
    }
    let (at, id) = bytes.split_at(8);
    let at = i64::from_be_bytes(at.try_into().ok()?);
    let id = std::str::from_utf8(id).ok()?.parse().ok()?;
    Some((at, id))
}

/// The page size and the position a listing request asks for.
pub(crate) fn page_request(
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<(u32, Option<ListCursor>, Option<String>)> {
    let Query(params) = params
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                "`cursor` is not a cursor this server handed out",
            )
        })?),
    };
    Ok((limit, after, params.channel.filter(|c| !c.is_empty())))
}

/// One more row than the page is fetched, so the last page says so (no empty page after it).
pub(crate) fn page(
    state: &AppState,
    headers: &HeaderMap,
    mut rows: Vec<VideoRow>,
    limit: u32,
) -> VideoPage {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(encode_cursor)
    } else {
        None
    };
    VideoPage {
        videos: rows
            .into_iter()
            .map(|v| video_json(state, headers, v))
            .collect(),
        next_cursor,
    }
}

/// Public, ready videos, newest first.
#[utoipa::path(get, path = "/api/v1/videos", tag = "videos", params(ListParams),
    responses((status = 200, body = VideoPage),
              (status = 400, description = "`invalid_cursor` or `invalid_query`", body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Json<VideoPage>> {
    let (limit, after, channel) = page_request(params)?;
    let rows = match channel {
        None => state.store.list_public_videos(after, limit + 1).await?,
        Some(name) => match state.store.user_by_name(&name).await? {
            Some(owner) => {
                state
                    .store
                    .list_public_videos_by_owner(owner.id, after, limit + 1)
                    .await?
            }
            None => Vec::new(),
        },
    };
    Ok(Json(page(&state, &headers, rows, limit)))
}

/// The caller's own videos, whatever their status and visibility, newest first.
#[utoipa::path(get, path = "/api/v1/me/videos", tag = "videos", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = VideoPage),
              (status = 400, description = "`invalid_cursor` or `invalid_query`", body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn list_mine(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Json<VideoPage>> {
    let (limit, after, _) = page_request(params)?;
    let rows = state
        .store
        .list_videos_by_owner(user.id, after, limit + 1)
        .await?;
    Ok(Json(page(&state, &headers, rows, limit)))
}

/// The body of an edit: any subset of the fields; a field that is absent or null stays as it
/// is.
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct VideoPatch {
    /// 1-200 characters, not blank.
    title: Option<String>,
    /// Up to 5000 characters.
    description: Option<String>,
    /// Up to 20 tags of 1-32 characters; trimmed, duplicates dropped.
    tags: Option<Vec<String>>,
    /// Up to 64 characters; empty for none.
    category: Option<String>,
    visibility: Option<Visibility>,
}

fn invalid_json(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message)
}

fn invalid_input(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
}

fn string_field(field: &str, value: serde_json::Value) -> ApiResult<Option<String>> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        _ => Err(invalid_json(format!("`{field}` must be a string"))),
    }
}

/// Parses an edit by hand rather than with serde, so every error names its field: unknown
/// fields and wrong types are 400 `invalid_json`, a visibility that does not exist is 422.
fn parse_patch(body: &[u8]) -> ApiResult<VideoUpdate> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| invalid_json(format!("the body is not valid JSON: {e}")))?;
    let serde_json::Value::Object(fields) = value else {
        return Err(invalid_json("the body must be a JSON object"));
    };
    let mut update = VideoUpdate::default();
    for (name, value) in fields {
        match name.as_str() {
            "title" => update.title = string_field("title", value)?,
            "description" => update.description = string_field("description", value)?,
            "category" => update.category = string_field("category", value)?,
            "tags" => {
                update.tags = match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::Array(items) => Some(
                        items
                            .into_iter()
                            .map(|item| match item {
                                serde_json::Value::String(s) => Ok(s),
                                _ => Err(invalid_json("`tags` must be an array of strings")),
                            })
                            .collect::<ApiResult<_>>()?,
                    ),
                    _ => return Err(invalid_json("`tags` must be an array of strings")),
                }
            }
            "visibility" => {
                update.visibility = string_field("visibility", value)?
                    .map(|v| {
                        v.parse::<Visibility>()
                            .map_err(|e| invalid_input(format!("visibility: {e}")))
                    })
                    .transpose()?;
            }
            other => {
                return Err(invalid_json(format!(
                    "unknown field `{}`; allowed: title, description, tags, category, visibility",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    Ok(update)
}

/// Edits a video (owner or admin).
#[utoipa::path(patch, path = "/api/v1/videos/{id}", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    request_body = VideoPatch,
    security(("bearer" = [])),
    responses((status = 200, body = VideoJson),
              (status = 400, description = "`invalid_json`: not JSON, not an object, an unknown field or a wrong type", body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody),
              (status = 403, description = "`not_owner`", body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 422, description = "`invalid_input`: a value past its limits; the message names the field", body = crate::error::ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<VideoJson>> {
    let id = parse_id(&id)?;
    owned_video(&state, &user, &id).await?;
    let update = parse_patch(&body)?;
    let found = state.store.update_video(&id, &update).await?;
    state.videos.invalidate(&id).await;
    // Deleted between the ownership check and the update: as if it never existed.
    let video = if found {
        state.store.video(&id).await?
    } else {
        None
    }
    .ok_or_else(|| ApiError::not_found("video"))?;
    Ok(Json(video_json(&state, &headers, video)))
}

/// Deletes a video (owner or admin): its rows at once, then its media and, when no other
/// video shares the content, its source file.
#[utoipa::path(delete, path = "/api/v1/videos/{id}", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    security(("bearer" = [])),
    responses((status = 204, description = "deleted"),
              (status = 401, body = crate::error::ErrorBody),
              (status = 403, description = "`not_owner`", body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    owned_video(&state, &user, &id).await?;
    let deleted = state
        .store
        .delete_video(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("video"))?;
    state.videos.invalidate(&id).await;
    remove_files(&state, &id, deleted).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues processing again after it failed (owner or admin).
#[utoipa::path(post, path = "/api/v1/videos/{id}/retry", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    security(("bearer" = [])),
    responses((status = 202, body = VideoJson, description = "queued again"),
              (status = 401, body = crate::error::ErrorBody),
              (status = 403, description = "`not_owner`", body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, description = "`not_retryable`: not failed, or the upload never completed (upload again)", body = crate::error::ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<VideoJson>)> {
    let id = parse_id(&id)?;
    owned_video(&state, &user, &id).await?;
    if !state.store.retry_processing(&id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_retryable",
            "only a video whose processing failed can be retried; if its upload never \
             completed, upload the file again",
        ));
    }
    state.videos.invalidate(&id).await;
    let video = state
        .store
        .video(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("video"))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(video_json(&state, &headers, video)),
    ))
}

/// Removes what a deleted video left on disk. The database is the truth and already says the
/// video is gone, so a failure here is logged (the files are orphans), not answered.
async fn remove_files(state: &AppState, id: &VideoId, deleted: DeletedVideo) {
    // Content uploaded again since the transaction (same hash) has a blob row again and owns
    // the file now: keep it.
    let blob = match (&deleted.blob_to_delete, &deleted.blob_hash) {
        (Some(key), Some(hash)) => match state.store.blob(hash).await {
            Ok(None) => Some(key.clone()),
            Ok(Some(_)) => None,
            Err(e) => {
                tracing::warn!(video = %id, "checking blob before deleting its file: {e}");
                None
            }
        },
        _ => None,
    };
    let layout = state.playback.layout().clone();
    let data_dir = state.config.server.data_dir.clone();
    let id = id.clone();
    let done = tokio::task::spawn_blocking(move || {
        if let Err(e) = layout.remove_video(&id) {
            tracing::warn!(video = %id, "removing its media: {e}");
        }
        let files = match spool_storage::LocalStore::open(&data_dir) {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(video = %id, "opening the blob store: {e}");
                return;
            }
        };
        if let Some(key) = blob
            && let Err(e) = files.delete_blob(&key)
        {
            tracing::warn!(video = %id, "deleting blob {key}: {e}");
        }
        for upload in deleted.uploads {
            if let Err(e) = files.remove_partial(&upload) {
                tracing::warn!(video = %id, "deleting partial upload {upload}: {e}");
            }
        }
    })
    .await;
    if let Err(e) = done {
        tracing::warn!("removing a deleted video's files: {e}");
    }
}

/// What the events feed reports.
#[derive(Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProgressEvent {
    status: VideoStatus,
    /// Percent, 0-100.
    progress: i64,
    /// Names of the playable renditions, highest first.
    renditions: Vec<String>,
    processing_complete: bool,
    error: Option<String>,
}

impl ProgressEvent {
    fn of(video: &VideoRow) -> Self {
        let published = published(video);
        Self {
            status: video.status,
            progress: video.progress.clamp(0, 100),
            renditions: renditions(published.as_ref())
                .into_iter()
                .map(|r| r.name)
                .collect(),
            processing_complete: published.is_some_and(|p| p.complete),
            error: video.error.clone(),
        }
    }

    /// Nothing more will change without a new upload: published completely, or failed.
    fn is_final(&self) -> bool {
        self.status == VideoStatus::Failed
            || (self.status == VideoStatus::Ready && self.processing_complete)
    }

    fn event(&self) -> Event {
        Event::default()
            .event("progress")
            .json_data(self)
            .expect("progress serializes")
    }
}

/// Where the feed is.
struct Feed {
    state: AppState,
    user: Option<User>,
    id: VideoId,
    last: Option<ProgressEvent>,
    polled: bool,
    done: bool,
}

impl Feed {
    /// The next event: at once when the state differs from the last one sent, else after
    /// polling until it does. `None` ends the stream (final state sent, video gone or hidden,
    /// server stopping).
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        if self.done {
            return None;
        }
        loop {
            if self.polled {
                tokio::select! {
                    () = self.state.stop.cancelled() => return None,
                    () = tokio::time::sleep(POLL_EVERY) => {}
                }
            }
            self.polled = true;
            let video = match self.state.store.video(&self.id).await {
                Ok(Some(video)) if may_see(self.user.as_ref(), &video) => video,
                Ok(_) => {
                    self.done = true;
                    let gone = Event::default().event("deleted").data("{}");
                    return Some((Ok(gone), self));
                }
                Err(e) => {
                    // Try again at the next poll; the client keeps its connection.
                    tracing::warn!(video = %self.id, "events feed: reading the video: {e}");
                    continue;
                }
            };
            let now = ProgressEvent::of(&video);
            if self.last.as_ref() != Some(&now) {
                self.done = now.is_final();
                let event = now.event();
                self.last = Some(now);
                return Some((Ok(event), self));
            }
        }
    }
}

/// Processing progress as server-sent events: an `event: progress` with the current state at
/// once and whenever it changes, keep-alive comments in between; the stream ends after the
/// final state (ready with the whole ladder, or failed). An `event: deleted` ends it when the
/// video goes away.
#[utoipa::path(get, path = "/api/v1/videos/{id}/events", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses((status = 200, description = "`text/event-stream` of `progress` events", body = ProgressEvent, content_type = "text/event-stream"),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    // Visibility is checked against the store, as every later poll is.
    let visible = state
        .store
        .video(&id)
        .await?
        .is_some_and(|v| may_see(user.as_ref(), &v));
    if !visible {
        return Err(ApiError::not_found("video"));
    }
    let feed = Feed {
        state,
        user,
        id,
        last: None,
        polled: false,
        done: false,
    };
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(futures_util::stream::unfold(feed, Feed::next));
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    // Proxies such as nginx must pass events on as they come.
    Ok(([("x-accel-buffering", "no")], sse).into_response())
}
