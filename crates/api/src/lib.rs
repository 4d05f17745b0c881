//! The HTTP API. [`router`] builds the whole `Router` apart from serving it, so tests drive it
//! with `tower::ServiceExt::oneshot` and `spool serve` binds it to a socket.
//! The only crate that knows axum.
//!
//! Architecture Invariant: no handler here decides policy, writes SQL, writes files or spawns
//! background work; no route exists without its OpenAPI entry, and no error leaves without
//! the `{"error": {"code", "message"}}` envelope.

mod accounts;
mod auth;
pub mod catalog;
pub mod error;
pub mod events;
mod gifts;
mod interact;
mod live;
mod moderation;
pub mod playback;
mod recommend;
mod search;
pub mod server;
mod upload;
pub mod web;

use std::sync::{Arc, LazyLock, PoisonError};
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

/// Everything a handler needs, behind one `Arc`: axum clones the state for every request
/// (each route's service and each `State` extractor), and one reference count is far cheaper
/// than one per service (measured: the field-by-field clone and drop were 15 % of a media
/// request's instructions).
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

impl std::ops::Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppContext {
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
    /// The video catalog: visibility policy, edits, deletion, likes, hot rows, view totals,
    /// progress notifications.
    pub catalog: spool_catalog::Catalog,
    /// The browser app's files and security headers.
    pub web: Arc<web::WebApp>,
    /// Failed sign-ins, for slowing down password guessing.
    pub logins: Arc<accounts::LoginThrottle>,
    /// Event tracking: the log, ingestion (dedup, rate limit, visibility), the stats.
    pub tracking: Arc<events::tracking::Tracking>,
    /// Live rooms and their broadcasts.
    pub live: spool_live::Live,
    /// The feed and related videos.
    pub recommender: spool_recommend::Recommender,
    /// Search.
    pub search: spool_search::Search,
    /// Notifications and chat deliveries (danmaku, questions, gifts) to this node's viewers.
    pub hub: spool_hub::Hub,
    /// Danmaku, live Q&A, their limits and delivery.
    pub interact: spool_interact::Interact,
    /// Wallets, the gift ledger, leaderboards, earnings.
    pub gifts: spool_gifts::Gifts,
    /// Comments: threads, pins, likes, reports.
    pub comments: spool_interact::Comments,
    /// Follows of channels.
    pub follows: spool_interact::Follows,
    /// Hash lists, holds, reports, review decisions.
    pub moderation: spool_moderation::Moderation,
}

/// The domain services the handlers call, built by the composition root (the `spool`
/// binary, or a test): the api crate only maps them to HTTP.
#[derive(Clone)]
pub struct Services {
    /// Metadata store.
    pub store: Store,
    /// Upload service.
    pub uploads: UploadService,
    /// The video catalog.
    pub catalog: spool_catalog::Catalog,
    /// Event tracking.
    pub tracking: Arc<spool_events::Tracking>,
    /// Live rooms and their broadcasts.
    pub live: spool_live::Live,
    /// The feed and related videos.
    pub recommender: spool_recommend::Recommender,
    /// Search.
    pub search: spool_search::Search,
    /// The notification hub (in-process, or across nodes).
    pub hub: spool_hub::Hub,
    /// Danmaku and live Q&A.
    pub interact: spool_interact::Interact,
    /// Wallets, the gift ledger, leaderboards, earnings.
    pub gifts: spool_gifts::Gifts,
    /// Comments.
    pub comments: spool_interact::Comments,
    /// Follows.
    pub follows: spool_interact::Follows,
    /// Moderation: hash lists, holds, reports, review decisions.
    pub moderation: spool_moderation::Moderation,
}

impl AppState {
    /// The HTTP layer over `services`: builds only edge state of its own (the web app's
    /// files and headers, the sign-in throttle, the media server with its URL-signing key,
    /// which it reads or creates in the data dir).
    pub fn new(
        services: Services,
        config: Arc<Config>,
        stop: CancellationToken,
        metrics: Option<PrometheusHandle>,
    ) -> std::io::Result<Self> {
        let media_origin = media_origin(&config.playback.media_base_url);
        let Services {
            store,
            uploads,
            catalog,
            tracking,
            live,
            recommender,
            search,
            hub,
            interact,
            gifts,
            comments,
            follows,
            moderation,
        } = services;
        Ok(Self(Arc::new(AppContext {
            playback: Arc::new(playback::Playback::new(&config)?),
            web: Arc::new(web::WebApp::new(
                config.web.dir.clone(),
                media_origin.as_deref(),
            )),
            logins: Arc::new(accounts::LoginThrottle::new(config.web.max_failed_logins)),
            tracking,
            catalog,
            live,
            recommender,
            search,
            hub,
            interact,
            gifts,
            comments,
            follows,
            moderation,
            store,
            uploads,
            config,
            stop,
            metrics,
        })))
    }

