//! The live ladder: the publisher's H.264 is passed through as the top rung (no decode, no
//! quality loss), and the lower rungs are encoded by one ffmpeg per broadcast, fed the
//! publisher's FLV tags on stdin (through the streaming process mode) and writing one FLV
//! stream per rung into a named pipe ([`OutputPipes`]). One decode, one scaler per rung,
//! x264 with no B-frames and keyframes exactly where the source has them
//! (`-force_key_frames source`), so every rung's segments start at the same moments as the
//! source's and players switch between them at any segment.

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use spool_media::process::{OutputPipes, ProcessRunner, Tool};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::flv::{self, AvcConfig};
use crate::packager::Packager;

/// Tags queued for the encoder (about 10 s at 30 fps with sound); beyond that it is behind
/// real time and pictures are dropped until the next keyframe.
const FEED_CAPACITY: usize = 1024;

/// An encoded rung: its name (`480p`), size and rate.
#[derive(Clone, Debug, PartialEq)]
pub struct RungPlan {
    /// The rendition's name in URLs.
    pub name: String,
    /// Picture height (the width keeps the source's aspect).
    pub height: u32,
    /// Video bit rate, kbit/s.
    pub video_kbps: u32,
}

/// The rungs to encode for a source `source_height` lines high: the configured heights
/// strictly below it, highest first, each once.
pub fn plan(source_height: u32, heights: &[u32]) -> Vec<RungPlan> {
    let mut heights: Vec<u32> = heights
        .iter()
        .copied()
        .filter(|h| *h < source_height)
        .collect();
    heights.sort_unstable_by(|a, b| b.cmp(a));
    heights.dedup();
    heights
        .into_iter()
        .map(|height| RungPlan {
            name: format!("{height}p"),
            height,
            video_kbps: match height {
                720.. => 2500,
                540.. => 1500,
                480.. => 1000,
                360.. => 600,
                _ => 300,
            },
        })
        .collect()
}

/// One encoded rung of a broadcast.
#[derive(Debug)]
pub struct Rung {
    /// What it encodes.
    pub plan: RungPlan,
    /// Its packager (and recording).
    pub packager: Packager,
}

/// The ffmpeg arguments: FLV on stdin, one FLV output per rung into `pipes`.
fn arguments(rungs: &[Rung], pipes: &OutputPipes) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-hide_banner",
        "-nostdin",
        // The outputs are our named pipes: they exist.
        "-y",
        "-loglevel",
        "error",
        "-nostats",
        "-progress",
        "pipe:2",
        "-stats_period",
        "0.5",
        // Not `-fflags nobuffer`: it drops what probing read (the first second).
        "-probesize",
        "65536",
        "-analyzeduration",
        "500000",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.extend(
        spool_media::probe::pipe_input_args("flv").expect("flv is an accepted stream format"),
    );
    let split: String = (0..rungs.len()).map(|i| format!("[s{i}]")).collect();
    let mut graph = format!("[0:v:0]split={}{split}", rungs.len());
    for (i, rung) in rungs.iter().enumerate() {
        graph.push_str(&format!(
            ";[s{i}]scale=-2:{},format=yuv420p[v{i}]",
            rung.plan.height
        ));
    }
    args.extend(["-filter_complex".into(), graph.into()]);
    for (i, rung) in rungs.iter().enumerate() {
        let kbps = rung.plan.video_kbps;
        // Sound, when the stream has it, copied.
        let mut output: Vec<String> = vec![
            "-map".into(),
            format!("[v{i}]"),
            "-map".into(),
            "0:a:0?".into(),
            "-c:a".into(),
            "copy".into(),
        ];
        output.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-bf",
                "0",
                "-g",
                "600",
                "-sc_threshold",
                "0",
                "-force_key_frames",
                "source",
            ]
            .map(String::from),
        );
        output.extend([
            "-b:v".into(),
            format!("{kbps}k"),
            "-maxrate".into(),
            format!("{kbps}k"),
            "-bufsize".into(),
            format!("{}k", kbps * 2),
            "-flvflags".into(),
            "no_duration_filesize".into(),
            "-f".into(),
            "flv".into(),
        ]);
        args.extend(output.into_iter().map(OsString::from));
        args.push(pipes.url(i));
    }
    args
}

