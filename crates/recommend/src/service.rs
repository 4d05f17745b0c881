//! [`Recommender`]: the feed and related videos as callers see them, over the discovery
//! projection (read through its handle), the index of recommendable videos (kept from the
//! store and the hub's change notifications) and the collaborative model (retrained in the
//! background). [`Recommender::run`] is the one task it needs.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use spool_catalog::policy;
use spool_events::projection::{Projection, ProjectionHandle};
use spool_events::tracking::TrackedEvent;
use spool_hub::{Hub, Observed};
use spool_metadata::{Store, VideoRow};
use spool_model::{VideoId, now_millis};
use tokio_util::sync::CancellationToken;

use crate::ease::{Ease, EaseConfig};
use crate::items::{ItemFacts, ItemIndex};
use crate::profile::{Limits, Profile, viewer_key};
use crate::rank::{self, Context, Pick};
use crate::state::{BatchFacts, DiscoveryState};

/// Pages of one feed session remembered (their videos are not served again).
const SERVED_PER_SESSION: usize = 1000;
/// Rows read per page when loading the index.
const LOAD_PAGE: u32 = 1000;

/// Settings.
#[derive(Clone, Debug)]
pub struct RecommendConfig {
    /// How often the collaborative model is retrained (when anything changed).
    pub retrain_every: Duration,
    /// How often the whole index is read again from the store (changes announced on the hub
    /// arrive at once; this bounds the unannounced ones).
    pub reload_every: Duration,
    /// The collaborative model.
    pub ease: EaseConfig,
    /// The profiles' bounds.
    pub limits: Limits,
}

impl Default for RecommendConfig {
    fn default() -> Self {
        Self {
            retrain_every: Duration::from_secs(300),
            reload_every: Duration::from_secs(600),
            ease: EaseConfig::default(),
            limits: Limits::default(),
        }
    }
}

/// Who asks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Asker<'a> {
    /// The signed-in user's name.
    pub user: Option<&'a str>,
    /// The device's anonymous id (the web app's `anonymous_id`).
    pub anonymous_id: Option<&'a str>,
}

impl Asker<'_> {
    fn key(&self) -> Option<String> {
        viewer_key(self.user, self.anonymous_id)
    }
}

/// One page of the feed.
#[derive(Debug)]
pub struct FeedPage {
    /// The videos, best first.
    pub picks: Vec<Pick>,
    /// Hand back for the next page (its videos are not repeated).
    pub next_cursor: String,
    /// True when the asker has no profile yet (cold start).
    pub cold_start: bool,
}

/// A cursor the client sent is not one this server could have made.
#[derive(Debug, thiserror::Error)]
#[error("`cursor` is not a cursor this server handed out")]
pub struct InvalidCursor;

/// The trending list and when it was computed.
type TrendingCache = (Option<Instant>, Arc<Vec<(VideoId, f32)>>);

/// The recommender; cheap to clone.
#[derive(Clone)]
pub struct Recommender {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    hub: Hub,
    config: RecommendConfig,
    items: RwLock<ItemIndex>,
    state: ProjectionHandle<DiscoveryState>,
    cf: RwLock<Option<Arc<Ease<VideoId>>>>,
    trending: Mutex<TrendingCache>,
    served: moka::future::Cache<String, Arc<Mutex<VecDeque<VideoId>>>>,
    loaded: AtomicBool,
    loading: tokio::sync::Mutex<()>,
}

