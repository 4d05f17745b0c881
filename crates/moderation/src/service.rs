//! The moderation service: hash lists held in memory (a radius index over the PDQ entries, a
//! set of the BLAKE3 ones), the frame scan the pipeline feeds, holds, reports, review
//! decisions and their audit trail. Knows nothing of HTTP.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use spool_catalog::Catalog;
use spool_config::ModerationConfig;
use spool_metadata::{
    DecisionRow, FrameHashRow, HashListRow, ListEntryRow, MatchRow, NewListEntry, ReportRow, Store,
    User, VideoRow,
};
use spool_model::{ContentHash, VideoId, VideoStatus};
use tokio_util::sync::CancellationToken;

use crate::error::{ModerationError, Result};
use crate::index::RadiusIndex;
use crate::lists::{ListKind, checked_list_name, item_of, parse_list};
use crate::{PdqHash, vpdq};

/// Frames of lower PDQ quality are dropped (flat, dark or blank pictures match too much).
pub const MIN_QUALITY: u8 = 50;
/// Two hashes within this distance are the same picture (Meta's threshold for PDQ).
pub const MATCH_RADIUS: u32 = 31;
/// A video matches a list item when at least this share (percent) of the item's hashes have a
/// frame within [`MATCH_RADIUS`].
pub const MATCH_SHARE: u32 = 80;
/// Frame pairs kept per matched item for reviewers.
const MAX_PAIRS: usize = 24;
/// The built-in lists a removal adds the video to, so the same file is refused and the same
/// pictures held next time.
pub const REMOVED_DIGESTS: &str = "removed";
/// See [`REMOVED_DIGESTS`].
pub const REMOVED_FRAMES: &str = "removed-frames";
/// Longest report or decision reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Entries read per query when loading the lists.
const LOAD_PAGE: u32 = 20_000;

/// What can be reported through the moderation service (comments are the interaction
/// service's own reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// A video.
    Video,
    /// One danmaku.
    Danmaku,
}

impl ReportKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Danmaku => "danmaku",
        }
    }
}

/// A review decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Release the video.
    Approve,
    /// Delete it, and list its file and pictures.
    Remove,
    /// Remove it and ban its uploader.
    Ban,
}

impl std::str::FromStr for Action {
    type Err = ModerationError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "approve" => Ok(Self::Approve),
            "remove" => Ok(Self::Remove),
            "ban" => Ok(Self::Ban),
            _ => Err(ModerationError::InvalidInput(
                "action: approve, remove or ban".into(),
            )),
        }
    }
}

/// A list entry matched by a hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashMatch {
    /// The list's name.
    pub list: String,
    /// The entry's hash.
    pub hash: PdqHash,
    /// Its label.
    pub label: String,
    /// Bits apart.
    pub distance: u32,
}

/// A matched frame of a video and the list entry it matched.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pair {
    /// Offset of the frame, ms.
    pub at_ms: i64,
    /// The frame's hash.
    pub frame_hash: String,
    /// The entry's hash.
    pub entry_hash: String,
    /// Bits apart.
    pub distance: u32,
    /// True when the frame's picture was kept for reviewers.
    #[serde(default)]
    pub image: bool,
}

/// One matched item, as a reviewer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemMatch {
    /// The list's name.
    pub list: String,
    /// The item (a label's stem, or a lone entry's hash).
    pub item: String,
    /// Percent of the item's hashes with a frame of the video within the radius.
    pub query_share: u32,
    /// Percent of the video's distinct frames with a counterpart in the item.
    pub compared_share: u32,
    /// Frame pairs, by offset.
    pub pairs: Vec<Pair>,
}

/// A held video and everything a reviewer needs.
#[derive(Clone, Debug)]
pub struct Case {
    /// The video.
    pub video: VideoRow,
    /// What matched.
    pub matches: Vec<ItemMatch>,
    /// Open reports of it and its danmaku.
    pub reports: Vec<ReportRow>,
    /// Its audit trail, oldest first.
    pub decisions: Vec<DecisionRow>,
}

/// What an import did.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The list after it.
    pub list: HashListRow,
    /// Entries written.
    pub imported: u64,
    /// Entries already there (or repeated).
    pub duplicates: u64,
    /// Videos already in the catalogue that the new entries held.
    pub held: Vec<VideoId>,
}

