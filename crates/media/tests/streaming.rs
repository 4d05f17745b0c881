//! The process wrapper's streaming mode and its children's lifetime, with the real ffmpeg:
//! a clip fed through stdin comes back transcoded on stdout; a feeder that stalls gets its
//! process killed by the progress watchdog within its deadline; a dropped process dies; the
//! streaming pool is its own (a full VOD pool does not hold it up); and no child outlives a
//! SIGKILLed parent; a process with several outputs writes each into its own named pipe.
#![allow(clippy::disallowed_methods)] // runs this test binary as a helper process

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spool_config::MediaConfig;
use spool_media::MediaError;
use spool_media::probe::{self, pipe_input_args};
use spool_media::process::{OutputPipes, ProcessRunner, StreamingProcess, Tool};
use spool_media::testing;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// The bytes of an MPEG-TS clip (H.264 + AAC) made by ffmpeg from its test sources in `dir`.
async fn mpegts_clip(runner: &ProcessRunner, dir: &Path, seconds: u32) -> Vec<u8> {
    let out = dir.join("clip.ts");
    let duration = seconds.to_string();
    let list = args(&[
        "-nostdin",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size=320x180:rate=25:duration={duration}"),
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=440:duration={duration}"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-f",
        "mpegts",
        &out.to_string_lossy(),
    ]);
    runner
        .run(Tool::Ffmpeg, &list, Duration::from_secs(60), None)
        .await
        .expect("make the test clip");
    std::fs::read(&out).unwrap()
}

/// ffmpeg reading MPEG-TS on stdin and writing MPEG-TS on stdout, progress on stderr.
fn transcode_stdin_args() -> Vec<OsString> {
    let mut list = args(&[
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-nostats",
        "-progress",
        "pipe:2",
        "-stats_period",
        "0.2",
    ]);
    list.extend(pipe_input_args("mpegts").unwrap());
    list.extend(args(&[
        "-map",
        "0",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-f",
        "mpegts",
        "pipe:1",
    ]));
    list
}

/// A streaming ffmpeg running [`transcode_stdin_args`] with stall timeout `stall`.
async fn transcoder(runner: &ProcessRunner, stall: Duration) -> StreamingProcess {
    runner
        .stream(Tool::Ffmpeg, &transcode_stdin_args(), stall)
        .await
        .unwrap()
}

/// Everything `process` writes on stdout, once it has exited successfully.
async fn output(mut process: StreamingProcess) -> String {
    let mut stdout = process.take_stdout().unwrap();
    let mut text = String::new();
    let (read, exit) = tokio::join!(stdout.read_to_string(&mut text), process.wait());
    read.unwrap();
    exit.unwrap();
    text
}

