//! Playback serving: HLS/DASH manifests, segments, storyboards and covers under `/media/...`,
//! ready for a CDN in front.
//!
//! URL scheme (the tail is the same for every video; only the prefix differs):
//! - public and unlisted videos: `<media base>/media/<video id>/...`
//! - private videos: `<media base>/media/s/<expires>/<signature>/<video id>/...`, where the
//!   signature is an HMAC-SHA256 over the video id and the expiry. The signature sits in the
//!   path, not the query, so every relative URI in a playlist inherits it and a CDN caches by
//!   path alone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use spool_catalog::{Access as CatalogAccess, Viewer, policy};
use spool_config::Config;
use spool_media::{Published, manifest};
use spool_metadata::{User, VideoRow};
use spool_model::{VideoId, now_millis};
use spool_storage::media::MANIFEST_FILE;
use spool_storage::{Generation, MediaLayout};

use crate::AppState;
use crate::auth::MaybeUser;
use crate::error::{ApiError, ApiResult};

type HmacSha256 = Hmac<Sha256>;

/// Signing-key file kept in the data dir when no key is configured.
const KEY_FILE: &str = "url-signing.key";

/// Playback's own state: where media lives and the URL-signing key.
pub struct Playback {
    layout: MediaLayout,
    key: Vec<u8>,
    caches: ServingCaches,
}

impl Playback {
    /// From the configuration: the key is `playback.signing_key`, else the one kept in the
    /// storage dir (generated on first start; nodes sharing the storage share the key).
    pub fn new(config: &Config) -> std::io::Result<Self> {
        let storage = config.storage_dir();
        let key = if config.playback.signing_key.is_empty() {
            spool_storage::secret::load_or_create_secret(&storage.join(KEY_FILE))
                .map_err(std::io::Error::other)?
        } else {
            config.playback.signing_key.as_bytes().to_vec()
        };
        Ok(Self {
            layout: MediaLayout::new(&storage),
            key,
            caches: ServingCaches::new(config.playback.file_cache_bytes),
        })
    }

    /// The directory holding every video's published media.
    pub fn media_root(&self) -> &std::path::Path {
        self.layout.root()
    }

    /// Where published media lives.
    pub fn layout(&self) -> &MediaLayout {
        &self.layout
    }

