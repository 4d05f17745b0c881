//! The video catalog: a video's life after its upload and the one policy over it. Who may
//! see or change a video ([`policy`]), owner edits and their limits ([`edit`]), retry, the
//! deletion cascade with its files, likes, channels, cover candidates, the
//! hot-row cache and view totals ([`cache`]), and processing progress pushed through the
//! notification hub ([`progress`]). Knows nothing of HTTP: `crates/api/src/catalog/` maps
//! these calls and [`CatalogError`] to routes, statuses and JSON.
//!
//! Architecture Invariant: no read path decides visibility itself. Every row handed to a
//! caller has passed [`policy::access`] for that caller (or the caller asks it, as media
//! serving does for signed URLs); nothing else compares owners, admin flags or visibilities.

pub mod cache;
mod channels;
mod covers;
pub mod edit;
mod error;
pub mod policy;
pub mod progress;
mod tracking;
mod videos;

use std::sync::Arc;

use spool_hub::{Hub, Topic};
use spool_media::Published;
use spool_metadata::{Store, VideoRow};
use spool_model::VideoId;
use spool_storage::{LocalStore, MediaLayout};

pub use cache::{RowInvalidator, ViewTotals};
pub use channels::Channel;
pub use covers::CANDIDATES_DIR;
pub use edit::{CheckedEdit, TagInput, Title, VideoEdit};
pub use error::{CatalogError, Result};
pub use policy::{Access, Viewer};
pub use progress::{ChangeWatcher, Client, ProgressState, ProgressUpdate, ProgressWatch};

/// The catalog service; cheap to clone (clones share caches and counters).
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    db: Store,
    hub: Hub,
    rows: cache::HotRows,
    views: ViewTotals,
    blobs: LocalStore,
    layout: MediaLayout,
    streams: progress::StreamSlots,
}

impl Catalog {
    /// The catalog over the metadata database `db`, publishing changes to `hub`; `blobs` and
    /// `layout` are where deletion removes a video's files.
    pub fn new(db: Store, hub: Hub, blobs: LocalStore, layout: MediaLayout) -> Self {
        let rows = cache::HotRows::new(db.clone());
        Self {
            inner: Arc::new(Inner {
                views: ViewTotals::new(db.clone(), rows.clone()),
                rows,
                db,
                hub,
                blobs,
                layout,
                streams: progress::StreamSlots::default(),
            }),
        }
    }

    /// The notification hub the catalog publishes to and progress streams listen on.
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// View totals buffered for the database ([`ViewTotals::run`] writes them).
    pub fn views(&self) -> &ViewTotals {
        &self.inner.views
    }

    /// Views to show for `video`: the stored count, or the newer total not yet written.
    pub fn shown_views(&self, video: &VideoRow) -> i64 {
        video.views.max(self.inner.views.known_views(&video.id))
    }

    /// The bridge that feeds the hub from rows changed by other processes (see
    /// [`ChangeWatcher`]).
    pub fn change_watcher(&self) -> ChangeWatcher {
        ChangeWatcher::new(self.inner.db.clone(), self.inner.hub.clone())
    }

    /// The task that drops cached rows the hub announces as changed (see [`RowInvalidator`]).
    pub fn row_invalidator(&self) -> RowInvalidator {
        RowInvalidator::new(self.inner.rows.clone(), &self.inner.hub)
    }

    /// After a change of `id` made in this process outside the catalog (a new cover): drops
    /// the cached row and tells the video's watchers.
    pub async fn changed(&self, id: &VideoId) {
        self.inner.rows.invalidate(id).await;
        self.inner.hub.notify(&Topic::video(id));
    }
}

/// The published media of a row; a row the code cannot read counts as nothing published.
pub fn published_media(video: &VideoRow) -> Option<Published> {
    let json = video.media.as_deref()?;
    match Published::from_json(json) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(video = %video.id, "unreadable published media: {e}");
            None
        }
    }
}
