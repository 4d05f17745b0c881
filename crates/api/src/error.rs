//! The one place errors become HTTP: status + `{ "error": { "code", "message" } }`.
//! Details of 5xx errors go to the log, never to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spool_metadata::MetadataError;
use spool_upload::UploadError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<std::time::Duration>,
}

#[derive(Serialize, utoipa::ToSchema)]
/// Body of every error answer.
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
/// The error itself.
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `offset_mismatch`.
    code: &'static str,
    /// Human-readable explanation.
    message: String,
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header (whole seconds, at least 1).
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
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

    fn internal(code: &'static str, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(code, "internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            "internal error; the details are in the server log",
        )
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            return Self::internal(e.code(), &e);
        }
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<MetadataError> for ApiError {
    fn from(e: MetadataError) -> Self {
        match e {
            // A well-formed request whose values the store refuses (a title too long, …).
            MetadataError::InvalidInput(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
            }
            MetadataError::AlreadyExists(_) => {
                Self::new(StatusCode::CONFLICT, e.code(), e.to_string())
            }
            MetadataError::QuotaExceeded { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, e.code(), e.to_string())
            }
            other => Self::internal(other.code(), &other),
        }
    }
}

impl From<spool_media::MediaError> for ApiError {
    fn from(e: spool_media::MediaError) -> Self {
        use spool_media::MediaError;
        let status = match &e {
            MediaError::ImageTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            MediaError::UnsupportedImage(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            MediaError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => return Self::internal(e.code(), &e),
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<spool_catalog::CatalogError> for ApiError {
    fn from(e: spool_catalog::CatalogError) -> Self {
        use spool_catalog::CatalogError;
        let e = match e {
            CatalogError::Metadata(e) => return e.into(),
            other => other,
        };
        let status = match &e {
            CatalogError::NotFound(what) => return Self::not_found(what),
            CatalogError::NotOwner => StatusCode::FORBIDDEN,
            CatalogError::InvalidInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CatalogError::NotRetryable => StatusCode::CONFLICT,
            CatalogError::TooManyStreams { .. } => StatusCode::TOO_MANY_REQUESTS,
            CatalogError::Metadata(_) | CatalogError::Io(_) => {
                return Self::internal(e.code(), &e);
            }
        };
        Self::new(status, e.code(), e.to_string())
    }
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
        if let Some(wait) = self.retry_after {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, seconds.max(1).into());
        }
        response
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
