//! One transcoding pass: a single ffmpeg process that decodes the source once and writes a set
//! of rungs as CMAF (fMP4) HLS renditions, optionally the audio rendition, storyboard sprite
//! sheets and cover candidates, all from the same decode (`split` in one filter graph).
//!
//! Layout written under `out_dir` (each directory emptied first, so a retried pass starts
//! clean; directories of other passes are left alone):
//!
//! ```text
//! <rung>/init.mp4, <rung>/seg_<n>.m4s, <rung>/index.m3u8     n from 1
//! audio/init.mp4,  audio/seg_<n>.m4s,  audio/index.m3u8       audio is its own rendition
//! storyboard/sb_<n>.jpg, storyboard/storyboard.vtt
//! candidates/c_<n>.jpg
//! ```
//!
//! Keyframes are forced by frame number at every segment boundary (`n` crossing
//! `k·segment_s·fps`, x264 scene cuts off, closed GOPs), so segment boundaries are identical
//! across rungs and across separate passes over the same source. ffmpeg's hls muxer only cuts
//! the files (`-hls_flags temp_file`: a segment appears under its name only when complete);
//! the media playlists are then written here from the segments' own `moof` timing, and the
//! codec strings are read from each `init.mp4`.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spool_config::MediaConfig;
use spool_storage::media::{AUDIO_DIR, CANDIDATES_DIR, STORYBOARD_DIR, STORYBOARD_VTT};

use crate::MediaError;
use crate::ladder::{Rung, fps_rational};
use crate::manifest::{self, AudioTrack, Rendition};
use crate::mp4;
use crate::probe::{MediaInfo, input_args, os_args};
use crate::process::{ProcessRunner, Tool};

/// Width of a storyboard thumbnail in pixels (height keeps the aspect).
pub const STORYBOARD_THUMB_WIDTH: u32 = 160;
/// Storyboard sheets hold at most this many columns and rows of thumbnails.
pub const STORYBOARD_GRID: u32 = 10;
/// Cover candidates are at most this wide.
pub const CANDIDATE_MAX_WIDTH: u32 = 1280;
/// Audio bit rate (AAC-LC, stereo, 48 kHz).
pub const AUDIO_BITRATE_KBPS: u32 = 128;

/// What one pass should produce.
#[derive(Clone, Copy, Debug)]
pub struct PassSpec<'a> {
    /// The source file.
    pub source: &'a Path,
    /// The source's probe.
    pub info: &'a MediaInfo,
    /// The rungs to encode in this pass (may be empty).
    pub rungs: &'a [Rung],
    /// Also encode the audio rendition (ignored when the source has no audio).
    pub audio: bool,
    /// Also write the storyboard (ignored without video).
    pub storyboard: bool,
    /// How many cover candidate frames to write (0 = none; ignored without video).
    pub cover_candidates: u32,
    /// Where the outputs go (the video's media directory).
    pub out_dir: &'a Path,
}

/// What one pass produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PassOutput {
    /// One per rung of the spec, in the same order.
    pub renditions: Vec<RenditionOutput>,
    /// The audio rendition, when asked for and the source has audio.
    pub audio: Option<AudioOutput>,
    /// The storyboard, when asked for and the source has video.
    pub storyboard: Option<StoryboardOutput>,
    /// Cover candidate frames (absolute paths), in time order.
    pub candidates: Vec<PathBuf>,
}

/// One encoded video rendition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenditionOutput {
    /// What the master playlist needs.
    pub rendition: Rendition,
    /// Its segments, in order.
    pub segments: Vec<SegmentInfo>,
    /// Ticks per second of the track (segment `*_ticks` are in these units).
    pub timescale: u32,
}

/// The encoded audio rendition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioOutput {
    /// What the master playlist needs.
    pub track: AudioTrack,
    /// Its segments, in order.
    pub segments: Vec<SegmentInfo>,
    /// Ticks per second of the track (the sample rate).
    pub timescale: u32,
}

