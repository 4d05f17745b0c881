//! The typed errors of the event log, each with a stable machine code.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong with the event log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file-system operation failed.
    #[error("event log i/o on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The configuration cannot work (for example a zero segment size).
    #[error("invalid event log config: {0}")]
    InvalidConfig(&'static str),
    /// A payload is larger than `LogConfig::max_record_bytes`.
    #[error("event of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// The payload length.
        len: usize,
        /// The configured limit.
        max: u32,
    },
    /// A consumer name is not `[a-z0-9_-]{1,64}`.
    #[error("invalid consumer name {0:?}: use 1 to 64 of a-z, 0-9, '_' and '-'")]
    InvalidConsumerName(String),
    /// A trusted file (an older segment or a consumer offset) holds data that does not parse.
    #[error("event log file {path} is corrupt at byte {position}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad data starts.
        position: u64,
    },
    /// An earlier write failed, so the log refuses further appends until it is reopened
    /// (which recovers the file to its last complete record), or the writer has stopped.
    #[error("event log is unavailable for appends: {0}")]
    Unavailable(String),
}

impl LogError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "event_log_io",
            Self::InvalidConfig(_) => "event_log_invalid_config",
            Self::RecordTooLarge { .. } => "event_too_large",
            Self::InvalidConsumerName(_) => "invalid_consumer_name",
            Self::Corrupt { .. } => "event_log_corrupt",
            Self::Unavailable(_) => "event_log_unavailable",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> LogError {
        let path = path.into();
        move |source| LogError::Io { path, source }
    }
}

/// Shorthand for event log results.
pub type Result<T, E = LogError> = std::result::Result<T, E>;