/// A frame's hash, as the stage hands it over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHash {
    /// Offset, ms.
    pub at_ms: i64,
    /// Its PDQ hash.
    pub hash: PdqHash,
    /// Its quality (0-100).
    pub quality: u8,
}

struct Entry {
    list: Arc<str>,
    item: Arc<str>,
    hash: PdqHash,
    label: String,
}

/// The lists in memory.
#[derive(Default)]
struct Lists {
    index: RadiusIndex,
    entries: HashMap<u64, Entry>,
    /// Entries (= distinct hashes: a list holds a hash once) per (list, item).
    item_sizes: HashMap<(Arc<str>, Arc<str>), usize>,
    digests: HashMap<[u8; 32], Arc<str>>,
    /// Names interned.
    names: HashSet<Arc<str>>,
    /// The largest entry id loaded, and the store's version then.
    loaded_top: i64,
    version: (i64, i64, i64),
}

impl Lists {
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(name) = self.names.get(s) {
            return name.clone();
        }
        let name: Arc<str> = Arc::from(s);
        self.names.insert(name.clone());
        name
    }

    fn add(&mut self, row: ListEntryRow) {
        self.loaded_top = self.loaded_top.max(row.id);
        let Ok(hash) = row.hash.parse::<PdqHash>() else {
            tracing::warn!(
                entry = row.id,
                "hash list entry is not 64 hex digits; skipped"
            );
            return;
        };
        let list = self.intern(&row.list);
        if row.kind == ListKind::Blake3.as_str() {
            self.digests.entry(hash.0).or_insert(list);
            return;
        }
        let item = self.intern(&item_of(&row.label, &row.hash));
        *self
            .item_sizes
            .entry((list.clone(), item.clone()))
            .or_default() += 1;
        self.index.insert(hash, row.id as u64);
        self.entries.insert(
            row.id as u64,
            Entry {
                list,
                item,
                hash,
                label: row.label,
            },
        );
    }
}

/// The content gate the upload service asks before it keeps a file: the list that holds the
/// digest, if one does. Cheap to clone.
#[derive(Clone)]
pub struct DigestGate {
    lists: Arc<RwLock<Lists>>,
}

impl DigestGate {
    /// The list holding `digest`, if any.
    pub fn refuses(&self, digest: &ContentHash) -> Option<String> {
        let lists = self.lists.read().unwrap_or_else(PoisonError::into_inner);
        lists.digests.get(digest.as_bytes()).map(|l| l.to_string())
    }
}

/// The service; cheap to clone.
#[derive(Clone)]
pub struct Moderation {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    catalog: Catalog,
    config: ModerationConfig,
    lists: Arc<RwLock<Lists>>,
    /// `<data>/moderation`: kept frames of held videos, `<video>/<at_ms>.jpg`.
    frames_dir: PathBuf,
    /// Serializes loads (a reload and an import's refresh).
    loading: tokio::sync::Mutex<()>,
}

fn admin(user: &User) -> Result<()> {
    if user.is_admin {
        Ok(())
    } else {
        Err(ModerationError::NotAdmin)
    }
}

/// `reason` trimmed, 1 to [`MAX_REASON_CHARS`] characters as sent, one line.
pub fn checked_reason(reason: &str) -> Result<String> {
    let chars = reason.chars().count();
    let trimmed = reason.trim();
    if trimmed.is_empty() || chars > MAX_REASON_CHARS || trimmed.chars().any(char::is_control) {
        return Err(ModerationError::InvalidInput(format!(
            "reason: 1 to {MAX_REASON_CHARS} characters on one line"
        )));
    }
    Ok(trimmed.to_owned())
}

impl Moderation {
    /// The service, with every list loaded from `store`. Kept frames go under
    /// `<storage_dir>/moderation`, where every node finds them.
    pub async fn load(
        store: Store,
        catalog: Catalog,
        config: ModerationConfig,
        storage_dir: &Path,
    ) -> Result<Self> {
        let this = Self {
            inner: Arc::new(Inner {
                store,
                catalog,
                config,
                lists: Arc::default(),
                frames_dir: storage_dir.join("moderation"),
                loading: tokio::sync::Mutex::new(()),
            }),
        };
        this.refresh().await?;
        Ok(this)
    }

