//! Search: `GET /api/v1/search` and its suggestions over titles, descriptions, tags and
//! channel names, in Chinese and English alike ([`tokens`]: jieba segmentation), with typo
//! tolerance and filters ([`index`]: tantivy), the index durable in the data dir and kept
//! in step with the catalogue ([`Search::run`]). Knows nothing of HTTP:
//! `crates/api/src/search/` maps it.
//!
//! Architecture Invariant: a video is found only by those the catalog's policy shows it to
//! (public and ready for anyone; unlisted and private ones by their owner alone), and every
//! hit is checked against the catalogue again before it is answered.

pub mod index;
pub mod tokens;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use spool_catalog::policy;
use spool_hub::{Hub, Observed};
use spool_metadata::{Store, VideoRow};
use spool_model::{VideoId, now_millis};
use tokio_util::sync::CancellationToken;

pub use index::{Hit, IndexError, Length, SearchIndex, SearchQuery, Suggestion, Watermark};

/// Rows read per page when building or catching up.
const PAGE: u32 = 1000;
/// Changes are gathered this long before one commit makes them searchable.
const COMMIT_EVERY: Duration = Duration::from_millis(300);

/// Search as the API sees it; cheap to clone.
#[derive(Clone)]
pub struct Search {
    inner: Arc<Inner>,
}

struct Inner {
    index: SearchIndex,
    store: Store,
    hub: Hub,
    /// The watermark the index was opened with (`None`: build it from the catalogue).
    opened: Option<Watermark>,
}

impl Search {
    /// Opens (or creates) the index in `dir`. Nothing is read from the store until
    /// [`run`](Self::run).
    pub fn open(dir: PathBuf, store: Store, hub: Hub) -> Result<Self, IndexError> {
        let (index, opened) = SearchIndex::open(&dir)?;
        Ok(Self {
            inner: Arc::new(Inner {
                index,
                store,
                hub,
                opened,
            }),
        })
    }

    /// The index.
    pub fn index(&self) -> &SearchIndex {
        &self.inner.index
    }

    /// Matches of `query`, text relevance blended with popularity and `boost` (the asker's
    /// interest in each hit, 0 to 1, from the recommender), best first.
    pub async fn search(
        &self,
        query: SearchQuery,
        boost: impl Fn(&VideoId) -> f32 + Send + 'static,
    ) -> Result<Vec<Hit>, IndexError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut hits = this.inner.index.search(&query)?;
            let top = hits.iter().map(|h| h.relevance).fold(0.0f32, f32::max);
            let most_views = hits.iter().map(|h| h.views).max().unwrap_or(0);
            let score = |h: &Hit| {
                let text = if top > 0.0 { h.relevance / top } else { 0.0 };
                let popularity = if most_views > 0 {
                    (1.0 + h.views as f32).ln() / (1.0 + most_views as f32).ln()
                } else {
                    0.0
                };
                text + 0.2 * popularity + 0.2 * boost(&h.id)
            };
            let mut scored: Vec<(f32, Hit)> = hits.drain(..).map(|h| (score(&h), h)).collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            Ok(scored
                .into_iter()
                .map(|(s, mut h)| {
                    h.relevance = s;
                    h
                })
                .collect())
        })
        .await
        .map_err(|e| IndexError::Io(std::io::Error::other(e)))?
    }

    /// Titles completing `prefix` for `owner` (signed in) or anyone.
    pub async fn suggest(
        &self,
        prefix: String,
        owner: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Suggestion>, IndexError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.inner.index.suggest(&prefix, owner, limit))
            .await
            .map_err(|e| IndexError::Io(std::io::Error::other(e)))?
    }

    /// Builds the index from the catalogue when it was missing, catches up with what
    /// changed while the server was down, then follows the hub's change notifications
    /// until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut firehose = self.inner.hub.observe_all();
        let since = self.inner.opened.as_ref().map_or(0, |m| m.synced_to);
        if let Err(e) = self.catch_up(since, &stop).await {
            tracing::error!("search index: catching up with the catalogue: {e}");
        }
        let mut changed: HashSet<VideoId> = HashSet::new();
        let mut tick = tokio::time::interval(COMMIT_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                observed = firehose.recv() => match observed {
                    None => return,
                    Some(Observed::Changed(topic)) => {
                        if let Some(id) = topic.video_id() {
                            changed.insert(id);
                        }
                    }
                    Some(Observed::Lagged(_)) => {
                        // Missed notifications: everything changed in the last minute again.
                        let since = now_millis() - 60_000;
                        if let Err(e) = self.catch_up(since, &stop).await {
                            tracing::warn!("search index: catching up: {e}");
                        }
                    }
                },
                _ = tick.tick(), if !changed.is_empty() => {
                    let ids: Vec<VideoId> = changed.drain().collect();
                    if let Err(e) = self.refresh(&ids).await {
                        tracing::warn!("search index: {e}");
                    }
                }
            }
        }
    }

    /// Indexes every video changed at or after `since` (0: all of them).
    pub async fn catch_up(&self, since: i64, stop: &CancellationToken) -> Result<(), IndexError> {
        // Rows changed during the pass are found by the hub or the next catch-up.
        let started = now_millis();
        let mut after = None;
        let mut count = 0usize;
        loop {
            let rows = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                rows = self.inner.store.list_videos_changed_since(since, after.clone(), PAGE) => rows,
            }
            .map_err(|e| IndexError::Io(std::io::Error::other(e)))?;
            let last = rows.len() < PAGE as usize;
            after = rows.last().map(|r| (r.updated_at, r.id.clone()));
            count += rows.len();
            self.write(rows).await?;
            if last {
                break;
            }
        }
        self.commit(started.min(now_millis()) - 1_000).await?;
        tracing::info!(videos = count, since, "search index caught up");
        Ok(())
    }

    /// Reads changed videos again and commits.
    pub async fn refresh(&self, ids: &[VideoId]) -> Result<(), IndexError> {
        let started = now_millis();
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            match self.inner.store.video(id).await {
                Ok(Some(row)) => rows.push(row),
                Ok(None) => self.inner.index.remove(id)?,
                Err(e) => return Err(IndexError::Io(std::io::Error::other(e))),
            }
        }
        self.write(rows).await?;
        let mark = self.inner.opened.as_ref().map_or(0, |m| m.synced_to);
        // The watermark only moves forward by a catch-up or a full pass; a refresh keeps
        // it, so a crash before the next catch-up redoes at most what changed since.
        self.commit(mark.max(started - 5 * 60_000).min(started))
            .await
    }

    async fn write(&self, rows: Vec<VideoRow>) -> Result<(), IndexError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            for row in &rows {
                this.inner.index.upsert(row, policy::listed(row))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| IndexError::Io(std::io::Error::other(e)))?
    }

    async fn commit(&self, synced_to: i64) -> Result<(), IndexError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            this.inner.index.commit(&Watermark {
                version: index::SCHEMA_VERSION,
                synced_to,
            })
        })
        .await
        .map_err(|e| IndexError::Io(std::io::Error::other(e)))?
    }
}
