//! `LiveError`: why a live operation failed, each with a stable machine code. No HTTP here:
//! `crates/api/src/error.rs` maps each code to a status once.

use spool_catalog::CatalogError;
use spool_metadata::MetadataError;

/// Why a live operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The room does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may see the room but not change it.
    #[error("only the room's owner or an admin may change it")]
    NotOwner,
    /// A value past its limits.
    #[error("{0}")]
    InvalidInput(String),
    /// No room has this stream key.
    #[error("unknown stream key")]
    WrongKey,
    /// Someone is already publishing to this room.
    #[error("this room already has a publisher")]
    AlreadyPublishing,
    /// The publisher sent a codec Spool does not take.
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    /// The publisher's stream is malformed.
    #[error("malformed stream: {0}")]
    BadStream(String),
    /// A blocking playlist request out of range.
    #[error("{0}")]
    BadPlaylistRequest(String),
    /// A recording could not be written or finished.
    #[error("recording: {0}")]
    Recording(String),
    /// The metadata store failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl LiveError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NotOwner => "not_owner",
            Self::InvalidInput(_) => "invalid_input",
            Self::WrongKey => "live_wrong_key",
            Self::AlreadyPublishing => "live_already_publishing",
            Self::UnsupportedCodec(_) => "live_unsupported_codec",
            Self::BadStream(_) => "live_bad_stream",
            Self::BadPlaylistRequest(_) => "live_bad_playlist_request",
            Self::Recording(_) => "live_recording_failed",
            Self::Metadata(e) => e.code(),
        }
    }
}

impl From<CatalogError> for LiveError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NotFound(what) => Self::NotFound(what),
            CatalogError::NotOwner => Self::NotOwner,
            CatalogError::Metadata(e) => Self::Metadata(e),
            other => Self::InvalidInput(other.to_string()),
        }
    }
}

/// Shorthand for live results.
pub type Result<T, E = LiveError> = std::result::Result<T, E>;