/// One media segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// File name relative to the rendition directory: "seg_3.m4s".
    pub uri: String,
    /// True duration in seconds (from the segment's sample durations).
    pub duration_s: f64,
    /// File size in bytes.
    pub bytes: u64,
    /// Decode time of the first sample (`tfdt`), in the track's timescale.
    pub start_ticks: u64,
    /// Duration in the track's timescale.
    pub duration_ticks: u64,
}

/// The storyboard: `tiles` sprite sheets of `columns` x `rows` thumbnails, one thumbnail
/// every `interval_s` seconds, `count` thumbnails in all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoryboardOutput {
    /// Number of sprite sheets (`sb_1.jpg` ...).
    pub tiles: u32,
    /// Thumbnail width in pixels.
    pub thumb_width: u32,
    /// Thumbnail height in pixels.
    pub thumb_height: u32,
    /// Thumbnails per sheet row.
    pub columns: u32,
    /// Thumbnail rows per sheet.
    pub rows: u32,
    /// Seconds between thumbnails.
    pub interval_s: u32,
    /// Thumbnails in all.
    pub count: u32,
}

/// Geometry decided before running ffmpeg.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    rungs: Vec<Rung>,
    audio: bool,
    storyboard: Option<StoryboardOutput>,
    /// (count, width, height)
    candidates: Option<(u32, u32, u32)>,
}

fn plan_pass(spec: &PassSpec<'_>, config: &MediaConfig) -> Result<Plan, MediaError> {
    for rung in spec.rungs {
        let reserved = [AUDIO_DIR, STORYBOARD_DIR, CANDIDATES_DIR];
        if rung.name.is_empty()
            || !rung.name.bytes().all(|b| b.is_ascii_alphanumeric())
            || reserved.contains(&rung.name.as_str())
            || rung.width < 2
            || rung.height < 2
            || rung.width % 2 != 0
            || rung.height % 2 != 0
        {
            return Err(MediaError::Invalid(format!("unusable rung {rung:?}")));
        }
    }
    let video = spec.info.video.as_ref();
    if !spec.rungs.is_empty() && video.is_none() {
        return Err(MediaError::Invalid("the file has no video".into()));
    }
    let storyboard = match video {
        Some(v) if spec.storyboard => {
            let interval_s = config.storyboard_interval_s.max(1);
            let count = ((spec.info.duration_s / f64::from(interval_s)).ceil() as u32).max(1);
            let columns = count.min(STORYBOARD_GRID);
            let rows = count.div_ceil(columns).min(STORYBOARD_GRID);
            Some(StoryboardOutput {
                tiles: count.div_ceil(columns * rows),
                thumb_width: STORYBOARD_THUMB_WIDTH,
                thumb_height: even_height(STORYBOARD_THUMB_WIDTH, v.width, v.height),
                columns,
                rows,
                interval_s,
                count,
            })
        }
        _ => None,
    };
    let candidates = match video {
        Some(v) if spec.cover_candidates > 0 => {
            let width = (v.width.min(CANDIDATE_MAX_WIDTH) / 2 * 2).max(2);
            Some((
                spec.cover_candidates,
                width,
                even_height(width, v.width, v.height),
            ))
        }
        _ => None,
    };
    Ok(Plan {
        rungs: spec.rungs.to_vec(),
        audio: spec.audio && spec.info.audio.is_some(),
        storyboard,
        candidates,
    })
}

/// The even height of a `width`-wide picture with the aspect of `w`x`h`.
fn even_height(width: u32, w: u32, h: u32) -> u32 {
    let height = f64::from(width) * f64::from(h.max(1)) / f64::from(w.max(1));
    (((height / 2.0).round() as u32) * 2).max(2)
}

