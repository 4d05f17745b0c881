//! Recording a broadcast as it airs, so that it is a normal video the moment it ends.
//!
//! Every part a packager closes is appended to its segment file
//! (`media/<video>/live/<rendition>/seg_<msn>.m4s`, the fragments of a segment are its bytes)
//! and then journalled in `.journal` beside it, each fsynced before the next part: a SIGKILL
//! loses at most the part being written, and the journal says how long every segment file
//! really is. Finishing a recording (at the end of the broadcast, or after a restart for a
//! broadcast a killed server left on air) reads only the journals: segment files are cut to
//! their journalled length, a VOD playlist is written per rendition, and the video is
//! published with the live renditions as its ladder (no re-encode).
//!
//! The packagers call a [`RecordingSink`] under their lock; it only queues the work. The
//! writing happens in [`crate::Live::run`], on blocking threads, in order.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use spool_media::Published;
use spool_media::manifest::Rendition;
use spool_model::{RoomId, VideoId};
use spool_storage::media::LIVE_GENERATION;
use spool_storage::{MediaLayout, StorageError, sync_dir, write_atomic};
use tokio::sync::mpsc::UnboundedSender;

use crate::packager::{ClosedInit, ClosedPart, PartSink};

/// The journal of one rendition's recording (hidden: never served).
const JOURNAL: &str = ".journal";
/// The VOD playlist written when the recording is finished.
const PLAYLIST: &str = "index.m3u8";

/// Work for the recording writer, in the order it must happen.
#[derive(Debug)]
pub(crate) enum RecordOp {
    /// An initialization segment of a rendition.
    Init {
        video: VideoId,
        rendition: String,
        init: ClosedInit,
    },
    /// A closed part of a rendition.
    Part {
        video: VideoId,
        rendition: String,
        part: ClosedPart,
    },
    /// The broadcast ended: publish its recording.
    Finish { room: RoomId, video: VideoId },
}

/// Queues what one rendition's packager makes for the writer.
#[derive(Debug)]
pub(crate) struct RecordingSink {
    pub(crate) video: VideoId,
    pub(crate) rendition: String,
    pub(crate) ops: UnboundedSender<RecordOp>,
}

impl PartSink for RecordingSink {
    fn init(&self, init: ClosedInit) {
        let _ = self.ops.send(RecordOp::Init {
            video: self.video.clone(),
            rendition: self.rendition.clone(),
            init,
        });
    }

    fn part(&self, part: ClosedPart) {
        let _ = self.ops.send(RecordOp::Part {
            video: self.video.clone(),
            rendition: self.rendition.clone(),
            part,
        });
    }
}

/// The rendition directory of a recording.
fn rendition_dir(layout: &MediaLayout, video: &VideoId, rendition: &str) -> PathBuf {
    layout
        .video_dir(video)
        .join(LIVE_GENERATION)
        .join(rendition)
}

fn segment_name(msn: u64) -> String {
    format!("seg_{msn}.m4s")
}

/// One rendition being written: its journal and the segment file parts go to.
#[derive(Debug)]
struct OpenRendition {
    dir: PathBuf,
    journal: File,
    segment: Option<(u64, File, u64)>,
}

/// The files of every recording in progress. Blocking I/O: used on a blocking thread.
#[derive(Debug)]
pub(crate) struct RecordingFiles {
    layout: MediaLayout,
    open: HashMap<(VideoId, String), OpenRendition>,
}

impl RecordingFiles {
    pub(crate) fn new(layout: MediaLayout) -> Self {
        Self {
            layout,
            open: HashMap::new(),
        }
    }

    /// Writes an init or a part durably. A failed write leaves the journal as it was, so
    /// the recording simply lacks that part.
    pub(crate) fn apply(&mut self, op: &RecordOp) {
        let result = match op {
            RecordOp::Init {
                video,
                rendition,
                init,
            } => self
                .rendition(video, rendition)
                .and_then(|open| write_init(open, init)),
            RecordOp::Part {
                video,
                rendition,
                part,
            } => self
                .rendition(video, rendition)
                .and_then(|open| write_part(open, part)),
            RecordOp::Finish { video, .. } => {
                self.open.retain(|(v, _), _| v != video);
                Ok(())
            }
        };
        if let Err(error) = result {
            tracing::error!(%error, "cannot record a live part; the recording will lack it");
        }
    }

    fn rendition(
        &mut self,
        video: &VideoId,
        rendition: &str,
    ) -> Result<&mut OpenRendition, StorageError> {
        let key = (video.clone(), rendition.to_owned());
        if !self.open.contains_key(&key) {
            let dir = rendition_dir(&self.layout, video, rendition);
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            // Every directory up to the media root, so the journal is found after a crash.
            let mut up = dir.as_path();
            while let Some(parent) = up.parent() {
                sync_dir(parent)?;
                if parent == self.layout.root() {
                    break;
                }
                up = parent;
            }
            let path = dir.join(JOURNAL);
            let journal = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            sync_dir(&dir)?;
            self.open.insert(
                key.clone(),
                OpenRendition {
                    dir,
                    journal,
                    segment: None,
                },
            );
        }
        Ok(self.open.get_mut(&key).expect("inserted above"))
    }
}

