//! Interaction as HTTP and WebSocket: danmaku, comments, follows, live Q&A, and `/api/v1/ws`,
//! the one socket per page that delivers them. The interact crate decides; this maps.

mod comments;
mod follows;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// The interaction service's routes with their OpenAPI entries.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(comments::list, comments::post))
        .routes(routes!(comments::replies))
        .routes(routes!(comments::delete))
        .routes(routes!(comments::pin, comments::unpin))
        .routes(routes!(comments::like, comments::unlike))
        .routes(routes!(comments::report))
        .routes(routes!(comments::reports))
        .routes(routes!(follows::follow, follows::unfollow))
        .routes(routes!(follows::following))
}
