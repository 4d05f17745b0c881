//! Moderation as HTTP: hash lists (import, list, delete, match), the review queue and its
//! cases with the matched frames, decisions and the audit trail (admins), and users' reports.
//! The moderation crate decides; this maps.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use spool_metadata::{DecisionRow, HashListRow, ReportRow, User};
use spool_model::VideoId;
use spool_moderation::{Action, Case, ItemMatch, ListKind, PdqHash, ReportKind};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::catalog::videos::parse_id;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, ErrorBody};
use crate::{AppState, rfc3339};

/// Largest list file one import takes (a million entries with labels).
const MAX_IMPORT_BYTES: usize = 128 << 20;
/// Largest page.
const MAX_PAGE: u32 = 100;

/// The moderation service's routes with their OpenAPI entries.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(match_hash))
        .routes(routes!(lists))
        .routes(import_body_limit(routes!(import, delete_list)))
        .routes(routes!(queue))
        .routes(routes!(case))
        .routes(routes!(frame))
        .routes(routes!(decide))
        .routes(routes!(audit))
        .routes(routes!(reports))
        .routes(routes!(report))
}

/// A list file is large; it is read whole (an import is all or nothing) up to its own cap.
fn import_body_limit(
    (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
) -> UtoipaMethodRouter<AppState> {
    let method_router = method_router.layer(axum::extract::DefaultBodyLimit::max(MAX_IMPORT_BYTES));
    (schemas, paths, method_router)
}

fn admin(user: &User) -> ApiResult<()> {
    if user.is_admin {
        Ok(())
    } else {
        Err(ApiError::coded("not_admin", "only admins may moderate"))
    }
}

fn page_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(20).clamp(1, MAX_PAGE)
}

fn id_cursor(cursor: Option<&str>) -> ApiResult<Option<i64>> {
    cursor
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0 && c.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    ApiError::coded(
                        "invalid_cursor",
                        "`cursor` is not a cursor this server handed out",
                    )
                })
        })
        .transpose()
}

/// Paging parameters of the audit trail and the reports (newest first).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
    cursor: Option<String>,
    /// Page size: 1 to 100, default 20 (larger values are cut to 100).
    limit: Option<u32>,
}

/// Paging parameters of the queue (oldest hold first).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueuePageParams {
    /// `next_cursor` of the previous page.
    #[param(pattern = "^-?[0-9]{1,18}\\.[A-Za-z0-9_-]{11}$")]
    cursor: Option<String>,
    /// Page size: 1 to 100, default 20 (larger values are cut to 100).
    limit: Option<u32>,
}

/// A hash to look up.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct MatchBody {
    /// A PDQ hash: 64 hex digits.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    hash: String,
    /// 0 to 31 (default 31).
    #[schema(minimum = 0, maximum = 31)]
    #[serde(default, deserialize_with = "crate::error::optional_whole_number")]
    max_distance: Option<u32>,
}

/// One list entry near the hash.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MatchJson {
    list: String,
    hash: String,
    label: String,
    distance: u32,
}

/// Entries near a hash, nearest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MatchesJson {
    matches: Vec<MatchJson>,
}

/// Entries of every PDQ list within `max_distance` of a hash (admins).
#[utoipa::path(post, path = "/api/v1/moderation/match", tag = "moderation",
    security(("bearer" = [])), request_body = MatchBody,
    responses((status = 200, body = MatchesJson),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody),
              (status = 422, description = "`invalid_hash`", body = ErrorBody)))]
pub async fn match_hash(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<MatchBody>,
) -> ApiResult<Json<MatchesJson>> {
    admin(&user)?;
    let hash: PdqHash =
        body.hash
            .to_ascii_lowercase()
            .parse()
            .map_err(|e: spool_moderation::HashParseError| {
                ApiError::coded("invalid_hash", e.to_string())
            })?;
    let matches = state.moderation.match_hash(
        &hash,
        body.max_distance.unwrap_or(spool_moderation::MATCH_RADIUS),
    )?;
    Ok(Json(MatchesJson {
        matches: matches
            .into_iter()
            .map(|m| MatchJson {
                list: m.list,
                hash: m.hash.to_string(),
                label: m.label,
                distance: m.distance,
            })
            .collect(),
    }))
}

/// A hash list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListJson {
    name: String,
    /// `pdq` or `blake3`.
    kind: String,
    entries: i64,
    created_by: String,
    created_at: String,
}