    /// The gate the upload service asks.
    pub fn digest_gate(&self) -> DigestGate {
        DigestGate {
            lists: self.inner.lists.clone(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ModerationConfig {
        &self.inner.config
    }

    /// Brings the in-memory lists up to the store: new entries are added; when a list was
    /// deleted everything is rebuilt. Returns whether anything changed.
    pub async fn refresh(&self) -> Result<bool> {
        let _loading = self.inner.loading.lock().await;
        let store = &self.inner.store;
        let version = store.hash_lists_version().await?;
        let (current, top) = {
            let lists = self.read();
            (lists.version, lists.loaded_top)
        };
        if version == current {
            return Ok(false);
        }
        // Lists are only ever added (ids grow) or deleted: a deletion shows as fewer lists
        // than the ids handed out since.
        let deleted = version.0 - current.0 != version.1 - current.1;
        let mut fresh = Lists::default();
        let mut after = if deleted { 0 } else { top };
        let mut rows = Vec::new();
        loop {
            let page = store.list_entries_after(after, LOAD_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let full = page.len() == LOAD_PAGE as usize;
            rows.extend(page);
            if !full {
                break;
            }
        }
        let mut lists = self
            .inner
            .lists
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if deleted {
            for row in rows {
                fresh.add(row);
            }
            fresh.version = version;
            *lists = fresh;
        } else {
            for row in rows {
                lists.add(row);
            }
            lists.version = version;
        }
        Ok(true)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Lists> {
        self.inner
            .lists
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Re-reads the lists every `reload_s` (another node's or the CLI's imports) until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let every = Duration::from_secs(self.inner.config.reload_s.max(1));
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.refresh().await {
                        tracing::warn!("moderation lists: {e}");
                    }
                }
            }
        }
    }

    /// Entries of every PDQ list within `max_distance` (0..=31) of `hash`, nearest first.
    pub fn match_hash(&self, hash: &PdqHash, max_distance: u32) -> Result<Vec<HashMatch>> {
        if max_distance > MATCH_RADIUS {
            return Err(ModerationError::InvalidHash(format!(
                "max_distance: 0 to {MATCH_RADIUS}"
            )));
        }
        let lists = self.read();
        let mut out: Vec<HashMatch> = lists
            .index
            .query(hash, max_distance)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let entry = lists.entries.get(&m.id)?;
                Some(HashMatch {
                    list: entry.list.to_string(),
                    hash: entry.hash,
                    label: entry.label.clone(),
                    distance: m.distance,
                })
            })
            .collect();
        out.sort_by(|a, b| (a.distance, &a.list, a.hash).cmp(&(b.distance, &b.list, b.hash)));
        Ok(out)
    }

    /// True when a PDQ entry lies within [`MATCH_RADIUS`] of `hash` (the stage keeps such
    /// frames' pictures).
    pub fn is_near_listed(&self, hash: &PdqHash) -> bool {
        self.read()
            .index
            .query(hash, MATCH_RADIUS)
            .is_ok_and(|hits| !hits.is_empty())
    }

    /// Gives `video` the frame hashes of another video of the same source, when one was
    /// hashed, and matches them (which may hold it). True when there were some to copy.
    pub async fn copy_known_frames(&self, video: &VideoId) -> Result<bool> {
        let store = &self.inner.store;
        let Some(digest) = store.video(video).await?.and_then(|v| v.blake3) else {
            return Ok(false);
        };
        let mut frames = None;
        for other in store.videos_with_source(&digest.to_hex()).await? {
            if other == *video {
                continue;
            }
            let known = self.stored_frames(&other).await?;
            if !known.is_empty() {
                frames = Some(known);
                break;
            }
        }
        let Some(frames) = frames else {
            return Ok(false);
        };
        self.record_frames(video, &frames, &HashMap::new()).await?;
        Ok(true)
    }

