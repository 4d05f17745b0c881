//! The HTTP API. [`router`] builds the whole `Router` apart from serving it, so tests drive it
//! with `tower::ServiceExt::oneshot` and `spool serve` binds it to a socket.
//! The only crate that knows axum.

mod accounts;
mod auth;
pub mod cache;
mod channels;
mod covers;
pub mod error;
pub mod playback;
pub mod stats;
pub mod tracking;
mod uploads;
mod videos;
pub mod web;

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use spool_config::Config;
use spool_metadata::Store;
use spool_upload::UploadService;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

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
    pub videos: Arc<cache::VideoCache>,
    /// The browser app's files and security headers.
    pub web: Arc<web::WebApp>,
    /// Failed sign-ins, for slowing down password guessing.
    pub logins: Arc<accounts::LoginThrottle>,
    /// Tracking ingestion: the event log, recent event ids, the rate limit.
    pub tracking: Arc<tracking::Tracking>,
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
        Ok(Self {
            playback: Arc::new(playback::Playback::new(&config)?),
            web: Arc::new(web::WebApp::new(
                config.web.dir.clone(),
                media_origin.as_deref(),
            )),
            logins: Arc::new(accounts::LoginThrottle::new(config.web.max_failed_logins)),
            tracking: Arc::new(tracking::Tracking::new(
                config.server.data_dir.join("events"),
                &config.events,
            )),
            videos: Arc::new(cache::VideoCache::new(store.clone())),
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

/// The OpenAPI document, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "Spool API", description = "Self-hosted video platform. Uploads speak tus 1.0.0 (see docs/upload-protocol.md)."),
    paths(
        uploads::options, uploads::create, uploads::head, uploads::patch, uploads::terminate,
        uploads::find, uploads::prove, videos::get, videos::list, videos::list_mine,
        videos::patch, videos::delete, videos::events, videos::retry, channels::related,
        channels::like, channels::unlike, channels::channel, covers::put, covers::candidates,
        covers::choose, tracking::ingest, tracking::tail, stats::video_stats, stats::my_history, accounts::signup, accounts::login, accounts::logout, accounts::session,
        healthz,
    ),
    modifiers(&BearerAuth),
    tags((name = "uploads", description = "Resumable uploads (tus 1.0.0 + Spool extensions)"),
         (name = "videos", description = "Videos"),
         (name = "auth", description = "Browser sign-up, sign-in and sessions"),
         (name = "events", description = "Event tracking (埋点)"))
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

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    let tus = Router::new()
        .route(
            "/api/v1/uploads",
            post(uploads::create)
                .options(uploads::options)
                .get(uploads::find),
        )
        .route(
            "/api/v1/uploads/{id}",
            axum::routing::head(uploads::head)
                .patch(uploads::patch)
                .delete(uploads::terminate)
                .options(uploads::options),
        )
        .route("/api/v1/uploads/{id}/proof", post(uploads::prove))
        .layer(middleware::from_fn(uploads::tus_resumable));
    let pages = web::PAGES.iter().fold(Router::new(), |router, path| {
        router.route(path, get(web::page))
    });
    Router::new()
        .merge(tus)
        .merge(pages)
        .route("/assets/{*path}", get(web::asset))
        .route("/api/v1/events", post(tracking::ingest))
        .route("/api/v1/events/tail", get(tracking::tail))
        .route("/api/v1/videos/{id}/stats", get(stats::video_stats))
        .route("/api/v1/me/history", get(stats::my_history))
        .route("/api/v1/auth/signup", post(accounts::signup))
        .route("/api/v1/auth/login", post(accounts::login))
        .route("/api/v1/auth/logout", post(accounts::logout))
        .route("/api/v1/auth/session", get(accounts::session))
        .route("/api/v1/channels/{name}", get(channels::channel))
        .route("/api/v1/videos/{id}/related", get(channels::related))
        .route("/api/v1/videos/{id}/retry", post(videos::retry))
        .route(
            "/api/v1/videos/{id}/like",
            axum::routing::put(channels::like).delete(channels::unlike),
        )
        .route(
            "/api/v1/videos/{id}/cover/candidates",
            get(covers::candidates),
        )
        .route(
            "/api/v1/videos/{id}/cover/candidates/{index}",
            post(covers::choose),
        )
        .route("/api/v1/videos", get(videos::list))
        .route("/api/v1/me/videos", get(videos::list_mine))
        .route(
            "/api/v1/videos/{id}",
            get(videos::get).patch(videos::patch).delete(videos::delete),
        )
        .route("/api/v1/videos/{id}/events", get(videos::events))
        .route("/api/openapi.json", get(openapi))
        .route(
            "/api/v1/videos/{id}/cover",
            axum::routing::put(covers::put).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/media/{id}/{*rest}", get(playback::plain))
        .route(
            "/media/s/{expires}/{signature}/{id}/{*rest}",
            get(playback::signed),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
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
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "ok"), (status = 503)))]
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

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

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
