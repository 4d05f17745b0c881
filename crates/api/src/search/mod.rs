//! Search as HTTP: `GET /api/v1/search` and `GET /api/v1/search/suggest`. The search crate
//! matches; the catalog's policy checks every hit again; the recommender's profile of the
//! asker nudges the order.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use spool_model::now_millis;
use spool_recommend::Asker;
use spool_search::{Length, SearchQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::MaybeUser;
use crate::catalog::videos::{VideoJson, video_json};
use crate::error::{ApiError, ApiResult};

/// Results per page when the client names no limit.
const DEFAULT_LIMIT: usize = 20;
/// Most results per page.
const MAX_LIMIT: usize = 50;
/// Longest query, in characters.
const MAX_QUERY_CHARS: usize = 200;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(suggest))
}

/// A search.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to look for: 1 to 200 characters, Chinese or any other language.
    #[param(min_length = 1, max_length = 200)]
    q: String,
    /// `short` (under 4 min), `medium` (4-20 min) or `long` (over 20 min).
    #[param(pattern = "^(short|medium|long)?$")]
    duration: Option<String>,
    /// Uploaded within the last `hour`, `day`, `week`, `month` or `year`.
    #[param(pattern = "^(hour|day|week|month|year)?$")]
    uploaded: Option<String>,
    /// Only this category.
    category: Option<String>,
    /// 1 to 50, default 20.
    limit: Option<usize>,
    /// Results to skip (paging), at most 180.
    offset: Option<usize>,
    /// The device's anonymous id when not signed in (its profile nudges the order).
    #[param(pattern = "^[A-Za-z0-9_-]{0,64}$")]
    anonymous_id: Option<String>,
}

/// Search results.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchJson {
    videos: Vec<VideoJson>,
    /// Matches found (at most 200 are ranked).
    total: usize,
}

/// What was typed so far.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// The prefix: 1 to 200 characters.
    #[param(min_length = 1, max_length = 200)]
    q: String,
    /// 1 to 10, default 8.
    limit: Option<usize>,
}

/// One suggestion.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SuggestionJson {
    /// A title completing the prefix.
    text: String,
    /// Its video.
    video_id: String,
}

/// Suggestions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SuggestJson {
    suggestions: Vec<SuggestionJson>,
}

fn bad(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message.to_owned())
}

/// The query as searched: control characters count as spaces; empty or too long is refused
/// (only spaces is a search that finds nothing).
fn text(q: String) -> ApiResult<String> {
    if q.is_empty() || q.chars().count() > MAX_QUERY_CHARS {
        return Err(bad("`q` must be 1 to 200 characters"));
    }
    let cleaned: String = q
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok(cleaned.trim().to_owned())
}

fn unavailable(e: spool_search::IndexError) -> ApiError {
    tracing::error!("search: {e}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "search_unavailable",
        "search cannot answer right now; try again",
    )
}

/// Videos matching `q` in their title, description, tags or channel name (Chinese is
/// segmented into words; Latin words tolerate typos; the last word may be a prefix), ranked
/// by text relevance blended with popularity and the asker's interests. Private and
/// unlisted videos match for their owner only.
#[utoipa::path(get, path = "/api/v1/search", tag = "discovery", params(SearchParams),
    responses((status = 200, body = SearchJson), (status = 400, body = crate::error::ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> ApiResult<Json<SearchJson>> {
    let Query(params) = params.map_err(|e| bad(&e.body_text()))?;
    let text = text(params.q)?;
    let length = match params.duration.as_deref().filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => {
            Some(Length::parse(d).ok_or_else(|| bad("`duration` is short, medium or long"))?)
        }
    };
    const DAY: i64 = 86_400_000;
    let created_after = match params.uploaded.as_deref().filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => {
            let span = match u {
                "hour" => 3_600_000,
                "day" => DAY,
                "week" => 7 * DAY,
                "month" => 31 * DAY,
                "year" => 366 * DAY,
                _ => return Err(bad("`uploaded` is hour, day, week, month or year")),
            };
            Some(now_millis() - span)
        }
    };
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = params
        .offset
        .unwrap_or(0)
        .min(spool_search::index::CANDIDATES - limit.min(20));
    let anon = crate::recommend::anonymous_id(params.anonymous_id)?;
    let profile = state
        .recommender
        .profile(Asker {
            user: user.as_ref().map(|u| u.name.as_str()),
            anonymous_id: anon.as_deref(),
        })
        .await;
    let recommender = state.recommender.clone();
    let interest = recommender.interest_fn(profile);
    let hits = state
        .search
        .search(
            SearchQuery {
                text,
                owner: user.as_ref().map(|u| u.id),
                length,
                created_after,
                category: params.category,
            },
            interest,
        )
        .await
        .map_err(unavailable)?;
    let total = hits.len();
    let mut videos = Vec::with_capacity(limit);
    for hit in hits.into_iter().skip(offset) {
        if videos.len() >= limit {
            break;
        }
        // The index may lag a change by a moment: the policy decides on the row as it is.
        match state.catalog.visible(user.as_ref(), &hit.id).await {
            Ok(row) if row.status == spool_model::VideoStatus::Ready => {
                videos.push(video_json(&state, &headers, user.as_ref(), row));
            }
            Ok(_) | Err(spool_catalog::CatalogError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(SearchJson { videos, total }))
}

/// Titles completing what was typed (the last word as a prefix), most viewed first.
#[utoipa::path(get, path = "/api/v1/search/suggest", tag = "discovery", params(SuggestParams),
    responses((status = 200, body = SuggestJson), (status = 400, body = crate::error::ErrorBody)))]
pub async fn suggest(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    params: Result<Query<SuggestParams>, QueryRejection>,
) -> ApiResult<Json<SuggestJson>> {
    let Query(params) = params.map_err(|e| bad(&e.body_text()))?;
    let text = text(params.q)?;
    let limit = params.limit.unwrap_or(8).clamp(1, 10);
    let found = state
        .search
        .suggest(text, user.as_ref().map(|u| u.id), limit)
        .await
        .map_err(unavailable)?;
    Ok(Json(SuggestJson {
        suggestions: found
            .into_iter()
            .map(|s| SuggestionJson {
                text: s.title,
                video_id: s.id.to_string(),
            })
            .collect(),
    }))
}
