//! Live rooms and their low-latency HLS, as HTTP: rooms (create, list, get, rotate the key)
//! under `/api/v1/live`, and playlists, parts and segments under `/live/{id}/`. The live
//! crate decides and renders; this maps.

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use spool_live::{Flavour, PlaylistRequest, RoomInput, RoomView};
use spool_model::{RoomId, Visibility};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, ErrorBody};
use crate::{AppState, base_url, rfc3339};

/// The live service's routes with their OpenAPI entries.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(mine))
        .routes(routes!(get))
        .routes(routes!(rotate_key))
        .routes(routes!(master))
        .routes(routes!(media))
}

/// A new room.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomCreate {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    /// At most 5000 characters.
    #[serde(default)]
    #[schema(max_length = 5000)]
    description: String,
    /// Who may watch (default public).
    visibility: Option<Visibility>,
}

/// The incoming stream's health (the owner sees it while on air).
#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthJson {
    width: u32,
    height: u32,
    codecs: Vec<String>,
    fps: f64,
    bitrate_bps: u64,
    gop_seconds: f64,
    b_frames: bool,
    /// What the publisher should change (a long GOP, B-frames).
    warnings: Vec<String>,
}

/// A live room.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RoomJson {
    id: String,
    title: String,
    description: String,
    visibility: Visibility,
    /// `idle`, `live` or `ended`.
    status: spool_model::LiveStatus,
    owner: String,
    /// Viewers in the last seconds.
    viewers: u64,
    /// A publisher is connected now (false while it reconnects).
    publishing: bool,
    created_at: String,
    started_at: Option<String>,
    ended_at: Option<String>,
    /// Low-latency HLS (multivariant playlist), while live.
    hls_url: Option<String>,
    /// Plain HLS on the same segments, for players without LL-HLS, while live.
    plain_hls_url: Option<String>,
    /// The video the broadcast became, once ended.
    video_id: Option<String>,
    /// The video this broadcast is recorded into, from its start: live viewing's tracking
    /// events name it (with `properties.room_id`), so its views include the live ones.
    recording_id: Option<String>,
    /// Where to publish (owner only); the stream key goes after it, or in OBS's key field.
    rtmp_url: Option<String>,
    /// Owner only, while on air.
    health: Option<HealthJson>,
}

/// A room just made, with its stream key (shown this once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RoomCreated {
    room: RoomJson,
    /// Secret: whoever holds it can broadcast in this room. Rotate it if it leaks.
    stream_key: String,
    rtmp_url: String,
}

/// A new stream key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StreamKeyJson {
    stream_key: String,
    rtmp_url: String,
}

/// Rooms.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RoomList {
    rooms: Vec<RoomJson>,
}

fn room_json(state: &AppState, headers: &HeaderMap, view: RoomView) -> RoomJson {
    let row = view.row;
    let on_air = row.status == spool_model::LiveStatus::Live;
    let base = base_url(state, headers);
    let url = |file: &str| on_air.then(|| format!("{base}/live/{}/{file}", row.id));
    RoomJson {
        hls_url: url("index.m3u8"),
        plain_hls_url: url("plain.m3u8"),
        id: row.id.to_string(),
        title: row.title,
        description: row.description,
        visibility: row.visibility,
        status: row.status,
        owner: row.owner_name,
        viewers: view.viewers,
        publishing: view.publishing,
        created_at: rfc3339(row.created_at),
        started_at: row.started_at.map(rfc3339),
        ended_at: row.ended_at.map(rfc3339),
        // Set when the broadcast starts (the video is recorded as it airs); shown once it is
        // over, when the video plays.
        video_id: row
            .recording_id
            .as_ref()
            .filter(|_| row.status == spool_model::LiveStatus::Ended)
            .map(ToString::to_string),
        recording_id: row.recording_id.as_ref().map(ToString::to_string),
        rtmp_url: view.owned.then(|| state.live.settings().rtmp_url.clone()),
        health: view.health.map(|h| HealthJson {
            width: h.width,
            height: h.height,
            codecs: h.codecs,
            fps: (h.fps * 100.0).round() / 100.0,
            bitrate_bps: h.bitrate_bps,
            gop_seconds: h.gop_seconds,
            b_frames: h.b_frames,
            warnings: h.warnings,
        }),
    }
}

fn parse_room(id: &str) -> ApiResult<RoomId> {
    id.parse().map_err(|_| ApiError::not_found("live room"))
}