impl Recommender {
    /// A recommender over `store`'s videos, told of changes by `hub`.
    pub fn new(store: Store, hub: Hub, config: RecommendConfig) -> Self {
        let limits = config.limits;
        Self {
            inner: Arc::new(Inner {
                store,
                hub,
                config,
                items: RwLock::new(ItemIndex::default()),
                state: ProjectionHandle::new(DiscoveryState::with_limits(limits)),
                cf: RwLock::new(None),
                trending: Mutex::new((None, Arc::new(Vec::new()))),
                served: moka::future::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_idle(Duration::from_secs(1800))
                    .build(),
                loaded: AtomicBool::new(false),
                loading: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The projection's read handle (for the runner the binary starts).
    pub fn state(&self) -> &ProjectionHandle<DiscoveryState> {
        &self.inner.state
    }

    /// The projection to run over the event log (one per process).
    pub fn projection(&self) -> DiscoveryProjection {
        DiscoveryProjection {
            recommender: self.clone(),
        }
    }

    /// Recommendable videos indexed.
    pub fn indexed(&self) -> usize {
        self.read_items().len()
    }

    /// True once the index has been read from the store.
    pub fn ready(&self) -> bool {
        self.inner.loaded.load(Ordering::Acquire)
    }

    /// A page of the feed for `asker`, continuing `cursor`'s session.
    pub async fn feed(
        &self,
        asker: Asker<'_>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<FeedPage, InvalidCursor> {
        let session = match cursor.filter(|c| !c.is_empty()) {
            Some(c) if valid_cursor(c) => c.to_owned(),
            Some(_) => return Err(InvalidCursor),
            None => new_cursor(),
        };
        let served = self
            .inner
            .served
            .get_with(session.clone(), async { Arc::default() })
            .await;
        let exclude: HashSet<VideoId> = lock(&served).iter().cloned().collect();
        let (picks, cold_start) = self
            .rank(asker, |ctx, profile| {
                let picks = rank::feed(ctx, profile, &exclude, limit, &mut rand::rng());
                (picks, profile.is_none_or(|p| p.interactions == 0))
            })
            .await;
        {
            let mut served = lock(&served);
            served.extend(picks.iter().map(|p| p.item.row.id.clone()));
            while served.len() > SERVED_PER_SESSION {
                served.pop_front();
            }
        }
        Ok(FeedPage {
            picks,
            next_cursor: session,
            cold_start,
        })
    }

    /// Videos related to `video` (a row the caller may see) for `asker`.
    pub async fn related(&self, asker: Asker<'_>, video: &VideoRow, limit: usize) -> Vec<Pick> {
        let facts = ItemFacts::of(video);
        self.rank(asker, |ctx, profile| {
            rank::related(ctx, profile, &video.id, &facts, limit)
        })
        .await
    }

    /// Runs `f` over one consistent view: the index (read on first use), the folded state,
    /// the collaborative model, the trending list, and the asker's profile.
    async fn rank<T>(
        &self,
        asker: Asker<'_>,
        f: impl FnOnce(&Context<'_>, Option<&Profile>) -> T,
    ) -> T {
        self.ensure_loaded().await;
        let trending = self.trending().await;
        let cf = self.cf();
        let state = self.inner.state.read().await;
        let items = self.read_items();
        let ctx = Context {
            items: &items,
            state: &state.state,
            cf: cf.as_deref(),
            trending: &trending,
            now: now_millis(),
        };
        f(&ctx, profile_of(&state.state, asker))
    }

    /// What the profile of `asker` holds (for search to blend in, and tests).
    pub async fn profile(&self, asker: Asker<'_>) -> Option<Profile> {
        let state = self.inner.state.read().await;
        profile_of(&state.state, asker).cloned()
    }

    /// How much `profile` likes each video it is asked about, -1 to 1 (0 for videos not
    /// recommendable, or no profile): for search to blend in.
    pub fn interest_fn(
        &self,
        profile: Option<Profile>,
    ) -> impl Fn(&VideoId) -> f32 + Send + 'static {
        let this = self.clone();
        let now = now_millis();
        move |id: &VideoId| match &profile {
            None => 0.0,
            Some(p) => this
                .read_items()
                .get(id)
                .map_or(0.0, |item| p.interest_match(&item.facts, now)),
        }
    }

    /// Reads the index from the store if nothing has yet (a request before the task ran).
    async fn ensure_loaded(&self) {
        if self.ready() {
            return;
        }
        let _loading = self.inner.loading.lock().await;
        if !self.ready() {
            self.reload(&CancellationToken::new()).await;
        }
    }

    /// Keeps the index and the collaborative model up to date until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut firehose = self.inner.hub.observe_all();
        {
            let _loading = self.inner.loading.lock().await;
            self.reload(&stop).await;
        }
        let mut reload = tokio::time::interval(self.inner.config.reload_every);
        reload.tick().await;
        let mut retrain = tokio::time::interval(self.inner.config.retrain_every);
        let mut trained_at_events = u64::MAX;
        let mut changed: HashSet<VideoId> = HashSet::new();
        let mut flush = tokio::time::interval(Duration::from_millis(200));
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
                    Some(Observed::Lagged(_)) => self.reload(&stop).await,
                },
                _ = flush.tick(), if !changed.is_empty() => {
                    let ids: Vec<VideoId> = changed.drain().collect();
                    self.refresh(&ids).await;
                }
                _ = reload.tick() => self.reload(&stop).await,
                _ = retrain.tick() => {
                    let events = self.inner.state.read().await.state.events;
                    if events != trained_at_events {
                        trained_at_events = events;
                        self.retrain().await;
                    }
                }
            }
        }
    }