/// Runs one pass (see the module docs). `progress` gets the fraction done, 0..=1, now and
/// then. The pass is killed after `transcode_timeout_s` or when the future is dropped.
pub async fn run_pass(
    runner: &ProcessRunner,
    spec: &PassSpec<'_>,
    config: &MediaConfig,
    progress: &mut (dyn FnMut(f64) + Send),
) -> Result<PassOutput, MediaError> {
    let plan = plan_pass(spec, config)?;
    let source = std::path::absolute(spec.source)?;
    let out_dir = std::path::absolute(spec.out_dir)?;
    if plan.rungs.is_empty()
        && !plan.audio
        && plan.storyboard.is_none()
        && plan.candidates.is_none()
    {
        progress(1.0);
        return Ok(PassOutput {
            renditions: Vec::new(),
            audio: None,
            storyboard: None,
            candidates: Vec::new(),
        });
    }

    let dirs: Vec<PathBuf> = plan
        .rungs
        .iter()
        .map(|r| out_dir.join(&r.name))
        .chain(plan.audio.then(|| out_dir.join(AUDIO_DIR)))
        .chain(
            plan.storyboard
                .is_some()
                .then(|| out_dir.join(STORYBOARD_DIR)),
        )
        .chain(
            plan.candidates
                .is_some()
                .then(|| out_dir.join(CANDIDATES_DIR)),
        )
        .collect();
    tokio::task::spawn_blocking(move || {
        for dir in dirs {
            match fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            fs::create_dir_all(&dir)?;
        }
        Ok(())
    })
    .await
    .expect("directory preparation does not panic")?;

    let args = ffmpeg_args(&source, &out_dir, spec.info, &plan, config);
    let duration = spec.info.duration_s.max(0.001);
    let expected_frames = plan.rungs.first().map(|r| r.fps * duration);
    let mut tracker = Progress::default();
    let mut on_line = |line: &str| {
        if let Some(fraction) = tracker.line(line, expected_frames, duration) {
            progress(fraction);
        }
    };
    let timeout = Duration::from_secs(config.transcode_timeout_s.max(1));
    let ran = runner
        .run(Tool::Ffmpeg, &args, timeout, Some(&mut on_line))
        .await?;
    if !ran.stderr_tail.trim().is_empty() {
        tracing::warn!(stderr = %ran.stderr_tail.trim(), "ffmpeg finished but reported errors");
    }

    let info_duration = spec.info.duration_s;
    let output = tokio::task::spawn_blocking(move || collect(&out_dir, &plan, info_duration))
        .await
        .expect("collecting outputs does not panic")?;
    progress(1.0);
    Ok(output)
}

/// Turns `-progress` lines into a fraction, once per report block.
#[derive(Default)]
struct Progress {
    frame: Option<f64>,
    out_time_us: Option<f64>,
    last: f64,
}

impl Progress {
    fn line(&mut self, line: &str, expected_frames: Option<f64>, duration: f64) -> Option<f64> {
        let (key, value) = line.split_once('=')?;
        match key.trim() {
            "frame" => self.frame = value.trim().parse().ok(),
            "out_time_us" => self.out_time_us = value.trim().parse().ok(),
            "progress" => {
                // 1.0 is reported by `run_pass` once the outputs are collected.
                let raw = match (expected_frames, self.frame, self.out_time_us) {
                    (Some(expected), Some(frame), _) if expected > 0.0 => frame / expected,
                    (None, _, Some(us)) => us / 1e6 / duration,
                    _ => return None,
                };
                let fraction = raw.clamp(0.0, 0.99);
                if fraction > self.last {
                    self.last = fraction;
                    return Some(fraction);
                }
            }
            _ => {}
        }
        None
    }
}