impl From<HashListRow> for ListJson {
    fn from(row: HashListRow) -> Self {
        Self {
            name: row.name,
            kind: row.kind,
            entries: row.entries,
            created_by: row.created_by,
            created_at: rfc3339(row.created_at),
        }
    }
}

/// Every list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListsJson {
    lists: Vec<ListJson>,
}

/// The hash lists (admins).
#[utoipa::path(get, path = "/api/v1/moderation/lists", tag = "moderation",
    security(("bearer" = [])),
    responses((status = 200, body = ListsJson),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody)))]
pub async fn lists(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Json<ListsJson>> {
    let lists = state.moderation.lists(&user).await?;
    Ok(Json(ListsJson {
        lists: lists.into_iter().map(ListJson::from).collect(),
    }))
}

/// What kind of list an import makes.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `pdq` (default) or `blake3`.
    #[param(pattern = "^(pdq|blake3)$")]
    kind: Option<String>,
}

/// What an import did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportedJson {
    list: ListJson,
    imported: u64,
    duplicates: u64,
    /// Videos already in the catalogue the new entries held.
    held: Vec<String>,
}

/// Import a list file into the list `name`, creating it (admins). One entry per line:
/// `<64 hex digits> [<quality>] [<label>]`; all or nothing (docs/moderation.md).
#[utoipa::path(post, path = "/api/v1/moderation/lists/{name}", tag = "moderation",
    params(("name" = String, Path, description = "1-64 letters, digits, '-', '_', '.'"), ImportParams),
    security(("bearer" = [])),
    request_body(content = String, content_type = "text/plain", description = "The list file"),
    responses((status = 201, body = ImportedJson),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody),
              (status = 409, description = "`list_kind_mismatch`", body = ErrorBody),
              (status = 422, description = "`invalid_hash_list` or `invalid_input` (the name)", body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<ImportParams>,
    body: Body,
) -> ApiResult<(StatusCode, Json<ImportedJson>)> {
    admin(&user)?;
    let kind: ListKind = params
        .kind
        .as_deref()
        .unwrap_or("pdq")
        .parse()
        .map_err(|e: String| ApiError::coded("invalid_query", e))?;
    let bytes = axum::body::to_bytes(body, MAX_IMPORT_BYTES)
        .await
        .map_err(|_| {
            ApiError::coded(
                "payload_too_large",
                format!("a list file is at most {MAX_IMPORT_BYTES} bytes"),
            )
        })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::coded("invalid_hash_list", "the list file is not UTF-8 text"))?;
    let imported = state
        .moderation
        .import(&user.name, &name, kind, text)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ImportedJson {
            list: imported.list.into(),
            imported: imported.imported,
            duplicates: imported.duplicates,
            held: imported.held.iter().map(ToString::to_string).collect(),
        }),
    ))
}

/// Delete the list `name` with its entries (admins); held videos stay held.
#[utoipa::path(delete, path = "/api/v1/moderation/lists/{name}", tag = "moderation",
    params(("name" = String, Path, description = "The list")),
    security(("bearer" = [])),
    responses((status = 204, description = "deleted"),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody),
              (status = 404, description = "`list_not_found`", body = ErrorBody)))]
pub async fn delete_list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.moderation.delete_list(&user, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The video of a case.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseVideoJson {
    id: String,
    title: String,
    owner: String,
    status: spool_model::VideoStatus,
    hold_reason: Option<String>,
    duration_s: Option<f64>,
}

/// A matched frame and the entry it matched.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PairJson {
    /// Offset of the frame in the video, seconds.
    at_s: f64,
    frame_hash: String,
    entry_hash: String,
    distance: u32,
    /// The frame's picture (admins), when it was kept.
    frame_url: Option<String>,
}

/// A matched list item.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ItemMatchJson {
    list: String,
    /// The item: a label's stem (the frames of one hashed video), or a lone entry's hash.
    label: String,
    /// Percent of the item's hashes with a frame of the video within distance 31.
    query_share: u32,
    /// Percent of the video's distinct frames with a counterpart in the item.
    compared_share: u32,
    pairs: Vec<PairJson>,
}

/// A report.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportJson {
    id: i64,
    /// `video` or `danmaku`.
    kind: String,
    /// The reported video's or danmaku's id.
    target_id: String,
    video_id: Option<String>,
    reporter: String,
    reason: String,
    created_at: String,
}

impl From<ReportRow> for ReportJson {
    fn from(r: ReportRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            target_id: r.target_id,
            video_id: r.video_id,
            reporter: r.reporter,
            reason: r.reason,
            created_at: rfc3339(r.created_at),
        }
    }
}

