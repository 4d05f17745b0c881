//! Danmaku over HTTP (for bots, tests and players loading history), moderation (delete,
//! mute, moderators, block lists, the keyword filter) and live Q&A.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use spool_interact::danmaku::{ColorInput, DanmakuInput, DanmakuView, Mode, SLICE_MS, Size};
use spool_interact::questions::QuestionView;
use spool_interact::{HostAction, Target};
use spool_metadata::User;
use spool_model::RoomId;

use crate::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::catalog::videos::parse_id;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, ErrorBody};

/// A danmaku to send over a video (on demand).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DanmakuSend {
    /// 1 to 100 characters (`interact.danmaku_max_chars`), one line.
    #[schema(min_length = 1, max_length = 100)]
    text: String,
    /// Where in the video, ms.
    #[schema(minimum = 0, maximum = 604_800_000)]
    time_ms: i64,
    /// scroll (default), top or bottom.
    mode: Option<Mode>,
    /// `#rrggbb` (default white).
    #[schema(value_type = Option<String>, pattern = "^#[0-9a-fA-F]{6}$")]
    color: Option<String>,
    /// small, normal (default) or large.
    size: Option<Size>,
}

/// A danmaku to send in a live room: placed at the broadcast's time now.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveDanmakuSend {
    /// 1 to 100 characters, one line.
    #[schema(min_length = 1, max_length = 100)]
    text: String,
    /// scroll (default), top or bottom.
    mode: Option<Mode>,
    /// `#rrggbb` (default white).
    #[schema(value_type = Option<String>, pattern = "^#[0-9a-fA-F]{6}$")]
    color: Option<String>,
    /// small, normal (default) or large.
    size: Option<Size>,
    /// How far the sender's player is behind the live edge (ms), so the danmaku lands at the
    /// moment the sender saw.
    #[schema(minimum = 0, maximum = 60000)]
    latency_ms: Option<i64>,
}

/// One danmaku.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DanmakuJson {
    /// Always `danmaku`.
    #[serde(rename = "type")]
    kind: String,
    /// Increasing id (resume cursor).
    id: i64,
    video_id: String,
    /// The live room it was sent in.
    #[serde(skip_serializing_if = "Option::is_none")]
    room_id: Option<String>,
    author: String,
    /// Plain text: render it as text.
    text: String,
    /// Where in the video, ms.
    time_ms: i64,
    mode: Mode,
    /// `#rrggbb`.
    color: String,
    size: Size,
    /// 1-10: players hide the lowest first in crowded slices (10: the host).
    weight: i64,
    /// Unix ms.
    created_at: i64,
    /// Deleted since (only in resumed histories; its text is empty).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
}

impl From<DanmakuView> for DanmakuJson {
    fn from(v: DanmakuView) -> Self {
        Self {
            kind: v.kind.to_owned(),
            id: v.id,
            video_id: v.video_id,
            room_id: v.room_id,
            author: v.author,
            text: v.text,
            time_ms: v.time_ms,
            mode: v.mode,
            color: v.color,
            size: v.size,
            weight: v.weight,
            created_at: v.created_at,
            deleted: v.deleted,
        }
    }
}

/// A slice of a video's danmaku.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DanmakuSlice {
    from_ms: i64,
    to_ms: i64,
    /// The slice length players load by (6 minutes).
    slice_ms: i64,
    /// Danmaku the window holds in all.
    total: i64,
    /// True when `total` was over the cap and only the highest-weighted came.
    capped: bool,
    /// By time.
    danmaku: Vec<DanmakuJson>,
}

/// A window of a video's timeline.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowParams {
    /// From (ms, inclusive), default 0.
    #[param(minimum = 0, maximum = 604_800_000)]
    from_ms: Option<i64>,
    /// To (ms, exclusive), default `from_ms` + 6 minutes; at most 6 minutes after `from_ms`.
    #[param(minimum = 1, maximum = 604_800_000)]
    to_ms: Option<i64>,
}

/// Where to resume a live room's danmaku.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SinceParams {
    /// The last id the client has (default 0: from the start).
    #[param(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    since: Option<i64>,
    /// At most this many (1-500, default 200).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Danmaku after a cursor.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DanmakuPage {
    /// Oldest first; deletions included (`deleted: true`).
    danmaku: Vec<DanmakuJson>,
}