/// Appends an HLS fMP4 output writing into `dir` (ffmpeg's own playlist is `ffmpeg.m3u8`,
/// replaced afterwards by ours).
fn hls_output(args: &mut Vec<OsString>, dir: &Path, config: &MediaConfig) {
    args.extend(os_args(&[
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-f",
        "hls",
        "-hls_segment_type",
        "fmp4",
        "-hls_time",
    ]));
    args.push(config.segment_s.max(1).to_string().into());
    args.extend(os_args(&[
        "-hls_playlist_type",
        "vod",
        "-hls_list_size",
        "0",
        "-hls_flags",
        "temp_file",
        "-start_number",
        "1",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_segment_filename",
    ]));
    args.push(template(dir, "seg_%d.m4s"));
    args.push(dir.join("ffmpeg.m3u8").into());
}

/// `dir/name` as an ffmpeg filename template (a literal `%` in `dir` doubled).
fn template(dir: &Path, name: &str) -> OsString {
    let dir = dir.to_string_lossy().replace('%', "%%");
    format!("{dir}/{name}").into()
}

fn ffmpeg_args(
    source: &Path,
    out_dir: &Path,
    info: &MediaInfo,
    plan: &Plan,
    config: &MediaConfig,
) -> Vec<OsString> {
    let mut args = os_args(&[
        "-hide_banner",
        "-nostdin",
        "-y",
        "-v",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
    ]);
    args.extend(input_args(source, config, Some(info.demuxer())));

    // One filter graph: decode once, split to every video output.
    let branches = plan.rungs.len()
        + usize::from(plan.storyboard.is_some())
        + usize::from(plan.candidates.is_some());
    if branches > 0 {
        let mut graph = format!("[0:v:0]split={branches}");
        for i in 0..branches {
            graph.push_str(&format!("[s{i}]"));
        }
        let mut branch = 0;
        for (i, rung) in plan.rungs.iter().enumerate() {
            let (num, den) = fps_rational(rung.fps);
            graph.push_str(&format!(
                ";[s{branch}]fps={num}/{den},scale={}:{}:flags=bicubic,setsar=1,format=yuv420p[v{i}]",
                rung.width, rung.height
            ));
            branch += 1;
        }
        if let Some(sb) = &plan.storyboard {
            graph.push_str(&format!(
                ";[s{branch}]fps=fps=1/{}:round=up,scale={}:{}:flags=bicubic,setsar=1,tile={}x{}[sb]",
                sb.interval_s, sb.thumb_width, sb.thumb_height, sb.columns, sb.rows
            ));
            branch += 1;
        }
        if let Some((count, width, height)) = plan.candidates {
            // `count` frames evenly spread over the middle 90%.
            let step = info.duration_s * 0.9 / f64::from(count);
            let first = info.duration_s * 0.05 + step / 2.0;
            graph.push_str(&format!(
                ";[s{branch}]select='if(isnan(prev_selected_t),gte(t,{first:.3}),gte(t-prev_selected_t,{step:.3}))',scale={width}:{height}:flags=bicubic,setsar=1[cand]"
            ));
        }
        args.push("-filter_complex".into());
        args.push(graph.into());
    }

    let segment_s = config.segment_s.max(1);
    for (i, rung) in plan.rungs.iter().enumerate() {
        let (num, den) = fps_rational(rung.fps);
        // Frames per segment, as an exact fraction: a keyframe on the first frame at or past
        // every boundary, counted from the first frame (so audio offsets do not matter).
        let keyframes = format!("expr:gte(n*{den},n_forced*{segment_s}*{num})");
        let frames_per_segment = (f64::from(segment_s) * rung.fps).ceil() as u64;
        let keyint = frames_per_segment * 2 + 1;
        args.extend([
            "-map".into(),
            format!("[v{i}]").into(),
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            OsString::from(&config.preset),
            "-profile:v".into(),
            "high".into(),
            "-crf".into(),
            "23".into(),
            "-maxrate".into(),
            format!("{}k", rung.max_bitrate_kbps).into(),
            "-bufsize".into(),
            format!("{}k", rung.max_bitrate_kbps * 2).into(),
            "-force_key_frames".into(),
            keyframes.into(),
            "-forced-idr".into(),
            "1".into(),
            "-x264-params".into(),
            format!("scenecut=0:open-gop=0:keyint={keyint}").into(),
        ]);
        hls_output(&mut args, &out_dir.join(&rung.name), config);
    }
    if plan.audio {
        args.extend(os_args(&[
            "-map",
            "0:a:0",
            "-c:a",
            "aac",
            "-profile:a",
            "aac_low",
            "-b:a",
        ]));
        args.push(format!("{AUDIO_BITRATE_KBPS}k").into());
        args.extend(os_args(&["-ac", "2", "-ar", "48000"]));
        hls_output(&mut args, &out_dir.join(AUDIO_DIR), config);
    }
    if plan.storyboard.is_some() {
        args.extend(os_args(&["-map", "[sb]", "-fps_mode", "passthrough"]));
        let pattern = template(&out_dir.join(STORYBOARD_DIR), "sb_%d.jpg");
        jpeg_sequence(&mut args, "5", pattern);
    }
    if let Some((count, _, _)) = plan.candidates {
        args.extend(os_args(&[
            "-map",
            "[cand]",
            "-fps_mode",
            "passthrough",
            "-frames:v",
        ]));
        args.push(count.to_string().into());
        let pattern = template(&out_dir.join(CANDIDATES_DIR), "c_%d.jpg");
        jpeg_sequence(&mut args, "2", pattern);
    }
    args
}