/// An audited decision.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DecisionJson {
    id: i64,
    video_id: String,
    video_title: String,
    /// Who decided; null for the system (a match, reports).
    actor: Option<String>,
    /// `hold`, `approve`, `remove` or `ban`.
    action: String,
    reason: String,
    created_at: String,
}

impl From<DecisionRow> for DecisionJson {
    fn from(d: DecisionRow) -> Self {
        Self {
            id: d.id,
            video_id: d.video_id,
            video_title: d.video_title,
            actor: d.actor,
            action: d.action,
            reason: d.reason,
            created_at: rfc3339(d.created_at),
        }
    }
}

/// A video under review.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseJson {
    video: CaseVideoJson,
    held_at: Option<String>,
    reason: Option<String>,
    matches: Vec<ItemMatchJson>,
    reports: Vec<ReportJson>,
    decisions: Vec<DecisionJson>,
}

fn item_json(video: &VideoId, m: ItemMatch) -> ItemMatchJson {
    ItemMatchJson {
        list: m.list,
        label: m.item,
        query_share: m.query_share,
        compared_share: m.compared_share,
        pairs: m
            .pairs
            .into_iter()
            .map(|p| PairJson {
                at_s: p.at_ms as f64 / 1000.0,
                frame_url: p
                    .image
                    .then(|| format!("/api/v1/moderation/videos/{video}/frames/{}", p.at_ms)),
                frame_hash: p.frame_hash,
                entry_hash: p.entry_hash,
                distance: p.distance,
            })
            .collect(),
    }
}

fn case_json(case: Case) -> CaseJson {
    let video = case.video;
    let id = video.id.clone();
    CaseJson {
        held_at: video.held_at.map(rfc3339),
        reason: video.hold_reason.clone(),
        matches: case
            .matches
            .into_iter()
            .map(|m| item_json(&id, m))
            .collect(),
        reports: case.reports.into_iter().map(ReportJson::from).collect(),
        decisions: case.decisions.into_iter().map(DecisionJson::from).collect(),
        video: CaseVideoJson {
            id: video.id.to_string(),
            title: video.title,
            owner: video.owner_name,
            status: video.status,
            hold_reason: video.hold_reason,
            duration_s: video.duration_ms.map(|ms| ms as f64 / 1000.0),
        },
    }
}

/// A page of the queue.
#[derive(Serialize, utoipa::ToSchema)]
pub struct QueueJson {
    items: Vec<CaseJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Held videos, oldest hold first (admins).
#[utoipa::path(get, path = "/api/v1/moderation/queue", tag = "moderation",
    params(QueuePageParams), security(("bearer" = [])),
    responses((status = 200, body = QueueJson),
              (status = 400, description = "`invalid_cursor`", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody)))]
pub async fn queue(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<QueuePageParams>,
) -> ApiResult<Json<QueueJson>> {
    let limit = page_limit(params.limit);
    let after = match params.cursor.as_deref() {
        None => None,
        Some(c) => {
            let parsed = c.split_once('.').and_then(|(at, id)| {
                let at: i64 = at.parse().ok()?;
                id.parse::<VideoId>().ok()?;
                Some((at, id))
            });
            Some(parsed.ok_or_else(|| {
                ApiError::coded(
                    "invalid_cursor",
                    "`cursor` is not a cursor this server handed out",
                )
            })?)
        }
    };
    let cases = state.moderation.queue(&user, after, limit).await?;
    let next_cursor = (cases.len() == limit as usize)
        .then(|| cases.last())
        .flatten()
        .map(|c| format!("{}.{}", c.video.held_at.unwrap_or(0), c.video.id));
    Ok(Json(QueueJson {
        items: cases.into_iter().map(case_json).collect(),
        next_cursor,
    }))
}

/// One video's case: what matched, its reports and decisions (admins).
#[utoipa::path(get, path = "/api/v1/moderation/videos/{id}", tag = "moderation",
    params(("id" = String, Path, description = "Video id")), security(("bearer" = [])),
    responses((status = 200, body = CaseJson),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn case(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseJson>> {
    admin(&user)?;
    let id = parse_id(&id)?;
    Ok(Json(case_json(state.moderation.case(&user, &id).await?)))
}

/// A matched frame's picture, kept for reviewers (admins; never cached by shared caches).
#[utoipa::path(get, path = "/api/v1/moderation/videos/{id}/frames/{at_ms}", tag = "moderation",
    params(("id" = String, Path, description = "Video id"),
           ("at_ms" = i64, Path, description = "Offset of the frame, ms")),
    security(("bearer" = [])),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg", body = Vec<u8>),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn frame(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((id, at_ms)): Path<(String, String)>,
) -> ApiResult<Response> {
    admin(&user)?;
    let id = parse_id(&id)?;
    let at_ms: i64 = at_ms
        .parse()
        .ok()
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| ApiError::not_found("frame"))?;
    let bytes = tokio::fs::read(state.moderation.frame_path(&id, at_ms))
        .await
        .map_err(|_| ApiError::not_found("frame"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        bytes,
    )
        .into_response())
}

