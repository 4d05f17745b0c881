//! Video endpoints: one video, the public listing and the caller's own, owner edits, deletion
//! and a server-sent-events feed of processing progress.
//!
//! Private videos are visible to their owner and admins only; to anyone else they do not exist
//! (404, not 403, so ids cannot be probed). A visible video someone else owns answers 403
//! `not_owner` to edits and deletion.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::Stream;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use spool_catalog::edit::MAX_TAG_INPUTS;
use spool_catalog::{
    CheckedEdit, Client, ProgressState, ProgressUpdate, ProgressWatch, TagInput, VideoEdit, policy,
    published_media,
};
use spool_media::Published;
use spool_metadata::{ListCursor, User, VideoRow};
use spool_model::{VideoId, VideoStatus, Visibility};

use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, rfc3339};

/// Page size of listings when the client names none.
const DEFAULT_LIMIT: u32 = 24;
/// Largest page a client may ask for.
const MAX_LIMIT: u32 = 100;
/// Edit bodies larger than this are parsed and checked on a blocking thread, never on an async
/// worker.
const INLINE_EDIT_BYTES: usize = 16 * 1024;
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
    /// Size of the source, once the upload completed; shown to the owner and admins only.
    size_bytes: Option<i64>,
    /// BLAKE3 of the source, once the upload completed; shown to the owner and admins only.
    blake3: Option<String>,
    duration_s: Option<f64>,
    width: Option<i64>,
    height: Option<i64>,
    /// Why processing failed.
    error: Option<String>,
    /// Why moderation holds it (status `held`; only its owner and admins see it).
    hold_reason: Option<String>,
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

