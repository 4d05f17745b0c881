//! The live service: rooms and their keys, the broadcasts on air, who publishes to them, and
//! how long a dropped publisher may take to come back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use spool_catalog::edit::{MAX_DESCRIPTION_CHARS, Title};
use spool_catalog::policy::{self, Access, Viewer};
use spool_media::process::ProcessRunner;
use spool_metadata::{NewRoom, RECORDING_JOB, RoomRow, Store, User};
use spool_model::{LiveStatus, RoomId, VideoId, Visibility};
use spool_storage::MediaLayout;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{LiveError, Result};
use crate::flv::{self, AvcConfig, Frame};
use crate::ladder::{self, Closing, Rung, Transcoder};
use crate::packager::{Packager, PackagerConfig};
use crate::recording::{self, RecordOp, RecordingFiles, RecordingSink};

/// How the live service behaves (from `[live]`).
#[derive(Clone, Debug)]
pub struct LiveSettings {
    /// The RTMP URL publishers are told.
    pub rtmp_url: String,
    /// How long a dropped publisher may take to come back to the same broadcast.
    pub reconnect_grace: Duration,
    /// How long a publisher may send nothing before it is dropped.
    pub idle_timeout: Duration,
    /// Part and segment targets, the DVR window.
    pub packager: PackagerConfig,
    /// Heights of the lower rungs to encode (those below the source's).
    pub ladder: Vec<u32>,
}

impl LiveSettings {
    /// From the configuration file's `[live]` section; `bound` is where the RTMP listener
    /// actually listens (a configured port 0 becomes the kernel's choice).
    pub fn from_config(config: &spool_config::LiveConfig, bound: Option<SocketAddr>) -> Self {
        let rtmp_url = if config.rtmp_public_url.is_empty() {
            format!("rtmp://{}/{RTMP_APP}", bound.unwrap_or(config.rtmp_listen))
        } else {
            config.rtmp_public_url.trim_end_matches('/').to_owned()
        };
        Self {
            rtmp_url,
            reconnect_grace: Duration::from_secs(config.reconnect_grace_s),
            idle_timeout: Duration::from_secs(config.idle_timeout_s.max(1)),
            packager: PackagerConfig {
                part_target: Duration::from_millis(config.part_target_ms),
                segment_target: Duration::from_millis(config.segment_target_ms),
                window: Duration::from_secs(config.dvr_window_s.max(60)),
            },
            ladder: config.ladder.clone(),
        }
    }
}

/// The rendition that passes the publisher's H.264 through.
pub const SOURCE_RENDITION: &str = "source";
/// The application name publishers use in the RTMP URL (`rtmp://host/live/KEY`).
pub const RTMP_APP: &str = "live";
/// How long a playlist request counts its viewer as watching.
const VIEWER_TTL: Duration = Duration::from_secs(15);
/// How long a tracking event counts its viewer as watching (players send a heartbeat every
/// 10 s of playback).
const EVENT_VIEWER_TTL: Duration = Duration::from_secs(25);
/// Audio frames taken before a picture configuration must have come (about 3 s).
const MAX_AUDIO_WITHOUT_VIDEO: u32 = 150;
/// Shortest time between two starts of a room's encoder after it failed.
const ENCODER_RESTART_EVERY: Duration = Duration::from_secs(5);
/// Rooms one listing returns at most.
const MAX_LISTED: u32 = 100;

/// What a new room is given.
#[derive(Clone, Debug, Default)]
pub struct RoomInput {
    /// Title (required).
    pub title: String,
    /// Description.
    pub description: String,
    /// Who may watch; public when not given.
    pub visibility: Option<Visibility>,
}

/// The incoming stream's health, for the broadcaster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamHealth {
    /// Picture size.
    pub width: u32,
    /// Picture size.
    pub height: u32,
    /// RFC 6381 codecs: video, then audio when there is sound.
    pub codecs: Vec<String>,
    /// Frames per second over the last seconds.
    pub fps: f64,
    /// Bits per second over the last seconds (audio and video).
    pub bitrate_bps: u64,
    /// Seconds between the last two keyframes.
    pub gop_seconds: f64,
    /// The publisher sends B-frames (pictures out of decode order).
    pub b_frames: bool,
    /// What the publisher should change, in words.
    pub warnings: Vec<String>,
}