    /// The signature for `video` valid until `expires` (Unix seconds), URL-safe base64.
    pub fn sign(&self, video: &VideoId, expires: i64) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(video.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// True when `signature` is valid for `video` and `expires` has not passed.
    pub fn verify(&self, video: &VideoId, expires: i64, signature: &str) -> bool {
        if expires.saturating_mul(1000) < now_millis() {
            return false;
        }
        let Ok(given) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(video.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

/// The URL prefix under which `video`'s media is served, without a trailing slash:
/// `<media base>/media/<id>` for public and unlisted videos, a signed, expiring
/// `<media base>/media/s/<expires>/<signature>/<id>` for private ones (only ever handed to
/// callers allowed to see the video).
pub(crate) fn media_prefix(state: &AppState, headers: &HeaderMap, video: &VideoRow) -> String {
    let configured = state.config.playback.media_base_url.trim_end_matches('/');
    let base = if configured.is_empty() {
        crate::base_url(state, headers)
    } else {
        configured.to_owned()
    };
    // Links are signed whenever the catalog would refuse an anonymous viewer.
    match policy::access(Viewer::Anonymous, video) {
        CatalogAccess::Hidden => {
            let ttl = i64::try_from(state.config.playback.signed_url_ttl_s).unwrap_or(i64::MAX);
            // Round the expiry up to the hour so URLs stay stable (cacheable) for a while.
            let expires = (now_millis() / 1000).saturating_add(ttl) / 3600 * 3600 + 3600;
            let signature = state.playback.sign(&video.id, expires);
            format!("{base}/media/s/{expires}/{signature}/{}", video.id)
        }
        CatalogAccess::Anyone | CatalogAccess::OwnerOrAdmin => {
            format!("{base}/media/{}", video.id)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Serving

/// Bytes of one media file kept in memory: files under a generation or cover directory never
/// change under their name, so a cached copy is always right.
#[derive(Clone)]
pub(crate) struct CachedFile {
    bytes: Bytes,
    etag: HeaderValue,
}

/// Hot media files in memory (weighted by size) and clients' measured throughput from CMCD.
pub(crate) struct ServingCaches {
    files: moka::future::Cache<PathBuf, CachedFile>,
    throughput: moka::future::Cache<String, u64>,
}

/// Files larger than this are streamed from disk instead of cached.
const CACHE_FILE_LIMIT: u64 = 8 << 20;

impl ServingCaches {
    pub(crate) fn new(file_cache_bytes: u64) -> Self {
        Self {
            files: moka::future::Cache::builder()
                .max_capacity(file_cache_bytes)
                .weigher(|_, f: &CachedFile| u32::try_from(f.bytes.len()).unwrap_or(u32::MAX))
                .build(),
            throughput: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(600))
                .build(),
        }
    }
}

/// Who may see a video's media on this request.
enum Access {
    /// Public or unlisted: anyone, and shared caches may keep it.
    Public,
    /// A valid signed path: anyone holding it, and a CDN may cache by path.
    Signed,
    /// The owner (or an admin) with a token: only private caches.
    Owner,
}

impl Access {
    fn is_shared(&self) -> bool {
        matches!(self, Self::Public | Self::Signed)
    }

    /// Files that never change under their name: segments, storyboards, covers.
    fn immutable_cache_control(&self) -> &'static str {
        if self.is_shared() {
            "public, max-age=31536000, immutable"
        } else {
            "private, max-age=31536000, immutable"
        }
    }

    /// Playlists and manifests. Still growing: a few seconds, so new renditions show up
    /// quickly; complete: a few minutes (visibility or a reprocess may still change it).
    fn growing_cache_control(&self, complete: bool) -> &'static str {
        match (self.is_shared(), complete) {
            (true, true) => "public, max-age=300",
            (true, false) => "public, max-age=2",
            (false, true) => "private, max-age=300",
            (false, false) => "private, max-age=2",
        }
    }
}

/// Path parameters of the signed routes.
#[derive(serde::Deserialize)]
pub(crate) struct SignedPath {
    /// Kept as text: only the canonical spelling of the number is accepted.
    expires: String,
    signature: String,
    id: String,
    #[serde(default)]
    rest: Option<String>,
}

/// Path parameters of the plain routes.
#[derive(serde::Deserialize)]
pub(crate) struct PlainPath {
    id: String,
    #[serde(default)]
    rest: Option<String>,
}

/// Who asks for a video's media.
#[derive(Clone, Copy)]
enum Caller<'a> {
    /// A signed path: its expiry (Unix seconds) and signature, whoever sends it.
    Signed(i64, &'a str),
    /// A plain path: the signed-in user, or nobody.
    User(Option<&'a User>),
}

/// The video behind a media request, if this caller may see it.
async fn authorize(
    state: &AppState,
    id: &str,
    caller: Caller<'_>,
) -> ApiResult<(std::sync::Arc<VideoRow>, Access)> {
    let id: VideoId = id.parse().map_err(|_| ApiError::not_found("video"))?;
    let video = state
        .catalog
        .row(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("video"))?;
    let viewer = match caller {
        Caller::Signed(expires, signature) => {
            if !state.playback.verify(&id, expires, signature) {
                return Err(invalid_signature());
            }
            Viewer::SignedUrl
        }
        Caller::User(user) => Viewer::from(user),
    };
    // The catalog's policy decides; this only picks the cache scope that goes with it.
    let access = match (policy::access(viewer, &video), caller) {
        (CatalogAccess::Hidden, _) => return Err(ApiError::not_found("video")),
        (_, Caller::Signed(..)) => Access::Signed,
        (CatalogAccess::Anyone, Caller::User(_)) => Access::Public,
        (CatalogAccess::OwnerOrAdmin, Caller::User(_)) => Access::Owner,
    };
    Ok((video, access))
}

fn invalid_signature() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "invalid_signature",
        "the signed URL is invalid or has expired",
    )
}

/// The expiry of a signed URL, only in the form the server writes it: decimal digits without
/// a sign or leading zeros. Any other spelling of the same number would give one object many
/// cache keys at a CDN.
pub(crate) fn canonical_expiry(text: &str) -> Option<i64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let canonical = digits && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

fn published(video: &VideoRow) -> ApiResult<Published> {
    let json = video
        .media
        .as_deref()
        .ok_or_else(|| ApiError::not_found("media"))?;
    Published::from_json(json).map_err(|e| {
        ApiError::internal(format_args!(
            "stored media description of {} is corrupt: {e}",
            video.id
        ))
    })
}

/// `GET /media/{id}/{*rest}` and its signed twin.
#[utoipa::path(get, path = "/media/{id}/{rest}", tag = "playback",
    params(("id" = String, Path, description = "Video id"),
        ("rest" = String, Path, description = "A file of the video's media: `master.m3u8`, `manifest.mpd`, `<generation>/<rung>/index.m3u8`, segments, storyboards, covers")),
    responses((status = 200, description = "the file (Range, ETag, immutable caching for segments)"),
        (status = 206, description = "a range of the file"), (status = 304, description = "not modified"),
        (status = 404, body = crate::error::ErrorBody, description = "no such video or file, or the video is private")))]
pub(crate) async fn plain(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(path): Path<PlainPath>,
    request: Request,
) -> Response {
    let caller = Caller::User(user.as_ref());
    respond(&state, &path.id, path.rest.as_deref(), caller, request).await
}

/// `GET /media/s/{expires}/{signature}/{id}/{*rest}`.
#[utoipa::path(get, path = "/media/s/{expires}/{signature}/{id}/{rest}", tag = "playback",
    params(("expires" = String, Path, description = "Unix seconds after which the URL is refused, in canonical form (digits, no sign or leading zero)"),
        ("signature" = String, Path, description = "HMAC of the expiry and the video id"),
        ("id" = String, Path, description = "Video id"),
        ("rest" = String, Path, description = "A file of the video's media, as for the plain route")),
    responses((status = 200, description = "the file"), (status = 206, description = "a range of the file"),
        (status = 304, description = "not modified"),
        (status = 403, body = crate::error::ErrorBody, description = "bad or expired signature"),
        (status = 404, body = crate::error::ErrorBody, description = "no such video or file")))]
