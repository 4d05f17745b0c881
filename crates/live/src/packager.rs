//! The LL-HLS packager: frames in, CMAF parts and segments out, playlists rendered from
//! memory. A part closes when the next video frame would make it longer than the part
//! target; a segment closes at the first keyframe after the segment target. Readers wait on
//! a watch channel for the part they asked for (blocking playlist reload, preload hints),
//! so no request polls.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;

use crate::cmaf::{self, Sample, VIDEO_TIMESCALE};
use crate::error::LiveError;
use crate::flv::{AacConfig, AvcConfig, Frame};

/// How parts and segments are cut and how long they are kept.
#[derive(Clone, Debug)]
pub struct PackagerConfig {
    /// Longest part (the playlist's `PART-TARGET`).
    pub part_target: Duration,
    /// Shortest segment: a segment closes at the first keyframe after this.
    pub segment_target: Duration,
    /// How far back viewers can seek while live (segments kept in memory).
    pub window: Duration,
}

impl Default for PackagerConfig {
    fn default() -> Self {
        Self {
            part_target: Duration::from_millis(334),
            segment_target: Duration::from_secs(1),
            window: Duration::from_secs(2 * 60 * 60),
        }
    }
}

/// Where the packager is: the open segment's sequence number and how many of its parts are
/// complete. Readers wait for it to pass what they asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Media sequence number of the open segment.
    pub msn: u64,
    /// Complete parts of the open segment.
    pub parts: u32,
    /// Parts of the segment before it (for rendition reports at a segment's start).
    pub previous_parts: u32,
    /// No more parts will come.
    pub ended: bool,
}

/// One part: a CMAF fragment.
#[derive(Clone, Debug)]
struct Part {
    duration: f64,
    independent: bool,
    data: Bytes,
}

/// A complete segment: its parts, concatenated, are its bytes.
#[derive(Clone, Debug)]
struct Segment {
    msn: u64,
    duration: f64,
    /// Wall clock (Unix ms) when its first frame arrived.
    program_date_ms: i64,
    /// The first segment after a reconnect or a new configuration.
    discontinuity: bool,
    /// Which initialization segment its fragments need.
    init: u32,
    parts: Vec<Part>,
}

impl Segment {
    fn bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.parts.iter().map(|p| p.data.len()).sum());
        self.parts
            .iter()
            .for_each(|p| out.extend_from_slice(&p.data));
        out.freeze()
    }
}

/// What the packager holds between frames.
#[derive(Debug)]
struct State {
    video: Option<AvcConfig>,
    audio: Option<AacConfig>,
    /// Initialization segments by number (a new one after a configuration change).
    inits: Vec<Bytes>,
    segments: VecDeque<Segment>,
    open: Segment,
    /// The video frame whose duration is not known until the next one arrives.
    held_video: Option<Sample>,
    part_video: Vec<Sample>,
    part_audio: Vec<Sample>,
    /// Audio decoded but not yet placed in a part (it follows the video's boundaries).
    queued_audio: VecDeque<Sample>,
    next_audio_dts: Option<u64>,
    fragment_sequence: u32,
    /// Added to the publisher's timestamps so time runs on across reconnects.
    video_base: i64,
    audio_base: i64,
    /// Last decode times written, to continue from after a reconnect.
    last_video_end: u64,
    last_audio_end: u64,
    /// The next segment starts a discontinuity (reconnect or configuration change).
    pending_discontinuity: bool,
    /// The connection's first frame is still to come (its timestamps set the bases).
    rebase: bool,
    longest_segment: f64,
    ended: bool,
    /// Changes whenever what a playlist shows may have (rendered playlists are kept per version).
    version: u64,
}

/// A new initialization segment, as a recorder needs it.
#[derive(Clone, Debug)]
pub struct ClosedInit {
    /// Its number (`init-{index}.mp4`).
    pub index: u32,
    /// Picture size.
    pub width: u32,
    /// Picture size.
    pub height: u32,
    /// RFC 6381 codecs of the muxed tracks: video, then audio when there is sound.
    pub codecs: String,
    /// The bytes.
    pub data: Bytes,
}

