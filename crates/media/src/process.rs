//! The one process wrapper: every ffmpeg and ffprobe run in Spool goes through a
//! [`ProcessRunner`], in one of two modes:
//!
//! - [`ProcessRunner::run`] (VOD: probes, transcoding passes): waits for a slot under the
//!   global concurrency limit (`media.max_processes`), runs the tool with stdin closed, kills
//!   it when the wall-clock timeout passes or when the caller's future is dropped, streams
//!   stdout line by line and keeps a bounded tail of stderr for error messages.
//! - [`ProcessRunner::stream`] (live: long-running processes fed through stdin and read
//!   through stdout): its own pool (`media.max_streaming_processes`), so it never queues
//!   behind VOD encodes; instead of a wall-clock timeout a progress watchdog kills the process
//!   when neither stdout bytes were read nor ffmpeg's `-progress` counters (on stderr)
//!   advanced for the stall timeout; killed when dropped.
//!
//! Every child runs in its own process group and gets `SIGKILL` when the server dies
//! (`PR_SET_PDEATHSIG`, armed from one long-lived spawner thread), so no ffmpeg outlives a killed server: without that,
//! `kill_on_drop` does nothing when the parent is SIGKILLed, and the orphan keeps writing.
//!
//! This is the only module allowed to call `Command::new` (see `clippy.toml`), and the only
//! one with `unsafe` code: [`die_with_parent`], the `pre_exec` hook.

use std::ffi::OsString;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use spool_config::MediaConfig;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader, ReadBuf};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::MediaError;

/// How much of stderr is kept for error messages (the end of it).
const STDERR_TAIL_BYTES: usize = 8 * 1024;
/// Most stdout collected when no line callback is given; a tool printing more fails.
const MAX_STDOUT_BYTES: usize = 32 << 20;
/// Longest stderr line looked at whole in streaming mode (longer ones are cut).
const MAX_STDERR_LINE: u64 = 4096;

/// Which tool to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `ffmpeg` (`MediaConfig::ffmpeg`).
    Ffmpeg,
    /// `ffprobe` (`MediaConfig::ffprobe`).
    Ffprobe,
}

impl Tool {
    /// The tool's name, as used in errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ffmpeg => "ffmpeg",
            Self::Ffprobe => "ffprobe",
        }
    }
}

/// What a successful run printed.
#[derive(Clone, Debug, Default)]
pub struct ProcessOutput {
    /// Everything on stdout, unless a line callback took it (then empty; always empty for a
    /// streaming process, whose stdout the caller reads).
    pub stdout: String,
    /// The last few KB of stderr (lossily decoded; without `-progress` lines when streaming).
    pub stderr_tail: String,
}

/// Runs ffmpeg/ffprobe under shared concurrency limits. Cheap to clone: clones share the
/// limits and the spawn counter.
#[derive(Clone, Debug)]
pub struct ProcessRunner {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    slots: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    stall_timeout: Duration,
    spawned: Arc<AtomicU64>,
}