/// How long a rung's pipe may stay quiet after ffmpeg exited before what it wrote counts as
/// all read.
const DRAIN_IDLE: Duration = Duration::from_millis(200);
/// How long a new encoder waits for the one before it to finish writing.
const HANDOVER: Duration = Duration::from_secs(5);

/// A running encoder of a broadcast's lower rungs. Dropping it stops the encoder at once
/// (the process is killed; what it had not written is lost); [`Transcoder::close`] lets it
/// finish what it was given.
#[derive(Debug)]
pub struct Transcoder {
    /// The picture configuration it was started with.
    pub config: AvcConfig,
    feed: Option<mpsc::Sender<Bytes>>,
    /// Pictures are dropped until the next keyframe (the encoder fell behind).
    skipping: AtomicBool,
    stop: CancellationToken,
    finished: CancellationToken,
}

/// An encoder that was closed: it is writing its last pictures.
#[derive(Debug)]
pub struct Closing {
    stop: CancellationToken,
    finished: CancellationToken,
}

impl Closing {
    /// Waits until it finished (at most `within`, then it is killed).
    pub async fn finished(self, within: Duration) {
        if tokio::time::timeout(within, self.finished.cancelled())
            .await
            .is_err()
        {
            self.stop.cancel();
            self.finished.cancelled().await;
        }
    }
}

impl Drop for Transcoder {
    fn drop(&mut self) {
        if self.feed.is_some() {
            self.stop.cancel();
        }
    }
}

impl Transcoder {
    /// Starts encoding `rungs` (of `owner`, which keeps them alive) from a stream whose
    /// first tags are `start` (the configurations), once `previous` (the encoder this one
    /// replaces) finished, calling `before_start` then (with whether there was one).
    /// Returns the handle and the task to run: the caller owns the task; it ends when the
    /// handle is dropped, after [`Transcoder::close`] once ffmpeg wrote everything, or when
    /// ffmpeg fails, and then calls `done`.
    #[allow(clippy::too_many_arguments)]
    pub fn start<T: Send + Sync + 'static>(
        processes: ProcessRunner,
        owner: Arc<T>,
        rungs: fn(&T) -> &[Rung],
        config: AvcConfig,
        start: Vec<Bytes>,
        previous: Option<Closing>,
        before_start: impl FnOnce(&T) + Send + 'static,
        done: impl FnOnce() + Send + 'static,
    ) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let (feed, queue) = mpsc::channel(FEED_CAPACITY);
        let stop = CancellationToken::new();
        let finished = CancellationToken::new();
        let task = {
            let (stop, finished) = (stop.clone(), finished.clone());
            async move {
                if let Some(previous) = previous {
                    previous.finished(HANDOVER).await;
                }
                before_start(&owner);
                tokio::select! {
                    () = stop.cancelled() => {}
                    result = encode(processes, owner.as_ref(), rungs, start, queue) => {
                        if let Err(error) = result {
                            tracing::error!(%error, "the live encoder stopped; lower rungs pause until a keyframe restarts it");
                        }
                    }
                }
                done();
                finished.cancel();
            }
        };
        (
            Self {
                config,
                feed: Some(feed),
                skipping: AtomicBool::new(false),
                stop,
                finished,
            },
            task,
        )
    }

    /// Ends the input: the encoder writes what it has, then exits.
    pub fn close(mut self) -> Closing {
        self.feed = None;
        Closing {
            stop: self.stop.clone(),
            finished: self.finished.clone(),
        }
    }

    /// Queues one FLV tag for the encoder; pictures are dropped (until the next keyframe)
    /// while it is behind.
    pub fn feed(&self, tag: Bytes, picture: bool, keyframe: bool) {
        let Some(feed) = &self.feed else {
            return;
        };
        if picture {
            if keyframe {
                self.skipping.store(false, Ordering::Relaxed);
            } else if self.skipping.load(Ordering::Relaxed) {
                return;
            }
        }
        if feed.try_send(tag).is_err() && picture && !self.skipping.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the live encoder is behind real time; pictures dropped until the next keyframe"
            );
        }
    }
}

