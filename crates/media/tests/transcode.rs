//! The media pipeline against real ffmpeg, ffprobe and third-party clients: probe, plan and
//! transcode sources of every awkward shape (generated with ffmpeg's lavfi sources), then
//! check the results with ffprobe, npm `hls-parser` in strict mode, ffmpeg playing the HLS
//! master and the DASH MPD; and hostile or broken files, which must be refused with a reason
//! and without any network request.
//!
//! Needs `ffmpeg`/`ffprobe` on PATH and `interop/node_modules` (`npm ci --prefix interop`);
//! fails, never skips, when they are missing.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use spool_config::MediaConfig;
use spool_media::MediaError;
use spool_media::ladder::{self, Rung};
use spool_media::manifest::{self, AudioTrack, Rendition};
use spool_media::probe::{self, MediaInfo};
use spool_media::process::{ProcessRunner, Tool};
use spool_media::transcode::{PassOutput, PassSpec, RenditionOutput, SegmentInfo, run_pass};

// ---------------------------------------------------------------------------------------------
// Helpers

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Runs ffmpeg or ffprobe through the crate's own runner; panics with stderr on failure.
async fn tool(runner: &ProcessRunner, tool: Tool, args: Vec<OsString>) -> String {
    match runner
        .run(tool, &args, Duration::from_secs(300), None)
        .await
    {
        Ok(out) => out.stdout,
        Err(e) => panic!("{} {args:?}: {e}", tool.name()),
    }
}