impl ProcessRunner {
    /// A runner for the configured tool paths, allowing `max_processes` VOD runs and
    /// `max_streaming_processes` streaming processes (each at least 1) at once.
    pub fn new(config: &MediaConfig) -> Self {
        Self {
            ffmpeg: config.ffmpeg.clone(),
            ffprobe: config.ffprobe.clone(),
            slots: Arc::new(Semaphore::new(config.max_processes.max(1))),
            streams: Arc::new(Semaphore::new(config.max_streaming_processes.max(1))),
            stall_timeout: Duration::from_secs(config.stream_stall_timeout_s.max(1)),
            spawned: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many processes this runner (and its clones) has started so far.
    pub fn spawned(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
    }

    /// The configured stall timeout of streaming processes (`media.stream_stall_timeout_s`).
    pub fn stall_timeout(&self) -> Duration {
        self.stall_timeout
    }

    /// The command for `tool`: stdout and stderr piped, killed on drop, in its own process
    /// group, killed when its parent dies.
    fn command(&self, tool: Tool, args: &[OsString], stdin: Stdio) -> Command {
        let program = match tool {
            Tool::Ffmpeg => &self.ffmpeg,
            Tool::Ffprobe => &self.ffprobe,
        };
        tracing::debug!(tool = tool.name(), ?args, "spawning");
        #[allow(clippy::disallowed_methods)] // the one place allowed to spawn processes
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own group: a terminal's Ctrl-C reaches the server (which shuts down in
            // order), not the children directly.
            .process_group(0);
        die_with_parent(&mut command);
        command
    }

    /// Spawns `command` on the [`spawner`] thread, so `PR_SET_PDEATHSIG` ties the child to a
    /// thread that lives as long as the process (the signal fires when the *spawning thread*
    /// exits, and tokio's blocking threads exit after a few idle seconds).
    async fn spawn(&self, tool: Tool, command: Command) -> Result<Child, MediaError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let request = SpawnRequest {
            command,
            runtime: tokio::runtime::Handle::current(),
            reply,
        };
        let spawn_error = |message: &str| MediaError::Spawn {
            tool: tool.name(),
            source: std::io::Error::other(message.to_owned()),
        };
        spawner()
            .ok_or_else(|| spawn_error("the spawner thread could not start"))?
            .send(request)
            .map_err(|_| spawn_error("the spawner thread is gone"))?;
        let child = answer
            .await
            .map_err(|_| spawn_error("the spawner thread dropped the request"))?
            .map_err(|source| MediaError::Spawn {
                tool: tool.name(),
                source,
            })?;
        self.spawned.fetch_add(1, Ordering::Relaxed);
        Ok(child)
    }

    /// Runs `tool` with `args` and stdin closed. Waits for a slot under the concurrency limit
    /// first; `timeout` counts from the start of the process, not the wait. The process is
    /// killed when the timeout passes or when the returned future is dropped. Each stdout line
    /// (without its newline) goes to `on_line` when given, else stdout is collected into
    /// [`ProcessOutput::stdout`]. Stderr is kept as a bounded tail.
    ///
    /// Errors: [`MediaError::Spawn`] when the tool cannot be started,
    /// [`MediaError::Timeout`] when it was killed for running too long,
    /// [`MediaError::Failed`] (with the stderr tail) when it exited unsuccessfully.
    pub async fn run(
        &self,
        tool: Tool,
        args: &[OsString],
        timeout: Duration,
        on_line: Option<&mut (dyn FnMut(&str) + Send)>,
    ) -> Result<ProcessOutput, MediaError> {
        let _permit = self.slots.acquire().await.map_err(|_| closed_pool(tool))?;
        let mut child = self
            .spawn(tool, self.command(tool, args, Stdio::null()))
            .await?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(unpiped(tool));
        };

        let work = async {
            let (out, tail) = tokio::join!(read_stdout(stdout, on_line), read_tail(stderr));
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((out, tail, status))
        };
        let (out, stderr_tail, status) = match tokio::time::timeout(timeout, work).await {
            Ok(result) => result?,
            Err(_) => {
                // `work` (and its borrow of `child`) is gone; kill and reap.
                let _ = child.kill().await;
                return Err(MediaError::Timeout {
                    tool: tool.name(),
                    after: timeout,
                });
            }
        };
        if !status.success() {
            return Err(MediaError::Failed {
                tool: tool.name(),
                status: status.to_string(),
                detail: stderr_tail.trim().to_owned(),
            });
        }
        let stdout = match out? {
            Some(stdout) => stdout,
            None => {
                return Err(MediaError::Failed {
                    tool: tool.name(),
                    status: status.to_string(),
                    detail: format!("printed more than {MAX_STDOUT_BYTES} bytes"),
                });
            }
        };
        Ok(ProcessOutput {
            stdout,
            stderr_tail,
        })
    }

