//! The one place errors become HTTP: status + `{ "error": { "code", "message" } }`.
//!
//! [`CATALOGUE`] lists every error code the API answers with, its status and what it means;
//! `docs/errors.md` documents the same list (a test keeps the two equal). Domain errors carry
//! only a code: their status comes from the catalogue, here, and nowhere else. Details of 5xx
//! errors go to the log ([`ApiError::internal`]), never to the client.
//!
//! Answers that axum builds itself (extractor rejections, the body limit, 405, a 416 without a
//! body) are wrapped into the envelope by [`envelope`], so no 4xx/5xx ever leaves without it.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spool_metadata::MetadataError;
use spool_upload::UploadError;

/// One error code of the API.
#[derive(Clone, Copy, Debug)]
pub struct ErrorCode {
    /// The stable machine-readable code, `error.code` in the body.
    pub code: &'static str,
    /// The HTTP status it is answered with.
    pub status: u16,
    /// What it means.
    pub meaning: &'static str,
}

const fn entry(code: &'static str, status: u16, meaning: &'static str) -> ErrorCode {
    ErrorCode {
        code,
        status,
        meaning,
    }
}

/// Every error code the API answers with. `docs/errors.md` documents exactly these.
pub const CATALOGUE: &[ErrorCode] = &[
    // Requests the router or an extractor refuses, on any route.
    entry(
        "bad_request",
        400,
        "a header, parameter or metadata value is malformed",
    ),
    entry(
        "invalid_query",
        400,
        "a query parameter is missing or of the wrong type",
    ),
    entry("invalid_path", 400, "a path parameter is of the wrong type"),
    entry(
        "invalid_json",
        400,
        "the body is not JSON of the expected shape",
    ),
    entry(
        "unauthorized",
        401,
        "no, or an invalid, API token or session",
    ),
    entry(
        "csrf_failed",
        403,
        "a cookie-authenticated change without the session's CSRF token, or a sign-in from another origin",
    ),
    entry(
        "not_found",
        404,
        "no such route, video, file or resource (or it is private)",
    ),
    entry(
        "method_not_allowed",
        405,
        "the route exists but not with this method",
    ),
    entry(
        "payload_too_large",
        413,
        "the body is larger than the route accepts",
    ),
    entry(
        "unsupported_media_type",
        415,
        "the body's Content-Type is not the one the route takes",
    ),
    entry(
        "invalid_input",
        422,
        "well-formed JSON whose values are refused (types, lengths, limits)",
    ),
    entry(
        "internal_error",
        500,
        "a bug or a failure inside the server; the details are in its log",
    ),
    // Store and disk failures (always 5xx; the cause is logged).
    entry("database_error", 500, "the metadata database failed"),
    entry(
        "corrupt_row",
        500,
        "a database row holds a value the server does not understand",
    ),
    entry(
        "unsupported_database",
        500,
        "the configured database URL names an unsupported engine",
    ),
    entry(
        "storage_error",
        500,
        "reading or writing the blob store failed",
    ),
    entry(
        "store_unreachable",
        503,
        "the metadata store does not answer (`/healthz`)",
    ),
    // Ownership and roles.
    entry(
        "not_owner",
        403,
        "the upload or video belongs to another user",
    ),
    entry("not_admin", 403, "only admins may do this"),
    entry("already_exists", 409, "the name is taken"),
    // Uploads (tus).
    entry(
        "unsupported_tus_version",
        412,
        "no or another `Tus-Resumable` than 1.0.0",
    ),
    entry(
        "upload_not_found",
        404,
        "unknown, malformed or ended upload id",
    ),
    entry(
        "upload_expired",
        410,
        "the upload expired and its bytes were reclaimed",
    ),
    entry(
        "offset_mismatch",
        409,
        "`Upload-Offset` differs from the server's (the answer carries the current `Upload-Offset`)",
    ),
    entry("upload_complete", 409, "PATCH after the upload completed"),
    entry(
        "upload_locked",
        423,
        "another request is writing the same upload",
    ),
    entry("upload_too_large", 413, "the length is over `Tus-Max-Size`"),
    entry(
        "past_upload_length",
        413,
        "the body goes past `Upload-Length`",
    ),
    entry("quota_exceeded", 413, "over the user's storage quota"),
    entry(
        "checksum_mismatch",
        460,
        "`Upload-Checksum` does not match the body (or its digest has the wrong length); the chunk was discarded",
    ),
    entry(
        "blake3_mismatch",
        460,
        "the whole file's BLAKE3 differs from the announced one; the last chunk was discarded",
    ),
    entry(
        "unsupported_checksum",
        400,
        "a checksum algorithm other than sha1 or sha256",
    ),
    entry(
        "proof_rejected",
        403,
        "a wrong proof of possession, or a spent challenge",
    ),
    entry(
        "interrupted",
        400,
        "the body ended early or the server is stopping; what arrived is kept",
    ),
    // Videos, covers, media.
    entry(
        "invalid_cursor",
        400,
        "`cursor` is not one this server handed out",
    ),
    entry(
        "not_retryable",
        409,
        "only a video whose processing failed can be retried",
    ),
    entry(
        "image_too_large",
        413,
        "the cover image is too large in bytes or pixels",
    ),
    entry(
        "unsupported_image",
        415,
        "the cover is not JPEG, PNG or WebP",
    ),
    entry("invalid_media", 422, "the media does not pass validation"),
    entry(
        "tool_unavailable",
        500,
        "ffmpeg or ffprobe could not be started",
    ),
    entry("tool_timeout", 500, "ffmpeg or ffprobe took too long"),
    entry("tool_failed", 500, "ffmpeg or ffprobe failed"),
    entry("media_io", 500, "reading or writing media files failed"),
    // Playback.
    entry(
        "invalid_signature",
        403,
        "a signed media URL that is invalid, expired or not in canonical form",
    ),
    entry(
        "range_not_satisfiable",
        416,
        "no byte of the requested range exists",
    ),
    // Accounts.
    entry(
        "wrong_credentials",
        401,
        "wrong user name or password (the same for an unknown user)",
    ),
    entry(
        "weak_password",
        422,
        "the password is too short or too guessable",
    ),
    entry(
        "too_many_attempts",
        429,
        "too many failed sign-ins from this address; see `Retry-After`",
    ),
    // Interaction.
    entry(
        "text_filtered",
        422,
        "the text contains a word the admins filter",
    ),
    entry(
        "chat_rate_limited",
        429,
        "too many danmaku or questions too fast; the sender is muted for a moment, see `Retry-After`",
    ),
    entry(
        "room_busy",
        429,
        "the room or video takes no more messages this second; see `Retry-After`",
    ),
    entry("muted", 403, "a moderator muted the sender here"),
    entry(
        "not_moderator",
        403,
        "only the owner, an admin or a moderator of the channel may do this",
    ),
    entry("not_host", 403, "only the room's host may do this"),
    entry(
        "room_not_live",
        409,
        "the live room is not on air (live danmaku need a broadcast)",
    ),
    // Events.
    entry(
        "too_many_streams",
        429,
        "too many open progress streams from this client; close one first",
    ),
    entry(
        "rate_limited",
        429,
        "too many events from this address; see `Retry-After`",
    ),
    entry(
        "batch_too_large",
        413,
        "a tracking batch over 500 KB or 1000 events",
    ),
    entry("event_too_large", 413, "one tracking event over 32 KB"),
    entry("empty_batch", 400, "a tracking batch without events"),
    entry(
        "invalid_event",
        400,
        "an event of the batch is invalid (the message names it)",
    ),
    entry(
        "event_log_unavailable",
        503,
        "the event log cannot store events right now; resend later",
    ),
    // Discovery.
    entry(
        "search_unavailable",
        503,
        "the search index cannot answer right now; try again",
    ),
    // Live.
    entry(
        "live_wrong_key",
        403,
        "no live room has this stream key (RTMP publish)",
    ),
    entry(
        "live_already_publishing",
        409,
        "the live room already has a publisher",
    ),
    entry(
        "live_unsupported_codec",
        422,
        "the publisher sent a codec other than H.264 video with AAC sound",
    ),
    entry(
        "live_bad_stream",
        422,
        "the publisher's stream is malformed",
    ),
    entry(
        "live_recording_failed",
        500,
        "a live broadcast's recording could not be written or finished",
    ),
    entry(
        "live_bad_playlist_request",
        400,
        "`_HLS_msn` beyond the live edge, or `_HLS_part` without `_HLS_msn`",
    ),
    // Gifts.
    entry(
        "idempotency_key_required",
        400,
        "no, or a malformed, `Idempotency-Key` header (1 to 255 visible ASCII characters, no spaces)",
    ),
    entry(
        "idempotency_key_reused",
        422,
        "the `Idempotency-Key` was already used for a different request; nothing was written",
    ),
    entry(
        "insufficient_funds",
        409,
        "the wallet holds less than the gifts cost; nothing was written",
    ),
    entry("unknown_gift", 422, "no gift with this id in the catalogue"),
    entry(
        "gift_to_self",
        422,
        "a gift to the creator of one's own video or room",
    ),
    entry("invalid_count", 422, "a gift count outside 1 to 9999"),
    entry(
        "invalid_amount",
        422,
        "a grant of zero, negative or more than 1000000000000 coins",
    ),
    // Comments and follows.
    entry(
        "not_comment_author",
        403,
        "only the comment's author, the video's owner or an admin may delete it",
    ),
    entry(
        "comment_deleted",
        409,
        "the comment was deleted: it cannot be replied to, pinned or liked",
    ),
    entry(
        "comment_is_reply",
        409,
        "only a top-level comment can be pinned",
    ),
    entry(
        "cannot_follow_self",
        409,
        "a user cannot follow their own channel",
    ),
    // Moderation.
    entry(
        "content_blocked",
        451,
        "the file's BLAKE3 digest is on a blocklist; nothing of the upload was kept",
    ),
    entry(
        "invalid_hash_list",
        422,
        "a hash list file with a bad line (named) or no entry; nothing was imported",
    ),
    entry(
        "invalid_hash",
        422,
        "a hash that is not 64 hex digits, or a distance outside 0-31",
    ),
    entry("list_not_found", 404, "no hash list of this name"),
    entry(
        "list_kind_mismatch",
        409,
        "an import into a list that holds the other kind of hash",
    ),
    entry(
        "not_held",
        409,
        "a review decision on a video that is not held",
    ),
    // Web app and operations.
    entry("web_not_built", 503, "the web app's files are not built"),
];