/// A review decision.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DecisionBody {
    /// `approve`, `remove` or `ban`.
    #[schema(pattern = "^(approve|remove|ban)$")]
    action: String,
    /// 1 to 500 characters, one line.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// The decision, as audited.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DecidedJson {
    decision: DecisionJson,
}

/// Decide on a held video (admins): approve it, remove it (its file and pictures are listed
/// so they are caught next time), or remove it and ban its uploader.
#[utoipa::path(post, path = "/api/v1/moderation/videos/{id}/decision", tag = "moderation",
    params(("id" = String, Path, description = "Video id")), security(("bearer" = [])),
    request_body = DecisionBody,
    responses((status = 200, body = DecidedJson),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "`not_held`", body = ErrorBody),
              (status = 422, description = "`invalid_input`: the action or reason", body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> ApiResult<Json<DecidedJson>> {
    admin(&user)?;
    let id = parse_id(&id)?;
    let action: Action = body.action.parse()?;
    let decision = state
        .moderation
        .decide(&user, &id, action, &body.reason)
        .await?;
    Ok(Json(DecidedJson {
        decision: decision.into(),
    }))
}

/// A page of the audit trail.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditJson {
    decisions: Vec<DecisionJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Every decision, newest first (admins).
#[utoipa::path(get, path = "/api/v1/moderation/audit", tag = "moderation",
    params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = AuditJson),
              (status = 400, description = "`invalid_cursor`", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<AuditJson>> {
    let limit = page_limit(params.limit);
    let before = id_cursor(params.cursor.as_deref())?;
    let rows = state.moderation.audit(&user, before, limit).await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|d| d.id.to_string()))
        .flatten();
    Ok(Json(AuditJson {
        decisions: rows.into_iter().map(DecisionJson::from).collect(),
        next_cursor,
    }))
}

/// A page of reports.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportsJson {
    reports: Vec<ReportJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Open reports of videos and danmaku, newest first (admins; comments' reports are at
/// `/api/v1/admin/comment-reports`).
#[utoipa::path(get, path = "/api/v1/moderation/reports", tag = "moderation",
    params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = ReportsJson),
              (status = 400, description = "`invalid_cursor`", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`not_admin`", body = ErrorBody)))]
pub async fn reports(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ReportsJson>> {
    let limit = page_limit(params.limit);
    let before = id_cursor(params.cursor.as_deref())?;
    let rows = state.moderation.reports(&user, before, limit).await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(ReportsJson {
        reports: rows.into_iter().map(ReportJson::from).collect(),
        next_cursor,
    }))
}

/// A report.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReportBody {
    /// `video`, `comment` or `danmaku`.
    #[schema(pattern = "^(video|comment|danmaku)$")]
    kind: String,
    /// The reported video's, comment's or danmaku's id.
    #[schema(min_length = 1, max_length = 24)]
    id: String,
    /// 1 to 500 characters, one line.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Report a video, a comment or a danmaku to the admins (once per user and thing).
/// Enough reporters of one video hold it for review.
#[utoipa::path(post, path = "/api/v1/reports", tag = "moderation",
    security(("bearer" = [])), request_body = ReportBody,
    responses((status = 204, description = "reported"),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "`invalid_input`: the kind or reason", body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<ReportBody>,
) -> ApiResult<StatusCode> {
    let kind = match body.kind.as_str() {
        "video" => ReportKind::Video,
        "danmaku" => ReportKind::Danmaku,
        "comment" => {
            let id = crate::interact::parse_comment_id(&body.id)?;
            state.comments.report(&user, &id, &body.reason).await?;
            return Ok(StatusCode::NO_CONTENT);
        }
        _ => {
            return Err(ApiError::coded(
                "invalid_input",
                "kind: video, comment or danmaku",
            ));
        }
    };
    state
        .moderation
        .report(&user, kind, &body.id, &body.reason)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