    /// Runs `tool` as [`ProcessRunner::run`] does (a slot under the concurrency limit, stdin
    /// closed, killed at `timeout` or when dropped) but hands its stdout to `read` as a byte
    /// stream (raw video frames, say) and answers what `read` returns. When `read` stops
    /// early its end of the pipe closes and the tool ends on the broken pipe; its exit is then
    /// not an error.
    pub async fn run_reading<T, F, Fut>(
        &self,
        tool: Tool,
        args: &[OsString],
        timeout: Duration,
        read: F,
    ) -> Result<T, MediaError>
    where
        F: FnOnce(ChildStdout) -> Fut,
        Fut: std::future::Future<Output = Result<(T, bool), MediaError>>,
    {
        let _permit = self.slots.acquire().await.map_err(|_| closed_pool(tool))?;
        let mut child = self
            .spawn(tool, self.command(tool, args, Stdio::null()))
            .await?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(unpiped(tool));
        };
        let work = async {
            let (read, tail) = tokio::join!(read(stdout), read_tail(stderr));
            let status = child.wait().await.map_err(|source| MediaError::Spawn {
                tool: tool.name(),
                source,
            })?;
            Ok::<_, MediaError>((read, tail, status))
        };
        let (read, stderr_tail, status) = match tokio::time::timeout(timeout, work).await {
            Ok(result) => result?,
            Err(_) => {
                let _ = child.kill().await;
                return Err(MediaError::Timeout {
                    tool: tool.name(),
                    after: timeout,
                });
            }
        };
        let (value, stopped_early) = read?;
        if !status.success() && !stopped_early {
            return Err(MediaError::Failed {
                tool: tool.name(),
                status: status.to_string(),
                detail: stderr_tail.trim().to_owned(),
            });
        }
        Ok(value)
    }

    /// Starts `tool` as a streaming process: stdin and stdout are pipes for the caller
    /// ([`StreamingProcess::take_stdin`], [`StreamingProcess::take_stdout`]), stderr is read
    /// by [`StreamingProcess::wait`], which the caller must await alongside feeding and
    /// reading: it is the process's watchdog. Waits for a slot of the streaming pool first
    /// (never for a VOD slot). `stall_timeout` is how long the process may go without
    /// progress (stdout bytes read by the caller, or an advancing `frame`, `out_time_us` or
    /// `total_size` on an ffmpeg `-progress pipe:2` report) before it is killed.
    ///
    /// Give ffmpeg `-protocol_whitelist pipe` and `-i pipe:0` for its input (see
    /// [`crate::probe::pipe_input_args`]): a streaming process reads what our own ingest
    /// feeds it, never a URL.
    ///
    /// Errors: [`MediaError::Spawn`] when the tool cannot be started.
    pub async fn stream(
        &self,
        tool: Tool,
        args: &[OsString],
        stall_timeout: Duration,
    ) -> Result<StreamingProcess, MediaError> {
        let permit = Arc::clone(&self.streams)
            .acquire_owned()
            .await
            .map_err(|_| closed_pool(tool))?;
        let mut child = self
            .spawn(tool, self.command(tool, args, Stdio::piped()))
            .await?;
        let clock = Arc::new(ProgressClock::new());
        let stdout = child.stdout.take().map(|inner| ProgressReader {
            inner,
            clock: Arc::clone(&clock),
        });
        Ok(StreamingProcess {
            tool,
            stdin: child.stdin.take(),
            stdout,
            stderr: child.stderr.take(),
            child,
            clock,
            stall_timeout: stall_timeout.max(Duration::from_millis(100)),
            _permit: permit,
        })
    }
}

fn closed_pool(tool: Tool) -> MediaError {
    MediaError::Spawn {
        tool: tool.name(),
        source: std::io::Error::other("the process pool is closed"),
    }
}

fn unpiped(tool: Tool) -> MediaError {
    MediaError::Spawn {
        tool: tool.name(),
        source: std::io::Error::other("the child's pipes are missing"),
    }
}

