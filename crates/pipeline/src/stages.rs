//! The stages: what `process` and `transcode` jobs do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use spool_config::Config;
use spool_hub::{Hub, Topic};
use spool_jobs::{Handler, JobError, JobRow};
use spool_media::cover::{self, CoverCommit, CoverSource};
use spool_media::ladder::{self, Rung};
use spool_media::manifest::{self, Rendition};
use spool_media::probe::{self, MediaInfo};
use spool_media::process::ProcessRunner;
use spool_media::transcode::{self, AudioOutput, PassOutput, PassSpec, RenditionOutput};
use spool_media::{MediaError, Published};
use spool_metadata::{CoverChange, MetadataError, Store};
use spool_model::VideoId;
use spool_storage::media::{
    AUDIO_DIR, CANDIDATES_DIR, MANIFEST_FILE, OUTPUTS_FILE, STORYBOARD_DIR,
};
use spool_storage::{Generation, Keep, LocalStore, MediaLayout, PassDir, StorageError};

use spool_media::frames::{self, Frame};
use spool_moderation::{FrameHash, MIN_QUALITY, Moderation};

use crate::fetch::SourceCache;
use crate::{PROCESS_JOB, RECORDING_JOB, TRANSCODE_JOB};

/// Cover candidates taken from the quick pass's decode.
const COVER_CANDIDATES: u32 = 8;
/// Cover sets younger than this are never swept: one may be being installed (by the API)
/// with its row not yet committed.
const COVER_SWEEP_GRACE: Duration = Duration::from_secs(600);
/// Most frame pictures one video keeps for its reviewers.
const KEPT_FRAMES: usize = 64;
/// The `process` stage's probe results, kept in the video's scratch dir.
const PROBE_FILE: &str = "probe.json";
/// Shortest pause between two progress writes of one video (ffmpeg reports twice a second; a
/// quick pass of a short video takes about a second).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// The pipeline's job handler; cheap to clone (one per runner).
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    sources: SourceCache,
    processes: ProcessRunner,
    config: Arc<Config>,
    layout: MediaLayout,
    /// Told after each progress or status write (progress streams listen).
    hub: Hub,
    /// Hashes frames and matches them against the lists, when set.
    moderation: Option<Moderation>,
}

/// Why a stage failed, and whether trying again could help.
#[derive(Debug)]
struct StageError {
    permanent: bool,
    reason: String,
}

impl From<MediaError> for StageError {
    fn from(e: MediaError) -> Self {
        Self {
            permanent: e.is_permanent(),
            reason: e.to_string(),
        }
    }
}

impl From<MetadataError> for StageError {
    fn from(e: MetadataError) -> Self {
        Self {
            permanent: false,
            reason: format!("metadata store: {e}"),
        }
    }
}

impl From<StorageError> for StageError {
    fn from(e: StorageError) -> Self {
        Self {
            permanent: false,
            reason: format!("file system: {e}"),
        }
    }
}

impl From<std::io::Error> for StageError {
    fn from(e: std::io::Error) -> Self {
        Self {
            permanent: false,
            reason: format!("file system: {e}"),
        }
    }
}

type StageResult<T = ()> = Result<T, StageError>;

/// A sampled frame as a JPEG for reviewers (quality 85; an encoding failure keeps none).
fn frame_jpeg(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    let encoded = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode(
        &frame.rgb,
        frame.width,
        frame.height,
        image::ExtendedColorType::Rgb8,
    );
    match encoded {
        Ok(()) => out,
        Err(e) => {
            tracing::warn!("frame picture not encoded: {e}");
            Vec::new()
        }
    }
}

impl Pipeline {
    /// A pipeline over `config`: sources are fetched to the node's own `<data>/scratch`,
    /// media is published under `<storage>/media`, where every node serves it.
    pub fn new(store: Store, blobs: LocalStore, config: Arc<Config>) -> Self {
        let data = &config.server.data_dir;
        Self {
            inner: Arc::new(Inner {
                sources: SourceCache::new(data.join("scratch"), blobs),
                processes: ProcessRunner::new(&config.media),
                layout: MediaLayout::new(&config.storage_dir()),
                hub: Hub::local(),
                moderation: None,
                store,
                config,
            }),
        }
    }