/// A part the packager just closed, as a recorder needs it.
#[derive(Clone, Debug)]
pub struct ClosedPart {
    /// Its segment's media sequence number.
    pub msn: u64,
    /// Its place in the segment (0 first).
    pub index: u32,
    /// The initialization segment its segment needs.
    pub init: u32,
    /// Its segment starts a discontinuity.
    pub discontinuity: bool,
    /// Seconds.
    pub duration: f64,
    /// Video frames in it.
    pub frames: u32,
    /// Wall clock (Unix ms) of its segment's first frame.
    pub program_date_ms: i64,
    /// The CMAF fragment.
    pub data: Bytes,
}

/// Where a packager hands what it makes, as it makes it (the recording). Called with the
/// packager's lock held: it must only queue the work.
pub trait PartSink: Send + Sync + std::fmt::Debug {
    /// A new initialization segment (the first, or after a configuration change; the first
    /// may be replaced under the same index before any part used it).
    fn init(&self, init: ClosedInit);
    /// A closed part; parts come in order.
    fn part(&self, part: ClosedPart);
}

/// One rendition's live packager and its playlists.
#[derive(Debug)]
pub struct Packager {
    config: PackagerConfig,
    state: Mutex<State>,
    position: watch::Sender<Position>,
    sink: Option<Box<dyn PartSink>>,
    /// Wall clock (Unix ms) at media time 0: a segment's `PROGRAM-DATE-TIME` is this plus
    /// its first frame's media time, so renditions sharing the clock agree on it.
    clock: Arc<AtomicI64>,
    /// This packager sets the clock (and moves it on at a reconnect); followers read it.
    owns_clock: bool,
    /// Playlists rendered for the current position (see [`Packager::playlist`]).
    rendered: Mutex<Vec<(RenderKey, Bytes)>>,
}

/// What a rendered playlist depends on.
#[derive(Clone, Debug, PartialEq)]
struct RenderKey {
    flavour: Flavour,
    skip: bool,
    version: u64,
    reports: Vec<(String, Position)>,
}

/// The clock of a packager nobody started yet.
const NO_CLOCK: i64 = i64::MIN;

/// What a playlist request asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaylistRequest {
    /// `_HLS_msn`: answer once this segment (or its part) exists.
    pub msn: Option<u64>,
    /// `_HLS_part`: the part of `msn` to wait for.
    pub part: Option<u32>,
    /// `_HLS_skip=YES` (or `v2`): a delta update.
    pub skip: bool,
}

/// The flavour of media playlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// Low-latency HLS: parts, preload hint, blocking reload, delta updates.
    LowLatency,
    /// Plain HLS on the same segments, for players without LL support.
    Plain,
}

fn seconds(ticks: u64, timescale: u32) -> f64 {
    ticks as f64 / f64::from(timescale)
}

impl Packager {
    /// A packager with nothing yet.
    pub fn new(config: PackagerConfig) -> Self {
        Self::with_sink(config, None)
    }

    /// A packager that also hands every initialization segment and part to `sink`.
    pub fn with_sink(config: PackagerConfig, sink: Option<Box<dyn PartSink>>) -> Self {
        let (position, _) = watch::channel(Position {
            msn: 0,
            parts: 0,
            previous_parts: 0,
            ended: false,
        });
        Self {
            config,
            state: Mutex::new(State {
                video: None,
                audio: None,
                inits: Vec::new(),
                segments: VecDeque::new(),
                open: Segment {
                    msn: 0,
                    duration: 0.0,
                    program_date_ms: 0,
                    discontinuity: false,
                    init: 0,
                    parts: Vec::new(),
                },
                held_video: None,
                part_video: Vec::new(),
                part_audio: Vec::new(),
                queued_audio: VecDeque::new(),
                next_audio_dts: None,
                fragment_sequence: 0,
                video_base: 0,
                audio_base: 0,
                last_video_end: 0,
                last_audio_end: 0,
                pending_discontinuity: false,
                rebase: true,
                longest_segment: 0.0,
                ended: false,
                version: 0,
            }),
            position,
            sink,
            clock: Arc::new(AtomicI64::new(NO_CLOCK)),
            owns_clock: true,
            rendered: Mutex::new(Vec::new()),
        }
    }