pub(crate) async fn signed(
    State(state): State<AppState>,
    Path(path): Path<SignedPath>,
    request: Request,
) -> Response {
    let Some(expires) = canonical_expiry(&path.expires) else {
        return invalid_signature().into_response();
    };
    let caller = Caller::Signed(expires, path.signature.as_str());
    respond(&state, &path.id, path.rest.as_deref(), caller, request).await
}

async fn respond(
    state: &AppState,
    id: &str,
    rest: Option<&str>,
    caller: Caller<'_>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let request = &parts;
    let result = async {
        let (video, access) = authorize(state, id, caller).await?;
        match rest.unwrap_or_default() {
            "master.m3u8" => master(state, &video, &access, request).await,
            "manifest.mpd" => {
                let media = published(&video)?;
                let generation = Generation::parse(&media.generation)
                    .ok_or_else(|| ApiError::not_found("media"))?;
                let path =
                    state
                        .playback
                        .layout
                        .generation_file(&video.id, &generation, MANIFEST_FILE);
                let cache = access.growing_cache_control(media.complete);
                serve_file(state, &path, request, cache, false).await
            }
            rest => {
                let cmcd = Cmcd::from_request(request);
                remember_throughput(state, request, &cmcd).await;
                record_qoe(state, cmcd, &video.id, rest);
                let path = media_file_path(&state.playback.layout, &video.id, rest)?;
                let cache = access.immutable_cache_control();
                serve_file(state, &path, request, cache, true).await
            }
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The file a media path names, refusing anything but plain names under the video's dir
/// (no `..`, no hidden or temporary files, no manifests that are rewritten in place: see
/// [`MediaLayout::served_file`]) and unknown types.
fn media_file_path(layout: &MediaLayout, video: &VideoId, rest: &str) -> ApiResult<PathBuf> {
    let last = rest.rsplit('/').next().unwrap_or_default();
    if content_type(last).is_none() {
        return Err(ApiError::not_found("media file"));
    }
    layout
        .served_file(video, rest)
        .ok_or_else(|| ApiError::not_found("media file"))
}

fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    Some(match ext {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "m4s" => "video/iso.segment",
        "mp4" => "video/mp4",
        "jpg" => "image/jpeg",
        "vtt" => "text/vtt; charset=utf-8",
        _ => return None,
    })
}

fn is_text(content_type: &str) -> bool {
    !content_type.starts_with("video/") && !content_type.starts_with("image/")
}

/// The master playlist, built per request from the published renditions; the rendition that
/// fits the client's measured throughput (CMCD) is listed first so players start there.
async fn master(
    state: &AppState,
    video: &VideoRow,
    access: &Access,
    request: &Parts,
) -> ApiResult<Response> {
    let media = published(video)?;
    let cmcd = Cmcd::from_request(request);
    let (kbps, personal) = match cmcd.throughput_kbps {
        Some(kbps) => (Some(kbps), false),
        None => (remembered_throughput(state, request, &cmcd).await, true),
    };
    let first = kbps
        .and_then(|kbps| manifest::start_rendition(&media.renditions, media.audio.as_ref(), kbps));
    let prefix = format!("{}/", media.generation);
    let body = manifest::master_playlist(&media.renditions, media.audio.as_ref(), &prefix, first);
    // A start rendition chosen from what we remember about this client must not be cached for
    // others; one chosen from the request's own CMCD is part of the URL or headers.
    let cache = if first.is_some() && personal {
        "private, no-store"
    } else {
        access.growing_cache_control(media.complete)
    };
    let mut response = text_response(
        &request.headers,
        &request.method,
        "application/vnd.apple.mpegurl",
        Bytes::from(body),
        cache,
    );
    response.headers_mut().append(
        http::header::VARY,
        HeaderValue::from_static("cmcd-request, cmcd-session"),
    );
    Ok(response)
}

/// CMCD (CTA-5004) keys Spool uses, from the `CMCD` query parameter or the `CMCD-*` headers.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Cmcd {
    /// `mtp`: measured throughput, kbit/s.
    pub(crate) throughput_kbps: Option<u64>,
    /// `bl`: buffer length, ms.
    pub(crate) buffer_ms: Option<u64>,
    /// `sid`: the player session.
    pub(crate) session: Option<String>,
    /// `br`: encoded bitrate of the requested object, kbit/s.
    pub(crate) bitrate_kbps: Option<u64>,
    /// `su`: the player is starting up (or seeking).
    pub(crate) startup: bool,
    /// `bs`: the buffer ran dry before this request.
    pub(crate) buffer_starvation: bool,
    /// `ot`: object type (`v`, `a`, `av`, `i` for init, `m` for manifest, ...).
    pub(crate) object_type: Option<String>,
    /// Whether any CMCD key was present.
    pub(crate) present: bool,
}

/// CMCD's request headers, named once (a lookup by `&str` parses the name every time).
static CMCD_HEADERS: [http::HeaderName; 4] = [
    http::HeaderName::from_static("cmcd-request"),
    http::HeaderName::from_static("cmcd-session"),
    http::HeaderName::from_static("cmcd-object"),
    http::HeaderName::from_static("cmcd-status"),
];

impl Cmcd {
    pub(crate) fn from_request(request: &Parts) -> Self {
        let mut cmcd = Self::default();
        if let Some(query) = request.uri.query() {
            for (key, value) in form_urlencoded::parse(query.as_bytes()) {
                if key == "CMCD" {
                    cmcd.absorb(&value);
                }
            }
        }
        for name in &CMCD_HEADERS {
            if let Some(value) = request.headers.get(name).and_then(|v| v.to_str().ok()) {
                cmcd.absorb(value);
            }
        }
        cmcd
    }

    /// Reads `key=value,key,key="string"` pairs.
    pub(crate) fn absorb(&mut self, data: &str) {
        for pair in split_outside_quotes(data) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            self.present = true;
            match key.trim() {
                "br" => self.bitrate_kbps = value.trim().parse().ok(),
                "su" => self.startup = value.trim() != "false",
                "bs" => self.buffer_starvation = value.trim() != "false",
                "ot" => {
                    let ot = value.trim();
                    if !ot.is_empty() && ot.len() <= 8 && ot.bytes().all(|b| b.is_ascii_lowercase())
                    {
                        self.object_type = Some(ot.to_owned());
                    }
                }
                "mtp" => self.throughput_kbps = value.trim().parse().ok().filter(|&v| v > 0),
                "bl" => self.buffer_ms = value.trim().parse().ok(),
                "sid" => {
                    let sid = value.trim().trim_matches('"');
                    if !sid.is_empty() && sid.len() <= 64 {
                        self.session = Some(sid.to_owned());
                    }
                }
                _ => {}
            }
        }
    }
}

