//! What can go wrong when someone speaks; each variant has a stable code (the api's catalogue
//! gives it a status).

use spool_metadata::MetadataError;

/// An interaction failure.
#[derive(Debug, thiserror::Error)]
pub enum InteractError {
    /// The video, room or message does not exist for this viewer.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A field past its limits; the message starts with the field.
    #[error("{0}")]
    InvalidInput(String),
    /// The text holds a word the admins filter.
    #[error("the text contains a word that is not allowed here")]
    Filtered,
    /// The sender sent too much too fast and is muted for a moment.
    #[error("too many messages; wait {} s", retry_after_ms.div_ceil(1000))]
    RateLimited {
        /// When the sender may try again.
        retry_after_ms: u64,
    },
    /// The room takes no more messages this second.
    #[error("this room is too busy right now; try again in a moment")]
    RoomBusy {
        /// When to try again.
        retry_after_ms: u64,
    },
    /// A moderator muted the sender here.
    #[error("you are muted here for {} more s", remaining_ms.div_ceil(1000))]
    Muted {
        /// How long it lasts.
        remaining_ms: u64,
    },
    /// Only the owner, an admin or a moderator may do this.
    #[error("only the owner, an admin or a moderator of this channel may do this")]
    NotModerator,
    /// Only the room's host (its owner) or an admin may do this.
    #[error("only the room's host may do this")]
    NotHost,
    /// Live danmaku while the room is not on air.
    #[error("the room is not live")]
    NotLive,
    /// The store failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The catalog refused or failed.
    #[error(transparent)]
    Catalog(#[from] spool_catalog::CatalogError),
}

impl InteractError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::InvalidInput(_) => "invalid_input",
            Self::Filtered => "text_filtered",
            Self::RateLimited { .. } => "chat_rate_limited",
            Self::RoomBusy { .. } => "room_busy",
            Self::Muted { .. } => "muted",
            Self::NotModerator => "not_moderator",
            Self::NotHost => "not_host",
            Self::NotLive => "room_not_live",
            Self::Metadata(e) => e.code(),
            Self::Catalog(e) => e.code(),
        }
    }

    /// How long to wait before trying again, for the refusals that have one.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_ms } | Self::RoomBusy { retry_after_ms } => {
                Some(*retry_after_ms)
            }
            Self::Muted { remaining_ms } => Some(*remaining_ms),
            _ => None,
        }
    }
}

/// Shorthand for interaction results.
pub type Result<T, E = InteractError> = std::result::Result<T, E>;