/// A JPEG sequence output numbered from 1 into `pattern`, at ffmpeg quality `quality` (`-q:v`,
/// 2 is best), without the source's metadata.
fn jpeg_sequence(args: &mut Vec<OsString>, quality: &str, pattern: OsString) {
    args.extend(os_args(&[
        "-q:v",
        quality,
        "-map_metadata",
        "-1",
        "-f",
        "image2",
        "-start_number",
        "1",
    ]));
    args.push(pattern);
}

/// Reads what ffmpeg wrote, writes our playlists and the storyboard track.
fn collect(out_dir: &Path, plan: &Plan, duration_s: f64) -> Result<PassOutput, MediaError> {
    let mut renditions = Vec::new();
    for rung in &plan.rungs {
        let (init, segments) = read_rendition(&out_dir.join(&rung.name))?;
        let (bandwidth, average_bandwidth) = bandwidths(&segments, init.timescale);
        renditions.push(RenditionOutput {
            rendition: Rendition {
                name: rung.name.clone(),
                width: rung.width,
                height: rung.height,
                frame_rate: rung.fps,
                bandwidth,
                average_bandwidth,
                codecs: init.codecs,
            },
            segments,
            timescale: init.timescale,
        });
    }
    let audio = if plan.audio {
        let (init, segments) = read_rendition(&out_dir.join(AUDIO_DIR))?;
        let (bandwidth, average_bandwidth) = bandwidths(&segments, init.timescale);
        Some(AudioOutput {
            track: AudioTrack {
                codecs: init.codecs,
                bandwidth,
                average_bandwidth,
                channels: 2,
            },
            segments,
            timescale: init.timescale,
        })
    } else {
        None
    };
    let storyboard = match &plan.storyboard {
        Some(expected) => {
            let dir = out_dir.join(STORYBOARD_DIR);
            let sheets = numbered(&dir, "sb_", ".jpg");
            if sheets.is_empty() {
                return Err(no_output("the storyboard"));
            }
            let per_sheet = expected.columns * expected.rows;
            let tiles = sheets.len() as u32;
            let sb = StoryboardOutput {
                tiles,
                count: expected.count.min(tiles * per_sheet),
                ..expected.clone()
            };
            write_atomic(
                &dir.join(STORYBOARD_VTT),
                &manifest::storyboard_vtt(&sb, duration_s, ""),
            )?;
            Some(sb)
        }
        None => None,
    };
    let candidates = match plan.candidates {
        Some(_) => numbered(&out_dir.join(CANDIDATES_DIR), "c_", ".jpg"),
        None => Vec::new(),
    };
    Ok(PassOutput {
        renditions,
        audio,
        storyboard,
        candidates,
    })
}