/// Makes a source with ffmpeg: `args` go between the global options and `out`.
async fn make(runner: &ProcessRunner, args: &[&str], out: &Path) {
    let mut all = os(&["-nostdin", "-v", "error", "-y"]);
    all.extend(os(args));
    all.push(out.into());
    tool(runner, Tool::Ffmpeg, all).await;
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// Runs node `interop/check-hls.mjs` on the playlists; panics with its output on failure.
fn check_hls(playlists: &[PathBuf]) {
    let interop = interop_dir();
    assert!(
        interop.join("node_modules/hls-parser").is_dir(),
        "npm hls-parser is missing: run `npm ci --prefix interop` first"
    );
    #[allow(clippy::disallowed_methods)] // a real third-party client, not media work
    let out = std::process::Command::new("node")
        .arg(interop.join("check-hls.mjs"))
        .args(playlists)
        .output()
        .expect("node runs (is Node.js installed?)");
    assert!(
        out.status.success(),
        "hls-parser (strict) rejected a playlist:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Plays `manifest` (HLS master or DASH MPD) with ffmpeg as a client: `output` options
/// decide what it does with the streams. Must exit 0 with nothing on stderr.
async fn play(runner: &ProcessRunner, manifest: &Path, output: &[&str]) {
    let args = os(&["-nostdin", "-v", "error", "-i"])
        .into_iter()
        .chain([manifest.into()])
        .chain(os(output))
        .chain(os(&["-f", "null", "-"]))
        .collect::<Vec<_>>();
    let out = runner
        .run(Tool::Ffmpeg, &args, Duration::from_secs(300), None)
        .await
        .unwrap_or_else(|e| panic!("ffmpeg could not play {}: {e}", manifest.display()));
    assert!(
        out.stderr_tail.trim().is_empty(),
        "ffmpeg playing {}: {}",
        manifest.display(),
        out.stderr_tail
    );
}

#[derive(Debug, serde::Deserialize)]
struct Streams {
    streams: Vec<StreamJson>,
}

#[derive(Debug, serde::Deserialize)]
struct StreamJson {
    codec_name: Option<String>,
    profile: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    pix_fmt: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
}

async fn streams(runner: &ProcessRunner, file: &Path, select: &str) -> StreamJson {
    let mut args = os(&[
        "-v",
        "error",
        "-select_streams",
        select,
        "-show_streams",
        "-of",
        "json",
    ]);
    args.push(file.into());
    let json = tool(runner, Tool::Ffprobe, args).await;
    let mut parsed: Streams = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.streams.len(), 1, "{json}");
    parsed.streams.remove(0)
}

/// Presentation times of the keyframes of the first video stream, relative to the first one.
async fn keyframes(runner: &ProcessRunner, file: &Path) -> Vec<f64> {
    let mut args = os(&[
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts_time,flags",
        "-of",
        "csv=p=0",
    ]);
    args.push(file.into());
    let csv = tool(runner, Tool::Ffprobe, args).await;
    let mut times: Vec<f64> = csv
        .lines()
        .filter_map(|l| l.split_once(','))
        .filter(|(_, flags)| flags.contains('K'))
        .map(|(t, _)| t.parse().unwrap())
        .collect();
    times.sort_by(f64::total_cmp);
    let first = times[0];
    times.iter().map(|t| t - first).collect()
}

/// init.mp4 + all segments of a rendition, concatenated into one playable file.
fn concat(dir: &Path, segments: &[SegmentInfo], out: &Path) {
    let mut bytes = std::fs::read(dir.join("init.mp4")).unwrap();
    for s in segments {
        bytes.extend(std::fs::read(dir.join(&s.uri)).unwrap());
    }
    std::fs::write(out, bytes).unwrap();
}

/// Sets the first track's display matrix to a 90° rotation (what phones write).
fn rotate_90(bytes: &mut [u8]) {
    let at = bytes.windows(4).position(|w| w == b"tkhd").expect("tkhd");
    assert_eq!(bytes[at + 4], 0, "version 0 tkhd");
    let matrix = at + 4 + 4 + 4 * 5 + 8 + 8;
    let values: [i32; 9] = [0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x4000_0000];
    for (i, v) in values.iter().enumerate() {
        bytes[matrix + i * 4..matrix + i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Good sources

struct Case {
    name: &'static str,
    file: &'static str,
    /// ffmpeg arguments making the source.
    make: &'static [&'static str],
    /// Applied to the made file's bytes.
    patch: Option<fn(&mut [u8])>,
    segment_s: u32,
    /// Probed display size; None for audio-only.
    display: Option<(u32, u32)>,
    audio: bool,
    /// "name WxH" of each planned rung, highest first.
    rungs: &'static [&'static str],
    fps: f64,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "1080p landscape with audio",
            file: "landscape.mp4",
            make: &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1920x1080:rate=30:duration=6",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100:duration=6",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
            ],
            patch: None,
            segment_s: 4,
            display: Some((1920, 1080)),
            audio: true,
            rungs: &[
                "1080p 1920x1080",
                "720p 1280x720",
                "480p 854x480",
                "360p 640x360",
                "240p 426x240",
            ],
            fps: 30.0,
        },
        Case {
            name: "720x1280 portrait",
            file: "portrait.mp4",
            make: &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=720x1280:rate=30:duration=5",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=330:sample_rate=48000:duration=5",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
            ],
            patch: None,
            segment_s: 2,
            display: Some((720, 1280)),
            audio: true,
            rungs: &[
                "720p 720x1280",
                "480p 480x854",
                "360p 360x640",
                "240p 240x426",
            ],
            fps: 30.0,
        },
        Case {
            name: "phone video rotated 90° (coded 640x360)",
            file: "rotated.mp4",
            make: &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=25:duration=5",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ],
            patch: Some(rotate_90),
            segment_s: 2,
            display: Some((360, 640)),
            audio: false,
            rungs: &["360p 360x640", "240p 240x426"],
            fps: 25.0,
        },
        Case {
            name: "176x144 at 120 fps, mono 8 kHz audio",
            file: "tiny.mp4",
            make: &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=176x144:rate=120:duration=5",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=8000:duration=5",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
            ],
            patch: None,
            segment_s: 2,
            display: Some((176, 144)),
            audio: true,
            rungs: &["144p 176x144"],
            fps: 60.0,
        },
        Case {
            name: "odd 641x359, FFV1 4:4:4 and PCM in Matroska",
            file: "odd.mkv",
            make: &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=642x360:rate=25:duration=5,scale=641:359,setsar=1,format=yuv444p",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100:duration=5",
                "-c:v",
                "ffv1",
                "-c:a",
                "pcm_s16le",
            ],
            patch: None,
            segment_s: 2,
            display: Some((641, 359)),
            audio: true,
            rungs: &["240p 428x240"],
            fps: 25.0,
        },
        Case {
            name: "no audio, MPEG-TS (timestamps not starting at 0)",
            file: "silent.ts",
            make: &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=25:duration=5",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ],
            patch: None,
            segment_s: 2,
            display: Some((640, 360)),
            audio: false,
            rungs: &["360p 640x360", "240p 426x240"],
            fps: 25.0,
        },
        Case {
            name: "audio only (AAC in M4A)",
            file: "audio.m4a",
            make: &[
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100:duration=5",
                "-c:a",
                "aac",
            ],
            patch: None,
            segment_s: 2,
            display: None,
            audio: true,
            rungs: &[],
            fps: 0.0,
        },
        Case {
            name: "variable frame rate",
            file: "vfr.mp4",
            make: &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=30:duration=6",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100:duration=6",
                "-vf",
                "select='if(lt(mod(n,60),30),1,not(mod(n,3)))'",
                "-fps_mode",
                "vfr",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
            ],
            patch: None,
            segment_s: 2,
            display: Some((320, 240)),
            audio: true,
            rungs: &["240p 320x240"],
            fps: 20.225,
        },
    ]
}

