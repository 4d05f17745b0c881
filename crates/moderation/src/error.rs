//! Why a moderation operation failed, with stable machine codes (the api crate's catalogue
//! gives them their HTTP status).

use spool_catalog::CatalogError;
use spool_metadata::MetadataError;

/// Why a moderation operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// An import file with a bad line, or with no entry; nothing was written.
    #[error("{0}")]
    InvalidHashList(String),
    /// A hash that is not 64 hex digits, or a distance outside 0..=31.
    #[error("{0}")]
    InvalidHash(String),
    /// A list name, reason or action outside its rules.
    #[error("{0}")]
    InvalidInput(String),
    /// No list of this name.
    #[error("no hash list `{0}`")]
    ListNotFound(String),
    /// An import into a list of the other kind.
    #[error("{0}")]
    ListKindMismatch(String),
    /// A decision on a video that is not held.
    #[error("the video is not held")]
    NotHeld,
    /// Only admins may do this.
    #[error("only admins may moderate")]
    NotAdmin,
    /// The video, danmaku or user does not exist (or may not be seen).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The catalogue refused.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The store failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl ModerationError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidHashList(_) => "invalid_hash_list",
            Self::InvalidHash(_) => "invalid_hash",
            Self::InvalidInput(_) => "invalid_input",
            Self::ListNotFound(_) => "list_not_found",
            Self::ListKindMismatch(_) => "list_kind_mismatch",
            Self::NotHeld => "not_held",
            Self::NotAdmin => "not_admin",
            Self::NotFound(_) => "not_found",
            Self::Catalog(e) => e.code(),
            Self::Metadata(e) => e.code(),
        }
    }
}

/// Shorthand for moderation results.
pub type Result<T, E = ModerationError> = std::result::Result<T, E>;
