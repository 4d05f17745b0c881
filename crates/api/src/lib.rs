//! The HTTP API. [`router`] builds the whole `Router` apart from serving it, so tests drive it
//! with `tower::ServiceExt::oneshot` and `spool serve` binds it to a socket.
//! The only crate that knows axum.

mod accounts;
mod auth;
pub mod catalog;
pub mod error;
pub mod events;
pub mod playback;
mod upload;
pub mod web;

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use spool_config::Config;
use spool_metadata::Store;
use spool_upload::UploadService;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

pub use error::ApiError;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Metadata store.
    pub store: Store,
    /// Upload service.
    pub uploads: UploadService,
    /// Configuration in force.
    pub config: Arc<Config>,
    /// Fires on shutdown: long uploads stop reading, acknowledge what arrived and answer.
    pub stop: CancellationToken,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// Media files and URL signing.
    pub playback: Arc<playback::Playback>,
    /// Hot video rows and buffered view counts.
    pub videos: Arc<catalog::cache::VideoCache>,
    /// The browser app's files and security headers.
    pub web: Arc<web::WebApp>,
    /// Failed sign-ins, for slowing down password guessing.
    pub logins: Arc<accounts::LoginThrottle>,
    /// Event tracking: the log, ingestion (dedup, rate limit, visibility), the stats.
    pub tracking: Arc<events::tracking::Tracking>,
}

impl AppState {
    /// Builds the state; reads (or creates) the URL-signing key in the data dir.
    pub fn new(
        store: Store,
        uploads: UploadService,
        config: Arc<Config>,
        stop: CancellationToken,
        metrics: Option<PrometheusHandle>,
    ) -> std::io::Result<Self> {
        let media_origin = media_origin(&config.playback.media_base_url);
        let videos = Arc::new(catalog::cache::VideoCache::new(store.clone()));
        Ok(Self {
            playback: Arc::new(playback::Playback::new(&config)?),
            web: Arc::new(web::WebApp::new(
                config.web.dir.clone(),
                media_origin.as_deref(),
            )),
            logins: Arc::new(accounts::LoginThrottle::new(config.web.max_failed_logins)),
            tracking: Arc::new(events::tracking::new_tracking(
                config.server.data_dir.join("events"),
                &config.events,
                videos.clone(),
            )),
            videos,
            store,
            uploads,
            config,
            stop,
            metrics,
        })
    }
}

/// `scheme://host[:port]` of a URL, for the Content-Security-Policy; None when empty or odd.
fn media_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    let ok = matches!(scheme, "http" | "https")
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    ok.then(|| format!("{scheme}://{host}"))
}

/// The OpenAPI document's frame; the paths come from each service's routes (see [`api_routes`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "Spool API", description = "Self-hosted video platform. Uploads speak tus 1.0.0 (see docs/upload-protocol.md)."),
    modifiers(&BearerAuth),
    tags((name = "uploads", description = "Resumable uploads (tus 1.0.0 + Spool extensions)"),
         (name = "videos", description = "Videos"),
         (name = "auth", description = "Browser sign-up, sign-in and sessions"),
         (name = "events", description = "Event tracking (埋点)"),
         (name = "playback", description = "Media files for players and CDNs"),
         (name = "web", description = "The web app's pages and assets"),
         (name = "ops", description = "Health, metrics and this document"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// Every route of the API, each with its OpenAPI entry: a route cannot exist without one,
/// because services export their routes only through `utoipa_axum::routes!`.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(upload::routes())
        .merge(catalog::routes())
        .merge(events::routes())
        .merge(accounts::routes())
        .merge(playback::routes())
        .merge(web::routes())
        .routes(routes!(healthz))
        .routes(routes!(metrics_text))
        .routes(routes!(openapi))
}

/// The OpenAPI document, as `GET /api/openapi.json` serves it.
pub fn openapi_document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> =
        LazyLock::new(|| api_routes().into_openapi());
    &DOCUMENT
}

/// Routes whose last path parameter is a catch-all: OpenAPI spells it `{rest}`, axum `{*rest}`.
pub(crate) fn catch_all(
    (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
) -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::default();
    for path in paths.paths.keys() {
        let axum_path = match path.rsplit_once("/{") {
            Some((head, last)) => format!("{head}/{{*{last}"),
            None => path.clone(),
        };
        router = router.route(&axum_path, method_router.clone());
    }
    let openapi = router.get_openapi_mut();
    openapi.paths.paths.extend(paths.paths);
    openapi
        .components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);
    router
}

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    let (routes, _) = api_routes().split_for_parts();
    routes
        .fallback(get(web::not_found_page).fallback(|| async { ApiError::not_found("route") }))
        .layer(middleware::from_fn(track_requests))
        .layer(middleware::from_fn(cors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            )
            .into_response()
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

const CORS_EXPOSED: &str = "location, upload-offset, upload-length, upload-metadata, \
    upload-expires, upload-defer-length, tus-resumable, tus-version, tus-extension, tus-max-size, \
    tus-checksum-algorithm, spool-video-id, spool-proof-nonce, spool-proof-ranges";

/// CORS for browser players and uploaders. Hand-written because tower-http's layer answers every
/// OPTIONS as a preflight, which would swallow tus discovery (a plain OPTIONS without
/// `Access-Control-Request-Method`).
async fn cors(request: Request, next: Next) -> Response {
    let origin = request.headers().get(http::header::ORIGIN).cloned();
    let preflight = request.method() == http::Method::OPTIONS
        && request
            .headers()
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        if let Some(asked) = request
            .headers()
            .get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
        {
            h.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        h.insert(
            http::header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
        r
    } else {
        next.run(request).await
    };
    if let Some(origin) = origin {
        let h = response.headers_mut();
        h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSED),
        );
        h.append(http::header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// Counts requests and records latency per route, method and status.
async fn track_requests(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("spool_http_requests_total", &labels).increment(1);
    metrics::histogram!("spool_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}

/// Liveness and store reachability.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "ok"), (status = 503, body = error::ErrorBody, description = "store_unreachable")))]
async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::warn!("health check failed: {e}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unreachable",
                "metadata store unreachable",
            )
            .into_response()
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops",
    responses((status = 200, description = "the OpenAPI document")))]
async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format"), (status = 404, body = error::ErrorBody, description = "metrics are off")))]
async fn metrics_text(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => ApiError::not_found("metrics").into_response(),
    }
}

/// The base URL for links: the configured public URL, else derived from the Host header.
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let configured = state.config.server.public_url.trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_owned();
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map_or_else(|| state.config.server.listen.to_string(), str::to_owned);
    format!("http://{host}")
}

/// Unix ms as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}