    /// The same pipeline fetching sources into `dir` instead (a worker's own local disk).
    /// Call it on a fresh pipeline, before it is cloned.
    pub fn with_scratch_dir(mut self, dir: PathBuf) -> Self {
        let inner = Arc::get_mut(&mut self.inner).expect("with_scratch_dir before cloning");
        inner.sources = inner.sources.clone().with_root(dir);
        self
    }

    /// The same pipeline telling `hub` about every progress and status change. Call it on a
    /// fresh pipeline, before it is cloned.
    pub fn with_hub(mut self, hub: Hub) -> Self {
        let inner = Arc::get_mut(&mut self.inner).expect("with_hub before cloning");
        inner.hub = hub;
        self
    }

    /// The same pipeline hashing every video's frames in its `process` stage and holding
    /// those that match a list (see `spool_moderation`). Call it on a fresh pipeline, before
    /// it is cloned.
    pub fn with_moderation(mut self, moderation: Moderation) -> Self {
        let inner = Arc::get_mut(&mut self.inner).expect("with_moderation before cloning");
        inner.moderation = Some(moderation);
        self
    }

    /// The worker-local source copies (and how often they were fetched).
    pub fn sources(&self) -> &SourceCache {
        &self.inner.sources
    }

    /// Where published media lives.
    pub fn layout(&self) -> &MediaLayout {
        &self.inner.layout
    }
}

impl Handler for Pipeline {
    async fn run(&self, job: &JobRow) -> Result<(), JobError> {
        let inner = &self.inner;
        let video = &job.video_id;
        let result = match job.kind.as_str() {
            PROCESS_JOB => inner.process(video).await,
            TRANSCODE_JOB => inner.transcode(video).await,
            RECORDING_JOB => {
                // The recording plays already: a storyboard or cover that cannot be made
                // leaves it playable, so its failure never fails the video.
                return inner.recording(video).await.map_err(|e| {
                    tracing::warn!(video = %video, "recording stage failed: {}", e.reason);
                    if e.permanent {
                        JobError::permanent(e.reason)
                    } else {
                        JobError::retryable(e.reason)
                    }
                });
            }
            other => Err(StageError {
                permanent: true,
                reason: format!("unknown job kind {other:?}"),
            }),
        };
        let Err(e) = result else { return Ok(()) };
        let last_attempt = job.attempts >= i64::from(inner.config.jobs.max_attempts);
        tracing::warn!(video = %video, kind = %job.kind, attempt = job.attempts, "stage failed: {}", e.reason);
        if e.permanent || last_attempt {
            // The video shows why; the job goes dead with the same reason.
            if let Err(db) = inner.store.fail_video(video, &e.reason).await {
                tracing::error!(video = %video, "cannot record the failure: {db}");
                return Err(JobError::retryable(db));
            }
            inner.hub.notify(&Topic::video(video));
            inner.sources.release(video).await;
            return Err(JobError::permanent(e.reason));
        }
        Err(JobError::retryable(e.reason))
    }
}

impl Inner {
    /// Stage 1: fetch, probe, validate, hash the frames (moderation), record, queue the
    /// transcode.
    async fn process(&self, video: &VideoId) -> StageResult {
        // Content hashed before (another upload of the same file) is matched from its known
        // frames, before its shared media can be published.
        let known = self.copy_frame_hashes(video).await?;
        let shared =
            crate::reuse::share_existing(&self.store, &self.layout, &self.config.media, video)
                .await
                .map_err(|e| StageError {
                    permanent: false,
                    reason: e.to_string(),
                })?;
        if shared {
            self.hub.notify(&Topic::video(video));
            self.sources.release(video).await;
            return Ok(());
        }
        let Some(source) = self.fetch_source(video).await? else {
            return Ok(());
        };
        if !self.store.start_processing(video).await? {
            return Ok(());
        }
        self.hub.notify(&Topic::video(video));
        let info = probe::probe(&self.processes, &source, &self.config.media).await?;
        // Kept beside the source for the transcode stage, which runs on this worker too.
        let json = serde_json::to_vec(&info).map_err(|e| StageError {
            permanent: false,
            reason: format!("probe results do not serialize: {e}"),
        })?;
        let path = self.sources.dir(video).join(PROBE_FILE);
        blocking(move || spool_storage::write_atomic(&path, &json)).await?;
        let duration_ms = (info.duration_s * 1000.0).round() as i64;
        let size = info.video.as_ref().map(|v| (v.width, v.height));
        self.store.record_probe(video, duration_ms, size).await?;
        if !known {
            // Before the transcode is queued: nothing of a listed video is ever published.
            self.hash_frames(video, &source, &info).await?;
        }
        self.store.set_progress(video, 2).await?;
        self.hub.notify(&Topic::video(video));
        self.store.enqueue(TRANSCODE_JOB, video).await?;
        Ok(())
    }

