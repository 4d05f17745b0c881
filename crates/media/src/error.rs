//! Media errors, each with a stable machine code.

use std::time::Duration;

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The source (or an uploaded image) is not acceptable: unreadable, not a supported
    /// format, over a cap. The message is for humans and names the reason. Permanent.
    #[error("{0}")]
    Invalid(String),
    /// The tool could not be started (not installed, not executable).
    #[error("cannot start {tool}: {source}")]
    Spawn {
        /// "ffmpeg" or "ffprobe".
        tool: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The tool ran longer than allowed and was killed.
    #[error("{tool} timed out after {after:?} and was killed")]
    Timeout {
        /// "ffmpeg" or "ffprobe".
        tool: &'static str,
        /// The limit that passed.
        after: Duration,
    },
    /// A streaming process made no progress (no output read, no advancing progress report)
    /// for the stall timeout and was killed.
    #[error("{tool} made no progress for {after:?} and was killed")]
    Stalled {
        /// "ffmpeg" or "ffprobe".
        tool: &'static str,
        /// The stall timeout that passed.
        after: Duration,
    },
    /// The tool exited unsuccessfully; `detail` is the end of its stderr.
    #[error("{tool} failed ({status}): {detail}")]
    Failed {
        /// "ffmpeg" or "ffprobe".
        tool: &'static str,
        /// Exit status as text.
        status: String,
        /// The last lines of stderr.
        detail: String,
    },
    /// Reading or writing files failed.
    #[error("media i/o: {0}")]
    Io(#[from] std::io::Error),
    /// An uploaded image has more bytes than allowed (HTTP 413). Permanent.
    #[error("the image is {bytes} bytes; the limit is {max_bytes} bytes")]
    ImageTooLarge {
        /// Size of the upload.
        bytes: u64,
        /// The configured cap.
        max_bytes: u64,
    },
    /// An uploaded file is not an image in an accepted format (JPEG, PNG or WebP), judged
    /// from its bytes (HTTP 415). The message names what it looks like. Permanent.
    #[error("{0}")]
    UnsupportedImage(String),
}

impl MediaError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_media",
            Self::Spawn { .. } => "tool_unavailable",
            Self::Timeout { .. } => "tool_timeout",
            Self::Stalled { .. } => "tool_stalled",
            Self::Failed { .. } => "tool_failed",
            Self::Io(_) => "media_io",
            Self::ImageTooLarge { .. } => "image_too_large",
            Self::UnsupportedImage(_) => "unsupported_image",
        }
    }

    /// True when trying again cannot help (the input itself is bad).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Invalid(_)
                | Self::Failed { .. }
                | Self::ImageTooLarge { .. }
                | Self::UnsupportedImage(_)
        )
    }
}