/// The catalogue entry of `code`.
pub fn lookup(code: &str) -> Option<&'static ErrorCode> {
    CATALOGUE.iter().find(|e| e.code == code)
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<std::time::Duration>,
    offset: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
/// Body of every error answer.
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
/// The error itself.
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `offset_mismatch` (see docs/errors.md).
    code: &'static str,
    /// Human-readable explanation.
    message: String,
}

impl ApiError {
    /// An error with an explicit status, code and message. The pair must be the catalogue's.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            lookup(code).is_some_and(|e| e.status == status.as_u16()),
            "error code `{code}` with status {status} is not in the catalogue (crates/api/src/error.rs)"
        );
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            offset: None,
        }
    }

    /// An error of a catalogued `code`, with the catalogue's status. An unknown code is a bug:
    /// it answers 500 (logged).
    pub fn coded(code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        match lookup(code).and_then(|e| StatusCode::from_u16(e.status).ok()) {
            Some(status) if status.is_server_error() => Self::internal_coded(code, &message),
            Some(status) => Self::new(status, code, message),
            None => Self::internal(format!("uncatalogued error code `{code}`: {message}")),
        }
    }

    /// 500: logs `cause` and answers only that the details are in the server log.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::internal_coded("internal_error", &cause)
    }

    fn internal_coded(code: &'static str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(code, "internal error: {cause}");
        let status = lookup(code)
            .and_then(|e| StatusCode::from_u16(e.status).ok())
            .filter(StatusCode::is_server_error)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            code,
            message: "internal error; the details are in the server log".into(),
            retry_after: None,
            offset: None,
        }
    }

    /// Adds a `Retry-After` header (whole seconds, at least 1).
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Its code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Its message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How long the client should wait, for refusals that say.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    /// 401: no or a bad token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in, or send a valid `Authorization: Bearer TOKEN` header",
        )
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 for a video or upload that does not exist (or may not be seen).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        let offset = match &e {
            UploadError::OffsetMismatch { actual, .. } => Some(*actual),
            _ => None,
        };
        let mut error = Self::coded(e.code(), e.to_string());
        if error.status.is_server_error() {
            // `coded` logged the generic message; log the cause too.
            tracing::error!(code = e.code(), "upload failed: {e}");
        }
        error.offset = offset;
        error
    }
}