    /// The moderation step of `process`: frames sampled at 1 fps from the local source, each
    /// hashed with PDQ as it is decoded (one frame in memory at a time); the pictures of
    /// frames that come near a listed hash are kept as JPEG for reviewers; then the hashes
    /// are stored and matched, which may hold the video.
    async fn hash_frames(&self, video: &VideoId, source: &Path, info: &MediaInfo) -> StageResult {
        let Some(moderation) = &self.moderation else {
            return Ok(());
        };
        if !moderation.config().hash_frames {
            return Ok(());
        }
        let started = Instant::now();
        let mut frames = Vec::new();
        let mut images: HashMap<i64, Vec<u8>> = HashMap::new();
        let sampled = frames::sample(
            &self.processes,
            source,
            info,
            &self.config.media,
            1,
            |frame| {
                match spool_moderation::pdq::hash_rgb(frame.width, frame.height, &frame.rgb) {
                    Ok(out) => {
                        let hash = FrameHash {
                            at_ms: frame.at_ms,
                            hash: out.hash,
                            quality: out.quality,
                        };
                        if out.quality >= MIN_QUALITY
                            && images.len() < KEPT_FRAMES
                            && moderation.is_near_listed(&out.hash)
                        {
                            images.insert(frame.at_ms, frame_jpeg(&frame));
                        }
                        frames.push(hash);
                    }
                    Err(e) => {
                        tracing::warn!(video = %video, at_ms = frame.at_ms, "frame not hashed: {e}");
                    }
                }
                true
            },
        )
        .await;
        let sampled = match sampled {
            Ok(n) => n,
            // A source ffmpeg can transcode but not sample (corrupt frames mid-stream) is
            // still processed; it has no frame hashes, which the log says.
            Err(e) if e.is_permanent() => {
                tracing::warn!(video = %video, "frames not sampled: {e}");
                0
            }
            Err(e) => return Err(e.into()),
        };
        let held = moderation
            .record_frames(video, &frames, &images)
            .await
            .map_err(|e| StageError {
                permanent: false,
                reason: format!("moderation: {e}"),
            })?;
        tracing::info!(
            video = %video,
            sampled,
            hashed = frames.len(),
            held = held.is_some(),
            took_ms = started.elapsed().as_millis() as u64,
            "frames hashed"
        );
        if held.is_some() {
            self.hub.notify(&Topic::video(video));
        }
        Ok(())
    }

    /// Copies the frame hashes of another video of the same content, when one was hashed,
    /// and matches them. True when it did.
    async fn copy_frame_hashes(&self, video: &VideoId) -> StageResult<bool> {
        let Some(moderation) = self.moderation.as_ref().filter(|m| m.config().hash_frames) else {
            return Ok(false);
        };
        let copied = moderation
            .copy_known_frames(video)
            .await
            .map_err(|e| StageError {
                permanent: false,
                reason: format!("moderation: {e}"),
            })?;
        Ok(copied)
    }

    /// The local source of a video that still wants processing; `None` when the video is gone
    /// or no longer in the pipeline (deleted, failed).
    async fn fetch_source(&self, video: &VideoId) -> StageResult<Option<PathBuf>> {
        let Some(row) = self.store.video(video).await? else {
            self.sources.release(video).await;
            return Ok(None);
        };
        if row.status == spool_model::VideoStatus::Failed {
            self.sources.release(video).await;
            return Ok(None);
        }
        let Some(blob) = self.store.video_source(video).await? else {
            return Err(StageError {
                permanent: true,
                reason: "the uploaded source is missing".into(),
            });
        };
        Ok(Some(self.sources.source(video, &blob).await?))
    }