/// A room as a viewer sees it: the stored row and, while on air, the live figures.
#[derive(Clone, Debug)]
pub struct RoomView {
    /// The stored room.
    pub row: RoomRow,
    /// Viewers in the last seconds.
    pub viewers: u64,
    /// A publisher is connected now (false while it reconnects).
    pub publishing: bool,
    /// The incoming stream, for the owner only.
    pub health: Option<StreamHealth>,
    /// The caller may change the room.
    pub owned: bool,
}

/// Who publishes to a broadcast.
#[derive(Clone, Copy, Debug, PartialEq)]
enum PublisherState {
    /// Connection `id` is sending.
    Connected(u64),
    /// The publisher dropped at this instant; it may come back within the grace period.
    Gone(Instant),
}

/// Frame statistics over a sliding second, for [`StreamHealth`].
#[derive(Debug, Default)]
struct HealthMeter {
    window_start: Option<Instant>,
    frames: u32,
    bytes: u64,
    last_keyframe_ms: Option<u32>,
    audio_without_video: u32,
    health: StreamHealth,
}

/// A broadcast on air: its packager, publisher and viewers.
#[derive(Debug)]
pub struct Broadcast {
    /// The room.
    pub room: RoomId,
    /// The video its recording becomes.
    pub recording: VideoId,
    owner: spool_model::UserId,
    visibility: Visibility,
    packager: Packager,
    /// The encoded lower rungs, planned when the first picture configuration arrives.
    rungs: OnceLock<Vec<Rung>>,
    /// Their encoder, while it runs.
    transcoder: Mutex<Option<(u64, Transcoder)>>,
    /// The encoder before it, writing its last pictures (the next one waits for it).
    closing: Mutex<Option<Closing>>,
    /// Encoders started so far (a restart continues the rungs after a discontinuity).
    encoder_runs: AtomicU64,
    /// When the last encoder started (one that failed is restarted at most this often).
    encoder_started: Mutex<Option<Instant>>,
    /// The latest configuration tags, to start an encoder mid-stream.
    video_config_tag: Mutex<Option<(AvcConfig, Bytes)>>,
    audio_config_tag: Mutex<Option<Bytes>>,
    publisher: Mutex<PublisherState>,
    meter: Mutex<HealthMeter>,
    /// Clients that read a playlist lately.
    viewers: Mutex<Seen>,
    /// Viewers whose player sent tracking events for the room lately.
    playing: Mutex<Seen>,
}

/// Keys seen within the last `ttl`.
#[derive(Debug)]
struct Seen {
    ttl: Duration,
    at: HashMap<u64, Instant>,
}

impl Seen {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            at: HashMap::new(),
        }
    }

    fn saw(&mut self, key: u64) {
        let now = Instant::now();
        self.at.insert(key, now);
        if self.at.len() > 1024 {
            self.at
                .retain(|_, seen| now.duration_since(*seen) < self.ttl);
        }
    }

    fn count(&mut self) -> u64 {
        let now = Instant::now();
        self.at
            .retain(|_, seen| now.duration_since(*seen) < self.ttl);
        self.at.len() as u64
    }
}

impl Broadcast {
    /// The packager of the (source) rendition.
    pub fn packager(&self) -> &Packager {
        &self.packager
    }

    /// Anyone may watch (shared caches may keep what is served).
    pub fn is_public(&self) -> bool {
        self.visibility != Visibility::Private
    }

    /// The rendition names, highest first: the source (passed through), then the encoded
    /// rungs.
    pub fn renditions(&self) -> Vec<String> {
        let mut names = vec![SOURCE_RENDITION.to_owned()];
        names.extend(self.lower_rungs().iter().map(|r| r.plan.name.clone()));
        names
    }

    /// The packager of rendition `name`.
    pub fn rendition(&self, name: &str) -> Option<&Packager> {
        if name == SOURCE_RENDITION {
            return Some(&self.packager);
        }
        self.lower_rungs()
            .iter()
            .find(|r| r.plan.name == name)
            .map(|r| &r.packager)
    }

    fn lower_rungs(&self) -> &[Rung] {
        self.rungs.get().map_or(&[], Vec::as_slice)
    }