/// The published media of a row.
pub(crate) fn published(video: &VideoRow) -> Option<Published> {
    published_media(video)
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

/// The JSON of a row `viewer` may see; media URLs are signed for private videos, the source's
/// hash and size only shown to whoever may change the video.
pub(crate) fn video_json(
    state: &AppState,
    headers: &HeaderMap,
    viewer: Option<&User>,
    video: VideoRow,
) -> VideoJson {
    let shows_source = policy::shows_source(viewer, &video);
    let published = published(&video);
    let prefix = (published.is_some() || video.cover_gen.is_some())
        .then(|| crate::playback::media_prefix(state, headers, &video));
    let media_url = |tail: &str| prefix.as_ref().map(|p| format!("{p}/{tail}"));
    let (hls_url, dash_url, storyboard_vtt_url) = match &published {
        Some(p) => (
            media_url("master.m3u8"),
            media_url("manifest.mpd").filter(|_| p.dash),
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
    let views = state.catalog.shown_views(&video);
    VideoJson {
        id: video.id.to_string(),
        title: video.title,
        description: video.description,
        tags: video.tags,
        category: video.category,
        visibility: video.visibility,
        status: video.status,
        owner: video.owner_name,
        size_bytes: video.size_bytes.filter(|_| shows_source),
        blake3: video.blake3.filter(|_| shows_source).map(|h| h.to_hex()),
        duration_s: video.duration_ms.map(|ms| ms as f64 / 1000.0),
        width: video.width,
        height: video.height,
        error: video.error,
        hold_reason: video.hold_reason,
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

pub(crate) fn parse_id(id: &str) -> ApiResult<VideoId> {
    id.parse().map_err(|_| ApiError::not_found("video"))
}

/// The video if `user` may change it (the catalog decides).
pub(crate) async fn owned_video(
    state: &AppState,
    user: &User,
    id: &VideoId,
) -> ApiResult<VideoRow> {
    Ok(state.catalog.owned(user, id).await?)
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
    let video = state.catalog.visible(user.as_ref(), &id).await?;
    let mut json = video_json(&state, &headers, user.as_ref(), video);
    if let Some(user) = &user {
        json.liked = Some(state.catalog.liked(user, &id).await?);
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
    viewer: Option<&User>,
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
            .map(|v| video_json(state, headers, viewer, v))
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
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Json<VideoPage>> {
    let (limit, after, channel) = page_request(params)?;
    let rows = state
        .catalog
        .list_public(user.as_ref(), channel.as_deref(), after, limit + 1)
        .await?;
    Ok(Json(page(&state, &headers, user.as_ref(), rows, limit)))
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
    let rows = state.catalog.list_mine(&user, after, limit + 1).await?;
    Ok(Json(page(&state, &headers, Some(&user), rows, limit)))
}

/// The body of an edit: any subset of the fields; a field that is absent or null stays as it
/// is.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct VideoPatch {
    /// 1-200 characters, not blank, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    title: Option<String>,
    /// Up to 5000 characters.
    #[schema(max_length = 5000)]
    description: Option<String>,
    /// Up to 20 tags of 1-32 characters; trimmed, duplicates dropped.
    #[schema(max_items = 20)]
    tags: Option<Vec<String>>,
    /// Up to 64 characters; empty for none.
    #[schema(max_length = 64)]
    category: Option<String>,
    visibility: Option<Visibility>,
}

fn invalid_json(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message)
}

/// The body of an edit as read: the catalog checks the values.
struct EditBody(VideoEdit);

/// A JSON value that must be a string or null.
struct StringField(&'static str);

impl<'de> de::DeserializeSeed<'de> for StringField {
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(s) => Ok(Some(s)),
            _ => Err(de::Error::custom(format!("`{}` must be a string", self.0))),
        }
    }
}

/// `tags`: null, or an array of strings of which at most [`MAX_TAG_INPUTS`] are kept; the
/// rest are only counted (skipped without being stored), so a huge list costs no memory.
struct TagsField;

impl<'de> de::DeserializeSeed<'de> for TagsField {
    type Value = Option<TagInput>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TagsField {
    type Value = Option<TagInput>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("`tags` must be an array of strings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let wrong = || de::Error::custom("`tags` must be an array of strings");
        let mut input = TagInput::default();
        loop {
            if input.kept.len() < MAX_TAG_INPUTS {
                match seq.next_element::<serde_json::Value>()? {
                    None => break,
                    Some(serde_json::Value::String(s)) => input.kept.push(s),
                    Some(_) => return Err(wrong()),
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            input.sent += 1;
        }
        Ok(Some(input))
    }
}

impl<'de> Deserialize<'de> for EditBody {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = EditBody;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the body must be a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EditBody, A::Error> {
                let mut edit = VideoEdit::default();
                while let Some(name) = map.next_key::<String>()? {
                    match name.as_str() {
                        "title" => edit.title = map.next_value_seed(StringField("title"))?,
                        "description" => {
                            edit.description = map.next_value_seed(StringField("description"))?;
                        }
                        "category" => {
                            edit.category = map.next_value_seed(StringField("category"))?;
                        }
                        "tags" => edit.tags = map.next_value_seed(TagsField)?,
                        "visibility" => {
                            let raw = map.next_value_seed(StringField("visibility"))?;
                            edit.visibility = raw
                                .map(|v| {
                                    v.parse::<Visibility>().map_err(|e| {
                                        de::Error::custom(format!("{INVALID_VISIBILITY}{e}"))
                                    })
                                })
                                .transpose()?;
                        }
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown field `{}`; allowed: title, description, tags, \
                                 category, visibility",
                                other.chars().take(64).collect::<String>()
                            )));
                        }
                    }
                }
                Ok(EditBody(edit))
            }
        }
        d.deserialize_any(Fields)
    }
}

/// Marks a parse error that is a value out of range (422), not a malformed body (400).
const INVALID_VISIBILITY: &str = "visibility: ";

/// Reads and checks an edit: malformed JSON, unknown fields and wrong types are 400
/// `invalid_json`; values past their limits (a visibility that does not exist included) 422
/// `invalid_input`. Work is bounded by the list limits before anything is collected.
fn parse_edit(body: &[u8]) -> ApiResult<CheckedEdit> {
    let EditBody(edit) = serde_json::from_slice(body).map_err(|e| {
        let message = e.to_string();
        if let Some(rest) = message.strip_prefix(INVALID_VISIBILITY) {
            return ApiError::from(spool_catalog::CatalogError::InvalidInput(format!(
                "visibility: {rest}"
            )));
        }
        if e.is_syntax() || e.is_eof() {
            return invalid_json(format!("the body is not valid JSON: {e}"));
        }
        invalid_json(message)
    })?;
    Ok(CheckedEdit::check(edit)?)
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
    // A large body is parsed and checked on a blocking thread: nothing proportional to the
    // input runs on an async worker.
    let edit = if body.len() > INLINE_EDIT_BYTES {
        tokio::task::spawn_blocking(move || parse_edit(&body))
            .await
            .map_err(|e| {
                tracing::error!("edit parsing task failed: {e}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error",
                )
            })??
    } else {
        parse_edit(&body)?
    };
    let video = state.catalog.edit(&user, &id, &edit).await?;
    Ok(Json(video_json(&state, &headers, Some(&user), video)))
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
    state.catalog.delete(&user, &id).await?;
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
    let video = state.catalog.retry(&user, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(video_json(&state, &headers, Some(&user), video)),
    ))
}