impl From<MetadataError> for ApiError {
    fn from(e: MetadataError) -> Self {
        if lookup(e.code()).is_some_and(|c| c.status < 500) {
            Self::coded(e.code(), e.to_string())
        } else {
            Self::internal_coded(e.code(), &e)
        }
    }
}

impl From<spool_media::MediaError> for ApiError {
    fn from(e: spool_media::MediaError) -> Self {
        if lookup(e.code()).is_some_and(|c| c.status < 500) {
            Self::coded(e.code(), e.to_string())
        } else {
            Self::internal_coded(e.code(), &e)
        }
    }
}

impl From<spool_catalog::CatalogError> for ApiError {
    fn from(e: spool_catalog::CatalogError) -> Self {
        use spool_catalog::CatalogError;
        let e = match e {
            CatalogError::Metadata(e) => return e.into(),
            other => other,
        };
        match &e {
            CatalogError::NotFound(what) => Self::not_found(what),
            CatalogError::Metadata(_) | CatalogError::Io(_) => Self::internal(&e),
            _ => Self::coded(e.code(), e.to_string()),
        }
    }
}

impl From<spool_live::LiveError> for ApiError {
    fn from(e: spool_live::LiveError) -> Self {
        use spool_live::LiveError;
        match e {
            LiveError::Metadata(e) => e.into(),
            LiveError::NotFound(what) => Self::not_found(what),
            other => Self::coded(other.code(), other.to_string()),
        }
    }
}