    /// The multivariant playlist: one `EXT-X-STREAM-INF` per rendition that has pictures,
    /// pointing at its LL (`index.m3u8`) or plain (`plain.m3u8`) media playlist. None before
    /// the first picture configuration arrived.
    pub fn master_playlist(&self, flavour: crate::Flavour) -> Option<String> {
        let health = self.health();
        let media = match flavour {
            crate::Flavour::LowLatency => "index.m3u8",
            crate::Flavour::Plain => "plain.m3u8",
        };
        let frame_rate = if health.fps > 0.0 {
            format!(",FRAME-RATE={:.3}", health.fps)
        } else {
            String::new()
        };
        let source_bps = (health.bitrate_bps.max(500_000) as f64 * 1.2) as u64;
        let mut variants = vec![(SOURCE_RENDITION, &self.packager, source_bps)];
        for rung in self.lower_rungs() {
            let bps = (u64::from(rung.plan.video_kbps) * 1000 + 128_000) * 11 / 10;
            variants.push((rung.plan.name.as_str(), &rung.packager, bps));
        }
        let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        let mut listed = 0;
        for (name, packager, bandwidth) in variants {
            let Some(video) = packager.video_config() else {
                continue;
            };
            let codecs = match packager.audio_config() {
                Some(audio) => format!("{},{}", video.codec, audio.codec),
                None => video.codec.clone(),
            };
            out.push_str(&format!(
                "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={}x{},CODECS=\"{codecs}\"{frame_rate}\n{name}/{media}\n",
                video.width, video.height
            ));
            listed += 1;
        }
        (listed > 0).then_some(out)
    }

    /// Stops the lower rungs' encoder at once (what it had not written is lost).
    fn stop_encoder(&self) {
        let stopped = lock(&self.transcoder).take();
        drop(stopped);
    }

    /// Lets the lower rungs' encoder finish what it was given; the next one waits for it.
    fn close_encoder(&self) {
        let closed = lock(&self.transcoder).take();
        if let Some((_, encoder)) = closed {
            *lock(&self.closing) = Some(encoder.close());
        }
    }

    /// Counts a viewer (any stable key: a hash of the client's address and agent) as watching.
    pub fn saw_viewer(&self, key: u64) {
        lock(&self.viewers).saw(key);
    }

    /// Counts a viewer whose player sent a tracking event for this room (any stable key: a
    /// hash of its user or device id).
    pub fn saw_playing(&self, key: u64) {
        lock(&self.playing).saw(key);
    }

    /// Viewers now: those whose players report playing (tracking events with the room's id),
    /// or, when more, those reading its playlists (players that send no events, such as
    /// ffmpeg or a set-top box). The larger, not the sum: one viewer is usually both.
    pub fn viewers(&self) -> u64 {
        let reading = lock(&self.viewers).count();
        reading.max(lock(&self.playing).count())
    }

    fn publishing(&self) -> bool {
        matches!(*lock(&self.publisher), PublisherState::Connected(_))
    }

    fn health(&self) -> StreamHealth {
        lock(&self.meter).health.clone()
    }