/// True while `pid` is a live process (a zombie counts as dead).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Waits until `pid` is dead, or panics after `within`.
async fn wait_dead(pid: u32, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while alive(pid) {
        assert!(Instant::now() < deadline, "{what}: pid {pid} still alive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_clip_fed_through_stdin_comes_back_transcoded() {
    let dir = tempfile::tempdir().unwrap();
    let runner = ProcessRunner::new(&MediaConfig::default());
    let input = mpegts_clip(&runner, dir.path(), 3).await;

    let mut process = transcoder(&runner, Duration::from_secs(10)).await;
    let mut stdin = process.take_stdin().unwrap();
    let mut stdout = process.take_stdout().unwrap();
    let feed = async move {
        // In pieces, as an ingest would.
        for piece in input.chunks(16 * 1024) {
            stdin.write_all(piece).await.unwrap();
        }
        drop(stdin);
    };
    let read = async move {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).await.unwrap();
        out
    };
    let ((), output, exit) = tokio::join!(feed, read, process.wait());
    let exit = exit.unwrap();
    assert!(
        !exit.stderr_tail.contains("progress="),
        "progress reports stay out of the tail: {}",
        exit.stderr_tail
    );
    assert!(output.len() > 10_000, "{} bytes", output.len());

    // What came out is a whole MPEG-TS stream of the same length, with video and audio.
    let transcoded = dir.path().join("out.ts");
    std::fs::write(&transcoded, &output).unwrap();
    let info = probe::probe(&runner, &transcoded, &MediaConfig::default())
        .await
        .unwrap();
    assert_eq!(info.demuxer(), "mpegts");
    assert!((info.duration_s - 3.0).abs() < 0.5, "{}", info.duration_s);
    assert_eq!(
        info.video.as_ref().map(|v| (v.width, v.height)),
        Some((320, 180))
    );
    assert!(info.audio.is_some());
}

#[tokio::test]
async fn each_output_of_a_streaming_process_comes_through_its_own_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let runner = ProcessRunner::new(&MediaConfig::default());
    let input = mpegts_clip(&runner, dir.path(), 2).await;
    let pipes = OutputPipes::new(&["a.flv", "b.nut"]).unwrap();
    let readers = pipes.open().unwrap();
    let mut list = args(&["-nostdin", "-y", "-v", "error", "-progress", "pipe:2"]);
    list.extend(pipe_input_args("mpegts").unwrap());
    list.extend(args(&["-map", "0:v", "-c", "copy", "-f", "flv"]));
    list.push(pipes.url(0));
    list.extend(args(&["-map", "0:a", "-c", "copy", "-f", "nut"]));
    list.push(pipes.url(1));
    let mut process = runner
        .stream(Tool::Ffmpeg, &list, Duration::from_secs(10))
        .await
        .unwrap();
    let mut stdin = process.take_stdin().unwrap();
    let feed = async move {
        stdin.write_all(&input).await.unwrap();
        drop(stdin);
    };
    // The pipes never end by themselves: read until the process exits, then what is left.
    let read = |mut reader: tokio::net::unix::pipe::Receiver| async move {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match tokio::time::timeout(Duration::from_millis(500), reader.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => panic!("{e}"),
                _ => return out,
            }
        }
    };
    let mut readers = readers.into_iter();
    let (first, second) = (readers.next().unwrap(), readers.next().unwrap());
    let ((), a, b, exit) = tokio::join!(feed, read(first), read(second), process.wait());
    exit.unwrap();
    assert!(
        a.starts_with(b"FLV") && a.len() > 10_000,
        "{} bytes",
        a.len()
    );
    assert!(
        b.starts_with(b"nut/") && b.len() > 1_000,
        "{} bytes",
        b.len()
    );
    let dir_of_pipes = pipes.dir().to_owned();
    drop(pipes);
    assert!(!dir_of_pipes.exists(), "the pipes outlived their owner");
}

#[tokio::test]
async fn a_stalled_feeder_gets_its_process_killed_by_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let runner = ProcessRunner::new(&MediaConfig::default());
    let input = mpegts_clip(&runner, dir.path(), 10).await;
    let stall = Duration::from_secs(2);
    // Probe the stream quickly, as a live ingest would: half a clip is less than ffmpeg's
    // default probe size.
    let mut list = args(&["-probesize", "32768", "-analyzeduration", "500000"]);
    list.extend(transcode_stdin_args());

    let mut process = runner.stream(Tool::Ffmpeg, &list, stall).await.unwrap();
    let pid = process.id().unwrap();
    let mut stdin = process.take_stdin().unwrap();
    let mut stdout = process.take_stdout().unwrap();
    let (fed_tx, fed_rx) = tokio::sync::oneshot::channel::<Instant>();
    let feed = async move {
        // Half of the clip, then nothing more, with the pipe left open: a stalled ingest.
        stdin.write_all(&input[..input.len() / 2]).await.unwrap();
        let _ = fed_tx.send(Instant::now());
        std::future::pending::<()>().await;
        drop(stdin);
    };
    let read = async move {
        let mut total = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    };
    let supervised = async {
        let read = tokio::spawn(read);
        let exit = process.wait().await;
        (exit, read.await.unwrap())
    };
    let started = Instant::now();
    let (exit, read) = tokio::select! {
        done = supervised => done,
        () = feed => unreachable!(),
    };
    let fed_at = fed_rx.await.unwrap();
    let err = exit.unwrap_err();
    assert!(
        matches!(err, MediaError::Stalled { tool: "ffmpeg", .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "tool_stalled");
    assert!(!err.is_permanent());
    assert!(read > 0, "the half that was fed came out first");
    // Killed no sooner than the stall timeout after the feed stopped, and not much later.
    let after_feed = fed_at.elapsed();
    assert!(
        after_feed + Duration::from_millis(500) >= stall,
        "{after_feed:?}"
    );
    assert!(
        started.elapsed() < stall + Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    wait_dead(pid, Duration::from_secs(5), "stalled process").await;
}

#[tokio::test]
async fn a_dropped_streaming_process_dies_and_gives_its_slot_back() {
    let runner = ProcessRunner::new(&MediaConfig {
        max_streaming_processes: 1,
        ..MediaConfig::default()
    });
    let process = transcoder(&runner, Duration::from_secs(600)).await;
    let pid = process.id().unwrap();
    assert!(alive(pid));
    // The one slot is taken: a second stream waits.
    let version = args(&["-version"]);
    let mut second = Box::pin(runner.stream(Tool::Ffmpeg, &version, Duration::from_secs(10)));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut second)
            .await
            .is_err(),
        "the second stream did not wait for the slot"
    );
    drop(process);
    wait_dead(pid, Duration::from_secs(5), "dropped process").await;
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the slot came back")
        .unwrap();
    let text = output(second).await;
    assert!(text.starts_with("ffmpeg version"), "{text}");
}