/// Probes, plans and transcodes `case` the way the pipeline does: a quick first pass with the
/// rungs up to `quick_max_height` plus audio, storyboard and cover candidates, then a second
/// pass with the higher rungs into the same directory. Then checks everything.
async fn check_case(runner: &ProcessRunner, dir: &Path, case: &Case) {
    let started = Instant::now();
    let source = dir.join(case.file);
    make(runner, case.make, &source).await;
    if let Some(patch) = case.patch {
        let mut bytes = std::fs::read(&source).unwrap();
        patch(&mut bytes);
        std::fs::write(&source, bytes).unwrap();
    }
    let config = MediaConfig {
        segment_s: case.segment_s,
        ..MediaConfig::default()
    };
    let info = probe::probe(runner, &source, &config).await.unwrap();
    assert_eq!(
        info.video.as_ref().map(|v| (v.width, v.height)),
        case.display,
        "{}: {info:?}",
        case.name
    );
    assert_eq!(info.audio.is_some(), case.audio, "{}: {info:?}", case.name);
    assert!(
        info.duration_s > 4.0 && info.duration_s < 7.0,
        "{}: {info:?}",
        case.name
    );

    let rungs = ladder::plan(&info, &config);
    let names: Vec<String> = rungs
        .iter()
        .map(|r| format!("{} {}x{}", r.name, r.width, r.height))
        .collect();
    assert_eq!(names, case.rungs, "{}", case.name);
    for r in &rungs {
        assert!((r.fps - case.fps).abs() < 1e-9, "{}: {r:?}", case.name);
    }

    let out = dir.join(format!("{}.out", case.file));
    let (quick, rest): (Vec<Rung>, Vec<Rung>) = rungs
        .iter()
        .cloned()
        .partition(|r| r.width.min(r.height) <= config.quick_max_height);
    let mut seen = Vec::new();
    let mut on_progress = |f: f64| seen.push(f);
    let first = run_pass(
        runner,
        &PassSpec {
            source: &source,
            info: &info,
            rungs: &quick,
            audio: true,
            storyboard: true,
            cover_candidates: 3,
            out_dir: &out,
        },
        &config,
        &mut on_progress,
    )
    .await
    .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    assert_eq!(seen.last(), Some(&1.0), "{}: progress {seen:?}", case.name);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "{}: progress {seen:?}",
        case.name
    );
    let second = run_pass(
        runner,
        &PassSpec {
            source: &source,
            info: &info,
            rungs: &rest,
            audio: false,
            storyboard: false,
            cover_candidates: 0,
            out_dir: &out,
        },
        &config,
        &mut |_| {},
    )
    .await
    .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    assert!(second.audio.is_none() && second.storyboard.is_none() && second.candidates.is_empty());
    let encoded = started.elapsed();

    let mut outputs: Vec<RenditionOutput> = second.renditions.clone();
    outputs.extend(first.renditions.clone());
    let by_name = |name: &str| find(&outputs, name).clone();
    check_renditions(runner, &out, case, &info, &rungs, &outputs).await;
    check_audio(runner, &out, case, &first).await;
    check_storyboard_and_candidates(runner, &out, case, &info, &first).await;

    // Manifests: the master (through the strict parser and ffmpeg), the DASH MPD (ffmpeg).
    let renditions: Vec<Rendition> = rungs.iter().map(|r| by_name(&r.name).rendition).collect();
    let audio: Option<AudioTrack> = first.audio.as_ref().map(|a| a.track.clone());
    let master = out.join("master.m3u8");
    std::fs::write(
        &master,
        manifest::master_playlist(&renditions, audio.as_ref(), "", None),
    )
    .unwrap();
    let mut playlists = vec![master.clone()];
    playlists.extend(rungs.iter().map(|r| out.join(&r.name).join("index.m3u8")));
    if first.audio.is_some() {
        playlists.push(out.join("audio/index.m3u8"));
    }
    check_hls(&playlists);
    // Decode what a player picks (the best video and the audio), then read every stream.
    play(runner, &master, &[]).await;
    play(runner, &master, &["-map", "0", "-c", "copy"]).await;
    let mpd = out.join("manifest.mpd");
    let ordered: Vec<RenditionOutput> = rungs.iter().map(|r| by_name(&r.name)).collect();
    std::fs::write(
        &mpd,
        manifest::dash_mpd(info.duration_s, &ordered, first.audio.as_ref(), ""),
    )
    .unwrap();
    play(runner, &mpd, &["-map", "0", "-c", "copy"]).await;

    // Nothing half-written or foreign left behind.
    for entry in walk(&out) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".tmp") && name != "ffmpeg.m3u8",
            "{}: leftover {}",
            case.name,
            entry.display()
        );
    }
    eprintln!(
        "{}: ok in {:.1?} (making, probing and transcoding {encoded:.1?})",
        case.name,
        started.elapsed()
    );
}