/// The largest id a cursor names (what JavaScript's numbers hold exactly).
const MAX_CURSOR: i64 = 9_007_199_254_740_991;

fn color(value: Option<String>) -> Option<ColorInput> {
    value.map(ColorInput::Hex)
}

pub(crate) fn parse_room(id: &str) -> ApiResult<RoomId> {
    id.parse().map_err(|_| ApiError::not_found("live room"))
}

/// Send a danmaku over a video, at a point of its timeline (signed in). Also over the
/// socket (`/api/v1/ws`).
#[utoipa::path(post, path = "/api/v1/videos/{id}/danmaku", tag = "interact",
    params(("id" = String, Path, description = "Video id")), security(("bearer" = [])),
    request_body = DanmakuSend,
    responses((status = 201, body = DanmakuJson), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "muted or csrf_failed"),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "invalid_input or text_filtered"),
              (status = 429, body = ErrorBody, description = "chat_rate_limited or room_busy (see Retry-After)")))]
pub async fn send_video(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DanmakuSend>,
) -> ApiResult<(StatusCode, Json<DanmakuJson>)> {
    let target = Target::Video(parse_id(&id)?);
    let input = DanmakuInput {
        text: body.text,
        time_ms: Some(body.time_ms),
        mode: body.mode,
        color: color(body.color),
        size: body.size,
        latency_ms: None,
    };
    let sent = state.interact.send_danmaku(&user, &target, input).await?;
    Ok((StatusCode::CREATED, Json(sent.into())))
}

/// A slice of a video's danmaku history (at most 6 minutes; players load slice by slice),
/// without the caller's blocked senders; in crowded slices the highest-weighted.
#[utoipa::path(get, path = "/api/v1/videos/{id}/danmaku", tag = "interact",
    params(("id" = String, Path, description = "Video id"), WindowParams),
    responses((status = 200, body = DanmakuSlice), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "a window past its bounds")))]
pub async fn video_history(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<WindowParams>,
) -> ApiResult<Json<DanmakuSlice>> {
    let id = parse_id(&id)?;
    let (danmaku, total, (from_ms, to_ms)) = state
        .interact
        .danmaku_window(user.as_ref(), &id, params.from_ms, params.to_ms)
        .await?;
    Ok(Json(DanmakuSlice {
        from_ms,
        to_ms,
        slice_ms: SLICE_MS,
        total,
        capped: usize::try_from(total).unwrap_or(usize::MAX) > danmaku.len(),
        danmaku: danmaku.into_iter().map(Into::into).collect(),
    }))
}

/// Send a danmaku in a live room (signed in; the room must be on air). It is stored against
/// the broadcast's recording at the broadcast's time, so it replays at the same moment.
#[utoipa::path(post, path = "/api/v1/live/{id}/danmaku", tag = "interact",
    params(("id" = String, Path, description = "Room id")), security(("bearer" = [])),
    request_body = LiveDanmakuSend,
    responses((status = 201, body = DanmakuJson), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "muted or csrf_failed"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "room_not_live"),
              (status = 422, body = ErrorBody, description = "invalid_input or text_filtered"),
              (status = 429, body = ErrorBody, description = "chat_rate_limited or room_busy (see Retry-After)")))]
pub async fn send_live(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LiveDanmakuSend>,
) -> ApiResult<(StatusCode, Json<DanmakuJson>)> {
    let target = Target::Room(parse_room(&id)?);
    let input = DanmakuInput {
        text: body.text,
        time_ms: None,
        mode: body.mode,
        color: color(body.color),
        size: body.size,
        latency_ms: body.latency_ms,
    };
    let sent = state.interact.send_danmaku(&user, &target, input).await?;
    Ok((StatusCode::CREATED, Json(sent.into())))
}

/// A live room's danmaku after a cursor (what a reconnecting viewer missed), deletions
/// included.
#[utoipa::path(get, path = "/api/v1/live/{id}/danmaku", tag = "interact",
    params(("id" = String, Path, description = "Room id"), SinceParams),
    responses((status = 200, body = DanmakuPage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "since or limit out of range")))]
