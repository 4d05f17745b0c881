//! Interaction as HTTP and WebSocket: danmaku, comments, follows, live Q&A, and `/api/v1/ws`,
//! the one socket per page that delivers them. The interact crate decides; this maps.

mod comments;
mod danmaku;
mod follows;
mod ws;

pub(crate) use comments::parse_comment_id;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// The interaction service's routes with their OpenAPI entries.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    use danmaku::*;
    OpenApiRouter::new()
        .routes(routes!(ws::socket))
        .routes(routes!(send_video, video_history))
        .routes(routes!(send_live, live_since))
        .routes(routes!(delete))
        .routes(routes!(mute_video))
        .routes(routes!(mute_room))
        .routes(routes!(blocks))
        .routes(routes!(block, unblock))
        .routes(routes!(moderators))
        .routes(routes!(appoint, dismiss))
        .routes(routes!(filter, set_filter))
        .routes(routes!(questions, ask))
        .routes(routes!(vote, unvote))
        .routes(routes!(pin, unpin))
        .routes(routes!(answered))
        .routes(routes!(remove_question))
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