fn split_outside_quotes(data: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in data.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&data[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&data[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// Keys under which a client's throughput is remembered: its CMCD session, and its address.
fn client_keys(request: &Parts, cmcd: &Cmcd) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(sid) = &cmcd.session {
        keys.push(format!("sid:{sid}"));
    }
    if let Some(ConnectInfo(addr)) = request.extensions.get::<ConnectInfo<SocketAddr>>() {
        keys.push(format!("ip:{}", addr.ip()));
    }
    keys
}

/// Segment requests carry the player's measured throughput; remember it for the next master
/// playlist this client asks for (the next video in a feed, a reload).
async fn remember_throughput(state: &AppState, request: &Parts, cmcd: &Cmcd) {
    if let Some(kbps) = cmcd.throughput_kbps {
        for key in client_keys(request, cmcd) {
            state.playback.caches.throughput.insert(key, kbps).await;
        }
    }
}

/// CMCD on a media request becomes a `qoe` tracking event (never delaying the response).
fn record_qoe(state: &AppState, cmcd: Cmcd, video: &VideoId, object: &str) {
    if !cmcd.present {
        return;
    }
    let mut properties = serde_json::Map::new();
    let mut put = |key: &str, value: serde_json::Value| {
        properties.insert(key.to_owned(), value);
    };
    if let Some(v) = cmcd.throughput_kbps {
        put("throughput_kbps", v.into());
    }
    if let Some(v) = cmcd.buffer_ms {
        put("buffer_ms", v.into());
    }
    if let Some(v) = cmcd.bitrate_kbps {
        put("bitrate_kbps", v.into());
    }
    if let Some(v) = &cmcd.object_type {
        put("object_type", v.as_str().into());
    }
    put("startup", cmcd.startup.into());
    put("buffer_starvation", cmcd.buffer_starvation.into());
    put(
        "object",
        object.chars().take(200).collect::<String>().into(),
    );
    let session = cmcd
        .session
        .filter(|s| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(|| "cmcd".to_owned());
    state.tracking.ingestion().record_server_event(
        spool_events::tracking::EventType::Qoe,
        video.as_str(),
        session,
        properties,
    );
}

async fn remembered_throughput(state: &AppState, request: &Parts, cmcd: &Cmcd) -> Option<u64> {
    for key in client_keys(request, cmcd) {
        if let Some(kbps) = state.playback.caches.throughput.get(&key).await {
            return Some(kbps);
        }
    }
    None
}

/// A generated text body (gzip when the client accepts it).
fn text_response(
    headers: &HeaderMap,
    method: &http::Method,
    content_type: &'static str,
    body: Bytes,
    cache_control: &'static str,
) -> Response {
    let (body, gzipped) = maybe_gzip(headers, body);
    let mut response = Response::new(if method == http::Method::HEAD {
        Body::empty()
    } else {
        Body::from(body.clone())
    });
    let h = response.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if gzipped {
        h.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
    }
    h.append(
        http::header::VARY,
        HeaderValue::from_static("accept-encoding"),
    );
    response
}

/// The comma-separated items of every `name` header, untrimmed.
fn list_items(headers: &HeaderMap, name: http::HeaderName) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    list_items(headers, http::header::ACCEPT_ENCODING).any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
        name.eq_ignore_ascii_case("gzip") && !refused
    })
}