/// A command for the spawner thread, with the runtime whose reactor will reap the child.
struct SpawnRequest {
    command: Command,
    runtime: tokio::runtime::Handle,
    reply: tokio::sync::oneshot::Sender<std::io::Result<Child>>,
}

/// The process-wide thread every child is forked from; it never exits, so a child's
/// parent-death signal fires only when the whole process dies.
fn spawner() -> Option<&'static std::sync::mpsc::Sender<SpawnRequest>> {
    static SPAWNER: std::sync::OnceLock<Option<std::sync::mpsc::Sender<SpawnRequest>>> =
        std::sync::OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (requests, inbox) = std::sync::mpsc::channel::<SpawnRequest>();
            std::thread::Builder::new()
                .name("spool-spawner".into())
                .spawn(move || {
                    for mut request in inbox {
                        let _runtime = request.runtime.enter();
                        // A caller that gave up gets its child killed on drop.
                        let _ = request.reply.send(request.command.spawn());
                    }
                })
                .map_err(|error| tracing::error!(%error, "cannot start the spawner thread"))
                .ok()?;
            Some(requests)
        })
        .as_ref()
}

/// Makes the child get `SIGKILL` as soon as the thread that spawned it exits (the whole
/// server, when it is SIGKILLed), and fail to start when that already happened.
///
/// That thread is always the [`spawner`], which lives as long as the process.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: `pre_exec` runs the closure in the forked child before `exec`, where only
    // async-signal-safe operations are allowed. It makes two raw system calls through rustix
    // (`prctl(PR_SET_PDEATHSIG)` and `getppid`), allocates nothing (the `io::Error`s are
    // plain OS error codes), takes no locks and touches no memory shared with other threads.
    // Comparing the parent closes the race where the parent died between `fork` and `prctl`.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            if rustix::process::getppid() != Some(parent) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
}

/// When a streaming process last made progress.
#[derive(Debug)]
struct ProgressClock {
    started: Instant,
    last_ms: AtomicU64,
}

impl ProgressClock {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// A long-running process fed through stdin and read through stdout (see
/// [`ProcessRunner::stream`]). Killed when dropped; holds its streaming slot until then.
#[derive(Debug)]
pub struct StreamingProcess {
    tool: Tool,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<ProgressReader>,
    stderr: Option<ChildStderr>,
    clock: Arc<ProgressClock>,
    stall_timeout: Duration,
    _permit: OwnedSemaphorePermit,
}

impl StreamingProcess {
    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// The process's stdin, to feed it (once); dropping it closes the pipe (end of input).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// The process's stdout, to read its output (once). Every byte read counts as progress.
    pub fn take_stdout(&mut self) -> Option<ProgressReader> {
        self.stdout.take()
    }