    /// A live recording that became a video: its storyboard and cover, made from one decode
    /// of the top rendition's segments (those under its first initialization segment, a
    /// stretch with one picture configuration), published into the recording's generation.
    async fn recording(&self, video: &VideoId) -> StageResult {
        let Some(row) = self.store.video(video).await? else {
            return Ok(());
        };
        let Some(mut published) = stored_media(&row)? else {
            return Ok(());
        };
        if published.storyboard {
            return Ok(());
        }
        let (Some(generation), Some(top)) = (
            Generation::parse(&published.generation),
            published.renditions.first().map(|r| r.name.clone()),
        ) else {
            return Err(StageError {
                permanent: true,
                reason: "the recording names no rendition".into(),
            });
        };
        let rendition_dir = self.layout.generation_dir(video, &generation).join(&top);
        let scratch = self.sources.dir(video);
        let source = scratch.join("recording.mp4");
        let flat = source.clone();
        blocking(move || {
            std::fs::create_dir_all(&scratch).map_err(|source| StorageError::Io {
                path: scratch.clone(),
                source,
            })?;
            flatten_recording(&rendition_dir, &flat)
        })
        .await?;
        let info = probe::probe(&self.processes, &source, &self.config.media).await?;
        let pass = self.begin_pass(video, &generation).await?;
        let spec = PassSpec {
            source: &source,
            info: &info,
            rungs: &[],
            audio: false,
            storyboard: true,
            cover_candidates: COVER_CANDIDATES,
            out_dir: pass.path(),
        };
        let mut progress = Progress::new(&self.store, &self.hub, video);
        let output = self.run_pass(&spec, &mut progress, 100, 0).await?;
        let candidates: Vec<PathBuf> = output
            .candidates
            .iter()
            .map(|c| pass.committed_path(c))
            .collect();
        let keep = published
            .renditions
            .iter()
            .map(|r| r.name.clone())
            .collect();
        self.commit_pass(pass, keep).await?;
        if !candidates.is_empty() && !row.cover_custom {
            self.publish_auto_cover(video, candidates).await?;
        }
        let (layout, id, name) = (self.layout.clone(), video.clone(), generation.clone());
        published.storyboard = blocking(move || Ok(layout.has_storyboard(&id, &name))).await?;
        self.store
            .publish_media(video, &published.to_json(), 100)
            .await?;
        self.hub.notify(&Topic::video(video));
        self.sources.release(video).await;
        Ok(())
    }