fn maybe_gzip(headers: &HeaderMap, body: Bytes) -> (Bytes, bool) {
    if body.len() < 256 || !accepts_gzip(headers) {
        return (body, false);
    }
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if encoder.write_all(&body).is_err() {
        return (body, false);
    }
    match encoder.finish() {
        Ok(zipped) => (Bytes::from(zipped), true),
        Err(_) => (body, false),
    }
}

/// Serves one file with a strong ETag, conditional GET, single byte ranges and HEAD.
/// `immutable` files are kept in the in-memory cache.
async fn serve_file(
    state: &AppState,
    path: &std::path::Path,
    request: &Parts,
    cache_control: &'static str,
    immutable: bool,
) -> ApiResult<Response> {
    let (headers, method) = (&request.headers, &request.method);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let content_type = content_type(name).ok_or_else(|| ApiError::not_found("media file"))?;
    let file = load(state, path, immutable).await?;
    let len = file.bytes.len() as u64;
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response_headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    response_headers.insert(
        http::header::ACCEPT_RANGES,
        HeaderValue::from_static("bytes"),
    );

    // Text files are small and compress well: gzip them (their own ETag per encoding).
    if is_text(content_type) && accepts_gzip(headers) && len >= 256 {
        let etag = HeaderValue::from_str(&format!(
            "{}-gz\"",
            file.etag.to_str().unwrap_or("\"x\"").trim_end_matches('"')
        ))
        .unwrap_or_else(|_| file.etag.clone());
        response_headers.insert(http::header::ETAG, etag.clone());
        response_headers.append(
            http::header::VARY,
            HeaderValue::from_static("accept-encoding"),
        );
        if not_modified(headers, &etag) {
            return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
        }
        let (body, _) = maybe_gzip(headers, file.bytes.clone());
        response_headers.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
        response_headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        let body = if method == http::Method::HEAD {
            Body::empty()
        } else {
            Body::from(body)
        };
        return Ok((StatusCode::OK, response_headers, body).into_response());
    }

    response_headers.insert(http::header::ETAG, file.etag.clone());
    if is_text(content_type) {
        response_headers.append(
            http::header::VARY,
            HeaderValue::from_static("accept-encoding"),
        );
    }
    if not_modified(headers, &file.etag) {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    let range = headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_matches(headers, &file.etag));
    let (status, body) = match range.map(|r| parse_range(r, len)) {
        None | Some(RangeRequest::Ignore) => (StatusCode::OK, file.bytes.clone()),
        Some(RangeRequest::Unsatisfiable) => {
            response_headers.insert(
                http::header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response());
        }
        Some(RangeRequest::Range(start, end)) => {
            response_headers.insert(
                http::header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).expect("ascii"),
            );
            (
                StatusCode::PARTIAL_CONTENT,
                file.bytes.slice(start as usize..=end as usize),
            )
        }
    };
    response_headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let body = if method == http::Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    Ok((status, response_headers, body).into_response())
}

