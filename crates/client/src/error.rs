//! The client's error type: what can go wrong while uploading, with a stable machine code.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Everything `spool upload` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Reading the file to upload or the resume state failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP request could not be carried out (connection refused, reset, timeout, ...).
    #[error("HTTP transport error: {}", error_chain(.0))]
    Http(reqwest::Error),
    /// The server answered with an error status.
    #[error("server answered {status} ({code}): {message}")]
    Server {
        /// HTTP status code.
        status: u16,
        /// The server's machine code (`error.code` of its JSON body), or one derived from the status.
        code: String,
        /// The server's human message.
        message: String,
    },
    /// The server's answer breaks the upload protocol (missing or malformed header, impossible offset).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// An argument given on the command line is unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The file changed on disk while it was being uploaded.
    #[error("{}: the file changed while it was being uploaded", path.display())]
    FileChanged {
        /// The file involved.
        path: PathBuf,
    },
    /// A request moved no bytes for too long (it is abandoned and retried).
    #[error("no progress for {seconds} s while {what}")]
    Timeout {
        /// The limit that passed.
        seconds: u64,
        /// What the request was doing.
        what: &'static str,
    },
    /// Transient errors went on without any progress for longer than allowed.
    #[error("gave up after {seconds} s without progress; last error: {last}")]
    Stalled {
        /// How long the upload made no progress.
        seconds: u64,
        /// The last transient error seen.
        last: Box<ClientError>,
    },
    /// Some of several files failed; each failure was already reported on stderr.
    #[error("{failed} of {total} uploads failed")]
    SomeFailed {
        /// How many files failed.
        failed: usize,
        /// How many files were given.
        total: usize,
    },
    /// The user pressed Ctrl-C. The resume state is on disk; running the same command resumes.
    #[error("interrupted")]
    Interrupted,
}

impl ClientError {
    /// A stable snake_case code for this error, for scripts and logs.
    pub fn code(&self) -> &str {
        match self {
            Self::Io { .. } => "io",
            Self::Http(_) => "http_transport",
            Self::Server { code, .. } => code,
            Self::Protocol(_) => "protocol_violation",
            Self::InvalidArgument(_) => "invalid_argument",
            Self::FileChanged { .. } => "file_changed",
            Self::Timeout { .. } => "timeout",
            Self::Stalled { .. } => "stalled",
            Self::SomeFailed { .. } => "some_failed",
            Self::Interrupted => "interrupted",
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        // The URL is always the upload's; notes name the file instead.
        Self::Http(e.without_url())
    }
}

/// An error and all its sources, joined by `: ` (reqwest hides the interesting part in sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes() {
        let e = ClientError::Server {
            status: 413,
            code: "too_large".into(),
            message: "file exceeds Tus-Max-Size".into(),
        };
        assert_eq!(e.code(), "too_large");
        assert_eq!(
            e.to_string(),
            "server answered 413 (too_large): file exceeds Tus-Max-Size"
        );
        let io = ClientError::io(
            "/x/y.mp4",
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(io.to_string(), "/x/y.mp4: gone");
        assert_eq!(io.code(), "io");
        assert_eq!(ClientError::Interrupted.code(), "interrupted");
    }
}
