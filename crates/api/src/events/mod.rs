//! Event tracking's HTTP mapping: ingestion (`POST /api/v1/events`), the tail, video stats and
//! watch history.

pub mod stats;
pub mod tracking;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// Tracking's routes with their OpenAPI entries.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tracking::ingest))
        .routes(routes!(tracking::tail))
        .routes(routes!(stats::video_stats))
        .routes(routes!(stats::my_history))
}
