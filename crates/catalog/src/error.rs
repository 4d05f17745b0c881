//! `CatalogError`: why a catalog operation failed, each with a stable machine code. No HTTP
//! here: `crates/api/src/error.rs` maps each variant to a status once.

use spool_metadata::MetadataError;

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The thing does not exist, or the caller may not know that it does (a hidden video
    /// looks exactly like a missing one).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may see the video but not change it.
    #[error("only the video's owner or an admin may change it")]
    NotOwner,
    /// A value past its limits; the message starts with the field (`title: ...`).
    #[error("{0}")]
    InvalidInput(String),
    /// Retry asked for a video whose processing did not fail.
    #[error(
        "only a video whose processing failed can be retried; if its upload never completed, \
         upload the file again"
    )]
    NotRetryable,
    /// The client already has as many progress streams open as it may.
    #[error("at most {limit} progress streams may be open per client; close one first")]
    TooManyStreams {
        /// Streams per client.
        limit: usize,
    },
    /// The metadata store failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// Reading media files (cover candidates) failed.
    #[error("reading media files: {0}")]
    Io(#[from] std::io::Error),
}

impl CatalogError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NotOwner => "not_owner",
            Self::InvalidInput(_) => "invalid_input",
            Self::NotRetryable => "not_retryable",
            Self::TooManyStreams { .. } => "too_many_streams",
            Self::Metadata(e) => e.code(),
            Self::Io(_) => "io_error",
        }
    }

    pub(crate) fn video_not_found() -> Self {
        Self::NotFound("video")
    }
}

/// Shorthand for catalog results.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;
