//! Shared helpers for the end-to-end tests: a real `spool serve` process on a free port with a
//! temp data dir (optionally a MariaDB database), plus small HTTP and file helpers.
//!
//! Every test binary includes this with `mod support;`; not every binary uses every helper.
#![allow(dead_code)]
#![allow(clippy::disallowed_methods)] // runs the real spool binary and external clients

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_spool");

/// How long a (re)started server may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two checks of [`Server::eventually`].
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The port a server announced in its log after binding (`spool serving on http://ADDR`),
/// in the part of the log after the harness's `start #n` line.
fn announced_port(log: &str, start: u32, announcement: &str) -> Option<u16> {
    let marker = format!("===== test harness: start #{start} =====");
    let since = &log[log.rfind(&marker)?..];
    let (_, after) = since.split_once(announcement)?;
    let addr = after.split_whitespace().next()?;
    let addr = addr.trim_end_matches("/live");
    addr.rsplit_once(':')?.1.parse().ok()
}

/// A running `spool serve`. Killed (SIGKILL) on drop; its log is printed when the test panics.
pub struct Server {
    dir: tempfile::TempDir,
    /// The `--data` directory.
    pub data: PathBuf,
    /// The `--database` URL, if any (SQLite in the data dir otherwise).
    pub database: Option<String>,
    /// The port it listens on: chosen by the kernel at the first start (no bind-and-drop race
    /// with other tests), the same across restarts.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The RTMP ingest's port, chosen like `port`.
    pub rtmp_port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    /// How many times the process was started.
    pub starts: u32,
    http: reqwest::Client,
    /// An admin's token for `/metrics` (created on first use).
    metrics_token: std::sync::OnceLock<String>,
}

impl Server {
    /// Starts a server on SQLite in its data dir.
    pub async fn start() -> Self {
        Self::start_with(None, &[]).await
    }