/// One ffmpeg run: feeds it, reads every rung's pipe into the rung's packager until ffmpeg
/// exited and the pipes are drained.
async fn encode<T>(
    processes: ProcessRunner,
    owner: &T,
    rungs: fn(&T) -> &[Rung],
    start: Vec<Bytes>,
    mut queue: mpsc::Receiver<Bytes>,
) -> std::io::Result<()> {
    let names: Vec<String> = rungs(owner)
        .iter()
        .map(|r| format!("{}.flv", r.plan.name))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let pipes = OutputPipes::new(&names)?;
    let readers = pipes.open()?;
    let args = arguments(rungs(owner), &pipes);
    let mut process = processes
        .stream(Tool::Ffmpeg, &args, processes.stall_timeout())
        .await
        .map_err(std::io::Error::other)?;
    let mut stdin = process
        .take_stdin()
        .ok_or_else(|| std::io::Error::other("no stdin"))?;
    let exited = CancellationToken::new();
    let feeding = async {
        for tag in start {
            stdin.write_all(&tag).await?;
        }
        loop {
            tokio::select! {
                tag = queue.recv() => match tag {
                    Some(tag) => stdin.write_all(&tag).await?,
                    // Closed: ffmpeg finishes what it has.
                    None => break,
                },
                () = exited.cancelled() => break,
            }
        }
        drop(stdin);
        Ok::<_, std::io::Error>(())
    };
    let waiting = async {
        let exit = process.wait().await;
        exited.cancel();
        exit.map(|_| ()).map_err(std::io::Error::other)
    };
    let reading =
        futures_util::future::try_join_all(readers.into_iter().enumerate().map(|(i, reader)| {
            let exited = &exited;
            async move {
                let mut stream = flv::StreamReader::new(reader);
                loop {
                    // The pipes never end by themselves (see OutputPipes): once ffmpeg
                    // exited, a quiet pipe is a drained one.
                    let next = match tokio::time::timeout(DRAIN_IDLE, stream.next()).await {
                        Ok(next) => next?,
                        Err(_) if exited.is_cancelled() => return Ok(()),
                        Err(_) => continue,
                    };
                    let Some((kind, timestamp, body)) = next else {
                        return Ok(());
                    };
                    let frame = match kind {
                        flv::TAG_VIDEO => flv::video(&body, timestamp),
                        _ => flv::audio(&body, timestamp),
                    }
                    .map_err(std::io::Error::other)?;
                    if let (Some(frame), Some(rung)) = (frame, rungs(owner).get(i)) {
                        rung.packager.push(frame);
                    }
                }
            }
        }));
    let (fed, exit, read) = tokio::join!(feeding, waiting, reading);
    // A feed cut short by ffmpeg's exit is that exit's story.
    drop(fed);
    exit.and(read.map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_never_goes_above_the_source() {
        let names = |source, heights: &[u32]| -> Vec<String> {
            plan(source, heights).into_iter().map(|r| r.name).collect()
        };
        assert_eq!(names(720, &[480, 360]), ["480p", "360p"]);
        assert_eq!(names(1080, &[360, 720, 480, 720]), ["720p", "480p", "360p"]);
        assert_eq!(names(480, &[480, 360]), ["360p"]);
        assert_eq!(names(360, &[480, 360]), Vec::<String>::new());
        assert_eq!(names(720, &[]), Vec::<String>::new());
        assert_eq!(plan(720, &[480])[0].video_kbps, 1000);
    }
}
