//! Why a gifts operation failed, with stable machine codes (the api crate's catalogue gives
//! them their HTTP status).

use spool_catalog::CatalogError;
use spool_live::LiveError;
use spool_metadata::MetadataError;

/// Why a gifts operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GiftError {
    /// No gift has this id.
    #[error("no gift `{0}` in the catalogue")]
    UnknownGift(String),
    /// The sender is the creator of the video or room.
    #[error("you cannot send a gift to yourself")]
    GiftToSelf,
    /// The count is outside 1..=9999.
    #[error("count must be 1 to 9999, not {0}")]
    InvalidCount(i64),
    /// A grant's amount is zero, negative or too large.
    #[error("amount must be 1 to 1000000000000, not {0}")]
    InvalidAmount(i64),
    /// The wallet cannot pay; nothing was written.
    #[error("insufficient funds: the wallet holds {balance}, the gift costs {needed}")]
    InsufficientFunds {
        /// The wallet's balance.
        balance: i64,
        /// What the send costs.
        needed: i64,
    },
    /// The idempotency key was used for a different request.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// No usable idempotency key.
    #[error("an Idempotency-Key header is required: {0}")]
    IdempotencyKeyRequired(String),
    /// Neither or both of a video and a room were named.
    #[error("name exactly one of video_id and room_id")]
    InvalidTarget,
    /// Only admins may grant.
    #[error("only admins may grant coins")]
    NotAdmin,
    /// The user, video or room does not exist or may not be seen.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The catalog refused (a video that is not visible, its store).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The live service refused (a room that is not visible, its store).
    #[error(transparent)]
    Live(#[from] LiveError),
    /// The store failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl GiftError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownGift(_) => "unknown_gift",
            Self::GiftToSelf => "gift_to_self",
            Self::InvalidCount(_) => "invalid_count",
            Self::InvalidAmount(_) => "invalid_amount",
            Self::InsufficientFunds { .. } => "insufficient_funds",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyRequired(_) => "idempotency_key_required",
            Self::InvalidTarget => "invalid_input",
            Self::NotAdmin => "not_admin",
            Self::NotFound(_) => "not_found",
            Self::Catalog(e) => e.code(),
            Self::Live(e) => e.code(),
            Self::Metadata(e) => e.code(),
        }
    }
}

/// Shorthand for gifts results.
pub type Result<T, E = GiftError> = std::result::Result<T, E>;
