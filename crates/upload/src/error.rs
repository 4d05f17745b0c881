//! Upload errors, each with a stable code. Which HTTP status a code answers with is the API's
//! business (`spool-api`'s error catalogue), not this crate's.

use spool_metadata::MetadataError;
use spool_storage::StorageError;

/// Why an upload request failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// No such upload (or it was terminated).
    #[error("upload not found")]
    NotFound,
    /// The upload expired and its bytes were reclaimed.
    #[error("upload expired")]
    Expired,
    /// The caller does not own this upload.
    #[error("this upload belongs to another user")]
    NotOwner,
    /// `Upload-Offset` differs from the server's offset.
    #[error("Upload-Offset {given} does not match the upload's offset {actual}")]
    OffsetMismatch {
        /// What the client sent.
        given: u64,
        /// What the server has.
        actual: u64,
    },
    /// All bytes already arrived.
    #[error("upload is already complete")]
    AlreadyComplete,
    /// Another request is writing this upload right now.
    #[error("another request is writing this upload; retry after it finishes")]
    Locked,
    /// Declared or received size over the server limit.
    #[error("upload of {size} bytes exceeds the server's maximum of {max} bytes")]
    TooLarge {
        /// Requested size.
        size: u64,
        /// Server maximum.
        max: u64,
    },
    /// More bytes than the declared `Upload-Length`.
    #[error("request body goes past Upload-Length {length}")]
    PastLength {
        /// Declared length.
        length: u64,
    },
    /// The user's quota would be exceeded.
    #[error("{0}")]
    Quota(String),
    /// `Upload-Checksum` did not match the body; the chunk was discarded.
    #[error("Upload-Checksum does not match the request body; the chunk was discarded")]
    ChecksumMismatch,
    /// The whole file's BLAKE3 differs from the announced one; the last chunk was discarded.
    #[error(
        "the file's BLAKE3 {actual} differs from the announced {announced}; the last chunk was discarded"
    )]
    Blake3Mismatch {
        /// Announced hash.
        announced: String,
        /// Computed hash.
        actual: String,
    },
    /// A header or metadata value is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The checksum algorithm is not supported.
    #[error("unsupported checksum algorithm `{0}` (supported: sha1, sha256)")]
    UnsupportedChecksum(String),
    /// The proof-of-possession answer is wrong or the challenge is spent.
    #[error("proof of possession rejected; upload the bytes instead")]
    ProofRejected,
    /// The client went away or the server is shutting down mid-request; what arrived is kept.
    #[error("request interrupted after the upload reached offset {offset}")]
    Interrupted {
        /// Acknowledged offset after the interruption.
        offset: u64,
    },
    /// Metadata store failure.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// Storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The file's digest is on a moderation blocklist; nothing of it was kept.
    #[error("this file is on the blocklist `{list}`; it was not kept")]
    ContentBlocked {
        /// The list holding its digest.
        list: String,
    },
    /// Something that should not happen (corrupt checkpoint, task panic).
    #[error("internal error: {0}")]
    Internal(String),
}

impl UploadError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "upload_not_found",
            Self::Expired => "upload_expired",
            Self::NotOwner => "not_owner",
            Self::OffsetMismatch { .. } => "offset_mismatch",
            Self::AlreadyComplete => "upload_complete",
            Self::Locked => "upload_locked",
            Self::TooLarge { .. } => "upload_too_large",
            Self::PastLength { .. } => "past_upload_length",
            Self::Quota(_) => "quota_exceeded",
            Self::ChecksumMismatch => "checksum_mismatch",
            Self::Blake3Mismatch { .. } => "blake3_mismatch",
            Self::BadRequest(_) => "bad_request",
            Self::UnsupportedChecksum(_) => "unsupported_checksum",
            Self::ProofRejected => "proof_rejected",
            Self::Interrupted { .. } => "interrupted",
            Self::Metadata(e) => e.code(),
            Self::Storage(e) => e.code(),
            Self::ContentBlocked { .. } => "content_blocked",
            Self::Internal(_) => "internal_error",
        }
    }
}

/// Shorthand for upload results.
pub type Result<T, E = UploadError> = std::result::Result<T, E>;
