//! Processing progress pushed, not polled: a [`ProgressWatch`] subscribes to the video's hub
//! topic, then reads the row once, and again only when a notification arrives (or it lagged).
//! While nothing changes, an open watch costs no database query.
//!
//! Who notifies: the media pipeline after each progress or status write, and the catalog after
//! edits, retries and deletions. Workers in other processes (`spool worker`) cannot reach this
//! process's hub; for them `spool serve` with `jobs.workers = 0` runs one [`ChangeWatcher`]:
//! once a second, and only while some video has watchers here, it reads the versions
//! (`updated_at`) of exactly those videos in one query and notifies the ones that changed. The
//! cost is one query per second per server process, never one per stream; a hub that spans
//! processes (NATS, Redis) replaces it.
//!
//! Open watches are capped per client ([`MAX_STREAMS_PER_CLIENT`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use spool_hub::{Hub, Subscription, Topic};
use spool_metadata::{Store, User, VideoRow};
use spool_model::{UserId, VideoId, VideoStatus};
use tokio_util::sync::CancellationToken;

use crate::error::{CatalogError, Result};
use crate::policy::may_see;
use crate::{Catalog, published_media};

/// Progress streams one client (a user, or an address for anonymous viewers) may hold open.
pub const MAX_STREAMS_PER_CLIENT: usize = 16;
/// How long a watch waits before reading again after the database failed.
const RETRY_READ_AFTER: Duration = Duration::from_secs(1);
/// How often the [`ChangeWatcher`] looks for changes made by other processes.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Videos per version query of the [`ChangeWatcher`].
const WATCH_BATCH: usize = 500;

/// Who holds a stream, for the per-client cap.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Client {
    /// A signed-in user, wherever they connect from.
    User(UserId),
    /// An anonymous viewer, by address.
    Address(IpAddr),
    /// Neither is known (no peer address): all such streams share one allowance.
    Unknown,
}

/// Open streams per client.
#[derive(Default)]
pub(crate) struct StreamSlots {
    open: Arc<Mutex<HashMap<Client, usize>>>,
}

/// One open stream's place; gives it back when dropped.
struct StreamSlot {
    open: Arc<Mutex<HashMap<Client, usize>>>,
    client: Client,
}