    /// Stage 2: the ladder, with progressive publishing.
    async fn transcode(&self, video: &VideoId) -> StageResult {
        let Some(row) = self.store.video(video).await? else {
            self.sources.release(video).await;
            return Ok(());
        };
        let published = stored_media(&row)?;
        if published.as_ref().is_some_and(|p| p.complete) {
            // Already done by an earlier run that crashed before recording it.
            self.sources.release(video).await;
            return Ok(());
        }
        let published_generation = match &published {
            Some(p) => Some(Generation::parse(&p.generation).ok_or_else(|| StageError {
                permanent: true,
                reason: "stored media description names an unusable generation".into(),
            })?),
            None => None,
        };
        // This worker holds the video's job, so no pass of it runs anywhere else: whatever an
        // earlier, killed attempt left that the row does not point to goes now.
        self.sweep(
            video,
            published_generation.as_ref(),
            row.cover_gen.as_deref(),
        )
        .await?;
        let Some(source) = self.fetch_source(video).await? else {
            return Ok(());
        };
        let media = &self.config.media;
        let info = self.probe_result(video, &source).await?;
        let rungs = ladder::plan(&info, media);
        let (quick, high) = split_ladder(&rungs, media.progressive, media.quick_max_height);
        let weights = PassWeights::new(&info, &quick, &high);
        let mut progress = Progress::new(&self.store, &self.hub, video);

        // Quick pass (or the only pass): low rungs, audio, storyboard, cover candidates.
        let (generation, mut outputs) = match (published, published_generation) {
            (Some(p), Some(generation)) => {
                let outputs = self.read_back(video, &generation, &p).await?;
                (generation, outputs)
            }
            _ => {
                // A fresh generation: nothing else ever writes into it.
                let generation = Generation::fresh();
                let pass = self.begin_pass(video, &generation).await?;
                let spec = PassSpec {
                    source: &source,
                    info: &info,
                    rungs: &quick,
                    audio: info.audio.is_some(),
                    storyboard: info.video.is_some(),
                    cover_candidates: if info.video.is_some() {
                        COVER_CANDIDATES
                    } else {
                        0
                    },
                    out_dir: pass.path(),
                };
                let mut output = self
                    .run_pass(&spec, &mut progress, weights.before_quick(), weights.quick)
                    .await?;
                output.candidates = output
                    .candidates
                    .iter()
                    .map(|c| pass.committed_path(c))
                    .collect();
                self.commit_pass(pass, Vec::new()).await?;
                if !output.candidates.is_empty() && !row.cover_custom {
                    self.publish_auto_cover(video, output.candidates.clone())
                        .await?;
                }
                let outputs = Outputs::from_pass(output);
                let done = high.is_empty();
                let published = self
                    .publish(
                        video,
                        &generation,
                        &info,
                        &outputs,
                        done,
                        weights.after_quick(),
                    )
                    .await?;
                if !published {
                    return self.abandon(video).await;
                }
                (generation, outputs)
            }
        };
        if high.is_empty() {
            progress.finish().await;
            self.sources.release(video).await;
            return Ok(());
        }

        // The rest of the ladder in one pass, written apart and then committed into the same
        // generation beside what is published (which it may never replace).
        let pass = self.begin_pass(video, &generation).await?;
        let spec = PassSpec {
            source: &source,
            info: &info,
            rungs: &high,
            audio: false,
            storyboard: false,
            cover_candidates: 0,
            out_dir: pass.path(),
        };
        let output = self
            .run_pass(
                &spec,
                &mut progress,
                weights.after_quick(),
                100 - weights.after_quick(),
            )
            .await?;
        let mut keep: Vec<String> = outputs
            .renditions
            .iter()
            .map(|r| r.rendition.name.clone())
            .collect();
        keep.extend([AUDIO_DIR, STORYBOARD_DIR, CANDIDATES_DIR].map(String::from));
        self.commit_pass(pass, keep).await?;
        outputs.add(output);
        if !self
            .publish(video, &generation, &info, &outputs, true, 100)
            .await?
        {
            return self.abandon(video).await;
        }
        progress.finish().await;
        self.sources.release(video).await;
        Ok(())
    }

    /// Removes what no row points to from the video's media directory (see
    /// [`MediaLayout::sweep`]).
    async fn sweep(
        &self,
        video: &VideoId,
        generation: Option<&Generation>,
        cover: Option<&str>,
    ) -> StageResult {
        let (layout, id) = (self.layout.clone(), video.clone());
        let generation = generation.cloned();
        let cover = cover.and_then(Generation::parse);
        let removed = blocking(move || {
            layout.sweep(
                &id,
                &Keep {
                    generation: generation.as_ref(),
                    cover: cover.as_ref(),
                    cover_grace: COVER_SWEEP_GRACE,
                },
            )
        })
        .await?;
        for path in removed {
            tracing::info!(video = %video, path = %path.display(), "removed media no row points to");
        }
        Ok(())
    }

    async fn begin_pass(&self, video: &VideoId, generation: &Generation) -> StageResult<PassDir> {
        let (layout, id, generation) = (self.layout.clone(), video.clone(), generation.clone());
        blocking(move || layout.begin_pass(&id, &generation)).await
    }

    /// Makes a pass's files durable and moves them into their generation; `keep` names the
    /// published entries it may not replace.
    async fn commit_pass(&self, pass: PassDir, keep: Vec<String>) -> StageResult {
        let layout = self.layout.clone();
        blocking(move || {
            let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
            layout.commit_pass(pass, &keep)
        })
        .await?;
        Ok(())
    }