    /// The items `frames` match, best first; only items with an entry in `only` when given
    /// (a retroactive check counts new entries only). Frames below [`MIN_QUALITY`] are
    /// ignored.
    pub fn match_frames(
        &self,
        frames: &[FrameHash],
        only: Option<&HashSet<u64>>,
    ) -> Vec<ItemMatch> {
        let lists = self.read();
        let mut distinct: BTreeMap<PdqHash, i64> = BTreeMap::new();
        for f in frames.iter().filter(|f| f.quality >= MIN_QUALITY) {
            distinct.entry(f.hash).or_insert(f.at_ms);
        }
        #[derive(Default)]
        struct Hits {
            entries: HashSet<u64>,
            frames: HashSet<PdqHash>,
            pairs: BTreeMap<i64, Pair>,
            fresh: bool,
        }
        let mut hits: HashMap<(Arc<str>, Arc<str>), Hits> = HashMap::new();
        for (frame, at_ms) in &distinct {
            for m in lists.index.query(frame, MATCH_RADIUS).unwrap_or_default() {
                let Some(entry) = lists.entries.get(&m.id) else {
                    continue;
                };
                let h = hits
                    .entry((entry.list.clone(), entry.item.clone()))
                    .or_default();
                h.entries.insert(m.id);
                h.frames.insert(*frame);
                h.fresh |= only.is_none_or(|only| only.contains(&m.id));
                let pair = Pair {
                    at_ms: *at_ms,
                    frame_hash: frame.to_string(),
                    entry_hash: entry.hash.to_string(),
                    distance: m.distance,
                    image: false,
                };
                h.pairs
                    .entry(*at_ms)
                    .and_modify(|p| {
                        if pair.distance < p.distance {
                            *p = pair.clone();
                        }
                    })
                    .or_insert(pair);
            }
        }
        let mut out: Vec<ItemMatch> = hits
            .into_iter()
            .filter(|(_, h)| h.fresh)
            .map(|((list, item), h)| {
                let size = lists.item_sizes.get(&(list.clone(), item.clone())).copied();
                let pairs: Vec<Pair> = h.pairs.into_values().collect();
                ItemMatch {
                    list: list.to_string(),
                    item: item.to_string(),
                    query_share: vpdq::percent(h.entries.len(), size.unwrap_or(1)),
                    compared_share: vpdq::percent(h.frames.len(), distinct.len()),
                    pairs: vpdq::spread(pairs, MAX_PAIRS),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (b.query_share, b.compared_share, &a.list, &a.item).cmp(&(
                a.query_share,
                a.compared_share,
                &b.list,
                &b.item,
            ))
        });
        out
    }

    /// True when `matches` hold a video: an item at [`MATCH_SHARE`] or more.
    pub fn holds(matches: &[ItemMatch]) -> bool {
        matches.iter().any(|m| m.query_share >= MATCH_SHARE)
    }

    /// Where the kept picture of `video`'s frame at `at_ms` is.
    pub fn frame_path(&self, video: &VideoId, at_ms: i64) -> PathBuf {
        self.inner
            .frames_dir
            .join(video.as_str())
            .join(format!("{at_ms}.jpg"))
    }

    /// The stage's last step: stores `video`'s frame hashes and, when they match a list, keeps
    /// the matched frames' pictures (`images`: JPEG bytes by offset, from the stage's
    /// decode; written durably before the hold commits) and holds the video. Returns the
    /// matches when it was held.
    pub async fn record_frames(
        &self,
        video: &VideoId,
        frames: &[FrameHash],
        images: &HashMap<i64, Vec<u8>>,
    ) -> Result<Option<Vec<ItemMatch>>> {
        let rows: Vec<FrameHashRow> = frames
            .iter()
            .filter(|f| f.quality >= MIN_QUALITY)
            .map(|f| FrameHashRow {
                at_ms: f.at_ms,
                hash: f.hash.to_string(),
                quality: i64::from(f.quality),
            })
            .collect();
        self.inner.store.replace_frame_hashes(video, &rows).await?;
        let mut matches: Vec<ItemMatch> = self.match_frames(frames, None);
        matches.retain(|m| m.query_share >= MATCH_SHARE);
        if matches.is_empty() {
            return Ok(None);
        }
        let mut writes = Vec::new();
        for pair in matches.iter_mut().flat_map(|m| m.pairs.iter_mut()) {
            if let Some(jpeg) = images.get(&pair.at_ms).filter(|j| !j.is_empty()) {
                pair.image = true;
                writes.push((self.frame_path(video, pair.at_ms), jpeg.clone()));
            }
        }
        tokio::task::spawn_blocking(move || {
            for (path, bytes) in writes {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                spool_storage::write_atomic(&path, &bytes).map_err(std::io::Error::other)?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(|e| ModerationError::InvalidInput(format!("writing frames: {e}")))?
        .map_err(|e| {
            ModerationError::Metadata(spool_metadata::MetadataError::InvalidInput(format!(
                "writing frames: {e}"
            )))
        })?;
        let reason = hold_reason(&matches);
        if self.hold(video, &reason, &matches, None).await? {
            tracing::info!(video = %video, %reason, "held by a hash-list match");
        }
        Ok(Some(matches))
    }

    async fn hold(
        &self,
        video: &VideoId,
        reason: &str,
        matches: &[ItemMatch],
        actor: Option<&User>,
    ) -> Result<bool> {
        let rows: Vec<MatchRow> = matches
            .iter()
            .map(|m| MatchRow {
                list: m.list.clone(),
                item: m.item.chars().take(200).collect(),
                query_share: i64::from(m.query_share),
                compared_share: i64::from(m.compared_share),
                pairs: serde_json::to_string(&m.pairs).unwrap_or_else(|_| "[]".into()),
            })
            .collect();
        let held = self
            .inner
            .store
            .hold_video(video, reason, &rows, actor.map(|u| (u.id, u.name.as_str())))
            .await?;
        if held {
            self.inner.catalog.changed(video).await;
        }
        Ok(held)
    }

    /// Imports a list file (all or nothing) as `by`, then holds videos already in the
    /// catalogue that the new entries match.
    pub async fn import(
        &self,
        by: &str,
        name: &str,
        kind: ListKind,
        text: &str,
    ) -> Result<Imported> {
        let name = checked_list_name(name).map_err(ModerationError::InvalidInput)?;
        let lines = parse_list(text).map_err(ModerationError::InvalidHashList)?;
        if let Some(list) = self.inner.store.hash_list(name).await?
            && list.kind != kind.as_str()
        {
            return Err(ModerationError::ListKindMismatch(format!(
                "list {name} holds {} hashes, not {kind}",
                list.kind
            )));
        }
        let entries: Vec<NewListEntry> = lines
            .into_iter()
            .map(|l| NewListEntry {
                hash: hex::encode(l.hash),
                quality: (kind == ListKind::Pdq)
                    .then_some(l.quality.map(i64::from))
                    .flatten(),
                label: l.label,
            })
            .collect();
        let written = self
            .inner
            .store
            .import_hash_list(name, kind.as_str(), by, &entries)
            .await?;
        self.refresh().await?;
        let fresh: HashSet<u64> = written.new_ids.iter().map(|&id| id as u64).collect();
        let held = if fresh.is_empty() {
            Vec::new()
        } else {
            self.check_catalogue(kind, &entries, &fresh).await?
        };
        Ok(Imported {
            list: written.list,
            imported: written.imported,
            duplicates: written.duplicates,
            held,
        })
    }

    /// Holds the videos new entries match: by source digest for a `blake3` list, by stored
    /// frame hashes for a `pdq` one (items with a new entry only, so an approved video is not
    /// held again for what it was approved with).
    async fn check_catalogue(
        &self,
        kind: ListKind,
        entries: &[NewListEntry],
        fresh: &HashSet<u64>,
    ) -> Result<Vec<VideoId>> {
        let store = &self.inner.store;
        let mut held = Vec::new();
        match kind {
            ListKind::Blake3 => {
                for entry in entries {
                    for video in store.videos_with_source(&entry.hash).await? {
                        let reason = "its file is on a blocklist of exact digests";
                        if self.hold(&video, reason, &[], None).await? {
                            held.push(video);
                        }
                    }
                }
            }
            ListKind::Pdq => {
                let mut after = String::new();
                loop {
                    let page = store.hashed_videos_after(&after, 500).await?;
                    let Some(last) = page.last() else { break };
                    after = last.as_str().to_owned();
                    for video in page {
                        let frames = self.stored_frames(&video).await?;
                        let matches: Vec<ItemMatch> = self
                            .match_frames(&frames, Some(fresh))
                            .into_iter()
                            .filter(|m| m.query_share >= MATCH_SHARE)
                            .collect();
                        if !matches.is_empty()
                            && self
                                .hold(&video, &hold_reason(&matches), &matches, None)
                                .await?
                        {
                            held.push(video);
                        }
                    }
                }
            }
        }
        Ok(held)
    }

    async fn stored_frames(&self, video: &VideoId) -> Result<Vec<FrameHash>> {
        Ok(self
            .inner
            .store
            .frame_hashes(video)
            .await?
            .into_iter()
            .filter_map(|row| {
                Some(FrameHash {
                    at_ms: row.at_ms,
                    hash: row.hash.parse().ok()?,
                    quality: u8::try_from(row.quality).ok()?,
                })
            })
            .collect())
    }

    /// Every list (admins).
    pub async fn lists(&self, user: &User) -> Result<Vec<HashListRow>> {
        admin(user)?;
        Ok(self.inner.store.hash_lists().await?)
    }

    /// Deletes a list (admins); held videos stay held.
    pub async fn delete_list(&self, user: &User, name: &str) -> Result<()> {
        admin(user)?;
        if !self.inner.store.delete_hash_list(name).await? {
            return Err(ModerationError::ListNotFound(
                name.chars().take(64).collect(),
            ));
        }
        self.refresh().await?;
        Ok(())
    }

    /// `user`'s report of a video or a danmaku; enough reporters of one video hold it.
    pub async fn report(
        &self,
        user: &User,
        kind: ReportKind,
        id: &str,
        reason: &str,
    ) -> Result<()> {
        let reason = checked_reason(reason)?;
        let store = &self.inner.store;
        let video: VideoId = match kind {
            ReportKind::Video => id.parse().map_err(|_| ModerationError::NotFound("video"))?,
            ReportKind::Danmaku => {
                let id: i64 = id
                    .parse()
                    .map_err(|_| ModerationError::NotFound("danmaku"))?;
                store
                    .danmaku(id)
                    .await?
                    .filter(|d| d.deleted_at.is_none())
                    .ok_or(ModerationError::NotFound("danmaku"))?
                    .video_id
            }
        };
        // Only what the reporter may see can be reported (a hidden video is "not found").
        self.inner.catalog.visible(Some(user), &video).await?;
        let new = store
            .insert_report(kind.as_str(), id, Some(&video), user.id, &reason)
            .await?;
        let threshold = i64::from(self.inner.config.report_hold);
        if new && kind == ReportKind::Video && threshold > 0 {
            let reporters = store.open_video_reports(&video).await?;
            if reporters >= threshold {
                let reason = format!("reported by {reporters} users");
                if self.hold(&video, &reason, &[], None).await? {
                    tracing::info!(video = %video, reporters, "held by reports");
                }
            }
        }
        Ok(())
    }

    /// Held videos, oldest hold first (admins). The cursor is the last item's `(held_at,
    /// id)`.
    pub async fn queue(
        &self,
        user: &User,
        after: Option<(i64, &str)>,
        limit: u32,
    ) -> Result<Vec<Case>> {
        admin(user)?;
        let mut out = Vec::new();
        for video in self.inner.store.held_videos(after, limit).await? {
            out.push(self.case_of(video).await?);
        }
        Ok(out)
    }

    /// One video's case (admins); any video, held or not.
    pub async fn case(&self, user: &User, video: &VideoId) -> Result<Case> {
        admin(user)?;
        let row = self
            .inner
            .store
            .video(video)
            .await?
            .ok_or(ModerationError::NotFound("video"))?;
        self.case_of(row).await
    }

    async fn case_of(&self, video: VideoRow) -> Result<Case> {
        let store = &self.inner.store;
        let matches = store
            .video_matches(&video.id)
            .await?
            .into_iter()
            .map(|m| ItemMatch {
                pairs: serde_json::from_str(&m.pairs).unwrap_or_default(),
                list: m.list,
                item: m.item,
                query_share: u32::try_from(m.query_share).unwrap_or(0),
                compared_share: u32::try_from(m.compared_share).unwrap_or(0),
            })
            .collect();
        let reports = store.open_reports(Some(&video.id), None, 100).await?;
        let decisions = store.video_decisions(&video.id).await?;
        Ok(Case {
            video,
            matches,
            reports,
            decisions,
        })
    }

    /// An admin's decision on a held video, audited.
    pub async fn decide(
        &self,
        user: &User,
        video: &VideoId,
        action: Action,
        reason: &str,
    ) -> Result<DecisionRow> {
        admin(user)?;
        let reason = checked_reason(reason)?;
        let store = &self.inner.store;
        let row = store
            .video(video)
            .await?
            .ok_or(ModerationError::NotFound("video"))?;
        if row.status != VideoStatus::Held {
            return Err(ModerationError::NotHeld);
        }
        let actor = Some((user.id, user.name.as_str()));
        match action {
            Action::Approve => {
                if !store.release_video(video, actor, &reason).await? {
                    return Err(ModerationError::NotHeld);
                }
                self.inner.catalog.changed(video).await;
            }
            Action::Remove | Action::Ban => {
                let name = if action == Action::Ban {
                    "ban"
                } else {
                    "remove"
                };
                store.record_decision(&row, actor, name, &reason).await?;
                self.list_removed(&row).await?;
                self.inner.catalog.delete(user, video).await?;
                let dir = self.inner.frames_dir.join(video.as_str());
                if let Err(e) = tokio::fs::remove_dir_all(&dir).await
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(video = %video, "removing kept frames: {e}");
                }
                if action == Action::Ban {
                    store.ban_user(row.owner_id).await?;
                    for other in store.holdable_videos_of(row.owner_id).await? {
                        self.hold(&other, "uploader banned", &[], Some(user))
                            .await?;
                    }
                }
            }
        }
        store
            .video_decisions(video)
            .await?
            .pop()
            .ok_or(ModerationError::NotFound("decision"))
    }

    /// Adds a removed video's source digest and frame hashes to the built-in lists.
    async fn list_removed(&self, video: &VideoRow) -> Result<()> {
        let store = &self.inner.store;
        let label = format!("video {}", video.id);
        if let Some(digest) = video.blake3 {
            let entry = NewListEntry {
                hash: digest.to_hex(),
                quality: None,
                label: label.clone(),
            };
            store
                .import_hash_list(
                    REMOVED_DIGESTS,
                    ListKind::Blake3.as_str(),
                    "moderation",
                    &[entry],
                )
                .await?;
        }
        let frames: Vec<NewListEntry> = store
            .frame_hashes(&video.id)
            .await?
            .into_iter()
            .map(|f| NewListEntry {
                label: format!("{label}@{}", f.at_ms / 1000),
                hash: f.hash,
                quality: Some(f.quality),
            })
            .collect();
        if !frames.is_empty() {
            store
                .import_hash_list(
                    REMOVED_FRAMES,
                    ListKind::Pdq.as_str(),
                    "moderation",
                    &frames,
                )
                .await?;
        }
        self.refresh().await?;
        Ok(())
    }

    /// The audit trail, newest first (admins).
    pub async fn audit(
        &self,
        user: &User,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DecisionRow>> {
        admin(user)?;
        Ok(self.inner.store.decisions(before, limit).await?)
    }

    /// Open reports of videos and danmaku, newest first (admins).
    pub async fn reports(
        &self,
        user: &User,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ReportRow>> {
        admin(user)?;
        Ok(self.inner.store.open_reports(None, before, limit).await?)
    }
}

/// The reason a held video's owner is shown.
fn hold_reason(matches: &[ItemMatch]) -> String {
    let best = &matches[0];
    let item = if best.item.len() == 64 && best.item.bytes().all(|b| b.is_ascii_hexdigit()) {
        "a listed picture".to_owned()
    } else {
        best.item.clone()
    };
    let reason = format!(
        "matches list {}: {item} ({}% of its frames)",
        best.list, best.query_share
    );
    reason.chars().take(MAX_REASON_CHARS).collect()
}
