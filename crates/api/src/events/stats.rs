//! Video stats and watch history from the event log: `GET /api/v1/videos/{id}/stats` (owner
//! or admin) and `GET /api/v1/me/history`, read from the stats projection
//! ([`spool_events::stats`]); the projection itself is run by the binary.

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use serde::Serialize;
use spool_events::aggregate::HistoryEntry;

use crate::AppState;
use crate::auth::AuthUser;
use crate::catalog::videos::{owned_video, parse_id};
use crate::error::ApiResult;

/// A video's numbers for its owner.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatsJson {
    /// Counted views: 10 s or 30% watched, once per viewer per hour.
    views: u64,
    unique_viewers: u64,
    watch_time_s: f64,
    avg_view_duration_s: f64,
    /// Share of viewers who reached the end, 0 to 1.
    completion_rate: f64,
    /// Share of viewers who watched each hundredth of the video (100 values, 0 to 1).
    retention: Vec<f64>,
    likes: i64,
    /// Quality of experience from the players' CMCD data on media requests.
    #[schema(value_type = Object)]
    qoe: spool_events::aggregate::QoeStats,
    /// Events in the log folded into these numbers (its offset).
    events_counted: u64,
}

/// A video's stats (owner or admin).
#[utoipa::path(get, path = "/api/v1/videos/{id}/stats", tag = "events",
    params(("id" = String, Path, description = "Video id")),
    responses((status = 200, body = StatsJson), (status = 403, body = crate::error::ErrorBody, description = "not_owner"),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn video_stats(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<StatsJson>> {
    let video = owned_video(&state, &user, &parse_id(&id)?).await?;
    let (stats, events_counted) = {
        let folded = state.tracking.stats().read().await;
        (folded.state.video(video.id.as_str()), folded.next_offset)
    };
    Ok(Json(StatsJson {
        views: stats.views,
        unique_viewers: stats.unique_viewers,
        watch_time_s: stats.watch_time_s,
        avg_view_duration_s: stats.avg_view_duration_s,
        completion_rate: stats.completion_rate,
        retention: stats.retention,
        qoe: stats.qoe,
        likes: video.likes,
        events_counted,
    }))
}

/// One watched video.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryJson {
    video_id: String,
    /// Where to resume, seconds.
    position_s: f64,
    /// When it was last watched, RFC 3339.
    watched_at: String,
}

/// The caller's watch history, most recent first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    history: Vec<HistoryJson>,
}

/// My watch history with resume positions.
#[utoipa::path(get, path = "/api/v1/me/history", tag = "events",
    responses((status = 200, body = HistoryPage), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn my_history(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Json<HistoryPage>> {
    let entries: Vec<HistoryEntry> = state
        .tracking
        .stats()
        .read()
        .await
        .state
        .history(&user.name);
    Ok(Json(HistoryPage {
        history: entries
            .into_iter()
            .map(|e| HistoryJson {
                video_id: e.video_id,
                position_s: e.position_s,
                watched_at: crate::rfc3339(e.watched_at),
            })
            .collect(),
    }))
}