    /// What the `process` stage found, read back from the scratch dir; probed again when this
    /// worker did not run that stage (its owner died in between).
    async fn probe_result(&self, video: &VideoId, source: &Path) -> StageResult<MediaInfo> {
        let saved = tokio::fs::read(self.sources.dir(video).join(PROBE_FILE)).await;
        if let Ok(info) = saved.as_deref().map(serde_json::from_slice::<MediaInfo>)
            && let Ok(info) = info
        {
            return Ok(info);
        }
        Ok(probe::probe(&self.processes, source, &self.config.media).await?)
    }

    /// Runs one pass, mapping its progress onto `start..start+span` percent of the video and
    /// writing it at most once per [`PROGRESS_EVERY`] while ffmpeg works.
    async fn run_pass(
        &self,
        spec: &PassSpec<'_>,
        progress: &mut Progress<'_>,
        start: i64,
        span: i64,
    ) -> StageResult<PassOutput> {
        let started = Instant::now();
        let latest = AtomicI64::new(start);
        let mut on_progress = |fraction: f64| {
            let percent = start + (fraction.clamp(0.0, 1.0) * span as f64) as i64;
            latest.fetch_max(percent, Ordering::Relaxed);
        };
        let pass = transcode::run_pass(&self.processes, spec, &self.config.media, &mut on_progress);
        tokio::pin!(pass);
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        let output = loop {
            tokio::select! {
                output = &mut pass => break output?,
                _ = tick.tick() => progress.write(latest.load(Ordering::Relaxed)).await,
            }
        };
        // The pass's end, before it is published: a pass shorter than a tick still shows.
        progress.write(latest.load(Ordering::Relaxed)).await;
        let names: Vec<_> = spec.rungs.iter().map(|r| r.name.as_str()).collect();
        tracing::info!(
            rungs = ?names,
            seconds = started.elapsed().as_secs_f64(),
            "pass finished"
        );
        Ok(output)
    }

    /// Publishes `outputs` of `generation`: the DASH manifest and `outputs.json` are written
    /// durably (each fsynced with its directory, as every pass was when it was committed), and
    /// only then is the row updated, in one conditional UPDATE. So a row never points at a
    /// playlist, segment or manifest a power loss could truncate. False when the video was
    /// deleted or failed meanwhile.
    async fn publish(
        &self,
        video: &VideoId,
        generation: &Generation,
        info: &MediaInfo,
        outputs: &Outputs,
        complete: bool,
        percent: i64,
    ) -> StageResult<bool> {
        let prefix = format!("{generation}/");
        let mpd = manifest::dash_mpd(
            info.duration_s,
            &outputs.renditions,
            outputs.audio.as_ref(),
            &prefix,
        );
        let json = serde_json::to_vec(outputs).map_err(|e| StageError {
            permanent: false,
            reason: format!("pass outputs do not serialize: {e}"),
        })?;
        let (layout, id, generation_name) =
            (self.layout.clone(), video.clone(), generation.clone());
        let storyboard = blocking(move || {
            layout.write_file(&id, &generation_name, MANIFEST_FILE, mpd.as_bytes())?;
            layout.write_file(&id, &generation_name, OUTPUTS_FILE, &json)?;
            Ok(layout.has_storyboard(&id, &generation_name))
        })
        .await?;
        let mut renditions: Vec<Rendition> = outputs
            .renditions
            .iter()
            .map(|r| r.rendition.clone())
            .collect();
        renditions.sort_by(|a, b| {
            b.height
                .min(b.width)
                .cmp(&a.height.min(a.width))
                .then(b.bandwidth.cmp(&a.bandwidth))
        });
        let published = Published {
            generation: generation.as_str().to_owned(),
            renditions,
            audio: outputs.audio.as_ref().map(|a| a.track.clone()),
            complete,
            storyboard,
            ladder_key: Some(crate::reuse::ladder_key(&self.config.media)),
            dash: true,
        };
        // Everything the row will point at is durable: commit it.
        if !self
            .store
            .publish_media(video, &published.to_json(), percent)
            .await?
        {
            tracing::info!(video = %video, "video deleted or failed meanwhile; not published");
            return Ok(false);
        }
        self.hub.notify(&Topic::video(video));
        Ok(true)
    }

