//! `spool upload`: a resumable uploader for Spool's upload API (tus 1.0.0 plus Spool's
//! instant upload, proof of possession and lookup by content hash; see
//! `docs/upload-protocol.md`).
//!
//! For each file: hash it with BLAKE3, resume the upload from local state or from the server's
//! lookup by hash, or create one (which may complete instantly), then stream the bytes in PATCH
//! requests, riding out network trouble with backoff. Stdout gets one line per uploaded file,
//! the video id; progress and notes go to stderr.
//!
//! Modules: [`tus`] (wire format), [`proof`] (proof of possession), [`state`] (resume state on
//! disk), [`backoff`] (retry delays), [`hash`] (hashing the file), `progress` (stderr UI),
//! `upload` (the HTTP flow).
//!
//! Architecture Invariant: the client never links a server crate; it speaks only the public
//! protocol of `docs/upload-protocol.md`.

pub mod backoff;
mod error;
pub mod events;
pub mod hash;
mod progress;
pub mod proof;
pub mod state;
pub mod tus;
mod upload;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

pub use error::ClientError;
use spool_model::VideoId;
pub use state::{StateStore, UploadState};
pub use upload::default_title;

/// Arguments of `spool upload`.
#[derive(clap::Args, Clone)]
pub struct UploadArgs {
    /// Files to upload.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Server base URL.
    #[arg(long, env = "SPOOL_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API token (from `spool user add`).
    #[arg(long, env = "SPOOL_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Title (default: file name without extension; the same title for every file given).
    #[arg(long)]
    pub title: Option<String>,
    /// Visibility of the new videos (server default otherwise).
    #[arg(long, value_parser = ["public", "unlisted", "private"])]
    pub visibility: Option<String>,
    /// Bytes per PATCH request; K, M, G suffixes are binary (64M = 64 MiB).
    #[arg(long, default_value = "64MiB", value_parser = parse_size, value_name = "BYTES")]
    pub chunk_size: u64,
    /// Do not draw progress bars (they are never drawn when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Where resume state lives (default: $XDG_STATE_HOME/spool/uploads).
    #[arg(long, env = "SPOOL_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Give a file up after this many seconds of transient errors without progress.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub retry_for: u64,
    /// Abandon and retry a request that moved no bytes for this many seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
}

impl std::fmt::Debug for UploadArgs {
    // By hand, so that the token never lands in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadArgs")
            .field("files", &self.files)
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .field("title", &self.title)
            .field("visibility", &self.visibility)
            .field("chunk_size", &self.chunk_size)
            .field("no_progress", &self.no_progress)
            .field("state_dir", &self.state_dir)
            .field("retry_for", &self.retry_for)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// Parses a byte count such as `67108864`, `512K`, `64M`, `64MiB` or `1G` (suffixes are
/// binary and case-insensitive; a trailing `B` or `iB` is optional).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    if num.is_empty() {
        return Err(format!("`{s}` is not a byte count (e.g. 64M)"));
    }
    let num: u64 = num.parse().map_err(|_| format!("`{s}` is too large"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown unit `{other}` in `{s}` (use K, M, G)")),
    };
    let bytes = num
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))?;
    if bytes == 0 {
        return Err("the size must be at least 1 byte".into());
    }
    Ok(bytes)
}

/// Normalizes the server URL: trims trailing slashes, insists on http(s).
fn normalize_server(server: &str) -> Result<String, ClientError> {
    let s = server.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(s)
        .map_err(|e| ClientError::InvalidArgument(format!("server URL `{server}`: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ClientError::InvalidArgument(format!(
            "server URL `{server}` must be http:// or https://"
        )));
    }
    Ok(s.to_owned())
}