fn no_output(what: &str) -> MediaError {
    MediaError::Failed {
        tool: "ffmpeg",
        status: "exit status: 0".into(),
        detail: format!("{what} was not written"),
    }
}

/// `dir/<prefix>1<suffix>`, `dir/<prefix>2<suffix>`, ... while they exist.
fn numbered(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    (1..)
        .map(|n| dir.join(format!("{prefix}{n}{suffix}")))
        .take_while(|p| p.is_file())
        .collect()
}

/// Reads `init.mp4` and the segments ffmpeg listed, writes `index.m3u8`.
fn read_rendition(dir: &Path) -> Result<(mp4::InitInfo, Vec<SegmentInfo>), MediaError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ffmpeg_playlist = dir.join("ffmpeg.m3u8");
    let listed = fs::read_to_string(&ffmpeg_playlist)
        .map_err(|_| no_output(&format!("the {name} playlist")))?;
    let init_bytes = fs::read(dir.join("init.mp4"))?;
    let init = mp4::parse_init(&init_bytes).map_err(|e| MediaError::Failed {
        tool: "ffmpeg",
        status: "exit status: 0".into(),
        detail: format!("{name}/init.mp4: {e}"),
    })?;
    let mut segments = Vec::new();
    for uri in listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if uri.contains('/') || uri.contains("..") {
            return Err(no_output(&format!("a usable {name} segment list ({uri})")));
        }
        let bytes = fs::read(dir.join(uri))?;
        let timing =
            mp4::parse_fragment(&bytes, init.default_duration).map_err(|e| MediaError::Failed {
                tool: "ffmpeg",
                status: "exit status: 0".into(),
                detail: format!("{name}/{uri}: {e}"),
            })?;
        segments.push(SegmentInfo {
            uri: uri.to_owned(),
            duration_s: timing.duration as f64 / f64::from(init.timescale),
            bytes: bytes.len() as u64,
            start_ticks: timing.decode_time,
            duration_ticks: timing.duration,
        });
    }
    if segments.is_empty() {
        return Err(no_output(&format!("any {name} segment")));
    }
    write_atomic(
        &dir.join("index.m3u8"),
        &manifest::media_playlist(&segments, init.timescale),
    )?;
    fs::remove_file(&ffmpeg_playlist)?;
    Ok((init, segments))
}

/// (peak, average) bit rates in bits/s. The peak follows the HLS definition: the highest
/// rate of any run of consecutive segments lasting 0.5–1.5 target durations (the target is
/// the longest segment rounded up); the average when no run qualifies.
fn bandwidths(segments: &[SegmentInfo], timescale: u32) -> (u64, u64) {
    let total_bits: f64 = segments.iter().map(|s| s.bytes as f64 * 8.0).sum();
    let total_s: f64 = segments.iter().map(|s| s.duration_s).sum();
    if total_s <= 0.0 {
        return (0, 0);
    }
    let average = total_bits / total_s;
    let target = segments
        .iter()
        .map(|s| s.duration_ticks.div_ceil(u64::from(timescale.max(1))))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut peak: f64 = 0.0;
    for i in 0..segments.len() {
        let (mut bits, mut secs) = (0.0, 0.0);
        for s in &segments[i..] {
            bits += s.bytes as f64 * 8.0;
            secs += s.duration_s;
            if secs > target * 1.5 {
                break;
            }
            if secs >= target * 0.5 {
                peak = peak.max(bits / secs);
            }
        }
    }
    if peak == 0.0 {
        peak = average;
    }
    (peak.ceil() as u64, average.ceil() as u64)
}

/// Writes one of our text files (playlist, WebVTT) durably through the one atomic write.
fn write_atomic(path: &Path, contents: &str) -> Result<(), MediaError> {
    spool_storage::write_atomic(path, contents.as_bytes()).map_err(storage_error)
}