fn find<'a>(outputs: &'a [RenditionOutput], name: &str) -> &'a RenditionOutput {
    outputs
        .iter()
        .find(|o| o.rendition.name == name)
        .unwrap_or_else(|| panic!("no rendition {name}"))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

async fn check_renditions(
    runner: &ProcessRunner,
    out: &Path,
    case: &Case,
    info: &MediaInfo,
    rungs: &[Rung],
    outputs: &[RenditionOutput],
) {
    let seg = f64::from(case.segment_s);
    let mut first_keyframes: Option<Vec<f64>> = None;
    assert_eq!(outputs.len(), rungs.len());
    for rung in rungs {
        let o = find(outputs, &rung.name);
        let dir = out.join(&rung.name);
        let r = &o.rendition;
        assert!(
            r.codecs.starts_with("avc1.64"),
            "{}: High profile: {r:?}",
            case.name
        );
        assert!(
            r.bandwidth >= r.average_bandwidth && r.average_bandwidth > 0,
            "{r:?}"
        );
        assert!((r.frame_rate - case.fps).abs() < 1e-9);

        // Segments: numbered from 1; all but the last last one segment; they add up.
        let n = o.segments.len();
        for (i, s) in o.segments.iter().enumerate() {
            assert_eq!(s.uri, format!("seg_{}.m4s", i + 1));
            assert_eq!(std::fs::metadata(dir.join(&s.uri)).unwrap().len(), s.bytes);
            if i + 1 < n {
                assert!(
                    (s.duration_s - seg).abs() <= 1.0 / case.fps + 1e-3,
                    "{} {}: segment {} lasts {}",
                    case.name,
                    rung.name,
                    i + 1,
                    s.duration_s
                );
            } else {
                assert!(s.duration_s > 0.0 && s.duration_s <= seg + 1.0 / case.fps + 1e-3);
            }
            if i > 0 {
                let prev = &o.segments[i - 1];
                assert_eq!(s.start_ticks, prev.start_ticks + prev.duration_ticks);
            }
        }
        let total: f64 = o.segments.iter().map(|s| s.duration_s).sum();
        assert!(
            (total - info.duration_s).abs() < 0.25,
            "{}: {total} vs {}",
            case.name,
            info.duration_s
        );
        assert!(
            n as f64 >= (info.duration_s / seg).floor(),
            "{}: {n} segments",
            case.name
        );

        // What a player gets: the right size, H.264 High, 4:2:0.
        let joined = out.join(format!("{}.joined.mp4", rung.name));
        concat(&dir, &o.segments, &joined);
        let v = streams(runner, &joined, "v:0").await;
        assert_eq!(
            (v.width, v.height),
            (Some(rung.width), Some(rung.height)),
            "{}",
            case.name
        );
        assert_eq!(v.codec_name.as_deref(), Some("h264"));
        assert_eq!(v.profile.as_deref(), Some("High"));
        assert_eq!(v.pix_fmt.as_deref(), Some("yuv420p"));
        // Rotation is applied to the pixels, not passed on as a display matrix.
        assert!(
            v.side_data_list
                .iter()
                .all(|d| d.get("rotation").is_none_or(|r| r == 0)),
            "{}: {:?}",
            case.name,
            v.side_data_list
        );

        // Keyframes: exactly one per segment, at its start, on the segment grid, and the same
        // in every rung (made in two separate passes).
        let keys = keyframes(runner, &joined).await;
        let starts: Vec<f64> = o
            .segments
            .iter()
            .map(|s| (s.start_ticks - o.segments[0].start_ticks) as f64 / f64::from(o.timescale))
            .collect();
        assert_eq!(
            keys.len(),
            starts.len(),
            "{} {}: keyframes {keys:?} segments {starts:?}",
            case.name,
            rung.name
        );
        for (k, (key, start)) in keys.iter().zip(&starts).enumerate() {
            assert!(
                (key - start).abs() < 1e-3,
                "{} {}: keyframe {key} vs segment {start}",
                case.name,
                rung.name
            );
            let grid = k as f64 * seg;
            assert!(
                *key >= grid - 1e-3 && *key < grid + 1.0 / case.fps,
                "{} {}: keyframe {key} is off the {seg}s grid",
                case.name,
                rung.name
            );
        }
        match &first_keyframes {
            None => first_keyframes = Some(keys),
            Some(first) => {
                assert_eq!(
                    first.len(),
                    keys.len(),
                    "{}: keyframe counts differ",
                    case.name
                );
                for (a, b) in first.iter().zip(&keys) {
                    assert!(
                        (a - b).abs() < 1e-3,
                        "{}: keyframes not aligned: {first:?} vs {keys:?}",
                        case.name
                    );
                }
            }
        }
        std::fs::remove_file(joined).unwrap();
    }
}