    /// Sets the `/metrics` renderer while nothing else holds this state yet (a test that
    /// installs its own recorder after building the state); false once it is shared.
    pub fn set_metrics(&mut self, handle: PrometheusHandle) -> bool {
        Arc::get_mut(&mut self.0)
            .map(|context| context.metrics = Some(handle))
            .is_some()
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
    // Schemas only header parameters name: utoipa-axum collects body schemas alone.
    components(schemas(upload::TusVersion, catalog::videos::ProgressEvent)),
    tags((name = "uploads", description = "Resumable uploads (tus 1.0.0 + Spool extensions)"),
         (name = "videos", description = "Videos"),
         (name = "auth", description = "Browser sign-up, sign-in and sessions"),
         (name = "events", description = "Event tracking (埋点)"),
         (name = "playback", description = "Media files for players and CDNs"),
         (name = "live", description = "Live rooms and their low-latency HLS"),
         (name = "interact", description = "Danmaku, live Q&A, moderation, and the page's WebSocket (docs/interact.md)"),
         (name = "gifts", description = "Wallets, gifts on a double-entry ledger, leaderboards, earnings"),
         (name = "moderation", description = "Hash lists, the review queue, decisions, reports (docs/moderation.md)"),
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
        .merge(live::routes())
        .merge(recommend::routes())
        .merge(search::routes())
        .merge(interact::routes())
        .merge(gifts::routes())
        .merge(moderation::routes())
        .merge(web::routes())
        .routes(routes!(healthz))
        .routes(routes!(metrics_text))
        .routes(routes!(openapi))
}

/// The OpenAPI document, as `GET /api/openapi.json` serves it.
pub fn openapi_document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> =
        LazyLock::new(|| with_common_answers(api_routes().into_openapi()));
    &DOCUMENT
}

/// Adds to every operation the error answers any route can give, which the handlers' own
/// annotations need not repeat: 400 (malformed parameters or headers) and 401 (a wrong
/// token) everywhere, 404 where the path names something, 413/415/422 where a body is taken,
/// 412 and the `Tus-Resumable` answer header on the tus routes, 500 everywhere. Each in the
/// error envelope (`ErrorBody`).
fn with_common_answers(document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use serde_json::{Value, json};
    let Ok(mut value) = serde_json::to_value(&document) else {
        return document;
    };
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
        })
    };
    if let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                unsigned_bounds(operation);
                let tus = path.starts_with("/api/v1/uploads");
                let has_path_params = path.contains('{');
                let has_body = operation.get("requestBody").is_some();
                let Some(responses) = operation
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description));
                };
                add(
                    "400",
                    "bad_request, invalid_query, invalid_path or invalid_json: malformed input (see docs/errors.md)",
                );
                add(
                    "401",
                    "unauthorized: no valid token or session where one is needed, or a wrong token",
                );
                if has_path_params {
                    add("404", "not_found (or the service's own not-found code)");
                }
                if has_body {
                    add(
                        "413",
                        "payload_too_large: the body is over the route's limit",
                    );
                    add(
                        "415",
                        "unsupported_media_type: the body's Content-Type is not one the route takes",
                    );
                    add(
                        "422",
                        "invalid_input: JSON of the right shape with refused values",
                    );
                }
                if tus && method != "get" && method != "options" && !path.ends_with("/proof") {
                    add("412", "unsupported_tus_version: Tus-Resumable is not 1.0.0");
                }
                add("500", "internal_error: the details are in the server log");
                if tus {
                    if let Some(parameters) = operation
                        .get_mut("parameters")
                        .and_then(Value::as_array_mut)
                    {
                        for parameter in parameters {
                            if parameter["name"] == "Tus-Resumable" {
                                parameter["required"] = Value::Bool(true);
                            }
                        }
                    }
                    let Some(responses) = operation
                        .get_mut("responses")
                        .and_then(Value::as_object_mut)
                    else {
                        continue;
                    };
                    for answer in responses.values_mut() {
                        if let Some(answer) = answer.as_object_mut() {
                            let headers = answer.entry("headers").or_insert_with(|| json!({}));
                            if let Some(headers) = headers.as_object_mut() {
                                headers.insert(
                                    "Tus-Resumable".into(),
                                    json!({
                                        "description": "The tus version spoken: 1.0.0 (on every answer)",
                                        "schema": { "type": "string", "enum": ["1.0.0"] }
                                    }),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    serde_json::from_value(value).unwrap_or(document)
}

/// Query and path integers are parsed as Rust's unsigned types, which utoipa documents as the
/// signed OpenAPI formats (`u32` as `int32`, `u64` as `int64`): give them their real range,
/// so a client knows that `limit=3000000000` is accepted and `limit=-1` is not.
fn unsigned_bounds(operation: &mut serde_json::Value) {
    use serde_json::Value;
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        if !matches!(parameter["in"].as_str(), Some("query" | "path")) {
            continue;
        }
        let Some(schema) = parameter.get_mut("schema").and_then(Value::as_object_mut) else {
            continue;
        };
        let unsigned = schema.get("type").and_then(Value::as_str) == Some("integer")
            && schema.get("minimum").and_then(Value::as_u64) == Some(0)
            && !schema.contains_key("maximum");
        if !unsigned {
            continue;
        }
        let maximum = match schema.remove("format").as_ref().and_then(Value::as_str) {
            Some("int32") => u64::from(u32::MAX),
            _ => u64::MAX,
        };
        schema.insert("maximum".into(), Value::from(maximum));
    }
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
        .layer(middleware::from_fn_with_state(
            Arc::new(RequestMetrics::default()),
            edge,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The router of `server.metrics_listen`: `/metrics` for anyone who can reach that address.
pub fn metrics_router(state: AppState) -> Router {
    let (routes, _) = OpenApiRouter::new()
        .routes(routes!(metrics_text))
        .split_for_parts();
    routes
        .fallback(|| async { ApiError::not_found("route") })
        .layer(axum::Extension(MetricsListener))
        .with_state(state)
}

/// Marks requests that arrived on the metrics listener.
#[derive(Clone, Copy)]
struct MetricsListener;

/// What every answer passes through, in one middleware (each layer of its own would clone
/// the route's service and box a future for every request): a CORS preflight is answered here;
/// anything else runs, then API answers get their cache policy, error answers the envelope,
/// the request its metrics and the answer its CORS headers.
async fn edge(
    State(metrics): State<Arc<RequestMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request.headers().get(http::header::ORIGIN).cloned();
    if is_preflight(&request) {
        return with_cors(preflight(&request), origin);
    }
    let start = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if api {
        api_cache_control(&mut response);
    }
    let response = error::envelope(response).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    metrics.record(
        route,
        &method,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    with_cors(response, origin)
}

/// API answers that say nothing about caching are `private, no-store`: they may be a private
/// video's JSON or carry signed URLs, which no shared cache may keep.
fn api_cache_control(response: &mut Response) {
    if !response.headers().contains_key(http::header::CACHE_CONTROL) {
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
}

const CORS_EXPOSED: &str = "location, upload-offset, upload-length, upload-metadata, \
    upload-expires, upload-defer-length, tus-resumable, tus-version, tus-extension, tus-max-size, \
    tus-checksum-algorithm, spool-video-id, spool-proof-nonce, spool-proof-ranges";

/// CORS for browser players and uploaders. Hand-written because tower-http's layer answers every
/// OPTIONS as a preflight, which would swallow tus discovery (a plain OPTIONS without
/// `Access-Control-Request-Method`).
fn is_preflight(request: &Request) -> bool {
    request.method() == http::Method::OPTIONS
        && request
            .headers()
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn preflight(request: &Request) -> Response {
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
}

/// Reflects the request's `Origin`, exposing the headers uploaders and players read.
fn with_cors(mut response: Response, origin: Option<HeaderValue>) -> Response {
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

/// The request counter and latency histogram of each (route, method, status), looked up in
/// the metrics registry once: the registry builds and hashes a three-label key on every call,
/// which a media request would otherwise pay for every segment and part.
#[derive(Default)]
struct RequestMetrics {
    by_route: std::sync::RwLock<std::collections::HashMap<String, Vec<RequestSeries>>>,
}

struct RequestSeries {
    method: http::Method,
    status: u16,
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl RequestMetrics {
    /// Records one request; `route` is the matched path or "unmatched".
    fn record(&self, route: &str, method: &http::Method, status: u16, seconds: f64) {
        let read = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = read.get(route).and_then(|all| {
            all.iter()
                .find(|s| s.status == status && s.method == method)
        }) {
            series.requests.increment(1);
            series.duration.record(seconds);
            return;
        }
        drop(read);
        // A method outside the standard ones is one series: a client cannot grow the registry.
        let method_label = if STANDARD_METHODS.contains(method) {
            method.as_str().to_owned()
        } else {
            "other".to_owned()
        };
        let labels = [
            ("route", route.to_owned()),
            ("method", method_label),
            ("status", status.to_string()),
        ];
        let series = RequestSeries {
            method: method.clone(),
            status,
            requests: metrics::counter!("spool_http_requests_total", &labels),
            duration: metrics::histogram!("spool_http_request_duration_seconds", &labels),
        };
        series.requests.increment(1);
        series.duration.record(seconds);
        if STANDARD_METHODS.contains(method) {
            let mut write = self
                .by_route
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            write.entry(route.to_owned()).or_default().push(series);
        }
    }
}

const STANDARD_METHODS: [http::Method; 9] = [
    http::Method::GET,
    http::Method::HEAD,
    http::Method::POST,
    http::Method::PUT,
    http::Method::PATCH,
    http::Method::DELETE,
    http::Method::OPTIONS,
    http::Method::CONNECT,
    http::Method::TRACE,
];

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

/// Prometheus metrics: for admins on the main listener, for anyone on `server.metrics_listen`.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format"),
        (status = 401, body = error::ErrorBody, description = "unauthorized: an admin's token is needed"),
        (status = 403, body = error::ErrorBody, description = "not_admin"),
        (status = 404, body = error::ErrorBody, description = "metrics are off")),
    security(("bearer" = [])))]
async fn metrics_text(
    State(state): State<AppState>,
    listener: Option<axum::Extension<MetricsListener>>,
    caller: Result<auth::MaybeUser, ApiError>,
) -> Response {
    if listener.is_none() {
        match caller {
            Ok(auth::MaybeUser(Some(user))) if user.is_admin => {}
            Ok(auth::MaybeUser(Some(_))) => {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "not_admin",
                    "only admins may read the metrics",
                )
                .into_response();
            }
            Ok(auth::MaybeUser(None)) => return ApiError::unauthorized().into_response(),
            Err(e) => return e.into_response(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_series_are_resolved_once_and_count_every_request() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let tracked = RequestMetrics::default();
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..3 {
                tracked.record("/media/{id}/{*rest}", &http::Method::GET, 200, 0.001);
            }
            tracked.record("/media/{id}/{*rest}", &http::Method::GET, 304, 0.001);
            tracked.record("/healthz", &http::Method::HEAD, 200, 0.001);
            let odd = http::Method::from_bytes(b"BREW").unwrap();
            tracked.record("unmatched", &odd, 405, 0.001);
            tracked.record("unmatched", &odd, 405, 0.001);
        });
        let text = handle.render();
        let count = |labels: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("spool_http_requests_total{{{labels}}}")))
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_owned)
        };
        let media = r#"route="/media/{id}/{*rest}",method="GET""#;
        assert_eq!(
            count(&format!(r#"{media},status="200""#)).as_deref(),
            Some("3"),
            "{text}"
        );
        assert_eq!(
            count(&format!(r#"{media},status="304""#)).as_deref(),
            Some("1"),
            "{text}"
        );
        assert_eq!(
            count(r#"route="/healthz",method="HEAD",status="200""#).as_deref(),
            Some("1"),
            "{text}"
        );
        // Methods outside the standard ones share one series and are never cached by name.
        assert_eq!(
            count(r#"route="unmatched",method="other",status="405""#).as_deref(),
            Some("2"),
            "{text}"
        );
        let cached: usize = tracked
            .by_route
            .read()
            .unwrap()
            .values()
            .map(Vec::len)
            .sum();
        assert_eq!(cached, 3);
    }
}
