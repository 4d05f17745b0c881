//! Safe probing of local source files with ffprobe, and validation against the configured caps.
//!
//! The file is opened as `file:<absolute path>` (so no name is ever read as another protocol
//! or as an option), with `-protocol_whitelist file` (a playlist or reference inside the file
//! cannot make ffprobe open a URL) and `-format_whitelist` [`FORMAT_WHITELIST`] (only the
//! container demuxers we accept; HLS, concat, image sequences and the like are refused).
//! Everything wrong with the file itself is [`MediaError::Invalid`] with a reason a person can
//! read; the reasons never contain server paths.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spool_config::MediaConfig;

use crate::MediaError;
use crate::process::{ProcessRunner, Tool};

/// The demuxers Spool accepts, as ffmpeg 5.1 names them (`ffprobe -formats`): MP4/MOV,
/// Matroska/WebM, AVI, MPEG-TS, FLV.
pub const FORMAT_WHITELIST: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv";

/// Microseconds of media ffmpeg may analyse to find the streams (`-analyzeduration`).
const ANALYZE_DURATION_US: u64 = 10_000_000;

/// What a probe found: the container and the first video and audio streams.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// ffprobe's `format_name`, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm".
    pub format: String,
    /// Duration in seconds (> 0).
    pub duration_s: f64,
    /// The first video stream (not cover art), if any.
    pub video: Option<VideoStream>,
    /// The first audio stream, if any.
    pub audio: Option<AudioStream>,
}

impl MediaInfo {
    /// The demuxer to force when reading the file again: the first name of
    /// [`MediaInfo::format`] ("mov", "matroska", ...).
    pub fn demuxer(&self) -> &str {
        self.format.split(',').next().unwrap_or_default()
    }
}

/// A video stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoStream {
    /// DISPLAY width: the sample aspect ratio applied, swapped with the height when the
    /// stream is rotated by ±90°.
    pub width: u32,
    /// DISPLAY height (see `width`).
    pub height: u32,
    /// Average frame rate; 0 when ffprobe could not tell.
    pub fps: f64,
    /// ffprobe's codec name, e.g. "h264".
    pub codec: String,
}

/// An audio stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioStream {
    /// ffprobe's codec name, e.g. "aac".
    pub codec: String,
    /// Channel count.
    pub channels: u32,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

/// Probes the local file at `path` and validates it against `config`'s caps.
///
/// Errors: [`MediaError::Invalid`] for anything wrong with the file (not a supported format,
/// damaged, empty, too large, too long, too fast, too many streams, nothing to play);
/// [`MediaError::Io`] when it cannot be read at all; [`MediaError::Spawn`] or
/// [`MediaError::Timeout`] when ffprobe could not run or hung.
pub async fn probe(
    runner: &ProcessRunner,
    path: &Path,
    config: &MediaConfig,
) -> Result<MediaInfo, MediaError> {
    let path = std::path::absolute(path)?;
    let meta = tokio::fs::metadata(&path).await?;
    if !meta.is_file() {
        return Err(MediaError::Invalid("not a regular file".into()));
    }
    if meta.len() == 0 {
        return Err(MediaError::Invalid("the file is empty".into()));
    }
    let mut args = os_args(&["-hide_banner", "-v", "error"]);
    args.extend(input_args(&path, config, None));
    args.extend(os_args(&[
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]));
    let timeout = Duration::from_secs(config.probe_timeout_s.max(1));
    let output = match runner.run(Tool::Ffprobe, &args, timeout, None).await {
        Ok(output) => output,
        Err(MediaError::Failed { detail, .. }) => {
            return Err(MediaError::Invalid(failure_reason(&detail)));
        }
        Err(other) => return Err(other),
    };
    let parsed: ProbeJson = serde_json::from_str(&output.stdout).map_err(|e| {
        tracing::warn!(error = %e, "unreadable ffprobe output");
        MediaError::Invalid("the file could not be read as video".into())
    })?;
    validate(&parsed, &output.stderr_tail, config)
}

/// The input options shared by ffprobe and ffmpeg: whitelists, probe limits, the optional
/// forced demuxer, and `-i file:<path>`. `path` must be absolute.
pub(crate) fn input_args(
    path: &Path,
    config: &MediaConfig,
    demuxer: Option<&str>,
) -> Vec<OsString> {
    let mut args = os_args(&[
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-probesize",
    ]);
    args.push(config.probe_size_bytes.max(32).to_string().into());
    args.push("-analyzeduration".into());
    args.push(ANALYZE_DURATION_US.to_string().into());
    if let Some(demuxer) = demuxer.filter(|d| !d.is_empty()) {
        args.push("-f".into());
        args.push(demuxer.into());
    }
    args.push("-i".into());
    args.push(file_url(path));
    args
}

