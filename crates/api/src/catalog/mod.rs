//! The catalog's HTTP mapping: videos (get, list, edit, delete, retry, progress), covers,
//! channels and likes.

pub(crate) mod channels;
pub(crate) mod covers;
pub(crate) mod videos;

use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::AppState;

/// The catalog's routes with their OpenAPI entries.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(videos::list))
        .routes(routes!(videos::list_mine))
        .routes(routes!(videos::get, videos::patch, videos::delete))
        .routes(routes!(videos::events))
        .routes(routes!(videos::retry))
        .routes(routes!(channels::channel))
        .routes(routes!(channels::like, channels::unlike))
        .routes(routes!(covers::candidates))
        .routes(routes!(covers::choose))
        .routes(without_body_limit(routes!(covers::put)))
}

/// Covers are checked by their own limits while they stream in.
fn without_body_limit(
    (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
) -> UtoipaMethodRouter<AppState> {
    let method_router = method_router.layer(axum::extract::DefaultBodyLimit::disable());
    (schemas, paths, method_router)
}