pub async fn live_since(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<SinceParams>,
) -> ApiResult<Json<DanmakuPage>> {
    let target = Target::Room(parse_room(&id)?);
    let since = params.since.unwrap_or(0);
    let limit = params.limit.unwrap_or(200);
    if !(0..=MAX_CURSOR).contains(&since) || !(1..=spool_interact::MAX_SINCE).contains(&limit) {
        return Err(ApiError::coded(
            "invalid_input",
            "since: 0 to 9007199254740991; limit: 1 to 500",
        ));
    }
    let danmaku = state
        .interact
        .danmaku_since(user.as_ref(), &target, since, limit)
        .await?;
    Ok(Json(DanmakuPage {
        danmaku: danmaku.into_iter().map(Into::into).collect(),
    }))
}

/// Delete a danmaku (its author, or the channel's owner, moderators and admins); viewers'
/// overlays drop it.
#[utoipa::path(delete, path = "/api/v1/danmaku/{id}", tag = "interact",
    params(("id" = i64, Path, description = "Danmaku id", minimum = 1, maximum = 9_007_199_254_740_991_i64)), security(("bearer" = [])),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "not_moderator or csrf_failed"), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.interact.delete_danmaku(&user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A mute.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    /// Who.
    #[schema(min_length = 1, max_length = 64)]
    user: String,
    /// How long (minutes, at most 30 days); 0 lifts the mute.
    #[schema(minimum = 0, maximum = 43200)]
    minutes: i64,
}

/// A mute in force.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MuteJson {
    user: String,
    /// Unix ms; 0 when lifted.
    until: i64,
}

async fn mute(
    state: &AppState,
    user: &User,
    target: Target,
    body: MuteBody,
) -> ApiResult<Json<MuteJson>> {
    let until = state
        .interact
        .mute(user, &target, &body.user, body.minutes)
        .await?;
    Ok(Json(MuteJson {
        user: body.user,
        until,
    }))
}

/// Mute a sender in a video's danmaku (the channel's owner, moderators, admins).
#[utoipa::path(post, path = "/api/v1/videos/{id}/mutes", tag = "interact",
    params(("id" = String, Path, description = "Video id")), security(("bearer" = [])),
    request_body = MuteBody,
    responses((status = 200, body = MuteJson), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "not_moderator or csrf_failed"), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn mute_video(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MuteBody>,
) -> ApiResult<Json<MuteJson>> {
    mute(&state, &user, Target::Video(parse_id(&id)?), body).await
}

/// Mute a sender in a live room (its host, moderators, admins).
#[utoipa::path(post, path = "/api/v1/live/{id}/mutes", tag = "interact",
    params(("id" = String, Path, description = "Room id")), security(("bearer" = [])),
    request_body = MuteBody,
    responses((status = 200, body = MuteJson), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "not_moderator or csrf_failed"), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn mute_room(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MuteBody>,
) -> ApiResult<Json<MuteJson>> {
    mute(&state, &user, Target::Room(parse_room(&id)?), body).await
}

/// Names.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NameList {
    names: Vec<String>,
}

/// Users the caller blocked: their danmaku and questions are not shown to the caller.
#[utoipa::path(get, path = "/api/v1/me/blocks", tag = "interact", security(("bearer" = [])),
    responses((status = 200, body = NameList), (status = 401, body = ErrorBody)))]
pub async fn blocks(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Json<NameList>> {
    Ok(Json(NameList {
        names: state.interact.blocks(&user).await?,
    }))
}

/// Block a user (idempotent).
#[utoipa::path(put, path = "/api/v1/me/blocks/{name}", tag = "interact",
    params(("name" = String, Path, description = "User name")), security(("bearer" = [])),
    responses((status = 204, description = "blocked"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "yourself")))]
pub async fn block(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.interact.set_block(&user, &name, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblock a user (idempotent).
#[utoipa::path(delete, path = "/api/v1/me/blocks/{name}", tag = "interact",
    params(("name" = String, Path, description = "User name")), security(("bearer" = [])),
    responses((status = 204, description = "unblocked"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "yourself")))]