/// Uploads every file of `args`, in order; returns the ids of the videos they became.
///
/// Each id is also printed on stdout, one line per file, as soon as its upload completes, so
/// the caller must not print them again. Notes and progress go to stderr. With several files,
/// a failed file is reported on stderr and the others still go; the result is then
/// [`ClientError::SomeFailed`]. With one file its error is returned as is. Ctrl-C stops at once
/// with [`ClientError::Interrupted`] after a hint on stderr: the resume state is already on
/// disk, and running the same command again resumes.
pub async fn run_upload(args: UploadArgs) -> Result<Vec<VideoId>, ClientError> {
    let server = normalize_server(&args.server)?;
    if args.token.trim().is_empty() {
        return Err(ClientError::InvalidArgument(
            "the API token is empty (--token or SPOOL_TOKEN)".into(),
        ));
    }
    if let Some(v) = &args.visibility {
        v.parse::<spool_model::Visibility>()
            .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
    }
    if args.chunk_size == 0 {
        return Err(ClientError::InvalidArgument(
            "--chunk-size must be positive".into(),
        ));
    }
    let state_dir = args
        .state_dir
        .clone()
        .or_else(StateStore::default_dir)
        .ok_or_else(|| {
            ClientError::InvalidArgument("no state directory known; pass --state-dir".into())
        })?;
    let settings = upload::Settings {
        server,
        token: args.token.trim().to_owned(),
        chunk_size: args.chunk_size,
        give_up_after: Duration::from_secs(args.retry_for),
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
    };
    let ui = progress::Ui::new(!args.no_progress);
    let uploader = upload::Uploader::new(settings, StateStore::new(&state_dir), ui.clone())?;

    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling here: never interrupted.
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(interrupted);

    let total = args.files.len();
    let mut ids = Vec::with_capacity(total);
    let mut failed = 0;
    for path in &args.files {
        let upload = uploader.upload_file(path, args.title.as_deref(), args.visibility.as_deref());
        let result = tokio::select! {
            r = upload => r,
            () = &mut interrupted => {
                ui.clear();
                eprintln!(
                    "spool: interrupted; the upload state is saved in {}, \
                     run the same command again to resume",
                    state_dir.display()
                );
                return Err(ClientError::Interrupted);
            }
        };
        match result {
            Ok(id) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{id}").and_then(|()| out.flush());
                ids.push(id);
            }
            Err(e) if total == 1 => return Err(e),
            Err(e) => {
                match &e {
                    ClientError::Io { path: p, .. } if p == path => ui.note(format!("spool: {e}")),
                    _ => ui.note(format!("spool: {}: {e}", path.display())),
                }
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(ClientError::SomeFailed { failed, total });
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn check_size(input: &str, expect: Option<u64>) {
        assert_eq!(parse_size(input).ok(), expect, "{input:?}");
    }

    #[test]
    fn sizes() {
        check_size("67108864", Some(64 << 20));
        check_size("64MiB", Some(64 << 20));
        check_size("64M", Some(64 << 20));
        check_size("64mb", Some(64 << 20));
        check_size("512K", Some(512 << 10));
        check_size("1G", Some(1 << 30));
        check_size("7 b", Some(7));
        check_size("0", None);
        check_size("", None);
        check_size("M", None);
        check_size("1.5M", None);
        check_size("10Q", None);
        check_size("-1", None);
        check_size("99999999999T", None);
    }

    fn check_server(input: &str, expect: Option<&str>) {
        assert_eq!(normalize_server(input).ok().as_deref(), expect, "{input:?}");
    }

    #[test]
    fn servers() {
        check_server("http://127.0.0.1:8080", Some("http://127.0.0.1:8080"));
        check_server("https://v.example.org/", Some("https://v.example.org"));
        check_server(
            "https://v.example.org/spool//",
            Some("https://v.example.org/spool"),
        );
        check_server("ftp://x", None);
        check_server("127.0.0.1:8080", None);
        check_server("not a url", None);
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        upload: UploadArgs,
    }

    #[test]
    fn arguments_parse_and_token_stays_out_of_debug() {
        let cli = Cli::try_parse_from([
            "spool",
            "a.mp4",
            "b.mkv",
            "--token",
            "s3cret-token",
            "--visibility",
            "unlisted",
            "--chunk-size",
            "8M",
            "--no-progress",
        ])
        .unwrap();
        let a = cli.upload;
        assert_eq!(
            a.files,
            vec![PathBuf::from("a.mp4"), PathBuf::from("b.mkv")]
        );
        assert_eq!(a.visibility.as_deref(), Some("unlisted"));
        assert_eq!(a.chunk_size, 8 << 20);
        assert!(a.no_progress);
        assert_eq!(a.retry_for, 600);
        assert!(!format!("{a:?}").contains("s3cret"));

        assert!(
            Cli::try_parse_from(["spool", "a.mp4", "--token", "t", "--visibility", "secret"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["spool", "--token", "t"]).is_err());
    }
}