fn write_init(open: &mut OpenRendition, init: &ClosedInit) -> Result<(), StorageError> {
    write_atomic(
        &open.dir.join(format!("init-{}.mp4", init.index)),
        &init.data,
    )?;
    let codecs: String = init.codecs.chars().filter(|c| !c.is_whitespace()).collect();
    let line = format!("I {} {} {} {codecs}\n", init.index, init.width, init.height);
    append_line(open, &line)
}

fn write_part(open: &mut OpenRendition, part: &ClosedPart) -> Result<(), StorageError> {
    if open
        .segment
        .as_ref()
        .is_none_or(|(msn, _, _)| *msn != part.msn)
    {
        let path = open.dir.join(segment_name(part.msn));
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err(&path))?;
        sync_dir(&open.dir)?;
        open.segment = Some((part.msn, file, 0));
    }
    let dir = open.dir.clone();
    let (_, file, len) = open.segment.as_mut().expect("opened above");
    let path = dir.join(segment_name(part.msn));
    let written = file.write_all(&part.data).and_then(|()| file.sync_data());
    if let Err(error) = written {
        // Back to the last whole part, so the next one lands where the journal expects.
        let _ = file.set_len(*len);
        return Err(io_err(&path)(error));
    }
    *len += part.data.len() as u64;
    let line = format!(
        "P {} {} {} {} {} {} {} {}\n",
        part.msn,
        part.index,
        part.init,
        u8::from(part.discontinuity),
        (part.duration * 1e6).round() as u64,
        part.frames,
        part.program_date_ms,
        *len
    );
    append_line(open, &line)
}

fn append_line(open: &mut OpenRendition, line: &str) -> Result<(), StorageError> {
    let path = open.dir.join(JOURNAL);
    open.journal
        .write_all(line.as_bytes())
        .and_then(|()| open.journal.sync_data())
        .map_err(io_err(&path))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One segment of a recording, as its journal tells it.
#[derive(Clone, Debug, Default, PartialEq)]
struct RecordedSegment {
    msn: u64,
    init: u32,
    discontinuity: bool,
    duration_us: u64,
    frames: u64,
    bytes: u64,
}

/// What a rendition's journal says.
#[derive(Debug, Default, PartialEq)]
struct Journal {
    /// Init number → (width, height, codecs).
    inits: BTreeMap<u32, (u32, u32, String)>,
    segments: Vec<RecordedSegment>,
}

/// Reads a journal: whole lines only (the last one may be torn by a crash), parts in order.
fn read_journal(text: &str) -> Journal {
    let mut journal = Journal::default();
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    for line in whole.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["I", index, width, height, codecs] => {
                if let (Ok(index), Ok(width), Ok(height)) =
                    (index.parse(), width.parse(), height.parse())
                {
                    journal
                        .inits
                        .insert(index, (width, height, (*codecs).to_owned()));
                }
            }
            ["P", msn, _index, init, disc, duration, frames, _pdt, len] => {
                let (Ok(msn), Ok(init), Ok(duration), Ok(frames), Ok(len)) = (
                    msn.parse::<u64>(),
                    init.parse::<u32>(),
                    duration.parse::<u64>(),
                    frames.parse::<u64>(),
                    len.parse::<u64>(),
                ) else {
                    continue;
                };
                match journal.segments.last_mut() {
                    Some(last) if last.msn == msn => {
                        last.duration_us += duration;
                        last.frames += frames;
                        last.bytes = len;
                    }
                    _ => journal.segments.push(RecordedSegment {
                        msn,
                        init,
                        discontinuity: *disc == "1",
                        duration_us: duration,
                        frames,
                        bytes: len,
                    }),
                }
            }
            _ => {}
        }
    }
    journal
}

/// The VOD media playlist of a recorded rendition.
fn vod_playlist(segments: &[RecordedSegment]) -> String {
    let target = segments
        .iter()
        .map(|s| s.duration_us.div_ceil(1_000_000))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    );
    let mut map = None;
    for (n, segment) in segments.iter().enumerate() {
        if n > 0 && (segment.discontinuity || map != Some(segment.init)) {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if map != Some(segment.init) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"init-{}.mp4\"", segment.init);
            map = Some(segment.init);
        }
        let _ = write!(
            out,
            "#EXTINF:{:.6},\n{}\n",
            segment.duration_us as f64 / 1e6,
            segment_name(segment.msn)
        );
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// A finished recording: what the video row is given.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) published: Published,
    pub(crate) duration_ms: i64,
    pub(crate) size: (u32, u32),
}

