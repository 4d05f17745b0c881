//! Test support for this and other crates' tests (feature `testing`): sources made with the
//! real ffmpeg, run like every other process through [`ProcessRunner`], the ffmpeg arguments
//! several tests share, and what a finished video's media directory may hold.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use spool_config::MediaConfig;

use crate::process::{ProcessRunner, Tool};

/// Encodes generated video as the quickest H.264 that every player takes.
pub const H264: [&str; 6] = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
];

/// Encodes generated audio as AAC.
pub const AAC: [&str; 2] = ["-c:a", "aac"];

/// ffmpeg reading an endless test source in real time: only a timeout or a kill stops it.
pub const FOREVER: [&str; 11] = [
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
];

/// `list` as process arguments.
pub fn os_args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// Makes a test file with ffmpeg: `-nostdin -v error -y`, then `args`, then `out`. Panics
/// with the end of ffmpeg's stderr when it fails.
pub async fn make(args: &[&str], out: &Path) {
    let mut all = os_args(&["-nostdin", "-v", "error", "-y"]);
    all.extend(os_args(args));
    all.push(out.into());
    let runner = ProcessRunner::new(&MediaConfig::default());
    if let Err(e) = runner
        .run(Tool::Ffmpeg, &all, Duration::from_secs(300), None)
        .await
    {
        panic!("ffmpeg {all:?}: {e}");
    }
}

/// The ids of the processes alive now (the numeric entries of `/proc`).
pub fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// Asserts that a video's media directory `video_dir` holds nothing but the published
/// `generation` and the cover set `cover` (no abandoned generation or cover set), and nothing
/// temporary or unfinished in them (a pass directory, a `.tmp` file, ffmpeg's own playlist).
pub fn assert_only_published(video_dir: &Path, generation: &str, cover: &str) {
    let left = spool_storage::list_tree(video_dir);
    let top: BTreeSet<&str> = left
        .iter()
        .filter(|p| p.ends_with('/') && p.matches('/').count() == 1)
        .map(String::as_str)
        .collect();
    assert_eq!(
        top,
        BTreeSet::from([format!("{generation}/").as_str(), "covers/"]),
        "an abandoned generation was left behind: {left:#?}"
    );
    let covers: Vec<&String> = left
        .iter()
        .filter(|p| p.starts_with("covers/") && p.ends_with('/') && p.matches('/').count() == 2)
        .collect();
    assert_eq!(covers, [&format!("covers/{cover}/")], "{left:#?}");
    let leftovers: Vec<&String> = left
        .iter()
        .filter(|p| p.contains(".pass-") || p.ends_with(".tmp") || p.ends_with("ffmpeg.m3u8"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "unfinished work left behind: {leftovers:?}"
    );
}

/// Runs node `interop/check-hls.mjs` (npm `hls-parser` in strict mode) on the playlists,
/// `live` ones allowed to lack `EXT-X-ENDLIST`; panics with its output when one is refused.
pub fn check_hls(playlists: &[std::path::PathBuf], live: bool) {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop");
    assert!(
        interop.join("node_modules/hls-parser").is_dir(),
        "npm hls-parser is missing: run `npm ci --prefix interop` first"
    );
    #[allow(clippy::disallowed_methods)] // a real third-party client, not media work
    let out = std::process::Command::new("node")
        .arg(interop.join("check-hls.mjs"))
        .args(live.then_some("--live"))
        .args(playlists)
        .output()
        .expect("node runs (is Node.js installed?)");
    assert!(
        out.status.success(),
        "hls-parser (strict) refused a playlist:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