    /// Starts a server with an optional `--database` URL and extra environment variables
    /// (e.g. `SPOOL__UPLOAD__MAX_SIZE_BYTES`).
    pub async fn start_with(database: Option<&str>, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let mut server = Self {
            data,
            database: database.map(str::to_owned),
            port: 0,
            rtmp_port: 0,
            base: String::new(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            log,
            child: None,
            starts: 0,
            metrics_token: std::sync::OnceLock::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("http client"),
            dir,
        };
        server.spawn_and_wait().await;
        server
    }

    /// The temp dir holding the data dir and the log (handy for test files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The upload endpoint.
    pub fn uploads_url(&self) -> String {
        self.url("/api/v1/uploads")
    }

    fn store_args(&self) -> Vec<String> {
        let mut args = vec!["--data".to_owned(), self.data.display().to_string()];
        if let Some(db) = &self.database {
            args.push("--database".into());
            args.push(db.clone());
        }
        args
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        // Never pick up a stray ./spool.toml.
        cmd.current_dir(self.dir.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    async fn spawn_and_wait(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open server log");
        self.starts += 1;
        {
            use std::io::Write;
            let mut l = &log;
            let _ = writeln!(l, "===== test harness: start #{} =====", self.starts);
        }
        let mut cmd = self.command();
        cmd.arg("serve")
            .args(self.store_args())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--rtmp-listen")
            .arg(format!("127.0.0.1:{}", self.rtmp_port))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        let child = cmd.spawn().expect("spawn spool serve");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .expect("child")
                .try_wait()
                .expect("try_wait")
            {
                self.child = None;
                panic!(
                    "spool serve exited during startup with {status}\n{}",
                    self.log_tail()
                );
            }
            if self.port == 0 || self.rtmp_port == 0 {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                if let Some(port) = announced_port(&log, self.starts, "spool serving on http://") {
                    self.port = port;
                    self.base = format!("http://127.0.0.1:{port}");
                }
                if let Some(port) = announced_port(&log, self.starts, "rtmp ingest on rtmp://") {
                    self.rtmp_port = port;
                }
            }
            if self.port != 0
                && let Ok(r) = self.http.get(self.url("/healthz")).send().await
                && r.status() == reqwest::StatusCode::OK
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "spool serve did not answer /healthz within {START_TIMEOUT:?}\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs the server (no graceful shutdown) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill is SIGKILL on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM (through `kill`, as an operator or systemd would) and waits for the exit.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server is running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("wait for spool serve") {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "spool serve did not exit within {within:?} of SIGTERM\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server if it runs, then starts it again on the same data dir, database and
    /// port, and waits until it is healthy.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn_and_wait().await;
    }

    /// True while the process is alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    /// Runs `spool user add NAME` against this server's store and returns the raw output.
    pub fn user_add_output(&self, name: &str) -> Output {
        self.user_add_with(name, &[])
    }

    fn user_add_with(&self, name: &str, flags: &[&str]) -> Output {
        self.command()
            .args(["user", "add", name])
            .args(flags)
            .args(self.store_args())
            .stdin(Stdio::null())
            .output()
            .expect("run spool user add")
    }

    /// Runs `spool ARGS...` against this server's store (`--data`, `--database` appended).
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .args(self.store_args())
            .stdin(Stdio::null())
            .output()
            .expect("run spool")
    }

    /// Creates a user and returns its API token.
    pub fn user_add(&self, name: &str) -> String {
        self.token_of(name, self.user_add_output(name))
    }

    /// Creates an admin and returns its API token.
    pub fn admin_add(&self, name: &str) -> String {
        self.token_of(name, self.user_add_with(name, &["--admin"]))
    }

    fn token_of(&self, name: &str, out: Output) -> String {
        assert!(
            out.status.success(),
            "spool user add {name} failed: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).expect("utf-8 token");
        let token = token.trim().to_owned();
        assert!(!token.is_empty(), "spool user add printed no token");
        token
    }

    /// The whole server log so far (every start).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last 64 KiB of the log.
    pub fn log_tail(&self) -> String {
        let mut f = match std::fs::File::open(&self.log) {
            Ok(f) => f,
            Err(e) => return format!("(no server log: {e})"),
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let from = len.saturating_sub(64 * 1024);
        let _ = f.seek(SeekFrom::Start(from));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        format!(
            "----- server log ({}{}) -----\n{}\n----- end of server log -----",
            self.log.display(),
            if from > 0 { ", tail" } else { "" },
            String::from_utf8_lossy(&buf)
        )
    }

    /// Where the blob of content `blake3_hex` lives.
    pub fn blob_path(&self, blake3_hex: &str) -> PathBuf {
        self.data
            .join("blobs")
            .join(&blake3_hex[..2])
            .join(blake3_hex)
    }

    /// `GET path` as `token`: the JSON body; panics unless 200.
    pub async fn get_json(&self, token: &str, path: &str) -> serde_json::Value {
        let r = client()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status();
        let body = r.text().await.expect("body");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// `GET /api/v1/videos/{id}` as `token`; panics unless 200.
    pub async fn video(&self, token: &str, id: &str) -> serde_json::Value {
        self.get_json(token, &format!("/api/v1/videos/{id}")).await
    }

    /// `POST path` with a JSON body as `token`: the status and the JSON answer (`null` when
    /// the answer is no JSON, e.g. a 204).
    pub async fn post_json(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = client()
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    /// Polls the video as `token` until `done(video)`, failing at `within` or when the video
    /// failed (unless `what` is "failed"); returns the last JSON.
    pub async fn wait_video(
        &self,
        token: &str,
        id: &str,
        what: &str,
        within: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        self.eventually(what, within, || async {
            let video = self.video(token, id).await;
            assert!(
                video["status"] != "failed" || what == "failed",
                "video failed while waiting for {what}: {video}\n{}",
                self.log_tail()
            );
            if done(&video) {
                Ok(video)
            } else {
                Err(video.to_string())
            }
        })
        .await
    }

    /// Asks `check` until it answers `Ok`, at most until `within` has passed (then fails with
    /// `what`, the last answer and the server's log). The one poll loop of these tests: each
    /// check is a real request, so waiting is for the condition, never for a fixed time.
    pub async fn eventually<T, F, Fut>(&self, what: &str, within: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let deadline = Instant::now() + within;
        loop {
            match check().await {
                Ok(value) => return value,
                Err(last) => assert!(
                    Instant::now() < deadline,
                    "timed out waiting for {what}: {last}\n{}",
                    self.log_tail()
                ),
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// `spool moderation hash` of a test clip's frames: the printed lines
    /// (`<hex> <quality> <file>@<s>`).
    pub fn hash_clip(&self, name: &str) -> String {
        let out = self.cli(&["moderation", "hash", clip(name).to_str().unwrap()]);
        assert!(
            out.status.success(),
            "spool moderation hash: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 hashes")
    }

    /// Imports `lines` as the PDQ list `list` through the CLI (straight into the database) and
    /// waits until the running server matches `hash` against it (`moderation.reload_s`);
    /// returns the match answer.
    pub async fn import_hashes(
        &self,
        admin: &str,
        list: &str,
        lines: &str,
        hash: &str,
    ) -> serde_json::Value {
        let file = self.dir().join(format!("{list}.txt"));
        std::fs::write(&file, lines).unwrap();
        let imported = self.cli(&[
            "moderation",
            "import",
            file.to_str().unwrap(),
            "--list",
            list,
        ]);
        assert!(
            imported.status.success(),
            "spool moderation import: {}",
            String::from_utf8_lossy(&imported.stderr)
        );
        let body = serde_json::json!({"hash": hash});
        let what = format!("the server to load the list {list}");
        self.eventually(&what, Duration::from_secs(30), || async {
            let (status, found) = self
                .post_json(admin, "/api/v1/moderation/match", &body)
                .await;
            assert_eq!(status, 200, "POST /api/v1/moderation/match: {found}");
            if found["matches"].as_array().is_some_and(|m| !m.is_empty()) {
                Ok(found)
            } else {
                Err(found.to_string())
            }
        })
        .await
    }

    /// `GET /api/v1/uploads?blake3=HEX` as `token`: the `uploads` array.
    pub async fn lookup(&self, token: &str, blake3_hex: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v1/uploads?blake3={blake3_hex}");
        let v = self.get_json(token, &path).await;
        v["uploads"].as_array().expect("uploads array").clone()
    }

    /// The Prometheus text of `GET /metrics` (as an admin: it is not served to anyone else).
    pub async fn metrics_text(&self) -> String {
        let token = self
            .metrics_token
            .get_or_init(|| self.admin_add("metrics-scraper"));
        client()
            .get(self.url("/metrics"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// The value of an un-labelled counter in `GET /metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        metric_value(&self.metrics_text().await, name)
    }

    /// Asserts the server still answers `/healthz` with 200.
    pub async fn assert_healthy(&self) {
        let r = client()
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("GET /healthz");
        assert_eq!(r.status(), 200, "server unhealthy");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// Sums the samples of `name` (any labels) in a Prometheus text exposition.
pub fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A plain HTTP client for the tests (30 s timeout).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// `len` pseudo-random bytes from a seeded RNG.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// Writes `len` seeded pseudo-random bytes to `dir/name` and returns the path and its BLAKE3.
pub fn random_file(dir: &Path, name: &str, seed: u64, len: usize) -> (PathBuf, String) {
    let bytes = random_bytes(seed, len);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).expect("write test file");
    (path, blake3_hex(&bytes))
}

/// BLAKE3 of `data` as lowercase hex.
pub fn blake3_hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// BLAKE3 of a file as lowercase hex.
pub fn blake3_file(path: &Path) -> String {
    let mut h = blake3::Hasher::new();
    h.update_reader(std::fs::File::open(path).expect("open file to hash"))
        .expect("hash file");
    h.finalize().to_hex().to_string()
}

/// Asserts the upload of the video finished (it is `uploaded`, or already in or past the media
/// pipeline, which the server runs in-process) with the expected BLAKE3 and size, and that the
/// blob on disk is byte-identical to the source.
pub async fn assert_uploaded(server: &Server, token: &str, video_id: &str, blake3: &str, len: u64) {
    let v = server.video(token, video_id).await;
    assert!(
        ["uploaded", "processing", "ready", "failed"].contains(&v["status"].as_str().unwrap_or("")),
        "video {video_id} did not finish uploading: {v}"
    );
    assert_eq!(v["blake3"], blake3, "video {video_id} blake3: {v}");
    assert_eq!(v["size_bytes"], len, "video {video_id} size: {v}");
    let blob = server.blob_path(blake3);
    assert!(blob.exists(), "blob {} missing", blob.display());
    assert_eq!(
        blake3_file(&blob),
        blake3,
        "blob {} differs from the source",
        blob.display()
    );
}

/// A ThreatExchange sample video (`../shared/testdata/threatexchange/tmk/NAME` from the repo root).
pub fn clip(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/threatexchange/tmk")
        .join(name)
}

/// tus `Upload-Metadata` from key/value pairs.
pub fn tus_metadata(pairs: &[(&str, &str)]) -> String {
    use base64::Engine as _;
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} {}",
                base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a response header as a string.
pub fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `spool upload FILE` against `server` as `token`, with its own state dir.
pub fn upload_command(server: &Server, token: &str, file: &Path, state_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("upload")
        .arg(file)
        .arg("--server")
        .arg(&server.base)
        .arg("--token")
        .arg(token)
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--no-progress")
        .arg("--retry-for")
        .arg("60")
        .env_remove("SPOOL_SERVER")
        .env_remove("SPOOL_TOKEN")
        .env_remove("SPOOL_STATE_DIR")
        .current_dir(server.dir())
        .stdin(Stdio::null());
    cmd
}

/// Asserts that the client `what` exited successfully; else panics with its output and the
/// end of the server's log.
pub fn assert_succeeded(out: &Output, what: &str, server: &Server) {
    assert!(
        out.status.success(),
        "{what} failed with {}\nstdout: {}\nstderr: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_tail()
    );
}

/// Runs `spool upload`, asserts success and that stdout is exactly one video id line; returns it.
pub fn upload_ok(mut cmd: Command, server: &Server) -> String {
    let out: Output = cmd.output().expect("run spool upload");
    assert_succeeded(&out, "spool upload", server);
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let id = stdout.trim_end_matches('\n');
    assert!(
        !id.is_empty() && !id.contains(char::is_whitespace) && stdout == format!("{id}\n"),
        "stdout must be exactly the video id and a newline, got {stdout:?} (stderr: {stderr})"
    );
    id.to_owned()
}

/// Plays `url` with hls.js in headless Chromium (interop/play-hls.mjs) from `start` seconds
/// (-1: the beginning, or the live edge) for `seconds`; returns the script's report.
pub fn play_in_chromium(url: &str, start: f64, seconds: f64) -> serde_json::Value {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop");
    assert!(
        interop.join("node_modules/hls.js").exists()
            && interop.join("node_modules/playwright-core").exists(),
        "interop/node_modules is missing: run `npm ci --prefix interop` (scripts/test.sh does)"
    );
    let out = Command::new("node")
        .arg(interop.join("play-hls.mjs"))
        .arg(url)
        .arg(start.to_string())
        .arg(seconds.to_string())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "play-hls.mjs failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("play-hls.mjs JSON");
    assert!(report["fatal"].is_null(), "hls.js fatal error: {report}");
    assert!(
        report["playedFrom"].is_number()
            && report["currentTime"].as_f64().unwrap() - report["playedFrom"].as_f64().unwrap()
                >= seconds - 0.05,
        "hls.js did not play {seconds} s: {report}"
    );
    report
}

/// A real clip (ThreatExchange, 720x1280 with audio) looped to about 28 s: a quick pass
/// (360p, 240p, audio, storyboard, covers) and a main pass (720p, 480p) long enough to kill.
pub fn looped_clip(dir: &Path) -> PathBuf {
    let clip = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/threatexchange/tmk/pattern-hd-no-bar.mp4");
    let clip = if clip.exists() {
        clip
    } else {
        PathBuf::from("/work/shared/testdata/threatexchange/tmk/pattern-hd-no-bar.mp4")
    };
    let out = dir.join("looped.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-stream_loop", "3", "-i"])
        .arg(&clip)
        .args(["-c", "copy"])
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(
        status.success(),
        "could not prepare the source from {clip:?}"
    );
    out
}

/// Pids of live ffmpeg processes whose command line mentions `needle` (the data dir).
pub fn ffmpegs_with(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for pid in spool_media::testing::pids() {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_ffmpeg = args
            .first()
            .is_some_and(|a| Path::new(a).file_name().is_some_and(|n| n == "ffmpeg"));
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or_default()
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true);
        let line = args.join(" ");
        if is_ffmpeg && !zombie && line.contains(needle) {
            found.push((pid, line));
        }
    }
    found
}

/// Waits for `check` to answer `Some`, polling every 100 ms, for at most `within`; then panics
/// with `what` and `context()` (the logs worth reading).
pub async fn wait_for<T, F, Fut>(
    what: &str,
    within: Duration,
    context: impl Fn() -> String,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