/// Finishes the files of a recording from its journals (see the module docs). None when
/// nothing was recorded. Idempotent: running it again after a crash gives the same result.
pub(crate) fn finish_files(
    layout: &MediaLayout,
    video: &VideoId,
) -> Result<Option<Finished>, StorageError> {
    let root = layout.video_dir(video).join(LIVE_GENERATION);
    let Ok(entries) = fs::read_dir(&root) else {
        return Ok(None);
    };
    let mut renditions = Vec::new();
    let mut longest_us = 0u64;
    for entry in entries {
        let entry = entry.map_err(io_err(&root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let dir = entry.path();
        let Ok(text) = fs::read_to_string(dir.join(JOURNAL)) else {
            continue;
        };
        let mut journal = read_journal(&text);
        // A segment file longer than its journal ends in a part the crash interrupted.
        let mut kept = Vec::new();
        for segment in journal.segments.drain(..) {
            let path = dir.join(segment_name(segment.msn));
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if meta.len() < segment.bytes || segment.bytes == 0 {
                continue;
            }
            if meta.len() > segment.bytes {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                file.set_len(segment.bytes)
                    .and_then(|()| file.sync_all())
                    .map_err(io_err(&path))?;
            }
            kept.push(segment);
        }
        let Some(first) = kept.first() else {
            continue;
        };
        let Some((width, height, codecs)) = journal.inits.get(&first.init).cloned() else {
            continue;
        };
        write_atomic(&dir.join(PLAYLIST), vod_playlist(&kept).as_bytes())?;
        let total_us: u64 = kept.iter().map(|s| s.duration_us).sum();
        let total_bytes: u64 = kept.iter().map(|s| s.bytes).sum();
        let frames: u64 = kept.iter().map(|s| s.frames).sum();
        let seconds = (total_us as f64 / 1e6).max(0.001);
        let peak = kept
            .iter()
            .filter(|s| s.duration_us >= 500_000)
            .map(|s| (s.bytes as f64 * 8.0 / (s.duration_us as f64 / 1e6)) as u64)
            .max()
            .unwrap_or(0);
        let average = (total_bytes as f64 * 8.0 / seconds) as u64;
        longest_us = longest_us.max(total_us);
        renditions.push(Rendition {
            name,
            width,
            height,
            frame_rate: (frames as f64 / seconds * 1000.0).round() / 1000.0,
            bandwidth: peak.max(average),
            average_bandwidth: average,
            codecs,
        });
    }
    if renditions.is_empty() {
        return Ok(None);
    }
    renditions.sort_by(|a, b| {
        (b.height, b.bandwidth)
            .cmp(&(a.height, a.bandwidth))
            .then(a.name.cmp(&b.name))
    });
    let size = (renditions[0].width, renditions[0].height);
    Ok(Some(Finished {
        published: Published {
            generation: LIVE_GENERATION.to_owned(),
            renditions,
            audio: None,
            complete: true,
            storyboard: false,
            ladder_key: None,
            dash: false,
        },
        duration_ms: i64::try_from(longest_us / 1000).unwrap_or(i64::MAX),
        size,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(journal: &str, segments: &[(u64, u32, bool, u64, u64)]) {
        let read = read_journal(journal);
        let got: Vec<_> = read
            .segments
            .iter()
            .map(|s| (s.msn, s.init, s.discontinuity, s.duration_us, s.bytes))
            .collect();
        assert_eq!(got, segments, "{journal:?}");
    }

    #[test]
    fn journals_read_whole_lines_and_sum_parts_per_segment() {
        check("", &[]);
        check(
            "I 0 640 360 avc1.64001e,mp4a.40.2\nP 0 0 0 0 333000 10 1 100\nP 0 1 0 0 333000 10 1 250\n",
            &[(0, 0, false, 666_000, 250)],
        );
        // A torn last line (the crash came mid-write) is not read.
        check(
            "P 0 0 0 0 333000 10 1 100\nP 1 0 0 0 3330",
            &[(0, 0, false, 333_000, 100)],
        );
        // A reconnect: the next segment is a discontinuity with a new init.
        check(
            "P 0 0 0 0 1000000 30 1 100\nP 1 0 1 1 500000 15 1 50\n",
            &[(0, 0, false, 1_000_000, 100), (1, 1, true, 500_000, 50)],
        );
        // Garbage lines are skipped.
        check("X\nP a b c\nP 2 0 0 0 1 1 1 9\n", &[(2, 0, false, 1, 9)]);
    }

    #[test]
    fn vod_playlists_mark_discontinuities_and_new_maps() {
        let seg = |msn, init, discontinuity| RecordedSegment {
            msn,
            init,
            discontinuity,
            duration_us: 1_500_000,
            frames: 45,
            bytes: 10,
        };
        let playlist = vod_playlist(&[seg(0, 0, false), seg(1, 0, true), seg(2, 1, true)]);
        assert_eq!(
            playlist,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXTINF:1.500000,\nseg_0.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXTINF:1.500000,\nseg_1.m4s\n#EXT-X-DISCONTINUITY\n\
             #EXT-X-MAP:URI=\"init-1.mp4\"\n#EXTINF:1.500000,\nseg_2.m4s\n#EXT-X-ENDLIST\n"
        );
    }
}
