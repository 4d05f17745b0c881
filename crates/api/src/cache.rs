//! Hot video metadata in front of SQL, and view counters buffered in memory.
//!
//! SKELETON: to be filled in (moka cache, batched view counts).

use spool_metadata::{Store, VideoRow};
use spool_model::VideoId;

/// Video rows served from memory, invalidated on change.
pub struct VideoCache {
    store: Store,
}

impl VideoCache {
    /// A cache in front of `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The video row, from memory when fresh.
    pub async fn get(&self, id: &VideoId) -> spool_metadata::Result<Option<VideoRow>> {
        self.store.video(id).await
    }

    /// Forgets `id` (after a change made through this process).
    pub fn invalidate(&self, id: &VideoId) {
        let _ = id;
    }
}