    /// Supervises the process until it exits: reads stderr (progress reports and a bounded
    /// tail) and kills the process when it makes no progress for the stall timeout.
    ///
    /// Errors: [`MediaError::Stalled`] when the watchdog killed it, [`MediaError::Failed`]
    /// (with the stderr tail) when it exited unsuccessfully.
    pub async fn wait(mut self) -> Result<ProcessOutput, MediaError> {
        let tool = self.tool;
        let stall = self.stall_timeout;
        let clock = Arc::clone(&self.clock);
        let stderr = self.stderr.take();
        // Nobody will feed a process whose stdin was never taken.
        drop(self.stdin.take());
        let finished = {
            let work = async {
                let tail = async {
                    match stderr {
                        Some(stderr) => read_stderr_progress(stderr, &clock).await,
                        None => String::new(),
                    }
                };
                let (tail, status) = tokio::join!(tail, self.child.wait());
                status.map(|status| (tail, status))
            };
            let watchdog = async {
                loop {
                    let idle = clock.idle();
                    if idle >= stall {
                        return;
                    }
                    tokio::time::sleep(stall - idle).await;
                }
            };
            tokio::select! {
                result = work => Some(result),
                () = watchdog => None,
            }
        };
        let Some(result) = finished else {
            let _ = self.child.kill().await;
            tracing::warn!(
                tool = tool.name(),
                ?stall,
                "streaming process stalled; killed"
            );
            return Err(MediaError::Stalled {
                tool: tool.name(),
                after: stall,
            });
        };
        let (stderr_tail, status) = result?;
        if !status.success() {
            return Err(MediaError::Failed {
                tool: tool.name(),
                status: status.to_string(),
                detail: stderr_tail.trim().to_owned(),
            });
        }
        Ok(ProcessOutput {
            stdout: String::new(),
            stderr_tail,
        })
    }
}

/// Named pipes for a streaming process with more than one output (ffmpeg writing several
/// streams at once: one per live rung), in a private directory removed on drop. Open the
/// read ends ([`OutputPipes::open`]) before the process starts: ffmpeg's open for writing
/// then never waits, and reads never see an end of file while the process lives (each read
/// end is opened read-write, as Linux allows), so the end of output is the process's exit.
#[derive(Debug)]
pub struct OutputPipes {
    dir: tempfile::TempDir,
    paths: Vec<PathBuf>,
}

impl OutputPipes {
    /// One pipe per name (plain file names).
    ///
    /// Errors: the directory or a pipe cannot be made.
    pub fn new(names: &[&str]) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("spool-pipes-").tempdir()?;
        let mut paths = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.path().join(name);
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &path,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )?;
            paths.push(path);
        }
        Ok(Self { dir, paths })
    }

    /// The `file:` URL of pipe `index`, for the process's arguments.
    pub fn url(&self, index: usize) -> OsString {
        let mut url = OsString::from("file:");
        url.push(self.paths[index].as_os_str());
        url
    }

    /// The read ends, in the order of the names.
    ///
    /// Errors: a pipe cannot be opened.
    pub fn open(&self) -> std::io::Result<Vec<tokio::net::unix::pipe::Receiver>> {
        self.paths
            .iter()
            .map(|path| {
                tokio::net::unix::pipe::OpenOptions::new()
                    .read_write(true)
                    .open_receiver(path)
            })
            .collect()
    }

    /// Where the pipes are.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// A streaming process's stdout; every byte read resets its watchdog.
#[derive(Debug)]
pub struct ProgressReader {
    inner: ChildStdout,
    clock: Arc<ProgressClock>,
}

impl AsyncRead for ProgressReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.touch();
        }
        polled
    }
}

/// The counters of ffmpeg's `-progress` reports; progress is any of them advancing.
#[derive(Default)]
struct ProgressCounters {
    frame: i64,
    out_time_us: i64,
    total_size: i64,
}

impl ProgressCounters {
    /// `Some(advanced)` for a `-progress` line, `None` for anything else.
    fn line(&mut self, line: &str) -> Option<bool> {
        let (key, value) = line.trim().split_once('=')?;
        let counter = match key {
            "frame" => &mut self.frame,
            "out_time_us" => &mut self.out_time_us,
            "total_size" => &mut self.total_size,
            "progress" => return Some(value == "end"),
            "fps" | "bitrate" | "out_time_ms" | "out_time" | "dup_frames" | "drop_frames"
            | "speed" => return Some(false),
            k if k.starts_with("stream_") => return Some(false),
            _ => return None,
        };
        let Ok(value) = value.trim().parse::<i64>() else {
            return Some(false);
        };
        let advanced = value > *counter;
        *counter = (*counter).max(value);
        Some(advanced)
    }
}

/// Reads a streaming process's stderr to the end: `-progress` lines reset the watchdog when
/// a counter advanced (and stay out of the tail), everything else goes to the bounded tail.
async fn read_stderr_progress(stderr: impl AsyncRead + Unpin, clock: &ProgressClock) -> String {
    let mut reader = BufReader::new(stderr);
    let mut counters = ProgressCounters::default();
    let mut tail = Tail::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_STDERR_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        match counters.line(&String::from_utf8_lossy(&line)) {
            Some(true) => clock.touch(),
            Some(false) => {}
            None => tail.push(&line),
        }
    }
    tail.finish()
}

