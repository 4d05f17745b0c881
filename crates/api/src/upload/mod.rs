//! tus 1.0.0 endpoints at `/api/v1/uploads` plus Spool's lookup-by-hash and proof endpoints.
//! The protocol logic lives in `spool-upload`; this module only maps headers and statuses.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use spool_model::{ContentHash, UploadId};
use spool_upload::{UploadInfo, parse_checksum};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::{AppState, base_url, rfc3339};

/// `Tus-Resumable`, as the OpenAPI document describes the request header (never built: the
/// header is checked by [`tus_resumable`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub enum TusVersion {
    /// tus 1.0.0.
    #[schema(rename = "1.0.0")]
    V1_0_0,
}

/// The only protocol version we speak.
pub const TUS_VERSION: &str = "1.0.0";
/// Extensions we implement.
pub const TUS_EXTENSIONS: &str =
    "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> ApiResult<Option<&'a str>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::bad_request(format!("{name} is not ASCII")))
        })
        .transpose()
}

/// Parses a tus integer header: decimal digits only, at most i64::MAX.
fn number(headers: &HeaderMap, name: &str) -> ApiResult<Option<u64>> {
    let Some(value) = header(headers, name)? else {
        return Ok(None);
    };
    let valid = !value.is_empty() && value.len() <= 19 && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u64>() {
        Ok(n) if valid && n <= i64::MAX as u64 => Ok(Some(n)),
        _ => Err(ApiError::bad_request(format!(
            "{name} must be a non-negative integer, got `{}`",
            value.chars().take(30).collect::<String>()
        ))),
    }
}

fn parse_id(id: &str) -> ApiResult<UploadId> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "upload_not_found",
            "upload not found",
        )
    })
}

fn is_offset_stream(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim() == OFFSET_OCTET_STREAM)
}

fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    length.is_some_and(|l| l > 0) || headers.contains_key(http::header::TRANSFER_ENCODING)
}

fn set(headers: &mut HeaderMap, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

fn expires(info: &UploadInfo) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(info.expires_at.max(0) as u64);
    httpdate::fmt_http_date(at)
}

/// Offset and expiry headers shared by POST, HEAD and PATCH answers.
fn progress_headers(headers: &mut HeaderMap, info: &UploadInfo) {
    set(headers, "upload-offset", info.offset);
    if !info.complete {
        set(headers, "upload-expires", expires(info));
    }
    set(headers, "spool-video-id", &info.video_id);
}

/// Adds `Tus-Resumable` to every answer and refuses tus requests (POST, HEAD, PATCH,
/// DELETE) of another protocol version with 412. OPTIONS is exempt, as the spec says; so are
/// Spool's own GET and proof routes, and methods no route takes (they answer 405).
pub async fn tus_resumable(request: Request, next: Next) -> Response {
    // POST creates at the collection; HEAD, PATCH and DELETE act on an upload's own URL.
    let path = request.uri().path();
    let collection = path.trim_end_matches('/') == "/api/v1/uploads";
    let tus_request = match *request.method() {
        http::Method::POST => collection,
        http::Method::HEAD | http::Method::PATCH | http::Method::DELETE => {
            !collection && !path.ends_with("/proof")
        }
        _ => false,
    };
    let exempt = !tus_request;
    let version = request
        .headers()
        .get("tus-resumable")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut response = if !exempt && version.as_deref() != Some(TUS_VERSION) {
        let mut r = ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "unsupported_tus_version",
            format!(
                "Tus-Resumable must be {TUS_VERSION}, got {}",
                version.as_deref().unwrap_or("nothing")
            ),
        )
        .into_response();
        set(r.headers_mut(), "tus-version", TUS_VERSION);
        r
    } else {
        next.run(request).await
    };
    set(response.headers_mut(), "tus-resumable", TUS_VERSION);
    response
}

/// tus discovery. 200 as tusd answers (204 is legal, but some proxies and clients mishandle a
/// 204 answer to OPTIONS).
#[utoipa::path(options, path = "/api/v1/uploads", tag = "uploads",
    responses((status = 200, description = "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm headers; empty body")))]