/// The file's bytes and ETag, from the cache when it may be cached.
async fn load(state: &AppState, path: &std::path::Path, immutable: bool) -> ApiResult<CachedFile> {
    if immutable && let Some(hit) = state.playback.caches.files.get(path).await {
        metrics::counter!("spool_media_file_cache_hits_total").increment(1);
        return Ok(hit);
    }
    let meta = match tokio::fs::metadata(path).await {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Err(ApiError::not_found("media file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found("media file"));
        }
        Err(e) => return Err(io_error(path, e)),
    };
    if meta.len() > CACHE_FILE_LIMIT * 4 {
        // Segments and images are far smaller; refuse rather than buffer something huge.
        return Err(ApiError::not_found("media file"));
    }
    let bytes = Bytes::from(tokio::fs::read(path).await.map_err(|e| io_error(path, e))?);
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut hasher = blake3::Hasher::new();
    hasher.update(path.as_os_str().as_encoded_bytes());
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(&mtime.to_le_bytes());
    let etag = format!("\"{}\"", &hasher.finalize().to_hex()[..20]);
    let file = CachedFile {
        bytes,
        etag: HeaderValue::from_str(&etag).expect("hex is a valid header"),
    };
    if immutable && meta.len() <= CACHE_FILE_LIMIT {
        metrics::counter!("spool_media_file_cache_misses_total").increment(1);
        state
            .playback
            .caches
            .files
            .insert(path.to_owned(), file.clone())
            .await;
    }
    Ok(file)
}

fn io_error(path: &std::path::Path, e: std::io::Error) -> ApiError {
    ApiError::internal(format_args!(
        "cannot read media file {}: {e}",
        path.display()
    ))
}

fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    list_items(headers, http::header::IF_NONE_MATCH).any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag.trim_start_matches("W/") == etag.to_str().unwrap_or_default()
    })
}

fn if_range_matches(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    match headers.get(http::header::IF_RANGE) {
        None => true,
        Some(value) => value == etag,
    }
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// Not a single byte range we serve (multiple ranges, another unit, malformed): send it all.
    Ignore,
    /// No byte of the range exists: 416.
    Unsatisfiable,
    /// First and last byte, inclusive.
    Range(u64, u64),
}