/// Reads stdout to the end, handing lines to `on_line` or collecting them. `Ok(None)` when
/// the collected output passed [`MAX_STDOUT_BYTES`] (the rest is drained and dropped).
async fn read_stdout(
    stdout: impl AsyncRead + Unpin,
    mut on_line: Option<&mut (dyn FnMut(&str) + Send)>,
) -> std::io::Result<Option<String>> {
    let mut reader = BufReader::new(stdout);
    let mut collected = Vec::new();
    let mut overflow = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            break;
        }
        match on_line.as_mut() {
            Some(callback) => {
                let text = String::from_utf8_lossy(&line);
                callback(text.trim_end_matches(['\n', '\r']));
            }
            None if overflow => {}
            None => {
                if collected.len() + line.len() > MAX_STDOUT_BYTES {
                    overflow = true;
                    collected = Vec::new();
                } else {
                    collected.extend_from_slice(&line);
                }
            }
        }
    }
    if overflow {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&collected).into_owned()))
}

/// The last [`STDERR_TAIL_BYTES`] of what was pushed.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    cut: bool,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > STDERR_TAIL_BYTES * 2 {
            self.bytes.drain(..self.bytes.len() - STDERR_TAIL_BYTES);
            self.cut = true;
        }
    }

    fn finish(mut self) -> String {
        if self.bytes.len() > STDERR_TAIL_BYTES {
            self.bytes.drain(..self.bytes.len() - STDERR_TAIL_BYTES);
            self.cut = true;
        }
        let text = String::from_utf8_lossy(&self.bytes).into_owned();
        // Start at a line boundary when the tail was cut.
        match text.find('\n') {
            Some(i) if self.cut => text[i + 1..].to_owned(),
            _ => text,
        }
    }
}