impl StreamSlots {
    fn take(&self, client: Client) -> Result<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(client.clone()).or_insert(0);
        if *count >= MAX_STREAMS_PER_CLIENT {
            return Err(CatalogError::TooManyStreams {
                limit: MAX_STREAMS_PER_CLIENT,
            });
        }
        *count += 1;
        Ok(StreamSlot {
            open: self.open.clone(),
            client,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Where a video is in its processing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressState {
    /// Status.
    pub status: VideoStatus,
    /// Percent, 0-100.
    pub progress: i64,
    /// Names of the playable renditions, highest first.
    pub renditions: Vec<String>,
    /// True once the whole ladder is published.
    pub processing_complete: bool,
    /// Why processing failed.
    pub error: Option<String>,
}

impl ProgressState {
    /// The state a row shows.
    pub fn of(video: &VideoRow) -> Self {
        let published = published_media(video);
        let mut renditions: Vec<(u32, u32, u64, String)> = published
            .as_ref()
            .map(|p| {
                p.renditions
                    .iter()
                    .map(|r| (r.height, r.width, r.bandwidth, r.name.clone()))
                    .collect()
            })
            .unwrap_or_default();
        renditions.sort_by_key(|r| std::cmp::Reverse((r.0, r.1, r.2)));
        Self {
            status: video.status,
            progress: video.progress.clamp(0, 100),
            renditions: renditions.into_iter().map(|r| r.3).collect(),
            processing_complete: published.is_some_and(|p| p.complete),
            error: video.error.clone(),
        }
    }

    /// Nothing more will change without a new upload: published completely, or failed.
    pub fn is_final(&self) -> bool {
        self.status == VideoStatus::Failed
            || (self.status == VideoStatus::Ready && self.processing_complete)
    }
}

/// What a watch reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgressUpdate {
    /// The state changed (or this is the first one).
    State(ProgressState),
    /// The video was deleted or is now hidden from this viewer; the watch ends.
    Gone,
}

/// One viewer's watch of one video's progress.
pub struct ProgressWatch {
    catalog: Catalog,
    viewer: Option<User>,
    id: VideoId,
    subscription: Subscription,
    /// The row read when the watch started, for the first update.
    first: Option<VideoRow>,
    last: Option<ProgressState>,
    /// Read the row without waiting for a notification (the last read failed).
    read_now: bool,
    done: bool,
    _slot: StreamSlot,
}

impl Catalog {
    /// Starts watching `id` for `viewer`: subscribed first, then the row is read (so no change
    /// falls between the two). Not found unless the viewer may see the video; too many
    /// streams when `client` holds [`MAX_STREAMS_PER_CLIENT`] already.
    pub async fn watch_progress(
        &self,
        viewer: Option<User>,
        client: Client,
        id: VideoId,
    ) -> Result<ProgressWatch> {
        let slot = self.inner.streams.take(client)?;
        let subscription = self.inner.hub.subscribe(&Topic::video(&id));
        let video = self
            .inner
            .db
            .video(&id)
            .await?
            .filter(|v| may_see(viewer.as_ref(), v))
            .ok_or_else(CatalogError::video_not_found)?;
        Ok(ProgressWatch {
            catalog: self.clone(),
            viewer,
            id,
            subscription,
            first: Some(video),
            last: None,
            read_now: false,
            done: false,
            _slot: slot,
        })
    }
}

impl ProgressWatch {
    /// The next update: at once when the state differs from the last one reported, else
    /// after a notification says it changed. `None` ends the watch (final state reported,
    /// video gone or hidden, `stop` fired).
    pub async fn next(&mut self, stop: &CancellationToken) -> Option<ProgressUpdate> {
        if self.done {
            return None;
        }
        loop {
            let video = match self.first.take() {
                Some(video) => Some(video),
                None => {
                    if !self.read_now {
                        tokio::select! {
                            () = stop.cancelled() => return None,
                            // A message or a lag: either way, read the row again.
                            received = self.subscription.recv() => received?,
                        };
                    }
                    self.read_now = false;
                    match self.catalog.inner.db.video(&self.id).await {
                        Ok(video) => video,
                        Err(e) => {
                            // The client keeps its stream; read again in a moment.
                            tracing::warn!(video = %self.id, "progress watch: reading the video: {e}");
                            tokio::select! {
                                () = stop.cancelled() => return None,
                                () = tokio::time::sleep(RETRY_READ_AFTER) => {}
                            }
                            self.read_now = true;
                            continue;
                        }
                    }
                }
            };
            let Some(video) = video.filter(|v| may_see(self.viewer.as_ref(), v)) else {
                self.done = true;
                return Some(ProgressUpdate::Gone);
            };
            let now = ProgressState::of(&video);
            if self.last.as_ref() != Some(&now) {
                self.done = now.is_final();
                self.last = Some(now.clone());
                return Some(ProgressUpdate::State(now));
            }
        }
    }
}

/// The bridge from other processes' writes into this process's hub (see the module docs).
pub struct ChangeWatcher {
    db: Store,
    hub: Hub,
    every: Duration,
}

impl ChangeWatcher {
    pub(crate) fn new(db: Store, hub: Hub) -> Self {
        Self {
            db,
            hub,
            every: WATCH_EVERY,
        }
    }

    /// Looks for changes every second until `stop` fires; for the binary's task set.
    pub async fn run(self, stop: CancellationToken) {
        let mut seen: HashMap<VideoId, Option<i64>> = HashMap::new();
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.look(&mut seen).await {
                tracing::warn!("watching for video changes by other processes: {e}");
            }
        }
    }

    /// One look: the watched videos' versions, a notification for each that changed (or is
    /// seen for the first time, or went away).
    async fn look(&self, seen: &mut HashMap<VideoId, Option<i64>>) -> Result<()> {
        let watched: Vec<VideoId> = self
            .hub
            .subscribed_topics("video.")
            .iter()
            .filter_map(|t| t.as_str().strip_prefix("video.")?.parse().ok())
            .collect();
        let watching: std::collections::HashSet<&VideoId> = watched.iter().collect();
        seen.retain(|id, _| watching.contains(id));
        for chunk in watched.chunks(WATCH_BATCH) {
            let versions: HashMap<VideoId, i64> =
                self.db.video_versions(chunk).await?.into_iter().collect();
            for id in chunk {
                let now = versions.get(id).copied();
                if seen.get(id) != Some(&now) {
                    seen.insert(id.clone(), now);
                    self.hub.notify(&Topic::video(id));
                }
            }
        }
        Ok(())
    }
}