/// The input options of a streaming ffmpeg reading what our own ingest feeds its stdin:
/// `-protocol_whitelist pipe` (nothing in the stream can make it open a file or a URL), the
/// demuxer forced to `format` (which must be one of [`FORMAT_WHITELIST`]) and `-i pipe:0`.
///
/// Errors: [`MediaError::Invalid`] for a format outside the whitelist.
pub fn pipe_input_args(format: &str) -> Result<Vec<OsString>, MediaError> {
    if format.is_empty() || !FORMAT_WHITELIST.split(',').any(|f| f == format) {
        return Err(MediaError::Invalid(format!(
            "{format:?} is not an accepted stream format"
        )));
    }
    Ok(os_args(&[
        "-protocol_whitelist",
        "pipe",
        "-format_whitelist",
        format,
        "-f",
        format,
        "-i",
        "pipe:0",
    ]))
}

/// `file:<path>`: read by the file protocol whatever the name looks like.
pub(crate) fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path.as_os_str());
    url
}

pub(crate) fn os_args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// A human reason for an ffprobe failure, from its stderr (never echoing paths).
fn failure_reason(stderr: &str) -> String {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("not on whitelist")
        || lower.contains("invalid data found")
        || lower.contains("moov atom not found")
    {
        "not a supported video file (format not recognised)".into()
    } else if lower.contains("end of file") || lower.contains("truncated") {
        "the file is damaged or incomplete".into()
    } else {
        tracing::info!(stderr, "ffprobe rejected a file");
        "the file could not be read as video".into()
    }
}

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<StreamJson>,
    format: Option<FormatJson>,
}