/// Reads stderr to the end, keeping the last [`STDERR_TAIL_BYTES`] bytes.
async fn read_tail(stderr: impl AsyncRead + Unpin) -> String {
    let mut reader = stderr;
    let mut tail = Tail::default();
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => tail.push(&buf[..n]),
        }
    }
    tail.finish()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn config() -> MediaConfig {
        MediaConfig::default()
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    /// ffmpeg reading an endless test source: only a timeout or a kill stops it.
    fn forever() -> Vec<OsString> {
        args(&crate::testing::FOREVER)
    }

    /// Asserts that `run` is still going a moment later (it holds its slot).
    async fn assert_running(run: &mut (impl Future + Unpin)) {
        assert!(
            tokio::time::timeout(Duration::from_millis(300), run)
                .await
                .is_err()
        );
    }

    /// A runner with `slots` process slots.
    fn with_slots(slots: usize) -> ProcessRunner {
        ProcessRunner::new(&MediaConfig {
            max_processes: slots,
            ..config()
        })
    }

    #[tokio::test]
    async fn timeout_kills() {
        let runner = ProcessRunner::new(&config());
        let started = Instant::now();
        let err = runner
            .run(Tool::Ffmpeg, &forever(), Duration::from_secs(1), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, MediaError::Timeout { tool: "ffmpeg", .. }),
            "{err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err.code(), "tool_timeout");
        assert!(!err.is_permanent());
    }

    #[tokio::test]
    async fn dropping_the_future_kills() {
        let runner = with_slots(1);
        let forever = forever();
        let run = runner.run(Tool::Ffmpeg, &forever, Duration::from_secs(600), None);
        // Give up on it after a moment: the future is dropped, the process must die and the
        // slot must come back, or the next run below would wait for ever.
        assert!(
            tokio::time::timeout(Duration::from_millis(500), run)
                .await
                .is_err()
        );
        let out = tokio::time::timeout(
            Duration::from_secs(10),
            runner.run(
                Tool::Ffprobe,
                &args(&["-version"]),
                Duration::from_secs(10),
                None,
            ),
        )
        .await
        .expect("the slot was released")
        .unwrap();
        assert!(out.stdout.starts_with("ffprobe version"), "{}", out.stdout);
        assert_eq!(runner.spawned(), 2);
    }

    #[tokio::test]
    async fn concurrency_limit_holds() {
        let (forever, version) = (forever(), args(&["-version"]));

        // One slot: a second run waits while the first holds it, and runs once it is gone.
        let runner = with_slots(1);
        let mut first =
            Box::pin(runner.run(Tool::Ffmpeg, &forever, Duration::from_secs(600), None));
        assert_running(&mut first).await;
        assert_eq!(runner.spawned(), 1);
        let mut second =
            Box::pin(runner.run(Tool::Ffprobe, &version, Duration::from_secs(30), None));
        assert!(
            tokio::time::timeout(Duration::from_secs(2), &mut second)
                .await
                .is_err(),
            "the second run did not wait for the slot"
        );
        assert_eq!(runner.spawned(), 1);
        drop(first);
        tokio::time::timeout(Duration::from_secs(30), second)
            .await
            .expect("the slot came back")
            .unwrap();
        assert_eq!(runner.spawned(), 2);

        // Two slots: the second run goes beside the first.
        let runner = with_slots(2);
        let mut first =
            Box::pin(runner.run(Tool::Ffmpeg, &forever, Duration::from_secs(600), None));
        assert_running(&mut first).await;
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            runner.run(Tool::Ffprobe, &version, Duration::from_secs(30), None),
        )
        .await
        .expect("ran beside the first")
        .unwrap();
        assert!(out.stdout.starts_with("ffprobe version"));
        assert_eq!(runner.spawned(), 2);
    }

    #[tokio::test]
    async fn missing_binary_is_spawn_error() {
        let runner = ProcessRunner::new(&MediaConfig {
            ffprobe: "/nonexistent/ffprobe".into(),
            ..config()
        });
        let err = runner
            .run(
                Tool::Ffprobe,
                &args(&["-version"]),
                Duration::from_secs(5),
                None,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                MediaError::Spawn {
                    tool: "ffprobe",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.code(), "tool_unavailable");
        assert_eq!(runner.spawned(), 0);
    }

    #[tokio::test]
    async fn failure_carries_stderr_and_lines_stream() {
        let runner = ProcessRunner::new(&config());
        let err = runner
            .run(
                Tool::Ffmpeg,
                &args(&["-nostdin", "-v", "error", "-i", "file:/nonexistent/x.mp4"]),
                Duration::from_secs(10),
                None,
            )
            .await
            .unwrap_err();
        match &err {
            MediaError::Failed { tool, detail, .. } => {
                assert_eq!(*tool, "ffmpeg");
                assert!(detail.contains("No such file"), "{detail}");
            }
            other => panic!("{other:?}"),
        }

        let mut lines = Vec::new();
        let mut on_line = |line: &str| lines.push(line.to_owned());
        let out = runner
            .run(
                Tool::Ffprobe,
                &args(&["-version"]),
                Duration::from_secs(10),
                Some(&mut on_line),
            )
            .await
            .unwrap();
        assert!(out.stdout.is_empty());
        assert!(lines[0].starts_with("ffprobe version"), "{lines:?}");
        assert!(lines.iter().all(|l| !l.ends_with('\n')));
    }

    #[tokio::test]
    async fn stderr_tail_is_bounded() {
        let text = "x".repeat(100) + "\n";
        let input = text.repeat(1000);
        let tail = read_tail(input.as_bytes()).await;
        assert!(tail.len() <= STDERR_TAIL_BYTES, "{}", tail.len());
        assert!(tail.len() > STDERR_TAIL_BYTES - 200);
        assert!(tail.starts_with('x') && tail.ends_with("x\n"));
        assert_eq!(read_tail("short\n".as_bytes()).await, "short\n");
    }
}