    /// The video was deleted (or failed) while it was being processed: its files go, including
    /// what this run wrote after the deletion removed the directory.
    async fn abandon(&self, video: &VideoId) -> StageResult {
        if self.store.video(video).await?.is_none() {
            let (layout, id) = (self.layout.clone(), video.clone());
            blocking(move || layout.remove_video(&id)).await?;
        }
        self.sources.release(video).await;
        Ok(())
    }

    /// Makes the best candidate frame the cover, unless the owner set one (through the one
    /// cover installation, shared with the API).
    async fn publish_auto_cover(&self, video: &VideoId, candidates: Vec<PathBuf>) -> StageResult {
        cover::install(
            &self.layout,
            video,
            CoverSource::BestOf(candidates),
            |cover: Generation| async move {
                Ok::<_, StageError>(
                    match self.store.set_cover(video, cover.as_str(), false).await? {
                        CoverChange::Replaced(previous) => CoverCommit::Replaced { previous },
                        CoverChange::Unchanged => CoverCommit::Refused,
                    },
                )
            },
        )
        .await?;
        Ok(())
    }

    /// The outputs an earlier run published in this generation (kept beside them as JSON),
    /// limited to what the published row lists.
    async fn read_back(
        &self,
        video: &VideoId,
        generation: &Generation,
        published: &Published,
    ) -> StageResult<Outputs> {
        let (layout, id, generation) = (self.layout.clone(), video.clone(), generation.clone());
        let json = blocking(move || layout.read_file(&id, &generation, OUTPUTS_FILE)).await?;
        let mut outputs: Outputs = serde_json::from_slice(&json).map_err(|e| StageError {
            permanent: false,
            reason: format!("{OUTPUTS_FILE} of video {video} is corrupt: {e}"),
        })?;
        outputs.renditions.retain(|r| {
            published
                .renditions
                .iter()
                .any(|p| p.name == r.rendition.name)
        });
        Ok(outputs)
    }
}

/// Everything published so far for one generation.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Outputs {
    renditions: Vec<RenditionOutput>,
    audio: Option<AudioOutput>,
}

impl Outputs {
    fn from_pass(pass: PassOutput) -> Self {
        Self {
            renditions: pass.renditions,
            audio: pass.audio,
        }
    }

    fn add(&mut self, pass: PassOutput) {
        self.renditions.extend(pass.renditions);
        if pass.audio.is_some() {
            self.audio = pass.audio;
        }
    }
}

/// What the row says is published, if anything (a corrupt description is a permanent
/// failure: retrying reads the same).
fn stored_media(row: &spool_metadata::VideoRow) -> StageResult<Option<Published>> {
    row.media
        .as_deref()
        .map(Published::from_json)
        .transpose()
        .map_err(|e| StageError {
            permanent: true,
            reason: format!("stored media description is corrupt: {e}"),
        })
}

/// Writes one MP4 file of a recorded rendition: its first initialization segment and the
/// segments its playlist lists under it (fragments append to an init as they did live).
fn flatten_recording(rendition_dir: &Path, out: &Path) -> Result<(), StorageError> {
    let read = |name: &str| {
        let path = rendition_dir.join(name);
        std::fs::read(&path).map_err(|source| StorageError::Io { path, source })
    };
    let playlist = String::from_utf8_lossy(&read("index.m3u8")?).into_owned();
    let mut maps = 0;
    let mut files = Vec::new();
    for line in playlist.lines() {
        if let Some(map) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            maps += 1;
            if maps > 1 {
                break;
            }
            files.push(map.trim_end_matches('"').to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            files.push(line.to_owned());
        }
    }
    spool_storage::write_atomic_with(out, |file| {
        use std::io::Write as _;
        for name in &files {
            let bytes = std::fs::read(rendition_dir.join(name))?;
            file.write_all(&bytes)?;
        }
        Ok(())
    })
}

/// Splits the ladder into the quick first pass and the rest. Without progressive publishing,
/// or when every rung is low anyway, everything is in the quick (only) pass.
fn split_ladder(rungs: &[Rung], progressive: bool, quick_max: u32) -> (Vec<Rung>, Vec<Rung>) {
    let short = |r: &Rung| r.width.min(r.height);
    let (quick, high): (Vec<Rung>, Vec<Rung>) =
        rungs.iter().cloned().partition(|r| short(r) <= quick_max);
    if !progressive || high.is_empty() || quick.is_empty() {
        return (rungs.to_vec(), Vec::new());
    }
    (quick, high)
}

