//! The worker-local copy of each source: fetched once from the blob store, then read by every
//! stage of the video on this worker, removed when the video's last stage ends.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spool_metadata::Blob;
use spool_model::VideoId;
use spool_storage::LocalStore;

/// Scratch copies of sources, keyed by video.
#[derive(Clone)]
pub struct SourceCache {
    root: PathBuf,
    blobs: LocalStore,
    fetches: Arc<AtomicU64>,
}

impl SourceCache {
    /// Copies live under `root/<video id>/source`.
    pub fn new(root: PathBuf, blobs: LocalStore) -> Self {
        Self {
            root,
            blobs,
            fetches: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The same blob store with copies under `root` (and a fresh fetch count).
    pub fn with_root(self, root: PathBuf) -> Self {
        Self {
            root,
            blobs: self.blobs,
            fetches: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many times a source was fetched from the blob store by this cache.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The scratch dir of `video`.
    pub fn dir(&self, video: &VideoId) -> PathBuf {
        self.root.join(video.as_str())
    }

    /// The local copy of `video`'s source, fetching it when this worker has none (or an
    /// incomplete one). The copy appears under its final name only once complete.
    pub async fn source(&self, video: &VideoId, blob: &Blob) -> std::io::Result<PathBuf> {
        let dir = self.dir(video);
        let path = dir.join("source");
        if let Ok(meta) = tokio::fs::metadata(&path).await
            && i64::try_from(meta.len()).ok() == Some(blob.size_bytes)
        {
            return Ok(path);
        }
        tokio::fs::create_dir_all(&dir).await?;
        let from = self.blobs.blob_path(&blob.storage_key);
        let part = dir.join("source.part");
        let _ = tokio::fs::remove_file(&part).await;
        fetch(&from, &part).await?;
        // Complete and durable under its final name, or not there at all: a later stage
        // trusts a file of the right size.
        let (part_path, final_path) = (part.clone(), path.clone());
        tokio::task::spawn_blocking(move || spool_storage::persist(&part_path, &final_path))
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("spool_pipeline_source_fetches_total").increment(1);
        Ok(path)
    }

    /// Removes `video`'s scratch dir (its last stage ended).
    pub async fn release(&self, video: &VideoId) {
        match tokio::fs::remove_dir_all(self.dir(video)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(video = %video, "cannot remove scratch dir: {e}"),
        }
    }
}

/// Brings the blob to local disk. The blob store is local for now, so a hard link is the
/// cheapest fetch (blobs are immutable); across file systems it is a copy. An object store
/// would stream a GET here.
async fn fetch(from: &Path, to: &Path) -> std::io::Result<()> {
    match tokio::fs::hard_link(from, to).await {
        Ok(()) => Ok(()),
        Err(_) => tokio::fs::copy(from, to).await.map(|_| ()),
    }
}