    /// Makes this packager date its segments by `clock` (another rendition's, see
    /// [`Packager::clock`]) instead of its own, so the same media time has the same
    /// `PROGRAM-DATE-TIME` in both.
    pub fn following(mut self, clock: Arc<AtomicI64>) -> Self {
        self.clock = clock;
        self.owns_clock = false;
        self
    }

    /// The clock this packager dates its segments by.
    pub fn clock(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.clock)
    }

    /// The wall clock of media time `dts` (90 kHz), setting the clock on the first frame.
    fn date_of(&self, dts: u64, now: i64) -> i64 {
        let media_ms = i64::try_from(dts / u64::from(VIDEO_TIMESCALE / 1000)).unwrap_or(0);
        let anchor = match self.clock.compare_exchange(
            NO_CLOCK,
            now - media_ms,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => now - media_ms,
            Err(anchor) => anchor,
        };
        anchor + media_ms
    }

    /// The configuration in force.
    pub fn config(&self) -> &PackagerConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while packaging leaves the state as consistent as any frame boundary.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the packager is now.
    pub fn position(&self) -> Position {
        *self.position.borrow()
    }

    /// The picture's configuration, once the publisher sent it.
    pub fn video_config(&self) -> Option<AvcConfig> {
        self.lock().video.clone()
    }

    /// The sound's configuration, once the publisher sent it.
    pub fn audio_config(&self) -> Option<AacConfig> {
        self.lock().audio.clone()
    }

    /// A publisher (re)connected: what it sends next continues the timeline after a
    /// discontinuity instead of starting it again.
    pub fn reconnected(&self) {
        let mut state = self.lock();
        let now = wall_clock_ms();
        self.flush(&mut state, now, true);
        if self.owns_clock && self.clock.load(Ordering::Acquire) != NO_CLOCK {
            // Time runs on from where the last connection stopped: the dates, from now.
            let resume_ms = i64::try_from(state.last_video_end / u64::from(VIDEO_TIMESCALE / 1000))
                .unwrap_or(0);
            self.clock.store(now - resume_ms, Ordering::Release);
        }
        state.rebase = true;
        mark_boundary(&mut state);
        state.held_video = None;
        state.next_audio_dts = None;
    }

    /// Takes one frame from the publisher.
    pub fn push(&self, frame: Frame) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        let now = wall_clock_ms();
        match frame {
            Frame::VideoConfig(config) => {
                if state.video.as_ref() != Some(&config) {
                    self.flush(&mut state, now, true);
                    state.video = Some(config);
                    self.new_init(&mut state);
                }
            }
            Frame::AudioConfig(config) => {
                if state.audio.as_ref() != Some(&config) {
                    // Audio arriving after the first pictures joins at the next segment.
                    self.flush(&mut state, now, true);
                    state.audio = Some(config);
                    self.new_init(&mut state);
                }
            }
            Frame::Video {
                dts_ms,
                cts_ms,
                keyframe,
                data,
            } => {
                if state.video.is_none() {
                    return;
                }
                let ticks = i64::from(dts_ms) * i64::from(VIDEO_TIMESCALE / 1000);
                self.rebase_if_new(&mut state, f64::from(dts_ms) / 1000.0);
                let dts = u64::try_from(ticks + state.video_base).unwrap_or(0);
                let sample = Sample {
                    dts,
                    duration: 0,
                    cts_offset: cts_ms * i32::try_from(VIDEO_TIMESCALE / 1000).unwrap_or(90),
                    keyframe,
                    data,
                };
                if let Some(mut held) = state.held_video.take() {
                    let Some(duration) = dts.checked_sub(held.dts).filter(|d| *d > 0) else {
                        // A repeated or backwards timestamp: the later frame is dropped (it
                        // cannot be placed in decode order).
                        state.held_video = Some(held);
                        return;
                    };
                    held.duration = u32::try_from(duration).unwrap_or(u32::MAX);
                    self.place_video(&mut state, held, now);
                } else if !sample.keyframe
                    && state.part_video.is_empty()
                    && state.open.parts.is_empty()
                {
                    // A stream must start with a keyframe.
                    return;
                }
                state.held_video = Some(sample);
            }
            Frame::Audio { dts_ms, data } => {
                let Some(rate) = state.audio.as_ref().map(|a| a.sample_rate) else {
                    return;
                };
                if state.video.is_none() {
                    return;
                }
                let ticks = i64::from(dts_ms) * i64::from(rate) / 1000;
                self.rebase_if_new(&mut state, f64::from(dts_ms) / 1000.0);
                let stamped = u64::try_from(ticks + state.audio_base).unwrap_or(0);
                // Count samples rather than trust millisecond stamps, unless they drift apart
                // by more than a frame (a gap in the publisher's audio).
                let dts = match state.next_audio_dts {
                    Some(next) if next.abs_diff(stamped) < u64::from(AAC_FRAME) * 2 => next,
                    _ => stamped,
                };
                state.next_audio_dts = Some(dts + u64::from(AAC_FRAME));
                if state.queued_audio.len() >= MAX_QUEUED_AUDIO {
                    // Sound with no pictures to place it beside: the oldest goes.
                    state.queued_audio.pop_front();
                }
                state.queued_audio.push_back(Sample {
                    dts,
                    duration: AAC_FRAME,
                    cts_offset: 0,
                    keyframe: true,
                    data,
                });
            }
        }
    }

    /// Sets the timestamp bases on the first frame after a (re)connect, `first_seconds` in
    /// the publisher's clock, so that both tracks continue where the last connection stopped
    /// (shifted by the same time, which keeps them in sync).
    fn rebase_if_new(&self, state: &mut State, first_seconds: f64) {
        if !state.rebase {
            return;
        }
        state.rebase = false;
        let rate = audio_rate(state);
        let resume =
            seconds(state.last_video_end, VIDEO_TIMESCALE).max(seconds(state.last_audio_end, rate));
        let shift = resume - first_seconds;
        state.video_base = (shift * f64::from(VIDEO_TIMESCALE)).round() as i64;
        state.audio_base = (shift * f64::from(rate)).round() as i64;
    }

    fn new_init(&self, state: &mut State) {
        let Some(video) = state.video.as_ref() else {
            return;
        };
        let init = cmaf::init_segment(video, state.audio.as_ref());
        let nothing_yet = state.segments.is_empty()
            && state.open.parts.is_empty()
            && state.part_video.is_empty()
            && state.held_video.is_none();
        if nothing_yet {
            // Both configurations arrive before the first frame: one initialization for both.
            state.inits.clear();
        }
        if let Some(sink) = &self.sink {
            let mut codecs = video.codec.clone();
            if let Some(audio) = &state.audio {
                codecs = format!("{codecs},{}", audio.codec);
            }
            sink.init(ClosedInit {
                index: u32::try_from(state.inits.len()).unwrap_or(u32::MAX),
                width: video.width,
                height: video.height,
                codecs,
                data: init.clone(),
            });
        }
        state.inits.push(init);
        mark_boundary(state);
    }

    /// Puts a video frame whose duration is known into the open part, closing the part or
    /// the segment before it where the targets say so.
    fn place_video(&self, state: &mut State, sample: Sample, now: i64) {
        let part_ticks: u64 = state.part_video.iter().map(|s| u64::from(s.duration)).sum();
        let segment_seconds = state.open.duration + seconds(part_ticks, VIDEO_TIMESCALE);
        let part_limit = self.config.part_target.as_secs_f64() * f64::from(VIDEO_TIMESCALE);
        let starts_segment =
            sample.keyframe && segment_seconds >= self.config.segment_target.as_secs_f64();
        if starts_segment {
            self.close_part(state, sample.dts);
            self.close_segment(state, now);
        } else if !state.part_video.is_empty()
            && (part_ticks + u64::from(sample.duration)) as f64 > part_limit
        {
            self.close_part(state, sample.dts);
        }
        if state.part_video.is_empty() && state.open.parts.is_empty() {
            state.open.program_date_ms = self.date_of(sample.dts, now);
        }
        state.last_video_end = sample.dts + u64::from(sample.duration);
        state.part_video.push(sample);
    }

    /// Closes the open part at video time `until` (the next frame's decode time), taking
    /// the audio that plays before it.
    fn close_part(&self, state: &mut State, until: u64) {
        if state.part_video.is_empty() {
            return;
        }
        let until_seconds = seconds(until, VIDEO_TIMESCALE);
        let rate = audio_rate(state);
        while let Some(audio) = state.queued_audio.front() {
            if seconds(audio.dts, rate) >= until_seconds {
                break;
            }
            if let Some(audio) = state.queued_audio.pop_front() {
                state.last_audio_end = audio.dts + u64::from(audio.duration);
                state.part_audio.push(audio);
            }
        }
        state.fragment_sequence += 1;
        let video = std::mem::take(&mut state.part_video);
        let audio = std::mem::take(&mut state.part_audio);
        let ticks: u64 = video.iter().map(|s| u64::from(s.duration)).sum();
        let part = Part {
            duration: seconds(ticks, VIDEO_TIMESCALE),
            independent: video[0].keyframe,
            data: cmaf::fragment(state.fragment_sequence, &video, &audio),
        };
        if let Some(sink) = &self.sink {
            sink.part(ClosedPart {
                msn: state.open.msn,
                index: u32::try_from(state.open.parts.len()).unwrap_or(u32::MAX),
                init: state.open.init,
                discontinuity: state.open.discontinuity,
                duration: part.duration,
                frames: u32::try_from(video.len()).unwrap_or(u32::MAX),
                program_date_ms: state.open.program_date_ms,
                data: part.data.clone(),
            });
        }
        state.open.duration += part.duration;
        state.open.parts.push(part);
        self.announce(state);
    }

    fn close_segment(&self, state: &mut State, now: i64) {
        if state.open.parts.is_empty() {
            return;
        }
        let next = Segment {
            msn: state.open.msn + 1,
            duration: 0.0,
            program_date_ms: now,
            discontinuity: std::mem::take(&mut state.pending_discontinuity),
            init: u32::try_from(state.inits.len().saturating_sub(1)).unwrap_or(0),
            parts: Vec::new(),
        };
        let done = std::mem::replace(&mut state.open, next);
        state.longest_segment = state.longest_segment.max(done.duration);
        state.segments.push_back(done);
        let mut kept: f64 = state.segments.iter().map(|s| s.duration).sum();
        while kept > self.config.window.as_secs_f64() && state.segments.len() > 1 {
            if let Some(old) = state.segments.pop_front() {
                kept -= old.duration;
            }
        }
        self.announce(state);
    }

    /// Closes what is open (the held frame too): at a reconnect, a configuration change or
    /// the end. `new_segment` starts the next segment afresh.
    fn flush(&self, state: &mut State, now: i64, new_segment: bool) {
        if let Some(mut held) = state.held_video.take() {
            let last = state.part_video.last().map_or(3000, |s| s.duration);
            held.duration = last.max(1);
            let end = held.dts + u64::from(held.duration);
            self.place_video(state, held, now);
            self.close_part(state, end);
        }
        if new_segment {
            self.close_segment(state, now);
        }
    }

    /// The broadcast is over: closes the last segment; playlists end with `EXT-X-ENDLIST`.
    pub fn end(&self) {
        let mut state = self.lock();
        let now = wall_clock_ms();
        self.flush(&mut state, now, true);
        state.ended = true;
        self.announce(&mut state);
    }

    fn announce(&self, state: &mut State) {
        state.version += 1;
        let position = Position {
            msn: state.open.msn,
            parts: u32::try_from(state.open.parts.len()).unwrap_or(u32::MAX),
            previous_parts: state
                .segments
                .back()
                .map_or(0, |s| u32::try_from(s.parts.len()).unwrap_or(u32::MAX)),
            ended: state.ended,
        };
        self.position.send_replace(position);
    }

    /// Waits until part `part` of segment `msn` exists (or the whole segment, with no part),
    /// or the broadcast ended, for at most `timeout`. True when it exists.
    pub async fn wait_for(&self, msn: u64, part: Option<u32>, timeout: Duration) -> bool {
        let reached = |p: &Position| match part {
            Some(part) => p.msn > msn || (p.msn == msn && p.parts > part),
            None => p.msn > msn,
        };
        let mut watcher = self.position.subscribe();
        let done = tokio::time::timeout(timeout, watcher.wait_for(|p| p.ended || reached(p))).await;
        matches!(done, Ok(Ok(p)) if reached(&p))
    }

    /// Checks a blocking request against where the packager is: a segment more than two
    /// ahead of the open one, or a part with no segment, is a bad request.
    pub fn check_request(&self, request: &PlaylistRequest) -> Result<(), LiveError> {
        let position = self.position();
        match (request.msn, request.part) {
            (None, Some(_)) => Err(LiveError::BadPlaylistRequest(
                "_HLS_part needs _HLS_msn".into(),
            )),
            (Some(msn), _) if msn > position.msn + 2 => {
                Err(LiveError::BadPlaylistRequest(format!(
                    "_HLS_msn={msn} is beyond the live edge (segment {})",
                    position.msn
                )))
            }
            _ => Ok(()),
        }
    }

    /// The initialization segment `index` (0 is the first).
    pub fn init(&self, index: u32) -> Option<Bytes> {
        self.lock().inits.get(usize::try_from(index).ok()?).cloned()
    }

    /// A complete segment's bytes, while it is in the window.
    pub fn segment(&self, msn: u64) -> Option<Bytes> {
        let state = self.lock();
        state
            .segments
            .iter()
            .find(|s| s.msn == msn)
            .map(Segment::bytes)
    }

    /// A part's bytes, while it is in the window.
    pub fn part(&self, msn: u64, index: u32) -> Option<Bytes> {
        let state = self.lock();
        let segment = if state.open.msn == msn {
            Some(&state.open)
        } else {
            state.segments.iter().find(|s| s.msn == msn)
        }?;
        segment
            .parts
            .get(usize::try_from(index).ok()?)
            .map(|p| p.data.clone())
    }

    /// The media playlist. Segment URIs are `{msn}.m4s`, parts `{msn}.{part}.m4s`,
    /// initialization segments `init-{n}.mp4`; `reports` are the other renditions'
    /// `(uri, position)` for `EXT-X-RENDITION-REPORT`.
    ///
    /// A playlist is rendered once per state of the stream and shared by every request that
    /// asks for the same one (a thousand viewers' blocking reloads answered by one render).
    pub fn playlist(
        &self,
        flavour: Flavour,
        request: &PlaylistRequest,
        reports: &[(String, Position)],
    ) -> Option<Bytes> {
        let key = RenderKey {
            flavour,
            skip: request.skip,
            version: self.lock().version,
            reports: reports.to_vec(),
        };
        let mut rendered = self.rendered.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, text)) = rendered.iter().find(|(k, _)| *k == key) {
            return Some(text.clone());
        }
        let text = Bytes::from(self.render(flavour, request, reports)?);
        // One entry per flavour and skip is what concurrent viewers share.
        rendered.retain(|(k, _)| k.version == key.version);
        rendered.push((key, text.clone()));
        Some(text)
    }

    fn render(
        &self,
        flavour: Flavour,
        request: &PlaylistRequest,
        reports: &[(String, Position)],
    ) -> Option<String> {
        let state = self.lock();
        if state.inits.is_empty() {
            return None;
        }
        let low_latency = flavour == Flavour::LowLatency;
        let part_target = self.config.part_target.as_secs_f64();
        let target = state
            .longest_segment
            .max(state.open.duration)
            .max(self.config.segment_target.as_secs_f64())
            .ceil()
            .max(1.0) as u64;
        let skip_until = 6.0 * target as f64;
        let first = state.segments.front().map_or(state.open.msn, |s| s.msn);
        let mut out = String::with_capacity(4096);
        out.push_str("#EXTM3U\n");
        let _ = writeln!(out, "#EXT-X-VERSION:{}", if low_latency { 9 } else { 6 });
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
        if low_latency {
            let _ = writeln!(
                out,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={skip_until:.1},PART-HOLD-BACK={:.3}",
                part_target * 3.0
            );
            let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={part_target:.3}");
        }
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
        let all: Vec<&Segment> = state.segments.iter().chain([&state.open]).collect();
        let total: f64 = all.iter().map(|s| s.duration).sum();
        let mut skipped = 0;
        if low_latency && request.skip {
            let mut end = 0.0;
            for segment in &all {
                end += segment.duration;
                // Never skip past a discontinuity: its map and timeline must be seen.
                if total - end < skip_until || (skipped > 0 && segment.discontinuity) {
                    break;
                }
                skipped += 1;
            }
            skipped = skipped.min(all.len().saturating_sub(1));
        }
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
        let mut map = None;
        if let Some(segment) = all.get(skipped) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"init-{}.mp4\"", segment.init);
            map = Some(segment.init);
        }
        let mut elapsed: f64 = all.iter().take(skipped).map(|s| s.duration).sum();
        for (position, segment) in all.iter().enumerate().skip(skipped) {
            let is_open = segment.msn == state.open.msn && !state.ended;
            if segment.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(segment.init) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"init-{}.mp4\"", segment.init);
                map = Some(segment.init);
            }
            if !segment.parts.is_empty() || !is_open {
                let _ = writeln!(
                    out,
                    "#EXT-X-PROGRAM-DATE-TIME:{}",
                    humantime::format_rfc3339_millis(
                        SystemTime::UNIX_EPOCH
                            + Duration::from_millis(
                                u64::try_from(segment.program_date_ms).unwrap_or(0)
                            )
                    )
                );
            }
            // Parts are listed for the last three target durations only, and on at most the
            // last three segments (the open one counts: strict parsers count it too).
            let recent = total - elapsed <= 3.0 * target as f64 + segment.duration
                && position + 3 >= all.len();
            if low_latency && recent {
                for (index, part) in segment.parts.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "#EXT-X-PART:DURATION={:.5},URI=\"{}.{index}.m4s\"{}",
                        part.duration,
                        segment.msn,
                        if part.independent {
                            ",INDEPENDENT=YES"
                        } else {
                            ""
                        }
                    );
                }
            }
            elapsed += segment.duration;
            if !is_open && !segment.parts.is_empty() {
                let _ = writeln!(out, "#EXTINF:{:.5},\n{}.m4s", segment.duration, segment.msn);
            }
        }
        if state.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        } else if low_latency {
            let _ = writeln!(
                out,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}.{}.m4s\"",
                state.open.msn,
                state.open.parts.len()
            );
            for (uri, position) in reports {
                let (msn, part) = last_part(position);
                let _ = writeln!(
                    out,
                    "#EXT-X-RENDITION-REPORT:URI=\"{uri}\",LAST-MSN={msn},LAST-PART={part}"
                );
            }
        }
        Some(out)
    }
}

