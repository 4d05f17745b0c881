//! [`MediaLayout`]: where published media lives, the one place that knows it.
//!
//! ```text
//! <data_dir>/media/<video>/
//!   <generation>/                 one transcode's output, never changed once published
//!     .pass-<unique>/             a pass being written (hidden: never served, swept)
//!     <rung>/init.mp4, seg_<n>.m4s, index.m3u8
//!     audio/...                   the audio rendition, shared by every rung
//!     storyboard/sb_<n>.jpg, storyboard.vtt
//!     candidates/c_<n>.jpg        cover candidate frames
//!     manifest.mpd, outputs.json  rewritten (atomically) as passes are published
//!   live/<rendition>/init-<n>.mp4, seg_<msn>.m4s, index.m3u8, .journal
//!                                 a live broadcast's recording (written as it airs)
//!   covers/<cover generation>/{1280,640,320}.jpg
//! ```
//!
//! Callers speak in videos, generations and file names; paths come out only where a local
//! file is really needed (ffmpeg's output directory, serving a file). The shape is what an
//! object-store backend implements later: a pass is encoded into a local scratch directory
//! ([`MediaLayout::begin_pass`]) and then published under its keys in one step
//! ([`MediaLayout::commit_pass`], here: fsync and rename; there: upload), small files are
//! written whole ([`MediaLayout::write_file`]), and directories no row points to are swept
//! ([`MediaLayout::sweep`]).
//!
//! Everything returned by a commit or write is durable: a database row may point at it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use spool_model::VideoId;

use crate::atomic::{TEMP_SUFFIX, sync_dir, sync_tree, write_atomic};
use crate::{Result, StorageError, io_err};

/// The media directory under the data dir.
pub const MEDIA_DIR: &str = "media";
/// The directory of a video's cover sets.
pub const COVERS_DIR: &str = "covers";
/// The audio rendition's directory inside a generation.
pub const AUDIO_DIR: &str = "audio";
/// The storyboard's directory inside a generation.
pub const STORYBOARD_DIR: &str = "storyboard";
/// The storyboard's WebVTT track inside [`STORYBOARD_DIR`].
pub const STORYBOARD_VTT: &str = "storyboard.vtt";
/// The cover candidate frames' directory inside a generation.
pub const CANDIDATES_DIR: &str = "candidates";
/// The DASH manifest of a generation (rewritten as passes are published).
pub const MANIFEST_FILE: &str = "manifest.mpd";
/// What each published pass produced, kept so a retry can rebuild the manifest.
pub const OUTPUTS_FILE: &str = "outputs.json";
/// The generation a live broadcast is recorded into (its renditions, as it airs).
pub const LIVE_GENERATION: &str = "live";
/// Prefix of a pass being written inside a generation.
const PASS_PREFIX: &str = ".pass-";
/// Longest generation name accepted (`videos.cover_gen` is `VARCHAR(32)`).
const MAX_GENERATION_LEN: usize = 32;

/// The name of a generation directory or of a cover set: plain ASCII letters, digits, `_` and
/// `-`, 1 to 32 characters, so it is safe in a path and a URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Generation(String);

impl Generation {
    /// A fresh, unique name: the time in milliseconds (base 36, so names sort by creation
    /// within a video) and 40 random bits. The one naming scheme for transcode generations and
    /// cover sets alike; two passes or two installs never get the same directory.
    pub fn fresh() -> Self {
        let mut name = base36(u64::try_from(spool_model::now_millis()).unwrap_or(0));
        let mut bits: u64 = rand::random::<u64>() >> 24;
        for _ in 0..8 {
            name.push(char::from(BASE36[(bits % 36) as usize]));
            bits /= 36;
        }
        Self(name)
    }