impl From<spool_interact::InteractError> for ApiError {
    fn from(e: spool_interact::InteractError) -> Self {
        use spool_interact::InteractError;
        let retry = e.retry_after_ms();
        let error = match e {
            InteractError::Metadata(e) => return e.into(),
            InteractError::Catalog(e) => return e.into(),
            InteractError::NotFound(what) => Self::not_found(what),
            other => Self::coded(other.code(), other.to_string()),
        };
        match retry {
            Some(ms) if error.status == StatusCode::TOO_MANY_REQUESTS => {
                error.with_retry_after(std::time::Duration::from_millis(ms))
            }
            _ => error,
        }
    }
}

impl From<spool_gifts::GiftError> for ApiError {
    fn from(e: spool_gifts::GiftError) -> Self {
        use spool_gifts::GiftError;
        match e {
            GiftError::Metadata(e) => e.into(),
            GiftError::Catalog(e) => e.into(),
            GiftError::Live(e) => e.into(),
            GiftError::NotFound(what) => Self::not_found(what),
            other => Self::coded(other.code(), other.to_string()),
        }
    }
}

impl From<spool_moderation::ModerationError> for ApiError {
    fn from(e: spool_moderation::ModerationError) -> Self {
        use spool_moderation::ModerationError;
        match e {
            ModerationError::Metadata(e) => e.into(),
            ModerationError::Catalog(e) => e.into(),
            ModerationError::NotFound(what) => Self::not_found(what),
            other => Self::coded(other.code(), other.to_string()),
        }
    }
}

impl From<spool_interact::CommentError> for ApiError {
    fn from(e: spool_interact::CommentError) -> Self {
        use spool_interact::CommentError;
        match e {
            CommentError::Metadata(e) => e.into(),
            CommentError::Catalog(e) => e.into(),
            CommentError::NotFound(what) => Self::not_found(what),
            other => Self::coded(other.code(), other.to_string()),
        }
    }
}

