//! The browser app: the pages' one `index.html` (client-side routing) and the hashed files
//! under `/assets/`, both from `web.dir` (built by `npm --prefix web run build`). Pages are sent
//! with a strict Content-Security-Policy: scripts, styles and connections from this origin
//! (plus the media CDN, when one is configured) only, no inline script, no framing.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::AppState;
use crate::error::ApiError;

/// The page paths the app routes on the client; each is answered with `index.html`.
pub const PAGES: [&str; 12] = [
    "/",
    "/watch/{id}",
    "/live/{id}",
    "/upload",
    "/studio",
    "/feed",
    "/c/{name}",
    "/search",
    "/signin",
    "/signup",
    "/admin/moderation",
    "/admin/moderation/{id}",
];

/// What the web app needs at run time.
pub struct WebApp {
    dir: PathBuf,
    csp: HeaderValue,
}

impl WebApp {
    /// The app in `dir`; `media_origin` is the CDN's origin when media is served from one.
    pub fn new(dir: PathBuf, media_origin: Option<&str>) -> Self {
        let extra = media_origin.map(|o| format!(" {o}")).unwrap_or_default();
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; \
             img-src 'self' data: blob:{extra}; media-src 'self' blob:{extra}; \
             connect-src 'self'{extra}; worker-src 'self' blob:; object-src 'none'; \
             base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        );
        Self {
            dir,
            csp: HeaderValue::from_str(&csp).expect("CSP is ASCII"),
        }
    }

    fn not_built(&self) -> Response {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "web_not_built",
            format!(
                "the web app is not built in {}: run `npm --prefix web ci && npm --prefix web run build` \
                 (or set web.dir)",
                self.dir.display()
            ),
        )
        .into_response()
    }
}

fn secure_headers(headers: &mut HeaderMap, csp: &HeaderValue) {
    headers.insert(http::header::CONTENT_SECURITY_POLICY, csp.clone());
    insert_static(
        headers,
        [
            (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (http::header::X_FRAME_OPTIONS, "DENY"),
            (
                http::header::REFERRER_POLICY,
                "strict-origin-when-cross-origin",
            ),
        ],
    );
}

/// Sets each header of `fixed` to its value, replacing what was there.
fn insert_static<const N: usize>(
    headers: &mut HeaderMap,
    fixed: [(http::HeaderName, &'static str); N],
) {
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// A page: `index.html`, never cached (it names the current hashed assets).
pub async fn page(State(state): State<AppState>) -> Response {
    index(&state, StatusCode::OK).await
}

/// An unknown path asked for by a browser: the app, which shows its own "not found", with 404.
pub async fn not_found_page(
    State(state): State<AppState>,
    uri: http::Uri,
    headers: HeaderMap,
) -> Response {
    // Unknown API and media paths answer in the error envelope, whatever the client accepts.
    let machine = ["/api/", "/media/"]
        .iter()
        .any(|prefix| uri.path().starts_with(prefix));
    let wants_html = !machine
        && headers
            .get(http::header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        index(&state, StatusCode::NOT_FOUND).await
    } else {
        ApiError::not_found("route").into_response()
    }
}

async fn index(state: &AppState, status: StatusCode) -> Response {
    let web = &state.web;
    match tokio::fs::read(web.dir.join("index.html")).await {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            insert_static(
                headers,
                [
                    (http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (http::header::CACHE_CONTROL, "no-cache"),
                ],
            );
            secure_headers(headers, &web.csp);
            response
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => web.not_built(),
        Err(e) => ApiError::internal(format_args!("reading the web app's index.html: {e}"))
            .into_response(),
    }
}

/// Longest `/assets/...` path looked up (built asset paths are a few dozen bytes).
const MAX_ASSET_PATH: usize = 1024;

/// `/assets/...`: content-hashed build output, cacheable forever.
#[utoipa::path(get, path = "/assets/{path}", tag = "web",
    params(("path" = String, Path, description = "A built asset")),
    responses((status = 200, description = "the asset, cacheable forever"), (status = 404, description = "no such asset")))]
pub async fn asset(State(state): State<AppState>, request: Request) -> Response {
    let web = &state.web;
    let (mut parts, body) = request.into_parts();
    // ServeDir resolves the path against its root (refusing `..`); strip the route prefix.
    let rest = parts
        .uri
        .path()
        .strip_prefix("/assets")
        .unwrap_or("/")
        .to_owned();
    // Built asset names are short: a name the file system would refuse (ENAMETOOLONG) is
    // simply not an asset.
    let plausible = rest.len() <= MAX_ASSET_PATH && rest.split('/').all(|s| s.len() <= 255);
    if !plausible {
        return ApiError::not_found("asset").into_response();
    }
    parts.uri = rest.parse().unwrap_or_default();
    let request = Request::from_parts(parts, body);
    let served = ServeDir::new(web.dir.join("assets"))
        .precompressed_gzip()
        .oneshot(request)
        .await;
    let mut response = match served {
        Ok(r) => r.map(Body::new),
        Err(never) => match never {},
    };
    if response.status() == StatusCode::NOT_FOUND {
        return ApiError::not_found("asset").into_response();
    }
    let cacheable = response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    if cacheable {
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    secure_headers(headers, &web.csp);
    response
}

/// The app's pages and assets, with their OpenAPI entries (every page path shares one handler).
pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, Paths};
    use utoipa::openapi::{Required, ResponseBuilder};
    let mut paths = Paths::new();
    for page in PAGES {
        let mut operation = OperationBuilder::new()
            .tag("web")
            .summary(Some("A page of the web app (index.html)"))
            .response(
                "200",
                ResponseBuilder::new().description("the app's index.html"),
            );
        for name in page
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            operation = operation.parameter(
                utoipa::openapi::path::ParameterBuilder::new()
                    .name(name)
                    .parameter_in(utoipa::openapi::path::ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::Type::String),
                    )),
            );
        }
        paths.paths.insert(
            page.to_owned(),
            PathItem::new(HttpMethod::Get, operation.build()),
        );
    }
    let mut router = PAGES.iter().fold(
        crate::catch_all(utoipa_axum::routes!(asset)),
        |router, path| router.route(path, axum::routing::get(page)),
    );
    router.get_openapi_mut().paths.paths.extend(paths.paths);
    router
}