/// Creates a live room for the caller; answers its stream key once.
#[utoipa::path(post, path = "/api/v1/live", tag = "live",
    request_body = RoomCreate,
    security(("bearer" = [])),
    responses((status = 201, body = RoomCreated),
              (status = 401, body = ErrorBody),
              (status = 422, description = "`invalid_input`: a title or description past its limits", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RoomCreate>,
) -> ApiResult<(StatusCode, Json<RoomCreated>)> {
    let (view, key) = state
        .live
        .create_room(
            &user,
            RoomInput {
                title: body.title,
                description: body.description,
                visibility: body.visibility,
            },
        )
        .await?;
    let rtmp_url = state.live.settings().rtmp_url.clone();
    Ok((
        StatusCode::CREATED,
        Json(RoomCreated {
            room: room_json(&state, &headers, view),
            stream_key: key,
            rtmp_url,
        }),
    ))
}

/// Public rooms on air now, most recently started first.
#[utoipa::path(get, path = "/api/v1/live", tag = "live",
    responses((status = 200, body = RoomList)))]
pub async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
) -> ApiResult<Json<RoomList>> {
    let rooms = state.live.on_air(user.as_ref()).await?;
    Ok(Json(RoomList {
        rooms: rooms
            .into_iter()
            .map(|r| room_json(&state, &headers, r))
            .collect(),
    }))
}

/// The caller's rooms, newest first.
#[utoipa::path(get, path = "/api/v1/live/mine", tag = "live",
    security(("bearer" = [])),
    responses((status = 200, body = RoomList), (status = 401, body = ErrorBody)))]
pub async fn mine(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
) -> ApiResult<Json<RoomList>> {
    let rooms = state.live.rooms_of(&user).await?;
    Ok(Json(RoomList {
        rooms: rooms
            .into_iter()
            .map(|r| room_json(&state, &headers, r))
            .collect(),
    }))
}

