//! The upload of one file over tus 1.0.0 with Spool's extensions: resume from local state or
//! from the server's lookup by hash, creation with instant upload and proof of possession, then
//! PATCH requests streamed from disk, retried with backoff through network trouble.
//!
//! Every decision after a failed request goes through [`Failure`]: transient trouble (transport
//! errors, 5xx, 423) pauses and asks the server where it stands (HEAD), a 409 asks at once, a
//! 404/410 means the upload is gone, anything else ends this file with the server's message.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use spool_model::{ContentHash, VideoId};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::backoff::Backoff;
use crate::error::ClientError;
use crate::progress::Ui;
use crate::state::{StateStore, UploadState};
use crate::tus;

/// Timeout of the small requests (HEAD, lookup, creation, proof).
const SMALL_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Read size of the PATCH body stream.
const STREAM_BUF: usize = 256 * 1024;

/// Fixed settings of one `spool upload` run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Server base URL without a trailing slash.
    pub server: String,
    /// Bearer token.
    pub token: String,
    /// Bytes per PATCH request.
    pub chunk_size: u64,
    /// How long transient errors may go on without progress before a file is given up.
    pub give_up_after: Duration,
    /// How long a request may move no bytes before it is abandoned and retried.
    pub idle_timeout: Duration,
}

/// How a request failed, which decides what happens next.
#[derive(Debug)]
enum Failure {
    /// Worth retrying after a pause: transport error, 5xx, 408, 423, 429, a stalled request.
    Transient(ClientError),
    /// 409: our offset is not the server's; ask with HEAD and continue.
    Conflict(ClientError),
    /// 404 or 410: the upload does not exist (any more).
    Gone(ClientError),
    /// Anything else: this file fails.
    Fatal(ClientError),
}

impl Failure {
    fn into_error(self) -> ClientError {
        match self {
            Self::Transient(e) | Self::Conflict(e) | Self::Gone(e) | Self::Fatal(e) => e,
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Self::Fatal(e)
    }
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        Self::Transient(ClientError::from(e))
    }
}

/// Sorts an error answer by its status.
fn classify(status: StatusCode, body: &[u8]) -> Failure {
    let err = tus::server_error(status.as_u16(), body);
    match status.as_u16() {
        409 => Failure::Conflict(err),
        404 | 410 => Failure::Gone(err),
        408 | 423 | 429 => Failure::Transient(err),
        // 501 and 505 say the server will never do it; other 5xx may pass.
        501 | 505 => Failure::Fatal(err),
        s if s >= 500 => Failure::Transient(err),
        _ => Failure::Fatal(err),
    }
}

async fn failure_of(resp: Response) -> Failure {
    let status = resp.status();
    match resp.bytes().await {
        Ok(body) => classify(status, &body),
        Err(e) => Failure::Transient(e.into()),
    }
}

/// The local file being uploaded.
struct LocalFile<'a> {
    path: &'a Path,
    /// Name shown in progress and notes.
    name: String,
    size: u64,
    hash: ContentHash,
}

/// Where the upload stands on the server.
#[derive(Debug)]
struct Remote {
    url: Url,
    offset: u64,
    video_id: Option<VideoId>,
}

/// What HEAD tells.
struct HeadInfo {
    offset: u64,
    video_id: Option<VideoId>,
}

/// One entry of `GET /api/v1/uploads?blake3=HEX`.
#[derive(Deserialize)]
struct LookupEntry {
    url: String,
    #[serde(default)]
    video_id: Option<VideoId>,
    offset: u64,
    #[serde(default)]
    length: Option<u64>,
}

#[derive(Deserialize)]
struct LookupAnswer {
    uploads: Vec<LookupEntry>,
}

#[derive(Deserialize)]
struct ProofAnswer {
    #[serde(default)]
    complete: bool,
    #[serde(default)]
    offset: Option<u64>,
}