    /// Reads every recommendable video from the store into a fresh index.
    async fn reload(&self, stop: &CancellationToken) {
        let mut index = ItemIndex::default();
        let mut after = None;
        loop {
            let page = tokio::select! {
                () = stop.cancelled() => return,
                page = self.inner.store.list_public_videos(after.clone(), LOAD_PAGE) => page,
            };
            match page {
                Ok(rows) => {
                    let last = rows.len() < LOAD_PAGE as usize;
                    after = rows.last().map(|r| (r.created_at, r.id.clone()));
                    for row in rows.into_iter().filter(recommendable) {
                        index.upsert(row);
                    }
                    if last {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!("loading videos for recommendations: {e}");
                    return;
                }
            }
        }
        *self.inner.items.write().unwrap_or_else(|e| e.into_inner()) = index;
        self.inner.loaded.store(true, Ordering::Release);
    }

    /// Reads changed videos again.
    async fn refresh(&self, ids: &[VideoId]) {
        for id in ids {
            match self.inner.store.video(id).await {
                Ok(row) => {
                    let mut items = self.inner.items.write().unwrap_or_else(|e| e.into_inner());
                    match row.filter(recommendable) {
                        Some(row) => items.upsert(row),
                        None => items.remove(id),
                    }
                }
                Err(e) => tracing::warn!(video = %id, "refreshing a recommendable video: {e}"),
            }
        }
    }

    /// Trains the collaborative model on the profiles' positives (on the blocking pool).
    pub async fn retrain(&self) {
        let histories: Vec<Vec<VideoId>> = {
            let state = self.inner.state.read().await;
            state
                .state
                .profiles
                .values()
                .map(Profile::positives)
                .filter(|h| h.len() >= 2)
                .collect()
        };
        if histories.is_empty() {
            return;
        }
        let config = self.inner.config.ease;
        let started = Instant::now();
        let trained = tokio::task::spawn_blocking(move || {
            Ease::train(histories.iter().map(Vec::as_slice), config)
        })
        .await;
        match trained {
            Ok(Some(model)) => {
                tracing::info!(
                    items = model.len(),
                    users = model.users,
                    ms = started.elapsed().as_millis() as u64,
                    "collaborative model trained"
                );
                *self.inner.cf.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(model));
            }
            Ok(None) => tracing::warn!("collaborative model: the Gram matrix is not invertible"),
            Err(e) => tracing::error!("collaborative model training failed: {e}"),
        }
    }

    fn cf(&self) -> Option<Arc<Ease<VideoId>>> {
        self.inner
            .cf
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn read_items(&self) -> std::sync::RwLockReadGuard<'_, ItemIndex> {
        self.inner.items.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The trending list, recomputed at most once a second.
    async fn trending(&self) -> Arc<Vec<(VideoId, f32)>> {
        {
            let cached = lock(&self.inner.trending);
            if cached
                .0
                .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
            {
                return cached.1.clone();
            }
        }
        let top = {
            let state = self.inner.state.read().await;
            Arc::new(state.state.trending.top(200, now_millis()))
        };
        *lock(&self.inner.trending) = (Some(Instant::now()), top.clone());
        top
    }

    /// The facts of the videos `events` are about: from the index, else from the store
    /// (videos that are not recommendable still teach the profile).
    async fn facts(&self, events: &[TrackedEvent]) -> HashMap<VideoId, ItemFacts> {
        let ids: HashSet<VideoId> = events
            .iter()
            .filter_map(|e| e.video_id.as_deref()?.parse().ok())
            .collect();
        let mut facts = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let items = self.read_items();
            for id in ids {
                match items.get(&id) {
                    Some(item) => {
                        facts.insert(id, item.facts.clone());
                    }
                    None => missing.push(id),
                }
            }
        }
        if !missing.is_empty() {
            match self.inner.store.videos(&missing).await {
                Ok(rows) => {
                    facts.extend(rows.iter().map(|row| (row.id.clone(), ItemFacts::of(row))))
                }
                Err(e) => tracing::warn!("facts for recommendations: {e}"),
            }
        }
        facts
    }
}

/// Only what the catalog lists for anyone is recommended.
fn recommendable(row: &VideoRow) -> bool {
    policy::listed(row) && row.status == spool_model::VideoStatus::Ready
}

fn profile_of<'a>(state: &'a DiscoveryState, asker: Asker<'_>) -> Option<&'a Profile> {
    asker.key().and_then(|k| state.profile(&k)).or_else(|| {
        // Signed in, but everything so far was watched anonymously on this device.
        let anon = asker.anonymous_id?;
        state.profile(&format!("a:{anon}"))
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn new_cursor() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn valid_cursor(c: &str) -> bool {
    c.len() == 22
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The discovery projection, as the events crate's runner drives it.
pub struct DiscoveryProjection {
    recommender: Recommender,
}

impl Projection for DiscoveryProjection {
    type State = DiscoveryState;
    type Context = BatchFacts;

    fn name(&self) -> &'static str {
        "discovery"
    }

    async fn prepare(
        &self,
        events: &[TrackedEvent],
        _state: &ProjectionHandle<DiscoveryState>,
    ) -> BatchFacts {
        BatchFacts {
            facts: self.recommender.facts(events).await,
            cf: self.recommender.cf(),
        }
    }

    fn apply(&self, state: &mut DiscoveryState, events: &[TrackedEvent], context: BatchFacts) {
        state.apply(events, &context);
    }

    fn restored(&self, state: &mut DiscoveryState) {
        state.set_limits(self.recommender.inner.config.limits);
        let now = state.now;
        state.cowatch.trim_all(now);
    }
}
