//! Discovery as HTTP: the feed (`GET /api/v1/feed`), related videos, and the viewer's
//! refusals ("not interested", hide a creator). The recommender decides; this maps.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use spool_events::tracking::EventType;
use spool_recommend::Asker;
use spool_recommend::rank::Pick;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::MaybeUser;
use crate::catalog::videos::{VideoJson, VideoPage, parse_id, video_json};
use crate::error::{ApiError, ApiResult};

/// Feed items per page when the client names no limit.
const DEFAULT_FEED: usize = 10;
/// Most feed items one page may hold.
const MAX_FEED: usize = 50;
/// Related videos returned when the client names no limit.
const DEFAULT_RELATED: usize = 12;
/// Most related videos one request may ask for.
const MAX_RELATED: usize = 50;
/// The start rendition is chosen for this throughput when the client says nothing of its
/// own (hls.js's first estimate).
const DEFAULT_KBPS: u64 = 500;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(feed))
        .routes(routes!(related))
        .routes(routes!(not_interested))
        .routes(routes!(hide_creator))
}

/// Who asks, for an anonymous viewer.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// 1 to 50, default 10.
    limit: Option<usize>,
    /// `next_cursor` of the previous page (its videos are not repeated).
    #[param(pattern = "^([A-Za-z0-9_-]{22})?$")]
    cursor: Option<String>,
    /// The device's anonymous id (the same the tracking events carry), when not signed in.
    #[param(pattern = "^[A-Za-z0-9_-]{0,64}$")]
    anonymous_id: Option<String>,
    /// The client's measured throughput in kbit/s, for the prefetch hint's rendition.
    kbps: Option<u64>,
}

/// What to fetch ahead so an item starts at once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PrefetchJson {
    /// The start rendition's media playlist.
    playlist_url: String,
    /// Its init segment.
    init_url: String,
    /// Its first media segment.
    segment_url: String,
}

/// One recommended video.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FeedItem {
    video: VideoJson,
    /// Where it came from: `interest`, `cowatch`, `cf`, `creator`, `trending`, `fresh`,
    /// `explore`, `related`.
    source: &'static str,
    /// The ranker's score (log-odds; comparable within one answer only).
    score: f32,
    /// Null when the video's media has no first segment to point at (a live recording).
    prefetch: Option<PrefetchJson>,
}

/// A page of the feed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FeedJson {
    items: Vec<FeedItem>,
    /// Pass as `cursor` for the next page.
    next_cursor: String,
    /// True while the asker has no profile yet (the page is trending, fresh and varied).
    cold_start: bool,
}

fn query<T>(params: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    params
        .map(|Query(p)| p)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

/// The `anonymous_id` a request names, checked (empty is none).
pub(crate) fn anonymous_id(id: Option<String>) -> ApiResult<Option<String>> {
    match id.filter(|a| !a.is_empty()) {
        Some(a)
            if a.len() <= 64
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(Some(a))
        }
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "`anonymous_id` must be 1 to 64 of A-Z a-z 0-9 - _",
        )),
        None => Ok(None),
    }
}

fn item(
    state: &AppState,
    headers: &HeaderMap,
    viewer: Option<&spool_metadata::User>,
    pick: Pick,
    kbps: u64,
) -> FeedItem {
    let row = pick.item.row.clone();
    let prefetch = prefetch(state, headers, &row, kbps);
    FeedItem {
        video: video_json(state, headers, viewer, row),
        source: pick.source.as_str(),
        score: pick.score,
        prefetch,
    }
}

/// The start rendition's first segment: the one a player starting at `kbps` asks for first.
fn prefetch(
    state: &AppState,
    headers: &HeaderMap,
    row: &spool_metadata::VideoRow,
    kbps: u64,
) -> Option<PrefetchJson> {
    let media = spool_catalog::published_media(row)?;
    // A live recording's segments are numbered from its broadcast, not from 1.
    if media.generation == "live" || media.renditions.is_empty() {
        return None;
    }
    let start =
        spool_media::manifest::start_rendition(&media.renditions, media.audio.as_ref(), kbps)
            .unwrap_or(media.renditions.len() - 1);
    let rung = &media.renditions[start].name;
    let base = format!(
        "{}/{}/{rung}",
        crate::playback::media_prefix(state, headers, row),
        media.generation
    );
    Some(PrefetchJson {
        playlist_url: format!("{base}/index.m3u8"),
        init_url: format!("{base}/init.mp4"),
        segment_url: format!("{base}/seg_1.m4s"),
    })
}

/// The feed: videos for the signed-in user, or for the anonymous id, ranked from their
/// profile, co-watch, the collaborative model, trending and fresh uploads, with filters
/// and diversity. Pages continue by `cursor` without repeats.
#[utoipa::path(get, path = "/api/v1/feed", tag = "discovery", params(FeedParams),
    responses((status = 200, body = FeedJson),
              (status = 400, description = "`invalid_cursor` or `invalid_query`", body = crate::error::ErrorBody)))]