/// The last complete part a position names, as `(msn, part)`.
fn last_part(position: &Position) -> (u64, u32) {
    match position.parts {
        0 => (
            position.msn.saturating_sub(1),
            position.previous_parts.saturating_sub(1),
        ),
        n => (position.msn, n - 1),
    }
}

/// AAC frames are 1024 samples (AAC-LC, as encoders send for live).
const AAC_FRAME: u32 = 1024;
/// Audio frames held while no picture arrives (about 20 s at 48 kHz).
const MAX_QUEUED_AUDIO: usize = 1000;

/// The stream changes here (a reconnect, a new configuration): the segment that starts next
/// is a discontinuity (when something came before it) with the newest initialization.
fn mark_boundary(state: &mut State) {
    state.version += 1;
    let latest = u32::try_from(state.inits.len().saturating_sub(1)).unwrap_or(0);
    if state.open.parts.is_empty() && state.part_video.is_empty() {
        state.open.discontinuity |= !state.segments.is_empty();
        state.open.init = latest;
    } else {
        state.pending_discontinuity = true;
    }
}

fn audio_rate(state: &State) -> u32 {
    state.audio.as_ref().map_or(48_000, |a| a.sample_rate)
}

fn wall_clock_ms() -> i64 {
    spool_model::now_millis()
}