/// One event of the progress stream, as OpenAPI 3.1 describes a stream (by one event).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the stream; events are built by `axum::response::sse`
pub struct ProgressStreamEvent {
    /// `progress`, or `deleted` (then the stream ends).
    #[schema(pattern = "^(progress|deleted)$")]
    event: String,
    /// For `progress` a `ProgressEvent` as JSON, for `deleted` `{}`.
    data: String,
}

/// What the progress stream reports.
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

impl From<ProgressState> for ProgressEvent {
    fn from(state: ProgressState) -> Self {
        Self {
            status: state.status,
            progress: state.progress,
            renditions: state.renditions,
            processing_complete: state.processing_complete,
            error: state.error,
        }
    }
}

/// A progress stream between events: its watch and the server's stop signal.
type StreamState = (ProgressWatch, tokio_util::sync::CancellationToken);

/// The next server-sent event of a progress stream; `None` ends it.
async fn next_event(
    (mut watch, stop): StreamState,
) -> Option<(Result<Event, Infallible>, StreamState)> {
    let event = match watch.next(&stop).await? {
        ProgressUpdate::State(state) => Event::default()
            .event("progress")
            .json_data(ProgressEvent::from(state))
            .unwrap_or_else(|_| Event::default().event("progress").data("{}")),
        ProgressUpdate::Gone => Event::default().event("deleted").data("{}"),
    };
    Some((Ok(event), (watch, stop)))
}

/// Processing progress as server-sent events: an `event: progress` with the current state at
/// once and whenever it changes (pushed through the notification hub, no polling), keep-alive
/// comments in between; the stream ends after the final state (ready with the whole ladder,
/// or failed). An `event: deleted` ends it when the video goes away or becomes hidden. At most
/// 16 streams per client (user, or address when anonymous): 429 `too_many_streams` beyond.
#[utoipa::path(get, path = "/api/v1/videos/{id}/events", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses((status = 200, description = "`text/event-stream` of `progress` events (data: `ProgressEvent`), and `deleted` when the video goes", body = ProgressStreamEvent, content_type = "text/event-stream"),
              (status = 404, body = crate::error::ErrorBody),
              (status = 429, description = "`too_many_streams`: this client has too many progress streams open", body = crate::error::ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let client = match (&user, extensions.get::<ConnectInfo<SocketAddr>>()) {
        (Some(user), _) => Client::User(user.id),
        (None, Some(ConnectInfo(addr))) => Client::Address(addr.ip()),
        (None, None) => Client::Unknown,
    };
    let watch = state.catalog.watch_progress(user, client, id).await?;
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> = Box::pin(
        futures_util::stream::unfold((watch, state.stop.clone()), next_event),
    );
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    // Proxies such as nginx must pass events on as they come.
    Ok(([("x-accel-buffering", "no")], sse).into_response())
}