    /// A stored name, when it is well formed (names written by earlier versions are).
    pub fn parse(name: &str) -> Option<Self> {
        (!name.is_empty()
            && name.len() <= MAX_GENERATION_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')))
        .then(|| Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const BASE36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(BASE36[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8_lossy(&digits).into_owned()
}

/// True for a name that may appear as one component of a served media path.
fn plain(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with('.')
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The media layout under one data dir. Cheap to clone. Blocking `std::fs`: async callers run
/// it on a blocking thread.
#[derive(Clone, Debug)]
pub struct MediaLayout {
    root: PathBuf,
}

/// A pass being written: a fresh local directory inside its generation that only this pass
/// writes (ffmpeg's output directory). Nothing in it is visible until
/// [`MediaLayout::commit_pass`]; one that is never committed is removed by
/// [`MediaLayout::sweep`].
#[derive(Debug)]
pub struct PassDir {
    dir: PathBuf,
    generation_dir: PathBuf,
}

impl PassDir {
    /// The local directory to write the pass's outputs into.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where an entry of the pass (`<rung>`, `audio`, `candidates/c_1.jpg`, ...) is once the
    /// pass is committed.
    pub fn committed_path(&self, written: &Path) -> PathBuf {
        match written.strip_prefix(&self.dir) {
            Ok(relative) => self.generation_dir.join(relative),
            Err(_) => written.to_owned(),
        }
    }
}

/// What [`MediaLayout::sweep`] keeps.
#[derive(Clone, Debug, Default)]
pub struct Keep<'a> {
    /// The generation the video row points at (its passes in progress go, the rest stays).
    pub generation: Option<&'a Generation>,
    /// The cover set the video row points at.
    pub cover: Option<&'a Generation>,
    /// Cover sets younger than this stay too: one may be being installed right now, its row
    /// not yet committed.
    pub cover_grace: Duration,
}

impl MediaLayout {
    /// The layout under `data_dir` (media in `<data_dir>/media`).
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join(MEDIA_DIR),
        }
    }

    /// The directory holding every video's media.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Everything of one video.
    pub fn video_dir(&self, video: &VideoId) -> PathBuf {
        self.root.join(video.as_str())
    }

    /// A generation's directory.
    pub fn generation_dir(&self, video: &VideoId, generation: &Generation) -> PathBuf {
        self.video_dir(video).join(generation.as_str())
    }

    /// A file directly inside a generation (`manifest.mpd`, `outputs.json`).
    pub fn generation_file(&self, video: &VideoId, generation: &Generation, name: &str) -> PathBuf {
        self.generation_dir(video, generation).join(name)
    }

    /// The cover candidate frames of a generation.
    pub fn candidates_dir(&self, video: &VideoId, generation: &Generation) -> PathBuf {
        self.generation_dir(video, generation).join(CANDIDATES_DIR)
    }

    /// Candidate frame `index` of a generation.
    pub fn candidate_file(&self, video: &VideoId, generation: &Generation, index: u32) -> PathBuf {
        self.candidates_dir(video, generation)
            .join(format!("c_{index}.jpg"))
    }

    /// True when the generation has a storyboard track.
    pub fn has_storyboard(&self, video: &VideoId, generation: &Generation) -> bool {
        self.generation_dir(video, generation)
            .join(STORYBOARD_DIR)
            .join(STORYBOARD_VTT)
            .is_file()
    }

    /// A video's cover sets.
    pub fn covers_dir(&self, video: &VideoId) -> PathBuf {
        self.video_dir(video).join(COVERS_DIR)
    }

    /// One cover set.
    pub fn cover_dir(&self, video: &VideoId, cover: &Generation) -> PathBuf {
        self.covers_dir(video).join(cover.as_str())
    }

    /// The local file a served media path (`<generation>/<rung>/seg_1.m4s`,
    /// `covers/<set>/640.jpg`, relative to the video) names; `None` for anything but plain
    /// names at most four deep: no `..`, no hidden or temporary files, and not the manifest,
    /// which is rewritten in place (it is served by its own route).
    pub fn served_file(&self, video: &VideoId, rest: &str) -> Option<PathBuf> {
        let parts: Vec<&str> = rest.split('/').collect();
        let last = parts.last().copied().unwrap_or_default();
        if parts.len() > 4
            || !parts.iter().all(|p| plain(p))
            || last.ends_with(TEMP_SUFFIX)
            || last.ends_with(".part")
            || last == MANIFEST_FILE
        {
            return None;
        }
        let mut path = self.video_dir(video);
        path.extend(parts);
        Some(path)
    }

    /// Starts a pass of `generation` (creating the generation when it is new): a fresh,
    /// uniquely named local directory that no other pass writes. The generation's directory
    /// entries are durable before this returns.
    pub fn begin_pass(&self, video: &VideoId, generation: &Generation) -> Result<PassDir> {
        let generation_dir = self.generation_dir(video, generation);
        let dir = generation_dir.join(format!("{PASS_PREFIX}{}", Generation::fresh()));
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        sync_dir(&generation_dir)?;
        sync_dir(&self.video_dir(video))?;
        sync_dir(&self.root)?;
        Ok(PassDir {
            dir,
            generation_dir,
        })
    }

    /// Publishes what a pass wrote into its generation, durably: every file and directory of
    /// the pass is fsynced, then each top-level entry is renamed into the generation
    /// (replacing an entry of the same name, which must be one no row lists: an earlier
    /// attempt's), and the generation's directory is fsynced. Entries named in `published`
    /// are never replaced (an error instead). Afterwards the pass directory is gone.
    pub fn commit_pass(&self, pass: PassDir, published: &[&str]) -> Result<()> {
        sync_tree(&pass.dir)?;
        let mut entries = Vec::new();
        for entry in fs::read_dir(&pass.dir).map_err(io_err(&pass.dir))? {
            entries.push(entry.map_err(io_err(&pass.dir))?.file_name());
        }
        for name in &entries {
            let text = name.to_string_lossy();
            if published.contains(&text.as_ref()) {
                return Err(StorageError::Io {
                    path: pass.generation_dir.join(name),
                    source: io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "a pass may not replace published media",
                    ),
                });
            }
        }
        for name in entries {
            let target = pass.generation_dir.join(&name);
            remove_if_exists(&target)?;
            let from = pass.dir.join(&name);
            fs::rename(&from, &target).map_err(io_err(&from))?;
        }
        fs::remove_dir(&pass.dir).map_err(io_err(&pass.dir))?;
        sync_dir(&pass.generation_dir)
    }

    /// Writes a file directly inside a generation (`manifest.mpd`, `outputs.json`) durably
    /// and atomically.
    pub fn write_file(
        &self,
        video: &VideoId,
        generation: &Generation,
        name: &str,
        bytes: &[u8],
    ) -> Result<()> {
        write_atomic(&self.generation_file(video, generation, name), bytes)
    }

    /// Reads a file directly inside a generation.
    pub fn read_file(
        &self,
        video: &VideoId,
        generation: &Generation,
        name: &str,
    ) -> Result<Vec<u8>> {
        let path = self.generation_file(video, generation, name);
        fs::read(&path).map_err(io_err(&path))
    }

    /// Creates a new, empty cover set directory under a fresh name (its entry durable).
    pub fn begin_cover(&self, video: &VideoId) -> Result<(Generation, PathBuf)> {
        let cover = Generation::fresh();
        let dir = self.cover_dir(video, &cover);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        sync_dir(&self.covers_dir(video))?;
        sync_dir(&self.video_dir(video))?;
        sync_dir(&self.root)?;
        Ok((cover, dir))
    }

    /// Removes a cover set; a missing one is fine.
    pub fn remove_cover(&self, video: &VideoId, cover: &Generation) -> Result<()> {
        remove_if_exists(&self.cover_dir(video, cover))
    }

    /// Removes everything of a video (it was deleted); a missing directory is fine.
    pub fn remove_video(&self, video: &VideoId) -> Result<()> {
        remove_if_exists(&self.video_dir(video))
    }

    /// Removes what no row points to: every generation but `keep.generation`, passes left
    /// inside that one (a killed encoder's) and temporary files, and cover sets other than
    /// `keep.cover` older than `keep.cover_grace`. Returns what was removed. Run it only while
    /// no pass of this video is being written (the worker holding the video's job does).
    pub fn sweep(&self, video: &VideoId, keep: &Keep<'_>) -> Result<Vec<PathBuf>> {
        let dir = self.video_dir(video);
        let mut removed = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name == COVERS_DIR {
                self.sweep_covers(&path, keep, &mut removed)?;
            } else if keep.generation.is_some_and(|g| g.as_str() == name) {
                sweep_generation(&path, &mut removed)?;
            } else {
                remove_if_exists(&path)?;
                removed.push(path);
            }
        }
        if !removed.is_empty() {
            sync_dir(&dir)?;
        }
        Ok(removed)
    }

    fn sweep_covers(&self, dir: &Path, keep: &Keep<'_>, removed: &mut Vec<PathBuf>) -> Result<()> {
        let now = SystemTime::now();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if keep.cover.is_some_and(|c| c.as_str() == name) {
                continue;
            }
            let path = entry.path();
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .unwrap_or_default();
            if age >= keep.cover_grace {
                remove_if_exists(&path)?;
                removed.push(path);
            }
        }
        Ok(())
    }
}