async fn check_audio(runner: &ProcessRunner, out: &Path, case: &Case, first: &PassOutput) {
    let Some(audio) = &first.audio else {
        assert!(!case.audio, "{}: no audio rendition", case.name);
        assert!(!out.join("audio").exists());
        return;
    };
    assert!(case.audio);
    assert_eq!(audio.track.codecs, "mp4a.40.2");
    assert_eq!(audio.track.channels, 2);
    assert_eq!(audio.timescale, 48000);
    let avg = audio.track.average_bandwidth;
    assert!(
        (100_000..200_000).contains(&avg),
        "{}: audio {avg} bit/s",
        case.name
    );
    let seg = f64::from(case.segment_s);
    let n = audio.segments.len();
    for s in &audio.segments[..n - 1] {
        assert!(
            (s.duration_s - seg).abs() < 0.05,
            "{}: audio segment {}",
            case.name,
            s.duration_s
        );
    }
    let joined = out.join("audio.joined.mp4");
    concat(&out.join("audio"), &audio.segments, &joined);
    let a = streams(runner, &joined, "a:0").await;
    assert_eq!(a.codec_name.as_deref(), Some("aac"));
    assert_eq!(a.profile.as_deref(), Some("LC"));
    assert_eq!(a.sample_rate.as_deref(), Some("48000"));
    assert_eq!(a.channels, Some(2));
    std::fs::remove_file(joined).unwrap();
}