#[tokio::test]
async fn streaming_never_queues_behind_vod_encodes() {
    let runner = ProcessRunner::new(&MediaConfig {
        max_processes: 1,
        ..MediaConfig::default()
    });
    let forever = args(&testing::FOREVER);
    // The only VOD slot is busy for as long as this test runs.
    let mut vod = Box::pin(runner.run(Tool::Ffmpeg, &forever, Duration::from_secs(600), None));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut vod)
            .await
            .is_err()
    );
    let stream = tokio::time::timeout(
        Duration::from_secs(5),
        runner.stream(Tool::Ffmpeg, &args(&["-version"]), Duration::from_secs(10)),
    )
    .await
    .expect("a streaming process does not wait for a VOD slot")
    .unwrap();
    assert!(output(stream).await.starts_with("ffmpeg version"));
    assert_eq!(runner.spawned(), 2);
}

/// Set in the helper process that [`children_die_with_their_parent`] starts.
const HELPER_ENV: &str = "SPOOL_TEST_PROCESS_PARENT";

/// In the helper process: starts a VOD run and a streaming process that would run for ever,
/// prints their pids and waits to be killed. In the test process: does nothing.
#[tokio::test]
async fn helper_parent_of_children() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let runner = ProcessRunner::new(&MediaConfig::default());
    let forever = args(&testing::FOREVER);
    let vod = runner.run(Tool::Ffmpeg, &forever, Duration::from_secs(600), None);
    let stream = transcoder(&runner, Duration::from_secs(600)).await;
    println!("STREAM {}", stream.id().unwrap());
    let print_vod_pid = async {
        // The VOD child is the one ffmpeg that is not the streaming one.
        let own = std::process::id();
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            for pid in children_of(own) {
                if Some(pid) != stream.id() {
                    println!("VOD {pid}");
                    return;
                }
            }
        }
    };
    tokio::select! {
        _ = vod => {}
        () = async { print_vod_pid.await; std::future::pending::<()>().await } => {}
    }
}

/// Pids whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for pid in testing::pids() {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            pids.push(pid);
        }
    }
    pids
}

/// The process group of `pid`.
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    fields.get(2)?.parse().ok()
}

#[tokio::test]
async fn children_die_with_their_parent() {
    use std::io::BufRead;
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_parent_of_children",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = helper.stdout.take().unwrap();
    // Killed however this test ends.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut helper = KillOnDrop(helper);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let (mut stream, mut vod) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while stream.is_none() || vod.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the helper printed its children's pids");
        // libtest may print its own words first on the same line.
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            match (pair[0], pair[1].parse::<u32>().ok()) {
                ("STREAM", Some(pid)) => stream = Some(pid),
                ("VOD", Some(pid)) => vod = Some(pid),
                _ => {}
            }
        }
    }
    let (stream, vod) = (stream.unwrap(), vod.unwrap());
    for pid in [stream, vod] {
        assert!(alive(pid), "{pid}");
        assert_eq!(
            process_group(pid),
            Some(pid),
            "each child leads its own group"
        );
    }
    // SIGKILL: no destructor runs, kill_on_drop cannot help; the kernel must.
    helper.0.kill().unwrap();
    helper.0.wait().unwrap();
    wait_dead(
        stream,
        Duration::from_secs(5),
        "streaming child of a killed parent",
    )
    .await;
    wait_dead(vod, Duration::from_secs(5), "VOD child of a killed parent").await;
}