/// How the video's progress percent is shared between the passes: by encoded pixels per
/// frame, plus the decode of the source that each pass pays.
struct PassWeights {
    quick: i64,
}

impl PassWeights {
    /// Percent reached before the quick pass starts (the probe stage).
    const PROBED: i64 = 2;

    fn new(info: &MediaInfo, quick: &[Rung], high: &[Rung]) -> Self {
        let pixels = |rungs: &[Rung]| -> f64 {
            rungs
                .iter()
                .map(|r| f64::from(r.width) * f64::from(r.height))
                .sum()
        };
        let decode = info
            .video
            .as_ref()
            .map_or(0.0, |v| f64::from(v.width) * f64::from(v.height) * 0.25);
        let quick_work = pixels(quick) + decode;
        let high_work = if high.is_empty() {
            0.0
        } else {
            pixels(high) + decode
        };
        let total = (quick_work + high_work).max(1.0);
        let span = 100 - Self::PROBED;
        let quick = ((quick_work / total) * span as f64).round() as i64;
        Self {
            quick: quick.clamp(1, span),
        }
    }

    fn before_quick(&self) -> i64 {
        Self::PROBED
    }

    fn after_quick(&self) -> i64 {
        Self::PROBED + self.quick
    }
}

/// Progress writes for one video: only increases reach the database, and never 100 before
/// the last publication.
struct Progress<'a> {
    store: &'a Store,
    hub: &'a Hub,
    video: &'a VideoId,
    written: i64,
}

impl<'a> Progress<'a> {
    fn new(store: &'a Store, hub: &'a Hub, video: &'a VideoId) -> Self {
        Self {
            store,
            hub,
            video,
            written: 0,
        }
    }

    async fn write(&mut self, percent: i64) {
        let percent = percent.min(99);
        if percent <= self.written {
            return;
        }
        if let Err(e) = self.store.set_progress(self.video, percent).await {
            tracing::warn!(video = %self.video, "cannot record progress: {e}");
        }
        self.hub.notify(&Topic::video(self.video));
        self.written = percent;
    }

    async fn finish(&mut self) {
        if let Err(e) = self.store.set_progress(self.video, 100).await {
            tracing::warn!(video = %self.video, "cannot record progress: {e}");
        }
        self.hub.notify(&Topic::video(self.video));
    }
}

/// Runs blocking storage work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> StageResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StageError {
            permanent: false,
            reason: format!("storage task failed: {e}"),
        })?
        .map_err(StageError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung(name: &str, w: u32, h: u32) -> Rung {
        Rung {
            name: name.into(),
            width: w,
            height: h,
            fps: 30.0,
            max_bitrate_kbps: 1000,
        }
    }

    #[test]
    fn ladder_split() {
        let full = [
            rung("1080p", 1920, 1080),
            rung("720p", 1280, 720),
            rung("360p", 640, 360),
            rung("240p", 426, 240),
        ];
        let names = |r: &[Rung]| r.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        let check = |rungs: &[Rung], progressive: bool, quick: &[&str], high: &[&str]| {
            let (q, h) = split_ladder(rungs, progressive, 360);
            assert_eq!(
                (names(&q), names(&h)),
                (
                    quick.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    high.iter().map(|s| s.to_string()).collect::<Vec<_>>()
                )
            );
        };
        check(&full, true, &["360p", "240p"], &["1080p", "720p"]);
        check(&full, false, &["1080p", "720p", "360p", "240p"], &[]);
        // Nothing above the quick rungs: one pass.
        check(&full[2..], true, &["360p", "240p"], &[]);
        // Nothing at or below them (a source whose lowest rung is above 360p): one pass.
        check(&full[..2], true, &["1080p", "720p"], &[]);
        // Portrait rungs split on the short side.
        check(
            &[rung("720p", 720, 1280), rung("360p", 360, 640)],
            true,
            &["360p"],
            &["720p"],
        );
    }
}