pub async fn unblock(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.interact.set_block(&user, &name, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's channel moderators (they delete danmaku and mute senders on the caller's
/// videos and in the caller's rooms).
#[utoipa::path(get, path = "/api/v1/me/moderators", tag = "interact", security(("bearer" = [])),
    responses((status = 200, body = NameList), (status = 401, body = ErrorBody)))]
pub async fn moderators(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Json<NameList>> {
    Ok(Json(NameList {
        names: state.interact.moderators(&user).await?,
    }))
}

/// Appoint a moderator (idempotent).
#[utoipa::path(put, path = "/api/v1/me/moderators/{name}", tag = "interact",
    params(("name" = String, Path, description = "User name")), security(("bearer" = [])),
    responses((status = 204, description = "appointed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "yourself")))]
pub async fn appoint(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.interact.set_moderator(&user, &name, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Dismiss a moderator (idempotent).
#[utoipa::path(delete, path = "/api/v1/me/moderators/{name}", tag = "interact",
    params(("name" = String, Path, description = "User name")), security(("bearer" = [])),
    responses((status = 204, description = "dismissed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "yourself")))]
pub async fn dismiss(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.interact.set_moderator(&user, &name, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The keyword filter.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterWords {
    /// Words no danmaku or question may contain (case-insensitive, anywhere in the text);
    /// at most 10,000 of 1-100 characters.
    #[schema(max_items = 10000)]
    words: Vec<String>,
}

fn admin_only(user: &User) -> ApiResult<()> {
    if user.is_admin {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            "only admins may edit the chat filter",
        ))
    }
}

/// The keyword filter in force (admins).
#[utoipa::path(get, path = "/api/v1/admin/chat-filter", tag = "interact", security(("bearer" = [])),
    responses((status = 200, body = FilterWords), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "not_admin")))]
pub async fn filter(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Json<FilterWords>> {
    admin_only(&user)?;
    Ok(Json(FilterWords {
        words: state.interact.filter_words(),
    }))
}

/// Replace the keyword filter (admins); answers the words as stored (lower case, sorted,
/// without duplicates).
#[utoipa::path(put, path = "/api/v1/admin/chat-filter", tag = "interact", security(("bearer" = [])),
    request_body = FilterWords,
    responses((status = 200, body = FilterWords), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "not_admin or csrf_failed"), (status = 422, body = ErrorBody)))]
pub async fn set_filter(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<FilterWords>,
) -> ApiResult<Json<FilterWords>> {
    admin_only(&user)?;
    Ok(Json(FilterWords {
        words: state.interact.set_filter_words(&body.words).await?,
    }))
}

/// A question for the host.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionAsk {
    /// 1 to 300 characters, one line.
    #[schema(min_length = 1, max_length = 300)]
    text: String,
}

/// A question in a live room.
#[derive(Serialize, utoipa::ToSchema)]
pub struct QuestionJson {
    /// Always `question`.
    #[serde(rename = "type")]
    kind: String,
    id: i64,
    room_id: String,
    author: String,
    /// Plain text.
    text: String,
    votes: i64,
    /// The host shows it above the others now.
    pinned: bool,
    answered: bool,
    /// The caller voted for it.
    voted: bool,
    /// Unix ms.
    created_at: i64,
}

impl From<QuestionView> for QuestionJson {
    fn from(q: QuestionView) -> Self {
        Self {
            kind: q.kind.to_owned(),
            id: q.id,
            room_id: q.room_id,
            author: q.author,
            text: q.text,
            votes: q.votes,
            pinned: q.pinned,
            answered: q.answered,
            voted: q.voted,
            created_at: q.created_at,
        }
    }
}

/// A room's questions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct QuestionList {
    /// The pinned one first, then unanswered by votes, then answered.
    questions: Vec<QuestionJson>,
}

/// A live room's questions.
#[utoipa::path(get, path = "/api/v1/live/{id}/questions", tag = "interact",
    params(("id" = String, Path, description = "Room id")),
    responses((status = 200, body = QuestionList), (status = 404, body = ErrorBody)))]