pub async fn options(State(state): State<AppState>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    set(headers, "tus-version", TUS_VERSION);
    set(headers, "tus-extension", TUS_EXTENSIONS);
    set(
        headers,
        "tus-max-size",
        state.uploads.config().max_size_bytes,
    );
    set(headers, "tus-checksum-algorithm", "sha1,sha256");
    response
}

/// tus discovery on an upload's own URL (some clients ask there).
#[utoipa::path(options, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id")),
    responses((status = 200, description = "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm headers; empty body")))]
pub async fn options_upload(state: State<AppState>) -> Response {
    options(state).await
}

/// tus creation (with optional first chunk). See docs/upload-protocol.md.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads",
    params(
        ("Tus-Resumable" = TusVersion, Header, description = "The tus version: 1.0.0 (else 412)"),
        ("Upload-Length" = Option<u64>, Header, description = "Total size in bytes"),
        ("Upload-Defer-Length" = Option<u8>, Header, description = "1 when the size is not known yet"),
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: filename, title, blake3, visibility"),
    ),
    responses(
        (status = 201, description = "Created; Location, Upload-Offset, Upload-Expires, Spool-Video-Id; Spool-Proof-Nonce and Spool-Proof-Ranges when a proof of possession may replace the bytes"),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 412, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let length = number(&headers, "upload-length")?;
    let deferred = header(&headers, "upload-defer-length")?;
    match (length, deferred) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "send either Upload-Length or Upload-Defer-Length, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "Upload-Length or Upload-Defer-Length: 1 is required",
            ));
        }
        (None, Some(v)) if v != "1" => {
            return Err(ApiError::bad_request("Upload-Defer-Length must be 1"));
        }
        _ => {}
    }
    let with_upload = has_body(&headers);
    if with_upload && !is_offset_stream(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("a creation body must have Content-Type: {OFFSET_OCTET_STREAM}"),
        ));
    }
    let checksum = header(&headers, "upload-checksum")?
        .map(parse_checksum)
        .transpose()?;
    let metadata = header(&headers, "upload-metadata")?.unwrap_or_default();
    let created = state.uploads.create(&user, length, metadata).await?;
    let mut info = created.upload.clone();
    if with_upload && !info.complete {
        let stream = body.into_data_stream();
        match state
            .uploads
            .append(
                &user,
                &info.id,
                0,
                None,
                checksum,
                stream,
                state.stop.clone(),
            )
            .await
        {
            Ok(after) => info = after,
            // The upload exists; the client learns the acknowledged offset and resumes.
            Err(e) => {
                tracing::info!(upload = %info.id, "creation-with-upload body not taken: {e}");
                info = state.uploads.info(&user, &info.id).await?;
            }
        }
    }
    let mut response = StatusCode::CREATED.into_response();
    let out = response.headers_mut();
    set(
        out,
        "location",
        format!("{}/api/v1/uploads/{}", base_url(&state, &headers), info.id),
    );
    progress_headers(out, &info);
    if let Some(challenge) = created.challenge.filter(|_| !info.complete) {
        set(out, "spool-proof-nonce", &challenge.nonce);
        set(out, "spool-proof-ranges", challenge.ranges_header());
    }
    Ok(response)
}

/// tus offset query.
#[utoipa::path(head, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = TusVersion, Header, description = "The tus version: 1.0.0 (else 412)")),
    responses((status = 200, description = "Upload-Offset, Upload-Length, Upload-Metadata, Cache-Control: no-store"),
        (status = 404), (status = 410), (status = 403)),
    security(("bearer" = [])))]
pub async fn head(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let info = state.uploads.info(&user, &parse_id(&id)?).await?;
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    progress_headers(out, &info);
    match info.length {
        Some(length) => set(out, "upload-length", length),
        None => set(out, "upload-defer-length", 1),
    }
    if !info.metadata.is_empty() {
        set(out, "upload-metadata", &info.metadata);
    }
    set(out, "cache-control", "no-store");
    Ok(response)
}

