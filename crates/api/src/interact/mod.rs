//! Interaction as HTTP and WebSocket: danmaku, comments, follows, live Q&A, and `/api/v1/ws`,
//! the one socket per page that delivers them. The interact crate decides; this maps.

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// The interaction service's routes with their OpenAPI entries.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