pub async fn feed(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    params: Result<Query<FeedParams>, QueryRejection>,
) -> ApiResult<Json<FeedJson>> {
    let params = query(params)?;
    let anon = anonymous_id(params.anonymous_id)?;
    let limit = params.limit.unwrap_or(DEFAULT_FEED).clamp(1, MAX_FEED);
    let asker = Asker {
        user: user.as_ref().map(|u| u.name.as_str()),
        anonymous_id: anon.as_deref(),
    };
    let page = state
        .recommender
        .feed(asker, limit, params.cursor.as_deref())
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor", e.to_string()))?;
    let kbps = params.kbps.unwrap_or(DEFAULT_KBPS);
    Ok(Json(FeedJson {
        items: page
            .picks
            .into_iter()
            .map(|p| item(&state, &headers, user.as_ref(), p, kbps))
            .collect(),
        next_cursor: page.next_cursor,
        cold_start: page.cold_start,
    }))
}

/// How many related videos, and for whom.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelatedParams {
    /// 1 to 50, default 12.
    limit: Option<usize>,
    /// The device's anonymous id, when not signed in (its refusals are respected).
    #[param(pattern = "^[A-Za-z0-9_-]{0,64}$")]
    anonymous_id: Option<String>,
}

/// Videos related to one ("Up next"): watched together with it, predicted by the
/// collaborative model, sharing its tags or category, by the same creator; the viewer's
/// refusals respected.
#[utoipa::path(get, path = "/api/v1/videos/{id}/related", tag = "discovery",
    params(("id" = String, Path, description = "Video id"), RelatedParams),
    responses((status = 200, body = VideoPage), (status = 404, body = crate::error::ErrorBody)))]
pub async fn related(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Result<Query<RelatedParams>, QueryRejection>,
) -> ApiResult<Json<VideoPage>> {
    let params = query(params)?;
    let anon = anonymous_id(params.anonymous_id)?;
    let limit = params
        .limit
        .unwrap_or(DEFAULT_RELATED)
        .clamp(1, MAX_RELATED);
    let id = parse_id(&id)?;
    let video = state.catalog.visible(user.as_ref(), &id).await?;
    let asker = Asker {
        user: user.as_ref().map(|u| u.name.as_str()),
        anonymous_id: anon.as_deref(),
    };
    let rows = state
        .recommender
        .related(asker, &video, limit)
        .await
        .into_iter()
        .map(|p| p.item.row.clone())
        .collect();
    Ok(Json(crate::catalog::videos::page(
        &state,
        &headers,
        user.as_ref(),
        rows,
        u32::MAX,
    )))
}

/// Who refuses, when not signed in.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct RefusalBody {
    /// The device's anonymous id.
    #[schema(pattern = "^[A-Za-z0-9_-]{0,64}$")]
    anonymous_id: Option<String>,
}

async fn refuse(
    state: &AppState,
    user: Option<spool_metadata::User>,
    id: &str,
    body: Option<Json<Option<RefusalBody>>>,
    kind: EventType,
) -> ApiResult<StatusCode> {
    let anon = anonymous_id(body.and_then(|Json(b)| b?.anonymous_id))?;
    if user.is_none() && anon.is_none() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in, or name the device's `anonymous_id`",
        ));
    }
    let id = parse_id(id)?;
    state.catalog.visible(user.as_ref(), &id).await?;
    state
        .tracking
        .ingestion()
        .record_for_viewer(
            kind,
            id.as_str(),
            user.as_ref().map(|u| u.name.as_str()),
            anon.as_deref(),
            serde_json::Map::new(),
        )
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// "Not interested": this video is not recommended to the viewer again, and what it is
/// about counts against its tags, category and creator. Recorded in the event log.
#[utoipa::path(post, path = "/api/v1/videos/{id}/not-interested", tag = "discovery",
    params(("id" = String, Path, description = "Video id")),
    request_body(content = Option<RefusalBody>, description = "`anonymous_id` when not signed in"),
    responses((status = 204, description = "recorded"), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn not_interested(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    body: Option<Json<Option<RefusalBody>>>,
) -> ApiResult<StatusCode> {
    refuse(&state, user, &id, body, EventType::NotInterested).await
}

/// Hide this video's creator from the viewer's recommendations. Recorded in the event log.
#[utoipa::path(post, path = "/api/v1/videos/{id}/hide-creator", tag = "discovery",
    params(("id" = String, Path, description = "Video id")),
    request_body(content = Option<RefusalBody>, description = "`anonymous_id` when not signed in"),
    responses((status = 204, description = "recorded"), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn hide_creator(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    body: Option<Json<Option<RefusalBody>>>,
) -> ApiResult<StatusCode> {
    refuse(&state, user, &id, body, EventType::HideCreator).await
}