async fn check_storyboard_and_candidates(
    runner: &ProcessRunner,
    out: &Path,
    case: &Case,
    info: &MediaInfo,
    first: &PassOutput,
) {
    let Some(sb) = &first.storyboard else {
        assert!(case.display.is_none(), "{}: no storyboard", case.name);
        assert!(first.candidates.is_empty());
        return;
    };
    assert_eq!(sb.thumb_width, 160);
    let (w, h) = case.display.unwrap();
    assert!((f64::from(sb.thumb_height) - 160.0 * f64::from(h) / f64::from(w)).abs() <= 2.0);
    let sheet = streams(runner, &out.join("storyboard/sb_1.jpg"), "v:0").await;
    assert_eq!(
        sheet.width,
        Some(sb.columns * sb.thumb_width),
        "{}: {sb:?}",
        case.name
    );
    assert_eq!(
        sheet.height,
        Some(sb.rows * sb.thumb_height),
        "{}: {sb:?}",
        case.name
    );

    // The WebVTT track: contiguous cues from 0 to the end, each inside an existing sheet.
    let vtt = std::fs::read_to_string(out.join("storyboard/storyboard.vtt")).unwrap();
    assert!(vtt.starts_with("WEBVTT\n\n"));
    let mut expected_start = 0.0;
    let mut cues = 0;
    for block in vtt.trim().split("\n\n").skip(1) {
        let (times, target) = block.split_once('\n').unwrap();
        let (start, end) = times.split_once(" --> ").unwrap();
        let (start, end) = (vtt_seconds(start), vtt_seconds(end));
        assert!(
            (start - expected_start).abs() < 1e-3,
            "{}: gap before {block}",
            case.name
        );
        assert!(end > start);
        expected_start = end;
        let (file, xywh) = target.split_once("#xywh=").unwrap();
        assert!(out.join("storyboard").join(file).is_file(), "{file}");
        let xywh: Vec<u32> = xywh.split(',').map(|v| v.parse().unwrap()).collect();
        assert!(xywh[0] + xywh[2] <= sb.columns * sb.thumb_width);
        assert!(xywh[1] + xywh[3] <= sb.rows * sb.thumb_height);
        cues += 1;
    }
    assert_eq!(cues, sb.count);
    assert!(
        (expected_start - info.duration_s).abs() < 1e-3,
        "{}: cues end at {expected_start}",
        case.name
    );

    // Cover candidates: three different frames, at most 1280 wide.
    assert_eq!(
        first.candidates.len(),
        3,
        "{}: {:?}",
        case.name,
        first.candidates
    );
    let mut contents = Vec::new();
    for c in &first.candidates {
        let s = streams(runner, c, "v:0").await;
        assert!(s.width.unwrap() <= 1280);
        contents.push(std::fs::read(c).unwrap());
    }
    contents.dedup();
    assert_eq!(
        contents.len(),
        3,
        "{}: candidates are not different frames",
        case.name
    );
}