/// tus append.
#[utoipa::path(patch, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = TusVersion, Header, description = "The tus version: 1.0.0 (else 412)"),
        ("Upload-Offset" = u64, Header, description = "Must equal the server's offset"),
        ("Upload-Checksum" = Option<String>, Header, description = "sha1 or sha256, base64")),
    request_body(content = [u8], content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "New Upload-Offset"),
        (status = 409, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 423, body = crate::error::ErrorBody), (status = 460, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 404), (status = 410)),
    security(("bearer" = [])))]
pub async fn patch(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    if !is_offset_stream(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("PATCH requires Content-Type: {OFFSET_OCTET_STREAM}"),
        ));
    }
    let offset = number(&headers, "upload-offset")?
        .ok_or_else(|| ApiError::bad_request("Upload-Offset is required"))?;
    let length = number(&headers, "upload-length")?;
    let checksum = header(&headers, "upload-checksum")?
        .map(parse_checksum)
        .transpose()?;
    let info = state
        .uploads
        .append(
            &user,
            &id,
            offset,
            length,
            checksum,
            body.into_data_stream(),
            state.stop.clone(),
        )
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    progress_headers(response.headers_mut(), &info);
    Ok(response)
}

/// tus termination.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = TusVersion, Header, description = "The tus version: 1.0.0 (else 412)")),
    responses((status = 204), (status = 404), (status = 410), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn terminate(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.uploads.terminate(&user, &parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of the lookup by content hash.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HashQuery {
    /// BLAKE3 of the whole file, 64 hex digits.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    blake3: String,
}

/// One unfinished upload.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UploadSummary {
    id: String,
    url: String,
    video_id: String,
    offset: u64,
    length: Option<u64>,
    expires_at: String,
}

/// The lookup's answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UploadList {
    uploads: Vec<UploadSummary>,
}

/// Finds the caller's unfinished uploads by announced content hash (resume without local state).
#[utoipa::path(get, path = "/api/v1/uploads", tag = "uploads", params(HashQuery),
    responses((status = 200, body = UploadList), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn find(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<HashQuery>,
) -> ApiResult<Json<UploadList>> {
    let hash: ContentHash = query
        .blake3
        .to_ascii_lowercase()
        .parse()
        .map_err(|e: spool_model::ParseError| ApiError::bad_request(e.to_string()))?;
    let base = base_url(&state, &headers);
    let uploads = state
        .uploads
        .find_by_hash(&user, &hash)
        .await?
        .into_iter()
        .map(|u| UploadSummary {
            url: format!("{base}/api/v1/uploads/{}", u.id),
            id: u.id.to_string(),
            video_id: u.video_id.to_string(),
            offset: u.offset,
            length: u.length,
            expires_at: rfc3339(u.expires_at),
        })
        .collect();
    Ok(Json(UploadList { uploads }))
}

/// Most proofs one answer may carry (the server never challenges more ranges); the schema's
/// `maxItems` on `ProofRequest::proofs` says the same.
const MAX_PROOFS: usize = 16;

/// Answer to a proof-of-possession challenge.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ProofRequest {
    /// `blake3::keyed_hash(nonce, range)` in hex, one per challenged range, in order.
    #[schema(max_items = 16)]
    proofs: Vec<String>,
}

/// Result of a proof.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProofResult {
    complete: bool,
    offset: u64,
}

/// Completes an upload without its bytes by proving possession of content the server holds.
#[utoipa::path(post, path = "/api/v1/uploads/{id}/proof", tag = "uploads",
    params(("id" = String, Path, description = "Upload id")),
    request_body = ProofRequest,
    responses((status = 200, body = ProofResult), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn prove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ProofRequest>,
) -> ApiResult<Response> {
    if request.proofs.len() > MAX_PROOFS {
        return Err(ApiError::bad_request("too many proofs"));
    }
    let info = state
        .uploads
        .prove(&user, &parse_id(&id)?, &request.proofs)
        .await?;
    let mut response = Json(ProofResult {
        complete: info.complete,
        offset: info.offset,
    })
    .into_response();
    progress_headers(response.headers_mut(), &info);
    Ok(response)
}

/// The tus endpoint and Spool's upload extensions, with their OpenAPI entries.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, options, find))
        .routes(routes!(head, patch, terminate, options_upload))
        .routes(routes!(prove))
        .layer(axum::middleware::from_fn(tus_resumable))
}
