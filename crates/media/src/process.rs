//! The one process wrapper: every ffmpeg and ffprobe run in Spool goes through
//! [`ProcessRunner::run`], which waits for a slot under the global concurrency limit, runs the
//! tool with stdin closed, kills it when the timeout passes or when the caller's future is
//! dropped, streams stdout line by line and keeps a bounded tail of stderr for error messages.
//!
//! This is the only module allowed to call `Command::new` (see `clippy.toml`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spool_config::MediaConfig;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::Semaphore;

use crate::MediaError;

/// How much of stderr is kept for error messages (the end of it).
const STDERR_TAIL_BYTES: usize = 8 * 1024;
/// Most stdout collected when no line callback is given; a tool printing more fails.
const MAX_STDOUT_BYTES: usize = 32 << 20;

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
    /// Everything on stdout, unless a line callback took it (then empty).
    pub stdout: String,
    /// The last few KB of stderr (lossily decoded).
    pub stderr_tail: String,
}

/// Runs ffmpeg/ffprobe under a shared concurrency limit. Cheap to clone: clones share the
/// limit and the spawn counter.
#[derive(Clone, Debug)]
pub struct ProcessRunner {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    slots: Arc<Semaphore>,
    spawned: Arc<AtomicU64>,
}

impl ProcessRunner {
    /// A runner for the configured tool paths, allowing `max_processes` (at least 1) at once.
    pub fn new(config: &MediaConfig) -> Self {
        Self {
            ffmpeg: config.ffmpeg.clone(),
            ffprobe: config.ffprobe.clone(),
            slots: Arc::new(Semaphore::new(config.max_processes.max(1))),
            spawned: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many processes this runner (and its clones) has started so far.
    pub fn spawned(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
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
        let _permit = self
            .slots
            .acquire()
            .await
            .expect("the process semaphore is never closed");
        let program = match tool {
            Tool::Ffmpeg => &self.ffmpeg,
            Tool::Ffprobe => &self.ffprobe,
        };
        tracing::debug!(tool = tool.name(), ?args, "spawning");
        #[allow(clippy::disallowed_methods)] // the one place allowed to spawn processes
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| MediaError::Spawn {
            tool: tool.name(),
            source,
        })?;
        self.spawned.fetch_add(1, Ordering::Relaxed);
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

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

/// Reads stderr to the end, keeping the last [`STDERR_TAIL_BYTES`] bytes.
async fn read_tail(stderr: impl AsyncRead + Unpin) -> String {
    let mut reader = stderr;
    let mut tail: Vec<u8> = Vec::with_capacity(STDERR_TAIL_BYTES * 2);
    let mut buf = [0u8; 4096];
    let mut cut = false;
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > STDERR_TAIL_BYTES * 2 {
                    tail.drain(..tail.len() - STDERR_TAIL_BYTES);
                    cut = true;
                }
            }
        }
    }
    if tail.len() > STDERR_TAIL_BYTES {
        tail.drain(..tail.len() - STDERR_TAIL_BYTES);
        cut = true;
    }
    let text = String::from_utf8_lossy(&tail).into_owned();
    // Start at a line boundary when the tail was cut.
    match text.find('\n') {
        Some(i) if cut => text[i + 1..].to_owned(),
        _ => text,
    }
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
        args(&[
            "-nostdin",
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=10",
            "-f",
            "null",
            "-",
        ])
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
        let runner = ProcessRunner::new(&MediaConfig {
            max_processes: 1,
            ..config()
        });
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
        let runner = ProcessRunner::new(&MediaConfig {
            max_processes: 1,
            ..config()
        });
        let mut first =
            Box::pin(runner.run(Tool::Ffmpeg, &forever, Duration::from_secs(600), None));
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut first)
                .await
                .is_err()
        );
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
        let runner = ProcessRunner::new(&MediaConfig {
            max_processes: 2,
            ..config()
        });
        let mut first =
            Box::pin(runner.run(Tool::Ffmpeg, &forever, Duration::from_secs(600), None));
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut first)
                .await
                .is_err()
        );
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