/// One room: status, HLS URLs while live, the recording once ended.
#[utoipa::path(get, path = "/api/v1/live/{id}", tag = "live",
    params(("id" = String, Path, description = "Room id")),
    responses((status = 200, body = RoomJson), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<RoomJson>> {
    let id = parse_room(&id)?;
    let view = state.live.room(user.as_ref(), &id).await?;
    Ok(Json(room_json(&state, &headers, view)))
}

/// Replaces the room's stream key (owner or admin); the old key stops working for new
/// connections.
#[utoipa::path(post, path = "/api/v1/live/{id}/key", tag = "live",
    params(("id" = String, Path, description = "Room id")),
    security(("bearer" = [])),
    responses((status = 200, body = StreamKeyJson),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_owner`", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<StreamKeyJson>> {
    let id = parse_room(&id)?;
    let key = state.live.rotate_key(&user, &id).await?;
    Ok(Json(StreamKeyJson {
        stream_key: key,
        rtmp_url: state.live.settings().rtmp_url.clone(),
    }))
}

/// The multivariant playlist: `index.m3u8` (LL-HLS) or `plain.m3u8`.
#[utoipa::path(get, path = "/live/{id}/{playlist}", tag = "live",
    params(("id" = String, Path, description = "Room id"),
           ("playlist" = String, Path, description = "`index.m3u8` or `plain.m3u8`")),
    responses((status = 200, description = "the playlist", content_type = "application/vnd.apple.mpegurl"),
              (status = 404, body = ErrorBody)))]
pub async fn master(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, playlist)): Path<(String, String)>,
) -> ApiResult<Response> {
    let flavour = match playlist.as_str() {
        "index.m3u8" => Flavour::LowLatency,
        "plain.m3u8" => Flavour::Plain,
        _ => return Err(ApiError::not_found("playlist")),
    };
    let broadcast = state.live.broadcast(user.as_ref(), &parse_room(&id)?)?;
    let text = broadcast
        .master_playlist(flavour)
        .ok_or_else(|| ApiError::not_found("playlist (no picture yet)"))?;
    Ok(playlist_response(text, "no-cache"))
}

/// Blocking reload and delta updates of a media playlist.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MediaQuery {
    /// Answer once this media sequence number exists.
    #[serde(rename = "_HLS_msn")]
    #[param(rename = "_HLS_msn")]
    msn: Option<u64>,
    /// With `_HLS_msn`: once this part of it exists.
    #[serde(rename = "_HLS_part")]
    #[param(rename = "_HLS_part")]
    part: Option<u32>,
    /// `YES` (or `v2`): a delta update that skips old segments.
    #[serde(rename = "_HLS_skip")]
    #[param(rename = "_HLS_skip")]
    skip: Option<String>,
}

/// A rendition's files: `index.m3u8` (LL-HLS, blocking reload), `plain.m3u8`,
/// `init-{n}.mp4`, segments `{msn}.m4s` and parts `{msn}.{part}.m4s` (a part named by the
/// preload hint is answered as soon as it exists).
#[utoipa::path(get, path = "/live/{id}/{rendition}/{file}", tag = "live",
    params(("id" = String, Path, description = "Room id"),
           ("rendition" = String, Path, description = "Rendition, e.g. `source`"),
           ("file" = String, Path, description = "Playlist, init segment, segment or part"),
           MediaQuery),
    responses((status = 200, description = "the playlist or media"),
              (status = 400, description = "`live_bad_playlist_request`", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn media(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Path((id, rendition, file)): Path<(String, String, String)>,
    ApiQuery(query): ApiQuery<MediaQuery>,
) -> ApiResult<Response> {
    let broadcast = state.live.broadcast(user.as_ref(), &parse_room(&id)?)?;
    let packager = broadcast
        .rendition(&rendition)
        .ok_or_else(|| ApiError::not_found("rendition"))?;
    let scope = if broadcast.is_public() {
        "public"
    } else {
        "private"
    };
    let config = packager.config().clone();
    // Long enough for a segment to close, short enough that a stalled stream answers.
    let hold = config.segment_target.max(config.part_target * 3) * 3;
    let flavour = match file.as_str() {
        "index.m3u8" => Some(Flavour::LowLatency),
        "plain.m3u8" => Some(Flavour::Plain),
        _ => None,
    };
    if let Some(flavour) = flavour {
        broadcast.saw_viewer(viewer_key(&headers, connect.map(|c| c.0.0)));
        let request = PlaylistRequest {
            msn: query.msn,
            part: query.part,
            skip: query
                .skip
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("yes") || s == "v2"),
        };
        let blocking = flavour == Flavour::LowLatency && request.msn.is_some();
        if blocking {
            packager.check_request(&request)?;
            if let Some(msn) = request.msn {
                packager.wait_for(msn, request.part, hold).await;
            }
        }
        let reports: Vec<_> = broadcast
            .renditions()
            .iter()
            .filter(|r| **r != rendition)
            .filter_map(|r| {
                let other = broadcast.rendition(r)?;
                Some((format!("../{r}/index.m3u8"), other.position()))
            })
            .collect();
        let text = packager
            .playlist(flavour, &request, &reports)
            .ok_or_else(|| ApiError::not_found("playlist (no picture yet)"))?;
        // A blocking answer names one moment of the stream: caches may share it briefly.
        let cache = if blocking {
            format!("{scope}, max-age=6")
        } else {
            "no-cache".to_owned()
        };
        return Ok(playlist_response(text, &cache));
    }
    let bytes = match MediaFile::parse(&file).ok_or_else(|| ApiError::not_found("file"))? {
        MediaFile::Init(n) => packager.init(n),
        MediaFile::Segment(msn) => {
            if msn == packager.position().msn {
                packager.wait_for(msn, None, hold).await;
            }
            packager.segment(msn)
        }
        MediaFile::Part(msn, part) => {
            let position = packager.position();
            // Only the preload hint (or the part after it) may be waited for.
            if (msn, part) >= (position.msn, position.parts) && msn <= position.msn + 1 {
                packager.wait_for(msn, Some(part), hold).await;
            }
            packager.part(msn, part)
        }
    }
    .ok_or_else(|| ApiError::not_found("file"))?;
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    if let Ok(value) = HeaderValue::from_str(&format!("{scope}, max-age=31536000, immutable")) {
        h.insert(header::CACHE_CONTROL, value);
    }
    Ok(response)
}

/// A rendition's media file names.
#[derive(Debug, PartialEq)]
enum MediaFile {
    Init(u32),
    Segment(u64),
    Part(u64, u32),
}

impl MediaFile {
    fn parse(name: &str) -> Option<Self> {
        if let Some(n) = name
            .strip_prefix("init-")
            .and_then(|n| n.strip_suffix(".mp4"))
        {
            return n.parse().ok().map(Self::Init);
        }
        let stem = name.strip_suffix(".m4s")?;
        match stem.split_once('.') {
            Some((msn, part)) => Some(Self::Part(msn.parse().ok()?, part.parse().ok()?)),
            None => stem.parse().ok().map(Self::Segment),
        }
    }
}

fn playlist_response(text: impl IntoResponse, cache: &str) -> Response {
    let mut response = text.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apple.mpegurl"),
    );
    if let Ok(value) = HeaderValue::from_str(cache) {
        h.insert(header::CACHE_CONTROL, value);
    }
    response
}

/// A stable key for one viewer: the client address and its user agent.
fn viewer_key(headers: &HeaderMap, peer: Option<SocketAddr>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    peer.map(|p| p.ip()).hash(&mut hasher);
    headers
        .get(header::USER_AGENT)
        .map(HeaderValue::as_bytes)
        .hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_file_names_parse_and_nothing_else_does() {
        let cases = [
            ("init-0.mp4", Some(MediaFile::Init(0))),
            ("12.m4s", Some(MediaFile::Segment(12))),
            ("12.3.m4s", Some(MediaFile::Part(12, 3))),
            ("init-x.mp4", None),
            ("12.m3u8", None),
            ("../12.m4s", None),
            ("12.3.4.m4s", None),
        ];
        for (name, expected) in cases {
            assert_eq!(MediaFile::parse(name), expected, "{name}");
        }
    }
}