#[derive(Deserialize)]
struct FormatJson {
    format_name: Option<String>,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct StreamJson {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    sample_aspect_ratio: Option<String>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    duration: Option<String>,
    channels: Option<u32>,
    sample_rate: Option<String>,
    #[serde(default)]
    disposition: HashMap<String, i64>,
    #[serde(default)]
    tags: HashMap<String, String>,
    #[serde(default)]
    side_data_list: Vec<SideDataJson>,
}

#[derive(Deserialize)]
struct SideDataJson {
    rotation: Option<f64>,
}

/// Checks the parsed probe against the caps and builds the [`MediaInfo`].
fn validate(
    probe: &ProbeJson,
    stderr: &str,
    config: &MediaConfig,
) -> Result<MediaInfo, MediaError> {
    let invalid = |reason: String| Err(MediaError::Invalid(reason));
    let Some(format) = probe.format.as_ref().and_then(|f| f.format_name.clone()) else {
        return invalid("not a supported video file (format not recognised)".into());
    };
    let count = probe.streams.len();
    if count as u64 > u64::from(config.max_streams) {
        return invalid(format!(
            "the file has {count} streams; the most accepted is {}",
            config.max_streams
        ));
    }
    let video_json = probe.streams.iter().find(|s| {
        s.codec_type.as_deref() == Some("video")
            && s.disposition.get("attached_pic").copied().unwrap_or(0) == 0
    });
    let audio_json = probe
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"));
    if video_json.is_none() && audio_json.is_none() {
        return invalid("the file has no video or audio".into());
    }

    let video = match video_json {
        None => None,
        Some(s) => Some(video_stream(s, stderr, config)?),
    };
    let audio = match audio_json {
        None => None,
        Some(s) => {
            let codec = known_codec(s.codec_name.as_deref()).ok_or_else(|| {
                MediaError::Invalid("the audio cannot be decoded (unknown codec)".into())
            })?;
            let channels = s.channels.unwrap_or(0);
            let sample_rate = s
                .sample_rate
                .as_deref()
                .and_then(|r| r.parse::<u32>().ok())
                .unwrap_or(0);
            if channels == 0 || sample_rate == 0 {
                return invalid("the audio cannot be decoded (no channels or sample rate)".into());
            }
            Some(AudioStream {
                codec,
                channels,
                sample_rate,
            })
        }
    };

    let duration_s = probe
        .format
        .as_ref()
        .and_then(|f| parse_f64(f.duration.as_deref()))
        .or_else(|| {
            probe
                .streams
                .iter()
                .filter_map(|s| parse_f64(s.duration.as_deref()))
                .reduce(f64::max)
        });
    let Some(duration_s) = duration_s else {
        return invalid("the length of the video is unknown (the file may be damaged)".into());
    };
    if duration_s <= 0.0 {
        return invalid("the video has no length (the file may be damaged)".into());
    }
    if duration_s > config.max_duration_s as f64 {
        return invalid(format!(
            "the video is {} long; the longest accepted is {}",
            clock(duration_s),
            clock(config.max_duration_s as f64)
        ));
    }
    Ok(MediaInfo {
        format,
        duration_s,
        video,
        audio,
    })
}

fn video_stream(
    s: &StreamJson,
    stderr: &str,
    config: &MediaConfig,
) -> Result<VideoStream, MediaError> {
    let invalid = |reason: String| Err(MediaError::Invalid(reason));
    let too_big = |w: u32, h: u32| {
        format!(
            "the video is {w}x{h}; the largest accepted is {}x{}",
            config.max_width, config.max_height
        )
    };
    let (coded_w, coded_h) = (s.width.unwrap_or(0), s.height.unwrap_or(0));
    if coded_w == 0 || coded_h == 0 {
        // ffmpeg refuses absurd sizes before reporting them; it logs what was claimed.
        if let Some((w, h)) = claimed_size(stderr) {
            return invalid(too_big(w, h));
        }
        return invalid("the video has no valid frame size (the file may be damaged)".into());
    }
    let Some(codec) = known_codec(s.codec_name.as_deref()) else {
        return invalid("the video cannot be decoded (unknown codec)".into());
    };
    // Display size: apply the sample aspect ratio, then the rotation.
    let mut width = coded_w;
    let height = coded_h;
    if let Some((num, den)) = parse_ratio(s.sample_aspect_ratio.as_deref(), ':')
        && num > 0.0
        && den > 0.0
        && (num - den).abs() > f64::EPSILON
    {
        width = ((f64::from(coded_w) * num / den).round() as u32).max(1);
    }
    let (width, height) = if quarter_turn(s) {
        (height, width)
    } else {
        (width, height)
    };
    let (long, short) = (width.max(height), width.min(height));
    let (max_long, max_short) = (
        config.max_width.max(config.max_height),
        config.max_width.min(config.max_height),
    );
    if long > max_long || short > max_short {
        return invalid(too_big(width, height));
    }
    let avg = rate(s.avg_frame_rate.as_deref());
    if let Some(fps) = avg
        && fps > config.max_source_fps
    {
        return invalid(format!(
            "the video is {fps:.0} frames per second; the most accepted is {:.0}",
            config.max_source_fps
        ));
    }
    let fps = avg
        .or_else(|| rate(s.r_frame_rate.as_deref()).filter(|&r| r <= config.max_source_fps))
        .unwrap_or(0.0);
    Ok(VideoStream {
        width,
        height,
        fps,
        codec,
    })
}

/// A codec ffmpeg identified (a name other than "none"/"unknown").
fn known_codec(name: Option<&str>) -> Option<String> {
    name.filter(|n| !n.is_empty() && *n != "none" && *n != "unknown")
        .map(str::to_owned)
}

/// True when the stream is displayed rotated by ±90° (display matrix, or the old `rotate` tag).
fn quarter_turn(s: &StreamJson) -> bool {
    let rotation = s
        .side_data_list
        .iter()
        .find_map(|d| d.rotation)
        .or_else(|| s.tags.get("rotate").and_then(|r| r.parse::<f64>().ok()));
    rotation.is_some_and(|r| (r.round() as i64).rem_euclid(180) == 90)
}

/// "Picture size 20000x20000 is invalid" in ffmpeg's log: the size the file claimed.
fn claimed_size(stderr: &str) -> Option<(u32, u32)> {
    let rest = &stderr[stderr.find("Picture size ")? + "Picture size ".len()..];
    let size = rest.split_whitespace().next()?;
    let (w, h) = size.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

fn parse_f64(s: Option<&str>) -> Option<f64> {
    s?.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_ratio(s: Option<&str>, sep: char) -> Option<(f64, f64)> {
    let (num, den) = s?.split_once(sep)?;
    Some((num.trim().parse().ok()?, den.trim().parse().ok()?))
}

/// A frame rate "num/den"; None when unknown ("0/0") or not positive.
fn rate(s: Option<&str>) -> Option<f64> {
    let (num, den) = parse_ratio(s, '/')?;
    let fps = num / den;
    (fps.is_finite() && fps > 0.0).then_some(fps)
}

/// Seconds as "1:02:03" or "2:03".
fn clock(seconds: f64) -> String {
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Validates a hand-written ffprobe JSON document; `Ok(debug of MediaInfo)` or the reason.
    fn check(json: &str, stderr: &str, expect: Result<&str, &str>) {
        let parsed: ProbeJson = serde_json::from_str(json).unwrap();
        let got = match validate(&parsed, stderr, &MediaConfig::default()) {
            Ok(info) => Ok(format!(
                "{} {:.1}s video={} audio={}",
                info.format,
                info.duration_s,
                info.video
                    .map(|v| format!("{}x{}@{}/{}", v.width, v.height, v.fps, v.codec))
                    .unwrap_or("-".into()),
                info.audio
                    .map(|a| format!("{}/{}ch/{}", a.codec, a.channels, a.sample_rate))
                    .unwrap_or("-".into()),
            )),
            Err(MediaError::Invalid(reason)) => Err(reason),
            Err(other) => panic!("{other:?}"),
        };
        assert_eq!(got.as_deref().map_err(String::as_str), expect, "for {json}");
    }

    const V: &str = r#"{"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"sample_aspect_ratio":"1:1","avg_frame_rate":"30/1","r_frame_rate":"30/1"}"#;
    const A: &str =
        r#"{"codec_type":"audio","codec_name":"aac","channels":2,"sample_rate":"48000"}"#;

    fn doc(streams: &[&str], duration: &str) -> String {
        format!(
            r#"{{"streams":[{}],"format":{{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"{duration}"}}}}"#,
            streams.join(",")
        )
    }

    #[test]
    fn validates() {
        let mp4 = "mov,mp4,m4a,3gp,3g2,mj2";
        check(
            &doc(&[V, A], "6.0"),
            "",
            Ok(&format!(
                "{mp4} 6.0s video=1920x1080@30/h264 audio=aac/2ch/48000"
            )),
        );
        check(
            &doc(&[A], "6.0"),
            "",
            Ok(&format!("{mp4} 6.0s video=- audio=aac/2ch/48000")),
        );
        check(
            &doc(&[V], "6.0"),
            "",
            Ok(&format!("{mp4} 6.0s video=1920x1080@30/h264 audio=-")),
        );
        // Rotated phone video: display size swapped.
        let rotated = V.replace("\"r_frame_rate\"", "\"side_data_list\":[{\"side_data_type\":\"Display Matrix\",\"rotation\":-90}],\"r_frame_rate\"");
        check(
            &doc(&[&rotated], "6.0"),
            "",
            Ok(&format!("{mp4} 6.0s video=1080x1920@30/h264 audio=-")),
        );
        let upside_down = V.replace(
            "\"r_frame_rate\"",
            "\"tags\":{\"rotate\":\"180\"},\"r_frame_rate\"",
        );
        check(
            &doc(&[&upside_down], "6.0"),
            "",
            Ok(&format!("{mp4} 6.0s video=1920x1080@30/h264 audio=-")),
        );
        // Anamorphic: 720x576 with 16:11 pixels shows as 1047x576.
        let anamorphic = r#"{"codec_type":"video","codec_name":"mpeg2video","width":720,"height":576,"sample_aspect_ratio":"16:11","avg_frame_rate":"25/1"}"#;
        check(
            &doc(&[anamorphic], "6.0"),
            "",
            Ok(&format!("{mp4} 6.0s video=1047x576@25/mpeg2video audio=-")),
        );
        // Cover art is not a video stream.
        let cover = r#"{"codec_type":"video","codec_name":"mjpeg","width":600,"height":600,"disposition":{"attached_pic":1}}"#;
        check(
            &doc(&[A, cover], "6.0"),
            "",
            Ok(&format!("{mp4} 6.0s video=- audio=aac/2ch/48000")),
        );
        // Unknown average frame rate falls back to r_frame_rate, else 0.
        let vfr = V.replace("\"avg_frame_rate\":\"30/1\"", "\"avg_frame_rate\":\"0/0\"");
        check(
            &doc(&[&vfr], "6.0"),
            "",
            Ok(&format!("{mp4} 6.0s video=1920x1080@30/h264 audio=-")),
        );
        // Duration from the streams when the container has none.
        check(
            r#"{"streams":[{"codec_type":"audio","codec_name":"aac","channels":1,"sample_rate":"44100","duration":"3.5"}],"format":{"format_name":"matroska,webm"}}"#,
            "",
            Ok("matroska,webm 3.5s video=- audio=aac/1ch/44100"),
        );
    }

    #[test]
    fn rejects() {
        check(&doc(&[], "6.0"), "", Err("the file has no video or audio"));
        let data = r#"{"codec_type":"data","codec_name":"bin_data"}"#;
        check(
            &doc(&[data], "6.0"),
            "",
            Err("the file has no video or audio"),
        );
        check(
            r#"{"streams":[]}"#,
            "",
            Err("not a supported video file (format not recognised)"),
        );
        let huge = V.replace("1920", "20000").replace("1080", "20000");
        check(
            &doc(&[&huge], "6.0"),
            "",
            Err("the video is 20000x20000; the largest accepted is 7680x4320"),
        );
        // 8K portrait is fine, 8K landscape taller than 4320 is not.
        let portrait_8k = V.replace("1920", "4320").replace("1080", "7680");
        check(
            &doc(&[&portrait_8k], "1"),
            "",
            Ok("mov,mp4,m4a,3gp,3g2,mj2 1.0s video=4320x7680@30/h264 audio=-"),
        );
        let square = V.replace("1920", "5000").replace("1080", "5000");
        check(
            &doc(&[&square], "1"),
            "",
            Err("the video is 5000x5000; the largest accepted is 7680x4320"),
        );
        // ffmpeg refused the size before reporting it.
        let zero = V.replace("1920", "0").replace("1080", "0");
        check(
            &doc(&[&zero], "6.0"),
            "[rawvideo @ 0x1] [IMGUTILS @ 0x2] Picture size 20000x20000 is invalid\n",
            Err("the video is 20000x20000; the largest accepted is 7680x4320"),
        );
        check(
            &doc(&[&zero], "6.0"),
            "",
            Err("the video has no valid frame size (the file may be damaged)"),
        );
        let unknown = V.replace("h264", "none");
        check(
            &doc(&[&unknown], "6.0"),
            "",
            Err("the video cannot be decoded (unknown codec)"),
        );
        let fast = V.replace("30/1", "1000/1");
        check(
            &doc(&[&fast], "6.0"),
            "",
            Err("the video is 1000 frames per second; the most accepted is 240"),
        );
        check(
            &doc(&[V], "0.0"),
            "",
            Err("the video has no length (the file may be damaged)"),
        );
        check(
            &doc(&[V], "N/A"),
            "",
            Err("the length of the video is unknown (the file may be damaged)"),
        );
        check(
            &doc(&[V], "50000"),
            "",
            Err("the video is 13:53:20 long; the longest accepted is 12:00:00"),
        );
        let many: Vec<&str> = std::iter::repeat_n(A, 17).collect();
        check(
            &doc(&many, "6.0"),
            "",
            Err("the file has 17 streams; the most accepted is 16"),
        );
        let silent = A.replace("\"channels\":2", "\"channels\":0");
        check(
            &doc(&[&silent], "6.0"),
            "",
            Err("the audio cannot be decoded (no channels or sample rate)"),
        );
    }

    #[test]
    fn failure_reasons() {
        for (stderr, expect) in [
            (
                "[hls @ 0x1] Format not on whitelist 'mov'\nfile:/x: Invalid argument",
                "not a supported video file (format not recognised)",
            ),
            (
                "file:/x/y.mp4: Invalid data found when processing input",
                "not a supported video file (format not recognised)",
            ),
            (
                "[mov,mp4 @ 0x1] moov atom not found\n",
                "not a supported video file (format not recognised)",
            ),
            (
                "something odd at /srv/data/blobs/ab/cdef",
                "the file could not be read as video",
            ),
        ] {
            assert_eq!(failure_reason(stderr), expect);
        }
    }

    #[test]
    fn demuxer_is_the_first_name() {
        let info = MediaInfo {
            format: "matroska,webm".into(),
            duration_s: 1.0,
            video: None,
            audio: None,
        };
        assert_eq!(info.demuxer(), "matroska");
    }

    #[test]
    fn file_urls() {
        assert_eq!(
            file_url(Path::new("/a/-i b:c.mp4")),
            OsString::from("file:/a/-i b:c.mp4")
        );
        assert_eq!(clock(59.6), "1:00");
        assert_eq!(clock(3723.0), "1:02:03");
    }
}
