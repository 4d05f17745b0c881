//! Cover policy outside of writing cover files: which candidate frames the pipeline proposed
//! for a video and where the chosen one is. (Installing a cover set lives with the media
//! layout.)

use std::path::PathBuf;

use spool_metadata::VideoRow;
use spool_storage::Generation;

use crate::error::{CatalogError, Result};
use crate::{Catalog, published_media};

/// Directory of a generation holding the candidate frames (`c_<index>.jpg`).
pub use spool_storage::media::CANDIDATES_DIR;

impl Catalog {
    fn candidates_dir(&self, video: &VideoRow, generation: &str) -> Option<PathBuf> {
        let generation = Generation::parse(generation)?;
        Some(self.inner.layout.candidates_dir(&video.id, &generation))
    }

    /// The published generation and its candidate frames' indexes, in order; nothing before
    /// the first publication.
    pub async fn cover_candidates(&self, video: &VideoRow) -> Result<(String, Vec<u32>)> {
        let Some(published) = published_media(video) else {
            return Ok((String::new(), Vec::new()));
        };
        let mut indexes = Vec::new();
        let Some(dir) = self.candidates_dir(video, &published.generation) else {
            return Ok((published.generation, indexes));
        };
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((published.generation, indexes));
            }
            Err(e) => return Err(e.into()),
        };
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            let index: Option<u32> = name
                .to_str()
                .and_then(|n| n.strip_prefix("c_")?.strip_suffix(".jpg")?.parse().ok());
            indexes.extend(index);
        }
        indexes.sort_unstable();
        Ok((published.generation, indexes))
    }

    /// The file of candidate `index` (as the client spelt it); not found unless proposed.
    pub async fn cover_candidate_file(&self, video: &VideoRow, index: &str) -> Result<PathBuf> {
        let not_found = || CatalogError::NotFound("cover candidate");
        let index: u32 = index.parse().map_err(|_| not_found())?;
        let (generation, indexes) = self.cover_candidates(video).await?;
        if !indexes.contains(&index) {
            return Err(not_found());
        }
        let dir = self
            .candidates_dir(video, &generation)
            .ok_or_else(not_found)?;
        Ok(dir.join(format!("c_{index}.jpg")))
    }
}