impl From<spool_interact::FollowError> for ApiError {
    fn from(e: spool_interact::FollowError) -> Self {
        use spool_interact::FollowError;
        match e {
            FollowError::Metadata(e) => e.into(),
            FollowError::Catalog(e) => e.into(),
            FollowError::NotFound => Self::not_found("channel"),
            other => Self::coded(other.code(), other.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        match e {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must have Content-Type: application/json",
            ),
            JsonRejection::JsonDataError(e) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                e.body_text(),
            ),
            JsonRejection::BytesRejection(e) => from_status(e.status(), e.body_text()),
            other => Self::new(StatusCode::BAD_REQUEST, "invalid_json", other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        match e.status() {
            StatusCode::BAD_REQUEST => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text())
            }
            _ => Self::internal(e.body_text()),
        }
    }
}

/// `Json<T>` whose rejections answer in the envelope.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// An optional non-negative integer field that also takes `5.0`: JSON Schema's `integer` counts
/// any number with no fraction, and clients (JavaScript among them) may send one that way.
pub(crate) fn optional_whole_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    let Some(n) = <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
        .and_then(|v| u32::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!("{n} is not a whole number 0 to 4294967295"))
        })
}

/// `Query<T>` whose rejections answer in the envelope.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The envelope for an answer axum built itself, chosen by its status.
fn from_status(status: StatusCode, message: String) -> ApiError {
    let code = match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        416 => "range_not_satisfiable",
        422 => "invalid_input",
        _ if status.is_server_error() => return ApiError::internal(message),
        _ => "bad_request",
    };
    let mut error = ApiError::coded(code, message);
    if error.status.is_client_error() {
        // Keep the status axum chose (e.g. 408 or 431 become `bad_request` with their own status).
        error.status = status;
    }
    error
}

/// Largest non-envelope error body read back to become the envelope's message.
const MAX_WRAPPED_BODY: usize = 4096;

/// Wraps every 4xx/5xx answer that is not JSON (nor an HTML page for a browser) into the
/// envelope: axum's own rejections, the body limit, 405, a bare 416.
pub async fn envelope(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_WRAPPED_BODY).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        t => t.to_owned(),
    };
    let mut wrapped = from_status(status, message).into_response();
    // Keep what the answer said besides its body (Allow, Content-Range, Retry-After, tus headers).
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_TYPE && name != http::header::CONTENT_LENGTH {
            wrapped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    wrapped
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(wait) = self.retry_after {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(http::header::RETRY_AFTER, seconds.max(1).into());
        }
        if let Some(offset) = self.offset {
            headers.insert("upload-offset", HeaderValue::from(offset));
        }
        response
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_taken_with_or_without_a_fraction_part_fractions_refused() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "optional_whole_number")]
            n: Option<u32>,
        }
        let parse = |json: &str| serde_json::from_str::<Body>(json).map(|b| b.n).ok();
        for (json, want) in [
            (r#"{}"#, Some(None)),
            (r#"{"n": null}"#, Some(None)),
            (r#"{"n": 5}"#, Some(Some(5))),
            (r#"{"n": 5.0}"#, Some(Some(5))),
            (r#"{"n": 0}"#, Some(Some(0))),
            (r#"{"n": 5.5}"#, None),
            (r#"{"n": -1}"#, None),
            (r#"{"n": 1e20}"#, None),
            (r#"{"n": "5"}"#, None),
        ] {
            assert_eq!(parse(json), want, "{json}");
        }
    }

    #[test]
    fn catalogue_codes_are_unique_snake_case_with_error_statuses() {
        let mut seen = std::collections::HashSet::new();
        for e in CATALOGUE {
            assert!(seen.insert(e.code), "{} twice", e.code);
            assert!(
                e.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                e.code
            );
            assert!((400..600).contains(&e.status), "{}", e.code);
        }
    }

    #[test]
    fn domain_errors_get_the_catalogue_status() {
        let check = |e: UploadError, status: u16| {
            let code = e.code();
            let api = ApiError::from(e);
            assert_eq!(api.status.as_u16(), status, "{code}");
        };
        check(UploadError::NotFound, 404);
        check(UploadError::Expired, 410);
        check(
            UploadError::OffsetMismatch {
                given: 1,
                actual: 2,
            },
            409,
        );
        check(UploadError::Locked, 423);
        check(UploadError::ChecksumMismatch, 460);
        check(UploadError::ProofRejected, 403);
        check(UploadError::Internal("x".into()), 500);
    }
}