pub async fn questions(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<QuestionList>> {
    let questions = state
        .interact
        .questions(user.as_ref(), &parse_room(&id)?)
        .await?;
    Ok(Json(QuestionList {
        questions: questions.into_iter().map(Into::into).collect(),
    }))
}

/// Ask the room's host a question (signed in); everyone in the room sees it at once.
#[utoipa::path(post, path = "/api/v1/live/{id}/questions", tag = "interact",
    params(("id" = String, Path, description = "Room id")), security(("bearer" = [])),
    request_body = QuestionAsk,
    responses((status = 201, body = QuestionJson), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "muted or csrf_failed"), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "invalid_input or text_filtered"),
              (status = 429, body = ErrorBody, description = "chat_rate_limited or room_busy")))]
pub async fn ask(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<QuestionAsk>,
) -> ApiResult<(StatusCode, Json<QuestionJson>)> {
    let asked = state
        .interact
        .ask(&user, &parse_room(&id)?, &body.text)
        .await?;
    Ok((StatusCode::CREATED, Json(asked.into())))
}

/// Upvote a question (idempotent).
#[utoipa::path(put, path = "/api/v1/questions/{id}/vote", tag = "interact",
    params(("id" = i64, Path, description = "Question id", minimum = 1, maximum = 9_007_199_254_740_991_i64)), security(("bearer" = [])),
    responses((status = 200, body = QuestionJson), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn vote(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<QuestionJson>> {
    Ok(Json(state.interact.vote(&user, id, true).await?.into()))
}

/// Take an upvote back (idempotent).
#[utoipa::path(delete, path = "/api/v1/questions/{id}/vote", tag = "interact",
    params(("id" = i64, Path, description = "Question id", minimum = 1, maximum = 9_007_199_254_740_991_i64)), security(("bearer" = [])),
    responses((status = 200, body = QuestionJson), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unvote(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<QuestionJson>> {
    Ok(Json(state.interact.vote(&user, id, false).await?.into()))
}

async fn host(
    state: &AppState,
    user: &User,
    id: i64,
    action: HostAction,
) -> ApiResult<Json<QuestionJson>> {
    Ok(Json(
        state.interact.host_question(user, id, action).await?.into(),
    ))
}

/// Pin a question above the others (the host; unpins the room's other one).
#[utoipa::path(put, path = "/api/v1/questions/{id}/pin", tag = "interact",
    params(("id" = i64, Path, description = "Question id", minimum = 1, maximum = 9_007_199_254_740_991_i64)), security(("bearer" = [])),
    responses((status = 200, body = QuestionJson), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "not_host or csrf_failed"), (status = 404, body = ErrorBody)))]
pub async fn pin(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<QuestionJson>> {
    host(&state, &user, id, HostAction::Pin).await
}

/// Unpin a question (the host).
#[utoipa::path(delete, path = "/api/v1/questions/{id}/pin", tag = "interact",
    params(("id" = i64, Path, description = "Question id", minimum = 1, maximum = 9_007_199_254_740_991_i64)), security(("bearer" = [])),
    responses((status = 200, body = QuestionJson), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "not_host or csrf_failed"), (status = 404, body = ErrorBody)))]
pub async fn unpin(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<QuestionJson>> {
    host(&state, &user, id, HostAction::Unpin).await
}

/// Mark a question answered (the host).
#[utoipa::path(post, path = "/api/v1/questions/{id}/answered", tag = "interact",
    params(("id" = i64, Path, description = "Question id", minimum = 1, maximum = 9_007_199_254_740_991_i64)), security(("bearer" = [])),
    responses((status = 200, body = QuestionJson), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "not_host or csrf_failed"), (status = 404, body = ErrorBody)))]
pub async fn answered(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<QuestionJson>> {
    host(&state, &user, id, HostAction::Answer).await
}

/// Take a question down (the host or the channel's moderators).
#[utoipa::path(delete, path = "/api/v1/questions/{id}", tag = "interact",
    params(("id" = i64, Path, description = "Question id", minimum = 1, maximum = 9_007_199_254_740_991_i64)), security(("bearer" = [])),
    responses((status = 200, body = QuestionJson), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "not_host or csrf_failed"), (status = 404, body = ErrorBody)))]
pub async fn remove_question(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<QuestionJson>> {
    host(&state, &user, id, HostAction::Delete).await
}