/// Bytes handed to the connection by a PATCH body, and when the last ones were.
struct Activity {
    start: tokio::time::Instant,
    last_ms: AtomicU64,
    sent: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: tokio::time::Instant::now(),
            last_ms: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        }
    }

    fn record(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        self.start
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Resolves with an error once a PATCH moved no bytes for `idle` while sending its body, or for
/// five times that while waiting for the answer after the whole body went out (the server
/// fsyncs before it answers).
async fn watchdog(activity: &Activity, body_len: u64, idle: Duration) -> ClientError {
    let tick = (idle / 10).clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        tokio::time::sleep(tick).await;
        let body_done = activity.sent.load(Ordering::Relaxed) >= body_len;
        let limit = if body_done { idle * 5 } else { idle };
        if activity.idle_for() > limit {
            return ClientError::Timeout {
                seconds: limit.as_secs(),
                what: if body_done {
                    "waiting for the server to acknowledge a chunk"
                } else {
                    "sending a chunk"
                },
            };
        }
    }
}

/// Uploads files to one server; holds the HTTP client, the resume state store and the UI.
pub struct Uploader {
    http: reqwest::Client,
    settings: Settings,
    endpoint: Url,
    store: StateStore,
    ui: Ui,
}

impl Uploader {
    /// An uploader for `settings.server`.
    pub fn new(settings: Settings, store: StateStore, ui: Ui) -> Result<Self, ClientError> {
        let endpoint = Url::parse(&format!("{}/api/v1/uploads", settings.server))
            .map_err(|e| ClientError::InvalidArgument(format!("server URL: {e}")))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("spool-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .tcp_keepalive(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            settings,
            endpoint,
            store,
            ui,
        })
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(&self.settings.token)
            .header(tus::TUS_RESUMABLE, tus::TUS_VERSION)
    }

    /// Hashes and uploads the file at `path`; returns the id of the video it became.
    pub async fn upload_file(
        &self,
        path: &Path,
        title: Option<&str>,
        visibility: Option<&str>,
    ) -> Result<VideoId, ClientError> {
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| ClientError::io(path, e))?;
        if !meta.is_file() {
            return Err(ClientError::InvalidArgument(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let size = meta.len();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());

        let bar = self.ui.hashing_bar(&name, size);
        let hash = crate::hash::hash_file(path, bar.clone()).await;
        bar.finish_and_clear();
        let file = LocalFile {
            path,
            name,
            size,
            hash: hash?,
        };
        tracing::debug!(file = %path.display(), blake3 = %file.hash, size, "hashed");

        let mut remote = self.find_or_create(&file, title, visibility).await?;
        if remote.offset < file.size {
            self.send_bytes(&file, &mut remote).await?;
        }
        self.store.remove(&file.hash)?;
        remote.video_id.ok_or_else(|| {
            ClientError::Protocol(format!(
                "the server named no video (Spool-Video-Id) for upload {}",
                remote.url
            ))
        })
    }

    /// Finds where to upload: the local resume state, else an unfinished upload of the same
    /// content on the server, else a new upload.
    async fn find_or_create(
        &self,
        file: &LocalFile<'_>,
        title: Option<&str>,
        visibility: Option<&str>,
    ) -> Result<Remote, ClientError> {
        if let Some(remote) = self.resume_local(file).await? {
            return Ok(remote);
        }
        let mut backoff = Backoff::default();
        let since = Instant::now();
        loop {
            let attempt = async {
                if let Some(remote) = self.lookup(file).await? {
                    return Ok(remote);
                }
                self.create(file, title, visibility).await
            };
            match attempt.await {
                Ok(remote) => return Ok(remote),
                Err(Failure::Transient(e)) => self.pause(file, &mut backoff, since, e).await?,
                Err(other) => return Err(other.into_error()),
            }
        }
    }

    /// Resumes from the local state file, if there is one and the server still has the upload.
    async fn resume_local(&self, file: &LocalFile<'_>) -> Result<Option<Remote>, ClientError> {
        let Some(state) = self.store.load(&file.hash)? else {
            return Ok(None);
        };
        if state.server != self.settings.server || state.size != file.size {
            tracing::debug!(server = %state.server, "resume state is for another server; ignoring it");
            return Ok(None);
        }
        let Ok(url) = Url::parse(&state.upload_url) else {
            self.store.remove(&file.hash)?;
            return Ok(None);
        };
        match self.head_retrying(file, &url, Instant::now()).await {
            Ok(info) => {
                self.note_resume(file, info.offset, "");
                Ok(Some(Remote {
                    url,
                    offset: info.offset,
                    video_id: state.video_id.or(info.video_id),
                }))
            }
            Err(Failure::Fatal(e @ ClientError::Server { status: 401, .. })) => Err(e),
            Err(Failure::Fatal(e @ ClientError::Stalled { .. })) => Err(e),
            Err(f) => {
                // 404/410 (expired, deleted), or an upload this token may not touch: start over.
                let e = f.into_error();
                tracing::debug!(error = %e, "dropping resume state");
                self.ui.note(format!(
                    "{}: the previous upload cannot be resumed ({e}); starting over",
                    file.name
                ));
                self.store.remove(&file.hash)?;
                Ok(None)
            }
        }
    }

    fn note_resume(&self, file: &LocalFile<'_>, offset: u64, how: &str) {
        if offset < file.size {
            let pct = if file.size == 0 {
                100.0
            } else {
                offset as f64 * 100.0 / file.size as f64
            };
            self.ui.note(format!(
                "{}: resuming{how} at {offset} of {} bytes ({pct:.0}%)",
                file.name, file.size
            ));
        }
    }

    /// `GET /api/v1/uploads?blake3=HEX`: the newest unfinished upload of this content whose
    /// length matches. A server without the lookup (404, 405) has no match.
    async fn lookup(&self, file: &LocalFile<'_>) -> Result<Option<Remote>, Failure> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("blake3", &file.hash.to_hex());
        let resp = self
            .request(Method::GET, url)
            .timeout(SMALL_REQUEST_TIMEOUT)
            .send()
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => return Ok(None),
            _ => {
                return Err(match failure_of(resp).await {
                    Failure::Gone(e) | Failure::Conflict(e) => Failure::Fatal(e),
                    f => f,
                });
            }
        }
        let body = resp.bytes().await?;
        let answer: LookupAnswer = serde_json::from_slice(&body).map_err(|e| {
            ClientError::Protocol(format!("unreadable answer to the upload lookup: {e}"))
        })?;
        let Some(entry) = answer
            .uploads
            .into_iter()
            .find(|u| u.length == Some(file.size) && u.offset <= file.size)
        else {
            return Ok(None);
        };
        let url = self.endpoint.join(&entry.url).map_err(|e| {
            ClientError::Protocol(format!("bad upload url `{}` in lookup: {e}", entry.url))
        })?;
        self.save_state(file, &url, entry.video_id.as_ref())?;
        self.note_resume(
            file,
            entry.offset,
            " an unfinished upload found on the server",
        );
        Ok(Some(Remote {
            url,
            offset: entry.offset,
            video_id: entry.video_id,
        }))
    }

    fn save_state(
        &self,
        file: &LocalFile<'_>,
        url: &Url,
        video_id: Option<&VideoId>,
    ) -> Result<(), ClientError> {
        self.store.save(&UploadState {
            server: self.settings.server.clone(),
            upload_url: url.to_string(),
            video_id: video_id.cloned(),
            size: file.size,
            blake3: file.hash,
            file: std::path::absolute(file.path).ok(),
            created_at_ms: spool_model::now_millis(),
        })
    }

    /// `POST /api/v1/uploads`: creates the upload, saves the resume state, and takes the instant
    /// path when the server offers one.
    async fn create(
        &self,
        file: &LocalFile<'_>,
        title: Option<&str>,
        visibility: Option<&str>,
    ) -> Result<Remote, Failure> {
        let title = title
            .map(str::to_owned)
            .unwrap_or_else(|| default_title(file.path));
        let hex = file.hash.to_hex();
        let mut pairs = vec![
            ("filename", file.name.as_str()),
            ("title", title.as_str()),
            ("blake3", hex.as_str()),
        ];
        if let Some(v) = visibility {
            pairs.push(("visibility", v));
        }
        let resp = self
            .request(Method::POST, self.endpoint.clone())
            .header(tus::UPLOAD_LENGTH, file.size)
            .header(tus::UPLOAD_METADATA, tus::encode_metadata(&pairs))
            .header(CONTENT_LENGTH, 0)
            .timeout(SMALL_REQUEST_TIMEOUT)
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(match failure_of(resp).await {
                Failure::Gone(e) | Failure::Conflict(e) => Failure::Fatal(e),
                f => f,
            });
        }
        let headers = resp.headers();
        let location = header_str(headers, LOCATION.as_str())
            .ok_or_else(|| ClientError::Protocol("creation answer has no Location".into()))?;
        let url = self
            .endpoint
            .join(location)
            .map_err(|e| ClientError::Protocol(format!("bad Location `{location}`: {e}")))?;
        let offset = match header_str(headers, tus::UPLOAD_OFFSET) {
            None => 0,
            some => tus::parse_u64("Upload-Offset", some)?,
        };
        if offset > file.size {
            return Err(ClientError::Protocol(format!(
                "creation answered Upload-Offset {offset} beyond the file's {} bytes",
                file.size
            ))
            .into());
        }
        let video_id = video_id_header(headers)?;
        let challenge = match (
            header_str(headers, tus::SPOOL_PROOF_NONCE),
            header_str(headers, tus::SPOOL_PROOF_RANGES),
        ) {
            (Some(n), Some(r)) => Some((n.to_owned(), r.to_owned())),
            _ => None,
        };
        drop(resp);
        self.save_state(file, &url, video_id.as_ref())?;
        tracing::debug!(%url, offset, video = ?video_id, "upload created");

        let mut remote = Remote {
            url,
            offset,
            video_id,
        };
        if offset == file.size {
            if file.size > 0 {
                self.ui.note(format!(
                    "{}: the server already has this content",
                    file.name
                ));
            }
            return Ok(remote);
        }
        let proved = match challenge {
            Some((nonce, ranges)) => self.prove(file, &remote.url, &nonce, &ranges).await?,
            None => false,
        };
        if proved {
            self.ui.note(format!(
                "{}: the server already has this content (proved possession)",
                file.name
            ));
            remote.offset = file.size;
        }
        Ok(remote)
    }

    /// Answers the proof-of-possession challenge. `Ok(true)`: the upload is complete;
    /// `Ok(false)`: rejected or not answered, upload the bytes.
    async fn prove(
        &self,
        file: &LocalFile<'_>,
        url: &Url,
        nonce: &str,
        ranges: &str,
    ) -> Result<bool, Failure> {
        let key = tus::parse_nonce(nonce).map_err(ClientError::Protocol)?;
        let ranges = tus::parse_proof_ranges(ranges, file.size).map_err(ClientError::Protocol)?;
        let path = file.path.to_owned();
        let proofs = tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::open(&path)?;
            crate::proof::compute_proofs(&mut f, &key, &ranges)
        })
        .await
        .map_err(|e| ClientError::io(file.path, std::io::Error::other(e)))?
        .map_err(|e| ClientError::io(file.path, e))?;

        let proof_url = Url::parse(&format!("{}/proof", url.as_str().trim_end_matches('/')))
            .map_err(|e| ClientError::Protocol(format!("bad upload URL {url}: {e}")))?;
        let sent = self
            .request(Method::POST, proof_url)
            .json(&serde_json::json!({ "proofs": proofs }))
            .timeout(SMALL_REQUEST_TIMEOUT)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                // Maybe answered, maybe not: the PATCH loop asks the server (409 -> HEAD).
                tracing::debug!(error = %ClientError::from(e), "proof not delivered; uploading");
                return Ok(false);
            }
        };
        match resp.status() {
            StatusCode::OK => {
                let header_offset = header_str(resp.headers(), tus::UPLOAD_OFFSET)
                    .map(|v| tus::parse_u64("Upload-Offset", Some(v)))
                    .transpose()?;
                let body = resp.bytes().await?;
                let answer: ProofAnswer = serde_json::from_slice(&body).map_err(|e| {
                    ClientError::Protocol(format!("unreadable answer to the proof: {e}"))
                })?;
                let offset = header_offset.or(answer.offset);
                if !answer.complete || offset != Some(file.size) {
                    return Err(ClientError::Protocol(format!(
                        "proof accepted but the upload is not complete (offset {offset:?} of {})",
                        file.size
                    ))
                    .into());
                }
                Ok(true)
            }
            StatusCode::FORBIDDEN => {
                let e = failure_of(resp).await.into_error();
                tracing::debug!(error = %e, "proof rejected; uploading the bytes");
                Ok(false)
            }
            _ => match failure_of(resp).await {
                Failure::Transient(e) => {
                    tracing::debug!(error = %e, "proof failed; uploading the bytes");
                    Ok(false)
                }
                f => Err(Failure::Fatal(f.into_error())),
            },
        }
    }

    /// `HEAD` on the upload: the server's offset.
    async fn head(&self, file: &LocalFile<'_>, url: &Url) -> Result<HeadInfo, Failure> {
        let resp = self
            .request(Method::HEAD, url.clone())
            .timeout(SMALL_REQUEST_TIMEOUT)
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(failure_of(resp).await);
        }
        let headers = resp.headers();
        let offset = tus::parse_u64("Upload-Offset", header_str(headers, tus::UPLOAD_OFFSET))?;
        if let Some(len) = header_str(headers, tus::UPLOAD_LENGTH) {
            let len = tus::parse_u64("Upload-Length", Some(len))?;
            if len != file.size {
                return Err(ClientError::Protocol(format!(
                    "the upload is {len} bytes long but the file has {}",
                    file.size
                ))
                .into());
            }
        }
        if offset > file.size {
            return Err(ClientError::Protocol(format!(
                "the server's offset {offset} lies beyond the file's {} bytes",
                file.size
            ))
            .into());
        }
        Ok(HeadInfo {
            offset,
            video_id: video_id_header(headers)?,
        })
    }

    /// HEAD, retrying transient failures until `give_up_after` passed since `since`.
    async fn head_retrying(
        &self,
        file: &LocalFile<'_>,
        url: &Url,
        since: Instant,
    ) -> Result<HeadInfo, Failure> {
        let mut backoff = Backoff::default();
        loop {
            match self.head(file, url).await {
                Err(Failure::Transient(e)) | Err(Failure::Conflict(e)) => {
                    self.pause(file, &mut backoff, since, e).await?;
                }
                other => return other,
            }
        }
    }

    /// Waits the next backoff delay after transient error `e`, or gives up with
    /// [`ClientError::Stalled`] once `give_up_after` passed since `since`.
    async fn pause(
        &self,
        file: &LocalFile<'_>,
        backoff: &mut Backoff,
        since: Instant,
        e: ClientError,
    ) -> Result<(), ClientError> {
        let waited = since.elapsed();
        if waited >= self.settings.give_up_after {
            return Err(ClientError::Stalled {
                seconds: waited.as_secs(),
                last: Box::new(e),
            });
        }
        let delay = backoff
            .next_delay()
            .min(self.settings.give_up_after - waited);
        self.ui.note(format!(
            "{}: {e}; retrying in {:.1} s",
            file.name,
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// Sends the bytes from `remote.offset` to the end with PATCH requests.
    async fn send_bytes(
        &self,
        file: &LocalFile<'_>,
        remote: &mut Remote,
    ) -> Result<(), ClientError> {
        let bar = self.ui.upload_bar(&file.name, file.size);
        bar.set_position(remote.offset);
        bar.reset_eta();
        let result = self.patch_loop(file, remote, &bar).await;
        match &result {
            Ok(()) => bar.finish_and_clear(),
            Err(_) => bar.abandon(),
        }
        result
    }

    async fn patch_loop(
        &self,
        file: &LocalFile<'_>,
        remote: &mut Remote,
        bar: &indicatif::ProgressBar,
    ) -> Result<(), ClientError> {
        let mut backoff = Backoff::default();
        let mut last_progress = Instant::now();
        while remote.offset < file.size {
            let before = remote.offset;
            let len = self.settings.chunk_size.min(file.size - before);
            match self.patch(file, &remote.url, before, len, bar).await {
                Ok(offset) => remote.offset = offset,
                Err(Failure::Fatal(e)) => {
                    if matches!(e, ClientError::Server { status: 460, .. }) {
                        // The content differs from what was hashed: this state is useless.
                        self.store.remove(&file.hash)?;
                    }
                    return Err(e);
                }
                Err(Failure::Gone(e)) => {
                    self.store.remove(&file.hash)?;
                    return Err(e);
                }
                Err(f @ (Failure::Transient(_) | Failure::Conflict(_))) => {
                    let conflict = matches!(f, Failure::Conflict(_));
                    let e = f.into_error();
                    tracing::debug!(error = %e, offset = before, "PATCH failed");
                    if !conflict {
                        self.pause(file, &mut backoff, last_progress, e).await?;
                    }
                    match self.head_retrying(file, &remote.url, last_progress).await {
                        Ok(info) => {
                            remote.offset = info.offset;
                            if remote.video_id.is_none() {
                                remote.video_id = info.video_id;
                            }
                        }
                        Err(Failure::Gone(e)) => {
                            self.store.remove(&file.hash)?;
                            return Err(e);
                        }
                        Err(f) => return Err(f.into_error()),
                    }
                    if conflict && remote.offset == before {
                        // The server refused our offset yet reports it: someone else is
                        // writing. Do not spin.
                        let e = ClientError::Protocol(format!(
                            "conflicting offset {before} reported back by the server"
                        ));
                        self.pause(file, &mut backoff, last_progress, e).await?;
                    }
                }
            }
            if remote.offset > before {
                backoff.reset();
                last_progress = Instant::now();
            }
            bar.set_position(remote.offset);
        }
        Ok(())
    }

    /// One PATCH of `len` bytes from `offset`, streamed from the file; the server's new offset.
    async fn patch(
        &self,
        file: &LocalFile<'_>,
        url: &Url,
        offset: u64,
        len: u64,
        bar: &indicatif::ProgressBar,
    ) -> Result<u64, Failure> {
        let io_err = |e| Failure::Fatal(ClientError::io(file.path, e));
        let mut f = tokio::fs::File::open(file.path).await.map_err(io_err)?;
        let now = f.metadata().await.map_err(io_err)?.len();
        if now != file.size {
            return Err(ClientError::FileChanged {
                path: file.path.to_owned(),
            }
            .into());
        }
        f.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(io_err)?;

        let activity = Arc::new(Activity::new());
        let counter = activity.clone();
        let progress = bar.clone();
        let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), STREAM_BUF).inspect(
            move |chunk| {
                if let Ok(bytes) = chunk {
                    counter.record(bytes.len() as u64);
                    progress.inc(bytes.len() as u64);
                }
            },
        );
        let send = self
            .request(Method::PATCH, url.clone())
            .header(CONTENT_TYPE, tus::OFFSET_OCTET_STREAM)
            .header(tus::UPLOAD_OFFSET, offset)
            .header(CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream))
            .send();
        let resp = tokio::select! {
            r = send => r?,
            e = watchdog(&activity, len, self.settings.idle_timeout) => {
                return Err(Failure::Transient(e));
            }
        };
        if !resp.status().is_success() {
            return Err(failure_of(resp).await);
        }
        let new = tus::parse_u64(
            "Upload-Offset",
            header_str(resp.headers(), tus::UPLOAD_OFFSET),
        )?;
        if new < offset || new > offset + len {
            return Err(ClientError::Protocol(format!(
                "PATCH of {len} bytes at {offset} answered Upload-Offset {new}"
            ))
            .into());
        }
        if new == offset && len > 0 {
            return Err(Failure::Transient(ClientError::Protocol(format!(
                "the server acknowledged none of {len} bytes at {offset}"
            ))));
        }
        Ok(new)
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn video_id_header(headers: &HeaderMap) -> Result<Option<VideoId>, ClientError> {
    header_str(headers, tus::SPOOL_VIDEO_ID)
        .map(|v| {
            v.trim()
                .parse::<VideoId>()
                .map_err(|e| ClientError::Protocol(format!("Spool-Video-Id: {e}")))
        })
        .transpose()
}

/// The title a video gets when none was given: the file name without its extension.
pub fn default_title(path: &Path) -> String {
    path.file_stem()
        .or_else(|| path.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "untitled".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_title(path: &str, expect: &str) {
        assert_eq!(default_title(Path::new(path)), expect, "{path:?}");
    }

    #[test]
    fn titles_default_to_the_file_stem() {
        check_title("/videos/holiday 2024.mp4", "holiday 2024");
        check_title("clip.tar.gz", "clip.tar");
        check_title(".hidden", ".hidden");
        check_title("noext", "noext");
        check_title("/", "untitled");
    }

    fn check_class(status: u16, expect: &str) {
        let f = classify(StatusCode::from_u16(status).unwrap(), b"");
        let got = match f {
            Failure::Transient(_) => "transient",
            Failure::Conflict(_) => "conflict",
            Failure::Gone(_) => "gone",
            Failure::Fatal(_) => "fatal",
        };
        assert_eq!(got, expect, "{status}");
    }

    #[test]
    fn statuses_are_classified() {
        check_class(500, "transient");
        check_class(502, "transient");
        check_class(503, "transient");
        check_class(501, "fatal");
        check_class(423, "transient");
        check_class(429, "transient");
        check_class(408, "transient");
        check_class(409, "conflict");
        check_class(404, "gone");
        check_class(410, "gone");
        check_class(400, "fatal");
        check_class(401, "fatal");
        check_class(403, "fatal");
        check_class(413, "fatal");
        check_class(415, "fatal");
        check_class(460, "fatal");
    }

    #[tokio::test(start_paused = true)]
    async fn watchdog_fires_only_when_idle() {
        let activity = Activity::new();
        let idle = Duration::from_secs(10);
        // Keeps firing "activity" every second for 30 s: no timeout meanwhile.
        let busy = async {
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                activity.record(1);
            }
        };
        tokio::select! {
            () = busy => {}
            e = watchdog(&activity, 1000, idle) => panic!("fired while busy: {e}"),
        }
        let started = tokio::time::Instant::now();
        let e = watchdog(&activity, 1000, idle).await;
        assert!(matches!(e, ClientError::Timeout { seconds: 10, .. }), "{e}");
        assert!(started.elapsed() <= Duration::from_secs(12));
        // Once the whole body went out, the server gets five times longer to answer.
        activity.record(1000);
        let started = tokio::time::Instant::now();
        let e = watchdog(&activity, 1000, idle).await;
        assert!(matches!(e, ClientError::Timeout { seconds: 50, .. }), "{e}");
        assert!(started.elapsed() >= Duration::from_secs(50));
    }
}