fn vtt_seconds(t: &str) -> f64 {
    let parts: Vec<f64> = t.split(':').map(|p| p.parse().unwrap()).collect();
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

#[tokio::test]
async fn sources_of_every_shape() {
    let dir = tempfile::tempdir().unwrap();
    let runner = ProcessRunner::new(&MediaConfig::default());
    let started = Instant::now();
    // For debugging: SPOOL_MEDIA_CASE=<part of a name> runs only the matching sources,
    // SPOOL_MEDIA_KEEP=1 keeps the outputs.
    let only = std::env::var("SPOOL_MEDIA_CASE").unwrap_or_default();
    for case in cases().iter().filter(|c| c.name.contains(&only)) {
        check_case(&runner, dir.path(), case).await;
    }
    eprintln!("all sources: {:.1?}", started.elapsed());
    if std::env::var_os("SPOOL_MEDIA_KEEP").is_some() {
        eprintln!("outputs kept in {}", dir.keep().display());
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken files

/// Probing `file` must fail with `Invalid` whose reason contains `reason`.
async fn check_refused(runner: &ProcessRunner, config: &MediaConfig, file: &Path, reason: &str) {
    match probe::probe(runner, file, config).await {
        Err(MediaError::Invalid(got)) => {
            assert!(
                got.contains(reason),
                "{}: {got:?} does not say {reason:?}",
                file.display()
            );
            assert!(!got.contains('/'), "the reason leaks a path: {got}");
        }
        other => panic!(
            "{}: expected Invalid({reason:?}), got {other:?}",
            file.display()
        ),
    }
}

#[tokio::test]
async fn hostile_files_are_refused_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let runner = ProcessRunner::new(&MediaConfig::default());
    let config = MediaConfig::default();

    // An HLS playlist dressed up as an MP4, pointing at a server we watch.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let playlist = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXTINF:4.0,\nhttp://127.0.0.1:{port}/seg0.ts\n#EXTINF:4.0,\nhttp://127.0.0.1:{port}/seg1.ts\n#EXT-X-ENDLIST\n"
    );
    std::fs::write(d.join("playlist.mp4"), &playlist).unwrap();
    // The same inside a file named like a playlist, and a concat script.
    std::fs::write(d.join("playlist.m3u8"), &playlist).unwrap();
    std::fs::write(
        d.join("concat.mp4"),
        format!("ffconcat version 1.0\nfile 'http://127.0.0.1:{port}/a.mp4'\n"),
    )
    .unwrap();

    // A real MP4 cut short (its moov box, at the end, is missing).
    let whole = d.join("whole.mp4");
    make(
        &runner,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
        &whole,
    )
    .await;
    let bytes = std::fs::read(&whole).unwrap();
    std::fs::write(d.join("truncated.mp4"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(d.join("empty.mp4"), b"").unwrap();
    std::fs::write(
        d.join("notes.mp4"),
        "just some text, not a video\n".repeat(50),
    )
    .unwrap();

    // A tiny raw-video AVI whose headers claim 20000x20000 (and one claiming 20000x10000,
    // which ffmpeg itself still accepts to describe).
    let avi = d.join("tiny.avi");
    make(
        &runner,
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=16x16:r=1:d=2",
            "-c:v",
            "rawvideo",
            "-pix_fmt",
            "gray",
        ],
        &avi,
    )
    .await;
    let avi_bytes = std::fs::read(&avi).unwrap();
    for (name, w, h) in [("huge.avi", 20000u32, 20000u32), ("wide.avi", 20000, 10000)] {
        let mut b = avi_bytes.clone();
        let avih = b.windows(4).position(|w| w == b"avih").unwrap();
        b[avih + 40..avih + 44].copy_from_slice(&w.to_le_bytes());
        b[avih + 44..avih + 48].copy_from_slice(&h.to_le_bytes());
        let strf = b.windows(4).position(|w| w == b"strf").unwrap();
        b[strf + 12..strf + 16].copy_from_slice(&w.to_le_bytes());
        b[strf + 16..strf + 20].copy_from_slice(&h.to_le_bytes());
        std::fs::write(d.join(name), b).unwrap();
    }

    let unsupported = "not a supported video file (format not recognised)";
    for (file, reason) in [
        ("playlist.mp4", unsupported),
        ("playlist.m3u8", unsupported),
        ("concat.mp4", unsupported),
        ("truncated.mp4", unsupported),
        ("empty.mp4", "the file is empty"),
        ("notes.mp4", unsupported),
        (
            "huge.avi",
            "the video is 20000x20000; the largest accepted is 7680x4320",
        ),
        (
            "wide.avi",
            "the video is 20000x10000; the largest accepted is 7680x4320",
        ),
    ] {
        check_refused(&runner, &config, &d.join(file), reason).await;
    }

    // Caps from the configuration, on a good file.
    for (config, reason) in [
        (
            MediaConfig {
                max_duration_s: 2,
                ..MediaConfig::default()
            },
            "the video is 0:03 long; the longest accepted is 0:02",
        ),
        (
            MediaConfig {
                max_source_fps: 24.0,
                ..MediaConfig::default()
            },
            "the video is 25 frames per second; the most accepted is 24",
        ),
        (
            MediaConfig {
                max_width: 300,
                max_height: 200,
                ..MediaConfig::default()
            },
            "the video is 320x240; the largest accepted is 300x200",
        ),
        (
            MediaConfig {
                max_streams: 0,
                ..MediaConfig::default()
            },
            "the file has 1 streams; the most accepted is 0",
        ),
    ] {
        check_refused(&runner, &config, &whole, reason).await;
    }

    // Even if a probe were bypassed, the transcoder pins the demuxer and the protocols.
    let forged = MediaInfo {
        format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
        duration_s: 8.0,
        video: None,
        audio: Some(probe::AudioStream {
            codec: "aac".into(),
            channels: 2,
            sample_rate: 48000,
        }),
    };
    let result = run_pass(
        &runner,
        &PassSpec {
            source: &d.join("playlist.mp4"),
            info: &forged,
            rungs: &[],
            audio: true,
            storyboard: false,
            cover_candidates: 0,
            out_dir: &d.join("forged.out"),
        },
        &config,
        &mut |_| {},
    )
    .await;
    assert!(result.is_err(), "{result:?}");

    // Give any stray connection a moment to land, then make sure none did.
    tokio::time::sleep(Duration::from_millis(200)).await;
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("something connected to the listener: {other:?}"),
    }
}

#[tokio::test]
async fn missing_file_is_io_error() {
    let runner = ProcessRunner::new(&MediaConfig::default());
    let err = probe::probe(
        &runner,
        Path::new("/nonexistent/video.mp4"),
        &MediaConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, MediaError::Io(_)), "{err:?}");
    assert_eq!(runner.spawned(), 0);
}