pub(crate) fn storage_error(e: spool_storage::StorageError) -> MediaError {
    let spool_storage::StorageError::Io { source, .. } = e;
    MediaError::Io(source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{AudioStream, VideoStream};

    fn info(width: u32, height: u32, duration_s: f64, audio: bool) -> MediaInfo {
        MediaInfo {
            format: "matroska,webm".into(),
            duration_s,
            video: (width > 0).then(|| VideoStream {
                width,
                height,
                fps: 25.0,
                codec: "h264".into(),
            }),
            audio: audio.then(|| AudioStream {
                codec: "aac".into(),
                channels: 1,
                sample_rate: 44100,
            }),
        }
    }

    fn rung(name: &str, width: u32, height: u32) -> Rung {
        Rung {
            name: name.into(),
            width,
            height,
            fps: 30000.0 / 1001.0,
            max_bitrate_kbps: 2350,
        }
    }

    fn spec<'a>(info: &'a MediaInfo, rungs: &'a [Rung]) -> PassSpec<'a> {
        PassSpec {
            source: Path::new("/src/in put.mkv"),
            info,
            rungs,
            audio: true,
            storyboard: true,
            cover_candidates: 4,
            out_dir: Path::new("/out/v1"),
        }
    }

    #[test]
    fn plans_storyboard_and_candidates() {
        let config = MediaConfig::default();
        // (width, height, duration) -> (columns, rows, tiles, count, thumb height, candidate size)
        for (input, expect) in [
            ((1920, 1080, 6.0), (3, 1, 1, 3, 90, (1280, 720))),
            ((720, 1280, 6.5), (4, 1, 1, 4, 284, (720, 1280))),
            ((641, 359, 30.0), (10, 2, 1, 15, 90, (640, 358))),
            ((1920, 1080, 600.0), (10, 10, 3, 300, 90, (1280, 720))),
            ((176, 144, 0.5), (1, 1, 1, 1, 130, (176, 144))),
        ] {
            let info = info(input.0, input.1, input.2, false);
            let plan = plan_pass(&spec(&info, &[]), &config).unwrap();
            let sb = plan.storyboard.unwrap();
            let (w, h) = (plan.candidates.unwrap().1, plan.candidates.unwrap().2);
            assert_eq!(
                (
                    sb.columns,
                    sb.rows,
                    sb.tiles,
                    sb.count,
                    sb.thumb_height,
                    (w, h)
                ),
                expect,
                "{input:?}"
            );
        }
        // No video: neither storyboard nor candidates; audio only when the source has it.
        let audio_only = info(0, 0, 5.0, true);
        let plan = plan_pass(&spec(&audio_only, &[]), &config).unwrap();
        assert!(plan.storyboard.is_none() && plan.candidates.is_none() && plan.audio);
        let silent = info(640, 360, 5.0, false);
        assert!(!plan_pass(&spec(&silent, &[]), &config).unwrap().audio);
        // Rungs without video, and unsafe rung names, are refused.
        assert!(plan_pass(&spec(&audio_only, &[rung("720p", 1280, 720)]), &config).is_err());
        for bad in ["../x", "audio", "", "a/b", "720p "] {
            assert!(
                plan_pass(&spec(&silent, &[rung(bad, 640, 360)]), &config).is_err(),
                "{bad}"
            );
        }
        assert!(plan_pass(&spec(&silent, &[rung("x", 641, 360)]), &config).is_err());
    }

    #[test]
    fn command_line() {
        let config = MediaConfig::default();
        let info = info(1920, 1080, 10.0, true);
        let rungs = [rung("720p", 1280, 720), rung("360p", 640, 360)];
        let plan = plan_pass(&spec(&info, &rungs), &config).unwrap();
        let args: Vec<String> = ffmpeg_args(
            Path::new("/src/-in put.mkv"),
            Path::new("/out/v1"),
            &info,
            &plan,
            &config,
        )
        .into_iter()
        .map(|a| a.into_string().unwrap())
        .collect();
        let joined = args.join(" ");
        for expect in [
            "-nostdin",
            "-progress pipe:1",
            "-protocol_whitelist file -format_whitelist mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv",
            "-f matroska -i file:/src/-in put.mkv",
            "[0:v:0]split=4[s0][s1][s2][s3];[s0]fps=30000/1001,scale=1280:720:flags=bicubic,setsar=1,format=yuv420p[v0];[s1]fps=30000/1001,scale=640:360",
            "fps=fps=1/2:round=up,scale=160:90:flags=bicubic,setsar=1,tile=5x1[sb]",
            "select='if(isnan(prev_selected_t),gte(t,1.625),gte(t-prev_selected_t,2.250))',scale=1280:720",
            "-force_key_frames expr:gte(n*1001,n_forced*4*30000)",
            "-x264-params scenecut=0:open-gop=0:keyint=241",
            "-maxrate 2350k -bufsize 4700k",
            "-hls_segment_filename /out/v1/720p/seg_%d.m4s /out/v1/720p/ffmpeg.m3u8",
            "-map 0:a:0 -c:a aac -profile:a aac_low -b:a 128k -ac 2 -ar 48000",
            "/out/v1/audio/ffmpeg.m3u8",
            "/out/v1/storyboard/sb_%d.jpg",
            "-frames:v 4",
            "/out/v1/candidates/c_%d.jpg",
        ] {
            assert!(joined.contains(expect), "missing {expect:?} in {joined}");
        }
        // The source is one argument, a file: URL.
        assert!(args.contains(&"file:/src/-in put.mkv".to_owned()));
        assert_eq!(
            template(Path::new("/a%b"), "seg_%d.m4s"),
            OsString::from("/a%%b/seg_%d.m4s")
        );
    }

    #[test]
    fn progress_lines() {
        let mut p = Progress::default();
        let mut got = Vec::new();
        for line in [
            "frame=0",
            "out_time_us=N/A",
            "progress=continue",
            "frame=150",
            "progress=continue",
            "frame=150",
            "progress=continue",
            "frame=400",
            "progress=continue",
            "progress=end",
        ] {
            if let Some(f) = p.line(line, Some(300.0), 10.0) {
                got.push(f);
            }
        }
        assert_eq!(got, [0.5, 0.99]);
        let mut p = Progress::default();
        let got: Vec<f64> = ["out_time_us=2500000", "progress=continue"]
            .iter()
            .filter_map(|l| p.line(l, None, 10.0))
            .collect();
        assert_eq!(got, [0.25]);
    }

    fn seg(secs: f64, bytes: u64) -> SegmentInfo {
        SegmentInfo {
            uri: String::new(),
            duration_s: secs,
            bytes,
            start_ticks: 0,
            duration_ticks: (secs * 1000.0).round() as u64,
        }
    }

    #[test]
    fn bandwidth_is_the_hls_peak() {
        // Four 4 s segments of 1, 2, 1, 1 MB and a 0.5 s tail of 0.5 MB: the tail alone is
        // too short to count, merged with its neighbour it is 1.5 MB / 4.5 s.
        let segments = [
            seg(4.0, 1_000_000),
            seg(4.0, 2_000_000),
            seg(4.0, 1_000_000),
            seg(4.0, 1_000_000),
            seg(0.5, 500_000),
        ];
        let (peak, average) = bandwidths(&segments, 1000);
        assert_eq!(peak, 4_000_000);
        assert_eq!(average, (5_500_000.0 * 8.0 / 16.5f64).ceil() as u64);
        // Too short for any window: the average.
        assert_eq!(bandwidths(&[seg(0.2, 1000)], 1000), (40000, 40000));
        assert_eq!(bandwidths(&[], 1000), (0, 0));
    }
}