/// Inside the published generation: passes never committed and temporary files go.
fn sweep_generation(dir: &Path, removed: &mut Vec<PathBuf>) -> Result<()> {
    let mut any = false;
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(PASS_PREFIX) || name.ends_with(TEMP_SUFFIX) {
            let path = entry.path();
            remove_if_exists(&path)?;
            removed.push(path);
            any = true;
        }
    }
    if any {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Removes a file or a directory tree; a missing one is fine.
fn remove_if_exists(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video() -> VideoId {
        "abcdefghijk".parse().unwrap()
    }

    fn tree(dir: &Path) -> Vec<String> {
        crate::list_tree(dir).into_iter().collect()
    }

    #[test]
    fn generation_names() {
        let a = Generation::fresh();
        let b = Generation::fresh();
        assert_ne!(a, b);
        assert!(a.as_str().len() <= MAX_GENERATION_LEN, "{a}");
        assert_eq!(Generation::parse(a.as_str()), Some(a.clone()));
        // Names of earlier schemes still parse.
        for old in ["k3j9x0a1bz", "u00ff00ff00ff00ff"] {
            assert!(Generation::parse(old).is_some(), "{old}");
        }
        for bad in ["", "..", "a/b", ".pass-x", "a b", &"x".repeat(33)] {
            assert!(Generation::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(base36(0), "0");
        assert_eq!(base36(36 * 36 + 35), "10z");
    }

    #[test]
    fn media_paths_stay_under_the_video() {
        let layout = MediaLayout::new(Path::new("/data"));
        let video = video();
        let ok = |rest: &str| layout.served_file(&video, rest);
        assert_eq!(
            ok("g1/720p/seg_1.m4s"),
            Some(PathBuf::from("/data/media/abcdefghijk/g1/720p/seg_1.m4s"))
        );
        for good in [
            "g1/720p/init.mp4",
            "g1/storyboard/sb_1.jpg",
            "covers/c1/1280.jpg",
        ] {
            assert!(ok(good).is_some(), "{good}");
        }
        for bad in [
            "../x/seg_1.m4s",
            "g1/../../etc/passwd",
            "g1/720p/.hidden.m4s",
            "g1/.pass-x/720p/seg_1.m4s",
            "g1/720p/seg_1.m4s.tmp",
            "g1/manifest.mpd",
            "g1//seg_1.m4s",
            "a/b/c/d/e.m4s",
            "g1/720p/seg 1.m4s",
            "",
        ] {
            assert!(ok(bad).is_none(), "{bad} must be refused");
        }
    }

    #[test]
    fn passes_commit_into_their_generation_and_sweeps_remove_orphans() {
        let data = tempfile::tempdir().unwrap();
        let layout = MediaLayout::new(data.path());
        let video = video();
        let generation = Generation::fresh();

        // Quick pass: written in its own directory, invisible until committed.
        let quick = layout.begin_pass(&video, &generation).unwrap();
        fs::create_dir_all(quick.path().join("360p")).unwrap();
        fs::write(quick.path().join("360p/index.m3u8"), b"#EXTM3U").unwrap();
        fs::create_dir_all(quick.path().join("candidates")).unwrap();
        fs::write(quick.path().join("candidates/c_1.jpg"), b"jpeg").unwrap();
        let candidate = quick.path().join("candidates/c_1.jpg");
        let moved = quick.committed_path(&candidate);
        assert!(tree(&layout.generation_dir(&video, &generation))[0].starts_with(".pass-"));
        layout.commit_pass(quick, &[]).unwrap();
        assert_eq!(moved, layout.candidate_file(&video, &generation, 1));
        assert_eq!(fs::read(&moved).unwrap(), b"jpeg");
        layout
            .write_file(&video, &generation, OUTPUTS_FILE, b"{}")
            .unwrap();
        assert_eq!(
            layout.read_file(&video, &generation, OUTPUTS_FILE).unwrap(),
            b"{}"
        );

        // A main pass whose earlier attempt left a 720p behind replaces it; it may not
        // replace a published rung.
        let stale = layout.begin_pass(&video, &generation).unwrap();
        fs::create_dir_all(stale.path().join("720p")).unwrap();
        fs::write(stale.path().join("720p/seg_1.m4s"), b"stale").unwrap();
        layout.commit_pass(stale, &["360p"]).unwrap();
        let main = layout.begin_pass(&video, &generation).unwrap();
        fs::create_dir_all(main.path().join("720p")).unwrap();
        fs::write(main.path().join("720p/seg_2.m4s"), b"fresh").unwrap();
        layout.commit_pass(main, &["360p"]).unwrap();
        let bad = layout.begin_pass(&video, &generation).unwrap();
        fs::create_dir_all(bad.path().join("360p")).unwrap();
        assert!(layout.commit_pass(bad, &["360p"]).is_err());
        assert_eq!(
            tree(&layout.generation_dir(&video, &generation))
                .into_iter()
                .filter(|p| !p.starts_with(".pass-"))
                .collect::<Vec<_>>(),
            [
                "360p/",
                "360p/index.m3u8",
                "720p/",
                "720p/seg_2.m4s",
                "candidates/",
                "candidates/c_1.jpg",
                "outputs.json"
            ]
        );

        // A killed encoder's generation and pass, a stray temp file, an old cover set: all go;
        // the current cover and one being installed stay.
        let abandoned = Generation::fresh();
        let killed = layout.begin_pass(&video, &abandoned).unwrap();
        fs::create_dir_all(killed.path().join("480p")).unwrap();
        let _half = layout.begin_pass(&video, &generation).unwrap();
        fs::write(
            layout.generation_file(&video, &generation, ".manifest.mpd.x.tmp"),
            b"",
        )
        .unwrap();
        let (current, _) = layout.begin_cover(&video).unwrap();
        let (old, _) = layout.begin_cover(&video).unwrap();
        let keep = Keep {
            generation: Some(&generation),
            cover: Some(&current),
            cover_grace: Duration::from_secs(600),
        };
        let removed = layout.sweep(&video, &keep).unwrap();
        // The abandoned generation, the refused and the half-written pass, the temp file.
        assert_eq!(removed.len(), 4, "{removed:?}");
        assert!(!layout.generation_dir(&video, &abandoned).exists());
        assert!(
            layout.cover_dir(&video, &old).exists(),
            "too young to sweep"
        );
        let removed = layout
            .sweep(
                &video,
                &Keep {
                    cover_grace: Duration::ZERO,
                    ..keep
                },
            )
            .unwrap();
        assert_eq!(removed, [layout.cover_dir(&video, &old)]);
        assert!(layout.cover_dir(&video, &current).exists());
        let left = tree(&layout.video_dir(&video));
        assert!(
            left.iter()
                .all(|p| !p.contains(".pass-") && !p.ends_with(".tmp")),
            "{left:?}"
        );

        layout.remove_video(&video).unwrap();
        assert!(!layout.video_dir(&video).exists());
        layout.remove_video(&video).unwrap();
        assert!(layout.sweep(&video, &Keep::default()).unwrap().is_empty());
    }
}