    fn measure(&self, frame: &Frame) -> Result<()> {
        let mut meter = lock(&self.meter);
        let now = Instant::now();
        let start = *meter.window_start.get_or_insert(now);
        match frame {
            Frame::Video {
                dts_ms,
                cts_ms,
                keyframe,
                data,
            } => {
                meter.frames += 1;
                meter.bytes += data.len() as u64;
                if *cts_ms != 0 {
                    meter.health.b_frames = true;
                }
                if *keyframe {
                    if let Some(last) = meter.last_keyframe_ms {
                        meter.health.gop_seconds = f64::from(dts_ms.wrapping_sub(last)) / 1000.0;
                    }
                    meter.last_keyframe_ms = Some(*dts_ms);
                }
            }
            Frame::Audio { data, .. } => {
                meter.bytes += data.len() as u64;
                if meter.health.width == 0 {
                    meter.audio_without_video += 1;
                    if meter.audio_without_video > MAX_AUDIO_WITHOUT_VIDEO {
                        return Err(LiveError::UnsupportedCodec(
                            "audio only: a room needs H.264 video".into(),
                        ));
                    }
                }
            }
            Frame::VideoConfig(config) => {
                meter.health.width = config.width;
                meter.health.height = config.height;
                meter.health.codecs.retain(|c| !c.starts_with("avc1"));
                meter.health.codecs.insert(0, config.codec.clone());
            }
            Frame::AudioConfig(config) => {
                meter.health.codecs.retain(|c| !c.starts_with("mp4a"));
                meter.health.codecs.push(config.codec.clone());
            }
        }
        let elapsed = now.duration_since(start).as_secs_f64();
        if elapsed >= 2.0 {
            meter.health.fps = f64::from(meter.frames) / elapsed;
            meter.health.bitrate_bps = (meter.bytes as f64 * 8.0 / elapsed) as u64;
            meter.window_start = Some(now);
            meter.frames = 0;
            meter.bytes = 0;
            let mut warnings = Vec::new();
            if meter.health.gop_seconds > 2.0 {
                warnings.push(format!(
                    "keyframes every {:.1} s: set the keyframe interval to 1 or 2 s for low latency",
                    meter.health.gop_seconds
                ));
            }
            if meter.health.b_frames {
                warnings.push("B-frames add latency: turn them off (x264 tune zerolatency)".into());
            }
            if warnings != meter.health.warnings {
                for warning in &warnings {
                    tracing::warn!(room = %self.room, "{warning}");
                }
                meter.health.warnings = warnings;
            }
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The live service; cheap to clone.
#[derive(Clone, Debug)]
pub struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    layout: MediaLayout,
    processes: ProcessRunner,
    settings: LiveSettings,
    broadcasts: Mutex<HashMap<RoomId, Arc<Broadcast>>>,
    next_connection: AtomicU64,
    /// Recording work, written by [`Live::run`] in order.
    records: mpsc::UnboundedSender<RecordOp>,
    records_inbox: Mutex<Option<mpsc::UnboundedReceiver<RecordOp>>>,
    /// Encoders to run, owned by [`Live::run`].
    tasks: mpsc::UnboundedSender<BoxFuture<'static, ()>>,
    tasks_inbox: Mutex<Option<mpsc::UnboundedReceiver<BoxFuture<'static, ()>>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Live {
    /// The service over `store`, recording broadcasts into `layout`, encoding lower rungs
    /// with `processes`' streaming pool.
    pub fn new(
        store: Store,
        layout: MediaLayout,
        processes: ProcessRunner,
        settings: LiveSettings,
    ) -> Self {
        let (records, inbox) = mpsc::unbounded_channel();
        let (tasks, tasks_inbox) = mpsc::unbounded_channel();
        Self {
            inner: Arc::new(Inner {
                store,
                layout,
                processes,
                settings,
                broadcasts: Mutex::new(HashMap::new()),
                next_connection: AtomicU64::new(1),
                records,
                records_inbox: Mutex::new(Some(inbox)),
                tasks,
                tasks_inbox: Mutex::new(Some(tasks_inbox)),
            }),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &LiveSettings {
        &self.inner.settings
    }

    /// Ends the broadcasts a previous run left on air (it was killed before ending them),
    /// publishing what they recorded up to the kill.
    pub async fn recover(&self) -> Result<usize> {
        let stale = self
            .inner
            .store
            .rooms_with_status(LiveStatus::Live, u32::MAX)
            .await?;
        for room in &stale {
            match &room.recording_id {
                Some(video) => self.finish_recording(&room.id, video).await?,
                None => {
                    self.inner.store.end_room(&room.id, None).await?;
                }
            }
            tracing::info!(room = %room.id, "ended a broadcast left on air by the last run");
        }
        Ok(stale.len())
    }

    /// Publishes a broadcast's recording as a video (or removes the video when nothing was
    /// recorded) and ends the room, pointing it at the video. Idempotent.
    async fn finish_recording(&self, room: &RoomId, video: &VideoId) -> Result<()> {
        let store = &self.inner.store;
        let (layout, id) = (self.inner.layout.clone(), video.clone());
        let finished = tokio::task::spawn_blocking(move || recording::finish_files(&layout, &id))
            .await
            .map_err(|e| LiveError::Recording(e.to_string()))?;
        let recording = match finished {
            Ok(Some(finished)) => {
                store
                    .record_probe(video, finished.duration_ms, Some(finished.size))
                    .await?;
                if store
                    .publish_media(video, &finished.published.to_json(), 100)
                    .await?
                {
                    store.enqueue(RECORDING_JOB, video).await?;
                    tracing::info!(%room, %video, seconds = finished.duration_ms as f64 / 1000.0, "the recording is a video");
                    Some(video)
                } else {
                    // The owner deleted it meanwhile.
                    None
                }
            }
            Ok(None) => {
                tracing::info!(%room, %video, "the broadcast recorded nothing; no video");
                store.delete_video(video).await?;
                let (layout, id) = (self.inner.layout.clone(), video.clone());
                let _ = tokio::task::spawn_blocking(move || layout.remove_video(&id)).await;
                None
            }
            Err(error) => {
                tracing::error!(%room, %video, %error, "cannot finish the recording");
                store
                    .fail_video(
                        video,
                        &format!("the recording could not be finished: {error}"),
                    )
                    .await?;
                Some(video)
            }
        };
        store.end_room(room, recording).await?;
        Ok(())
    }

    /// Creates a room for `user`; the stream key is returned this once.
    pub async fn create_room(&self, user: &User, input: RoomInput) -> Result<(RoomView, String)> {
        let title = Title::parse(&input.title)?;
        if input.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(LiveError::InvalidInput(format!(
                "description: at most {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        let (row, key) = self
            .inner
            .store
            .create_room(&NewRoom {
                owner_id: user.id,
                title: title.as_str(),
                description: &input.description,
                visibility: input.visibility.unwrap_or(Visibility::Public),
            })
            .await?;
        Ok((self.view(row, Some(user)), key))
    }

    /// One room, as `viewer` may see it.
    pub async fn room(&self, viewer: Option<&User>, id: &RoomId) -> Result<RoomView> {
        let row = self.visible_row(viewer, id).await?;
        Ok(self.view(row, viewer))
    }

    /// Public rooms on air now, most recently started first.
    pub async fn on_air(&self, viewer: Option<&User>) -> Result<Vec<RoomView>> {
        let rows = self
            .inner
            .store
            .rooms_with_status(LiveStatus::Live, MAX_LISTED)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.visibility == Visibility::Public)
            .map(|row| self.view(row, viewer))
            .collect())
    }

    /// The caller's own rooms.
    pub async fn rooms_of(&self, user: &User) -> Result<Vec<RoomView>> {
        let rows = self.inner.store.rooms_of(user.id).await?;
        Ok(rows
            .into_iter()
            .map(|row| self.view(row, Some(user)))
            .collect())
    }

    /// Replaces the room's stream key (the old one stops working; a publisher on air stays).
    pub async fn rotate_key(&self, user: &User, id: &RoomId) -> Result<String> {
        let row = self.visible_row(Some(user), id).await?;
        if !policy::owns(user, row.owner_id) {
            return Err(LiveError::NotOwner);
        }
        self.inner
            .store
            .rotate_room_key(id)
            .await?
            .ok_or(LiveError::NotFound("live room"))
    }

    /// The broadcast of a room `viewer` may watch, while it is on air.
    pub fn broadcast(&self, viewer: Option<&User>, id: &RoomId) -> Result<Arc<Broadcast>> {
        let broadcast = lock(&self.inner.broadcasts)
            .get(id)
            .cloned()
            .ok_or(LiveError::NotFound("live broadcast"))?;
        let viewer = Viewer::from(viewer);
        if policy::access_to(viewer, broadcast.visibility, broadcast.owner) == Access::Hidden {
            return Err(LiveError::NotFound("live broadcast"));
        }
        Ok(broadcast)
    }

    /// A tracking event of live viewing arrived for room `room` (its `properties.room_id`)
    /// from viewer `key`: the room counts the viewer as watching. Unknown or ended rooms are
    /// ignored.
    pub fn saw_playing(&self, room: &str, key: u64) {
        let Ok(room) = room.parse::<RoomId>() else {
            return;
        };
        let broadcast = lock(&self.inner.broadcasts).get(&room).cloned();
        if let Some(broadcast) = broadcast {
            broadcast.saw_playing(key);
        }
    }

    async fn visible_row(&self, viewer: Option<&User>, id: &RoomId) -> Result<RoomRow> {
        let row = self
            .inner
            .store
            .room(id)
            .await?
            .ok_or(LiveError::NotFound("live room"))?;
        if policy::access_to(Viewer::from(viewer), row.visibility, row.owner_id) == Access::Hidden {
            return Err(LiveError::NotFound("live room"));
        }
        Ok(row)
    }

    fn view(&self, row: RoomRow, viewer: Option<&User>) -> RoomView {
        let owned = viewer.is_some_and(|user| policy::owns(user, row.owner_id));
        let broadcast = lock(&self.inner.broadcasts).get(&row.id).cloned();
        RoomView {
            viewers: broadcast.as_ref().map_or(0, |b| b.viewers()),
            publishing: broadcast.as_ref().is_some_and(|b| b.publishing()),
            health: broadcast.filter(|_| owned).map(|b| b.health()),
            owned,
            row,
        }
    }

    /// Lets the holder of `key` publish to its room under the RTMP application `app`: a new
    /// broadcast, or the same one again when its publisher dropped within the grace period.
    ///
    /// Errors: [`LiveError::WrongKey`] for an unknown key or application,
    /// [`LiveError::AlreadyPublishing`] while another publisher is connected.
    pub async fn begin_publish(&self, app: &str, key: &str) -> Result<Publisher> {
        if app != RTMP_APP {
            return Err(LiveError::WrongKey);
        }
        let room = self
            .inner
            .store
            .room_by_key(key)
            .await?
            .ok_or(LiveError::WrongKey)?;
        let connection = self.inner.next_connection.fetch_add(1, Ordering::Relaxed);
        let existing = lock(&self.inner.broadcasts).get(&room.id).cloned();
        if let Some(broadcast) = existing {
            {
                let mut publisher = lock(&broadcast.publisher);
                if let PublisherState::Connected(_) = *publisher {
                    return Err(LiveError::AlreadyPublishing);
                }
                *publisher = PublisherState::Connected(connection);
            }
            broadcast.packager.reconnected();
            tracing::info!(room = %room.id, "publisher reconnected; the broadcast continues");
            return Ok(Publisher {
                live: self.clone(),
                broadcast,
                connection,
            });
        }
        let recording = match self.inner.store.start_broadcast(&room.id).await? {
            Some(video) => video,
            None => {
                // On air in the database but not here: a run that died. End that one first.
                if let Some(video) = &room.recording_id {
                    self.finish_recording(&room.id, video).await?;
                } else {
                    self.inner.store.end_room(&room.id, None).await?;
                }
                self.inner
                    .store
                    .start_broadcast(&room.id)
                    .await?
                    .ok_or(LiveError::AlreadyPublishing)?
            }
        };
        let sink = RecordingSink {
            video: recording.clone(),
            rendition: SOURCE_RENDITION.to_owned(),
            ops: self.inner.records.clone(),
        };
        let broadcast = Arc::new(Broadcast {
            room: room.id.clone(),
            recording,
            owner: room.owner_id,
            visibility: room.visibility,
            packager: Packager::with_sink(
                self.inner.settings.packager.clone(),
                Some(Box::new(sink)),
            ),
            rungs: OnceLock::new(),
            transcoder: Mutex::new(None),
            closing: Mutex::new(None),
            encoder_runs: AtomicU64::new(0),
            encoder_started: Mutex::new(None),
            video_config_tag: Mutex::new(None),
            audio_config_tag: Mutex::new(None),
            publisher: Mutex::new(PublisherState::Connected(connection)),
            meter: Mutex::new(HealthMeter::default()),
            viewers: Mutex::new(Seen::new(VIEWER_TTL)),
            playing: Mutex::new(Seen::new(EVENT_VIEWER_TTL)),
        });
        {
            let mut broadcasts = lock(&self.inner.broadcasts);
            if broadcasts.contains_key(&room.id) {
                return Err(LiveError::AlreadyPublishing);
            }
            broadcasts.insert(room.id.clone(), Arc::clone(&broadcast));
        }
        tracing::info!(room = %room.id, "broadcast started");
        Ok(Publisher {
            live: self.clone(),
            broadcast,
            connection,
        })
    }

    /// Ends a broadcast now: its playlists end at once; its recording is published and the
    /// room `ended` (pointing at it) by [`Live::run`], after the last part is written.
    pub async fn end_broadcast(&self, id: &RoomId) -> Result<()> {
        let Some(broadcast) = lock(&self.inner.broadcasts).remove(id) else {
            return Ok(());
        };
        // The rungs get the pictures their encoder still has, then end with the source.
        broadcast.close_encoder();
        let closing = lock(&broadcast.closing).take();
        if let Some(closing) = closing {
            closing.finished(Duration::from_secs(3)).await;
        }
        broadcast.packager.end();
        broadcast
            .lower_rungs()
            .iter()
            .for_each(|rung| rung.packager.end());
        let _ = self.inner.records.send(RecordOp::Finish {
            room: id.clone(),
            video: broadcast.recording.clone(),
        });
        tracing::info!(room = %id, "broadcast ended");
        Ok(())
    }

    /// Writes queued recording work in order: parts on a blocking thread, a finished
    /// broadcast's publication after its last part.
    async fn record(&self, files: &Arc<Mutex<RecordingFiles>>, batch: Vec<RecordOp>) {
        let mut batch = batch.into_iter().peekable();
        while batch.peek().is_some() {
            let mut writes = Vec::new();
            let mut finish = None;
            for op in batch.by_ref() {
                if let RecordOp::Finish { room, video } = &op {
                    finish = Some((room.clone(), video.clone()));
                    writes.push(op);
                    break;
                }
                writes.push(op);
            }
            let files = Arc::clone(files);
            let written = tokio::task::spawn_blocking(move || {
                let mut files = lock(&files);
                writes.iter().for_each(|op| files.apply(op));
            })
            .await;
            if let Err(error) = written {
                tracing::error!(%error, "the recording writer failed");
            }
            if let Some((room, video)) = finish
                && let Err(error) = self.finish_recording(&room, &video).await
            {
                tracing::error!(%room, %error, "cannot finish a broadcast's recording");
            }
        }
    }

    /// Ends broadcasts whose publisher did not come back within the grace period and writes
    /// their recordings, until `stop`; then ends every broadcast still on air and finishes
    /// its recording.
    pub async fn run(self, stop: CancellationToken) {
        let grace = self.inner.settings.reconnect_grace;
        let tick = (grace / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let files = Arc::new(Mutex::new(RecordingFiles::new(self.inner.layout.clone())));
        let (Some(mut inbox), Some(mut spawns)) = (
            lock(&self.inner.records_inbox).take(),
            lock(&self.inner.tasks_inbox).take(),
        ) else {
            tracing::error!("Live::run started twice");
            return;
        };
        let mut encoders = tokio::task::JoinSet::new();
        let mut reaper = tokio::time::interval(tick);
        reaper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                Some(op) = inbox.recv() => {
                    let mut batch = vec![op];
                    while let Ok(op) = inbox.try_recv() {
                        batch.push(op);
                    }
                    self.record(&files, batch).await;
                    continue;
                }
                Some(task) = spawns.recv() => {
                    encoders.spawn(task);
                    continue;
                }
                Some(_) = encoders.join_next(), if !encoders.is_empty() => continue,
                _ = reaper.tick() => {}
            }
            let expired: Vec<RoomId> = lock(&self.inner.broadcasts)
                .values()
                .filter(|b| {
                    matches!(*lock(&b.publisher), PublisherState::Gone(at) if at.elapsed() >= grace)
                })
                .map(|b| b.room.clone())
                .collect();
            for room in expired {
                tracing::info!(%room, "the publisher did not come back; ending the broadcast");
                if let Err(error) = self.end_broadcast(&room).await {
                    tracing::error!(%room, %error, "cannot end a broadcast");
                }
            }
        }
        let rooms: Vec<RoomId> = lock(&self.inner.broadcasts).keys().cloned().collect();
        for room in rooms {
            if let Err(error) = self.end_broadcast(&room).await {
                tracing::error!(%room, %error, "cannot end a broadcast at shutdown");
            }
        }
        // Ending the broadcasts stopped their encoders; a task queued meanwhile never runs.
        drop(spawns);
        while encoders.join_next().await.is_some() {}
        let mut batch = Vec::new();
        while let Ok(op) = inbox.try_recv() {
            batch.push(op);
        }
        self.record(&files, batch).await;
    }
}

/// The right to feed one broadcast, held by one RTMP connection. Dropping it (the
/// connection died) starts the reconnect grace period; [`Publisher::finish`] ends the
/// broadcast at once (the publisher said it stopped).
#[derive(Debug)]
pub struct Publisher {
    live: Live,
    broadcast: Arc<Broadcast>,
    connection: u64,
}

impl Publisher {
    /// The room being fed.
    pub fn room(&self) -> &RoomId {
        &self.broadcast.room
    }

    /// Feeds one RTMP video message (an FLV video tag body).
    ///
    /// Errors: [`LiveError::UnsupportedCodec`] for anything but H.264,
    /// [`LiveError::BadStream`] for a malformed one.
    pub fn push_video(&self, data: &Bytes, timestamp_ms: u32) -> Result<()> {
        let frame = flv::video(data, timestamp_ms)?;
        self.push(frame, flv::TAG_VIDEO, data, timestamp_ms)
    }

    /// Feeds one RTMP audio message (an FLV audio tag body).
    ///
    /// Errors: [`LiveError::UnsupportedCodec`] for anything but AAC, or when seconds of
    /// sound came with no picture (Spool's rooms are video); [`LiveError::BadStream`].
    pub fn push_audio(&self, data: &Bytes, timestamp_ms: u32) -> Result<()> {
        let frame = flv::audio(data, timestamp_ms)?;
        self.push(frame, flv::TAG_AUDIO, data, timestamp_ms)
    }

    fn push(&self, frame: Option<Frame>, kind: u8, data: &Bytes, timestamp_ms: u32) -> Result<()> {
        let Some(frame) = frame else {
            return Ok(());
        };
        self.broadcast.measure(&frame)?;
        self.feed_ladder(&frame, flv::stream_tag(kind, timestamp_ms, data));
        self.broadcast.packager.push(frame);
        Ok(())
    }

    /// Hands the tag to the lower rungs' encoder, starting one at a picture configuration
    /// (a new one when the configuration changed) or, when none runs, at a keyframe.
    fn feed_ladder(&self, frame: &Frame, tag: Bytes) {
        let broadcast = &self.broadcast;
        let (picture, keyframe) = match frame {
            Frame::AudioConfig(_) => {
                *lock(&broadcast.audio_config_tag) = Some(tag.clone());
                (false, false)
            }
            Frame::VideoConfig(config) => {
                *lock(&broadcast.video_config_tag) = Some((config.clone(), tag));
                let same = lock(&broadcast.transcoder)
                    .as_ref()
                    .is_some_and(|(_, t)| t.config == *config);
                if !same {
                    broadcast.close_encoder();
                    self.start_encoder();
                }
                return;
            }
            Frame::Video { keyframe, .. } => (true, *keyframe),
            Frame::Audio { .. } => (false, false),
        };
        let restart_due =
            lock(&broadcast.encoder_started).is_none_or(|at| at.elapsed() >= ENCODER_RESTART_EVERY);
        if keyframe && restart_due && lock(&broadcast.transcoder).is_none() {
            self.start_encoder();
        }
        if let Some((_, encoder)) = lock(&broadcast.transcoder).as_ref() {
            encoder.feed(tag, picture, keyframe);
        }
    }

    /// Starts the lower rungs' encoder from the latest configurations (planning the rungs
    /// on the first start); the caller feeds it from the next tag on.
    fn start_encoder(&self) {
        let broadcast = &self.broadcast;
        let Some((config, video_tag)) = lock(&broadcast.video_config_tag).clone() else {
            return;
        };
        let inner = &self.live.inner;
        let rungs = broadcast.rungs.get_or_init(|| {
            ladder::plan(config.height, &inner.settings.ladder)
                .into_iter()
                .map(|plan| Rung {
                    packager: Packager::with_sink(
                        inner.settings.packager.clone(),
                        Some(Box::new(RecordingSink {
                            video: broadcast.recording.clone(),
                            rendition: plan.name.clone(),
                            ops: inner.records.clone(),
                        })),
                    )
                    .following(broadcast.packager.clock()),
                    plan,
                })
                .collect()
        });
        if rungs.is_empty() {
            return;
        }
        *lock(&broadcast.encoder_started) = Some(Instant::now());
        let run = broadcast.encoder_runs.fetch_add(1, Ordering::Relaxed);
        let previous = lock(&broadcast.closing).take();
        let audio_tag = lock(&broadcast.audio_config_tag).clone();
        // Sound is declared even before its configuration came (it usually follows the
        // picture's): ffmpeg maps it when it arrives while probing.
        let mut start = vec![flv::stream_header(true)];
        start.extend(audio_tag.clone());
        start.push(video_tag);
        let weak: Weak<Broadcast> = Arc::downgrade(broadcast);
        let (encoder, task) = Transcoder::start(
            inner.processes.clone(),
            Arc::clone(broadcast),
            Broadcast::lower_rungs,
            config,
            start,
            previous,
            move |broadcast: &Broadcast| {
                if run > 0 {
                    // The rungs' timeline goes on after a gap, as the source's does.
                    broadcast
                        .lower_rungs()
                        .iter()
                        .for_each(|rung| rung.packager.reconnected());
                }
            },
            move || {
                // This encoder is over: the next keyframe may start another.
                if let Some(broadcast) = weak.upgrade() {
                    let mut running = lock(&broadcast.transcoder);
                    if running.as_ref().is_some_and(|(r, _)| *r == run) {
                        *running = None;
                    }
                }
            },
        );
        *lock(&broadcast.transcoder) = Some((run, encoder));
        if inner.tasks.send(Box::pin(task)).is_err() {
            broadcast.stop_encoder();
        }
        tracing::info!(room = %broadcast.room, rungs = ?rungs.iter().map(|r| &r.plan.name).collect::<Vec<_>>(), "encoding the lower rungs");
    }

    /// The publisher stopped on purpose: the broadcast ends now.
    pub async fn finish(self) -> Result<()> {
        let room = self.broadcast.room.clone();
        let live = self.live.clone();
        drop(self);
        live.end_broadcast(&room).await
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let mut publisher = lock(&self.broadcast.publisher);
        if *publisher == PublisherState::Connected(self.connection) {
            *publisher = PublisherState::Gone(Instant::now());
            drop(publisher);
            // The encoder writes what it has; the next connection's starts after it.
            self.broadcast.close_encoder();
        }
    }
}