pub(crate) fn parse_range(header: &str, len: u64) -> RangeRequest {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Ignore;
    };
    if spec.contains(',') {
        return RangeRequest::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.is_empty(), last.is_empty()) {
        (true, true) => return RangeRequest::Ignore,
        // Suffix: the last N bytes.
        (true, false) => match last.parse::<u64>() {
            Ok(0) => return RangeRequest::Unsatisfiable,
            Ok(n) if len == 0 => {
                let _ = n;
                return RangeRequest::Unsatisfiable;
            }
            Ok(n) => (len.saturating_sub(n), len - 1),
            Err(_) => return RangeRequest::Ignore,
        },
        (false, _) => {
            let Ok(start) = first.parse::<u64>() else {
                return RangeRequest::Ignore;
            };
            let end = if last.is_empty() {
                u64::MAX
            } else {
                match last.parse::<u64>() {
                    Ok(end) if end >= start => end,
                    _ => return RangeRequest::Ignore,
                }
            };
            if start >= len {
                return RangeRequest::Unsatisfiable;
            }
            (start, end.min(len - 1))
        }
    };
    RangeRequest::Range(parsed.0, parsed.1)
}

/// Media serving's routes with their OpenAPI entries.
pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .merge(crate::catch_all(utoipa_axum::routes!(plain)))
        .merge(crate::catch_all(utoipa_axum::routes!(signed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_expiries_are_accepted() {
        for (text, expect) in [
            ("4102444800", Some(4_102_444_800)),
            ("0", Some(0)),
            ("04102444800", None),
            ("+4102444800", None),
            ("-1", None),
            (" 4102444800", None),
            ("4102444800 ", None),
            ("", None),
            ("00", None),
            ("4.1e9", None),
            ("99999999999999999999", None),
        ] {
            assert_eq!(canonical_expiry(text), expect, "{text:?}");
        }
    }

    #[test]
    fn ranges() {
        let check = |header: &str, len: u64, expect: RangeRequest| {
            assert_eq!(parse_range(header, len), expect, "{header} of {len}");
        };
        use RangeRequest::*;
        check("bytes=0-99", 1000, Range(0, 99));
        check("bytes=900-", 1000, Range(900, 999));
        check("bytes=-100", 1000, Range(900, 999));
        check("bytes=-5000", 1000, Range(0, 999));
        check("bytes=990-2000", 1000, Range(990, 999));
        check("bytes=1000-", 1000, Unsatisfiable);
        check("bytes=5000-6000", 1000, Unsatisfiable);
        check("bytes=-0", 1000, Unsatisfiable);
        check("bytes=-10", 0, Unsatisfiable);
        check("bytes=0-1,5-6", 1000, Ignore);
        check("items=0-1", 1000, Ignore);
        check("bytes=5-1", 1000, Ignore);
        check("bytes=abc", 1000, Ignore);
        check("bytes=-", 1000, Ignore);
    }

    #[test]
    fn cmcd_keys_from_query_and_headers() {
        let check = |data: &str, mtp: Option<u64>, bl: Option<u64>, sid: Option<&str>| {
            let mut cmcd = Cmcd::default();
            cmcd.absorb(data);
            assert_eq!(
                (
                    cmcd.throughput_kbps,
                    cmcd.buffer_ms,
                    cmcd.session.as_deref()
                ),
                (mtp, bl, sid),
                "{data}"
            );
        };
        check(
            "bl=21300,br=3200,mtp=1500,ot=v",
            Some(1500),
            Some(21300),
            None,
        );
        check(
            "sid=\"6e2f,b0c\",mtp=25400",
            Some(25400),
            None,
            Some("6e2f,b0c"),
        );
        check("bs,su", None, None, None);
        check("mtp=abc", None, None, None);
        check("mtp=0", None, None, None);
    }

    #[test]
    fn media_paths_stay_under_the_video() {
        let layout = MediaLayout::new(std::path::Path::new("/data"));
        let video: VideoId = "abcdefghijk".parse().unwrap();
        let ok = |rest: &str| media_file_path(&layout, &video, rest).is_ok();
        assert!(ok("g1/720p/seg_1.m4s"));
        assert!(ok("g1/720p/init.mp4"));
        assert!(ok("g1/720p/index.m3u8"));
        assert!(ok("g1/storyboard/sb_1.jpg"));
        assert!(ok("covers/c1/1280.jpg"));
        for bad in [
            "../x/seg_1.m4s",
            "g1/../../etc/passwd",
            "g1/720p/.hidden.m4s",
            "g1/720p/seg_1.m4s.tmp",
            "g1/manifest.mpd",
            "g1/720p/source",
            "g1//seg_1.m4s",
            "a/b/c/d/e.m4s",
            "g1/720p/seg 1.m4s",
        ] {
            assert!(!ok(bad), "{bad} must be refused");
        }
    }
}
