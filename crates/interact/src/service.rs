//! `Interact`: danmaku and Q&A as a service. Checks run cheapest first (text, filter, the
//! sender's rate) so a flood costs no database work; danmaku from many senders are written
//! in one transaction per batch (one fsync), then published on the conversation's hub topic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use spool_catalog::Catalog;
use spool_catalog::policy::{self, Access, Viewer};
use spool_config::InteractConfig;
use spool_events::tracking::EventType;
use spool_hub::Hub;
use spool_metadata::{NewDanmaku, RoomRow, Store, User};
use spool_model::{LiveStatus, RoomId, UserId, VideoId, now_millis};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::Target;
use crate::danmaku::{self, DanmakuInput, DanmakuView, Speaker};
use crate::delivery::Fanout;
use crate::error::{InteractError, Result};
use crate::limits::RateLimiter;
use crate::questions::{MAX_LISTED, MAX_QUESTION_CHARS, QuestionView};
use spool_moderation::keywords::WordFilter;

use crate::text::checked_text;

/// Danmaku waiting to be written, at most; a sender past it waits for room (back-pressure
/// on senders only, never on viewers).
const WRITE_QUEUE: usize = 4096;
/// Most danmaku one transaction writes.
const WRITE_BATCH: usize = 256;
/// Longest mute a moderator can give, minutes (30 days).
pub const MAX_MUTE_MINUTES: i64 = 30 * 24 * 60;
/// Most danmaku a resume (`since`) returns at once.
pub const MAX_SINCE: i64 = 500;

/// A conversation as the service found it for a viewer.
#[derive(Clone, Debug)]
pub struct Conversation {
    /// What it is.
    pub target: Target,
    /// The channel owner (the video's or room's).
    pub owner_id: UserId,
    /// The video its danmaku are stored against (a room's recording), if any yet.
    pub video_id: Option<VideoId>,
    /// For a live room on air: when its broadcast started (Unix ms), the timeline's zero.
    pub live_since: Option<i64>,
}

/// What a moderator may do here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moderation {
    /// Delete messages and mute senders.
    Allowed,
    /// Nothing.
    Denied,
}

struct Pending {
    new: OwnedDanmaku,
    reply: oneshot::Sender<Result<(i64, i64)>>,
}

#[derive(Clone)]
struct OwnedDanmaku {
    video_id: VideoId,
    room_id: Option<RoomId>,
    author_id: UserId,
    text: String,
    time_ms: i64,
    mode: &'static str,
    color: i64,
    size: &'static str,
    weight: i64,
}

impl OwnedDanmaku {
    fn borrowed(&self) -> NewDanmaku<'_> {
        NewDanmaku {
            video_id: &self.video_id,
            room_id: self.room_id.as_ref(),
            author_id: self.author_id,
            text: &self.text,
            time_ms: self.time_ms,
            mode: self.mode,
            color: self.color,
            size: self.size,
            weight: self.weight,
        }
    }
}

/// Danmaku and live Q&A; cheap to clone.
#[derive(Clone)]
pub struct Interact {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    catalog: Catalog,
    hub: Hub,
    tracking: Option<Arc<spool_events::Tracking>>,
    config: InteractConfig,
    filter: WordFilter,
    senders: RateLimiter<UserId>,
    conversations: RateLimiter<Target>,
    /// Senders muted for flooding, until (Unix ms); in memory, like the buckets.
    flooded: Mutex<HashMap<UserId, i64>>,
    /// Moderators' mutes, cached briefly: every message asks.
    mutes: moka::future::Cache<(Target, UserId), Option<i64>>,
    /// Rooms, cached briefly: every live danmaku asks.
    rooms: moka::future::Cache<RoomId, RoomRow>,
    writes: mpsc::Sender<Pending>,
    writer: Mutex<Option<mpsc::Receiver<Pending>>>,
    fanout: Fanout,
}

impl Interact {
    /// The service; [`Interact::run`] must run for danmaku to be written.
    pub fn new(
        store: Store,
        catalog: Catalog,
        hub: Hub,
        tracking: Option<Arc<spool_events::Tracking>>,
        config: InteractConfig,
    ) -> Self {
        let (writes, writer) = mpsc::channel(WRITE_QUEUE);
        let fanout = Fanout::new(hub.clone(), Duration::from_millis(config.tick_ms));
        Self {
            inner: Arc::new(Inner {
                senders: RateLimiter::new(config.user_burst, config.user_window_ms),
                conversations: RateLimiter::new(config.room_per_second, 1000),
                flooded: Mutex::default(),
                mutes: moka::future::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(Duration::from_secs(5))
                    .build(),
                rooms: moka::future::Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(Duration::from_secs(1))
                    .build(),
                store,
                catalog,
                hub,
                tracking,
                config,
                filter: WordFilter::default(),
                writes,
                writer: Mutex::new(Some(writer)),
                fanout,
            }),
        }
    }

    /// Delivery to this node's viewers.
    pub fn fanout(&self) -> &Fanout {
        &self.inner.fanout
    }

    /// The limits in force.
    pub fn config(&self) -> &InteractConfig {
        &self.inner.config
    }

    /// Loads the keyword filter, then writes danmaku in batches until `stop` (what is queued
    /// then is still written), re-reading the filter every 10 s (other nodes' admins edit it).
    pub async fn run(self, stop: CancellationToken) {
        let Some(mut queue) = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return; // already running
        };
        let mut reload = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = reload.tick() => {
                    if let Err(e) = self.reload_filter().await {
                        tracing::warn!("chat filter: {e}");
                    }
                }
                first = queue.recv() => {
                    let Some(first) = first else { return };
                    let mut batch = vec![first];
                    while batch.len() < WRITE_BATCH {
                        match queue.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    self.write(batch).await;
                }
                () = stop.cancelled() => {
                    queue.close();
                    while let Some(pending) = queue.recv().await {
                        self.write(vec![pending]).await;
                    }
                    return;
                }
            }
        }
    }

    async fn write(&self, batch: Vec<Pending>) {
        let rows: Vec<NewDanmaku<'_>> = batch.iter().map(|p| p.new.borrowed()).collect();
        match self.inner.store.insert_danmaku(&rows).await {
            Ok(ids) => {
                for (pending, id) in batch.into_iter().zip(ids) {
                    let _ = pending.reply.send(Ok(id));
                }
            }
            Err(e) if batch.len() == 1 => {
                let pending = batch.into_iter().next().expect("one");
                let _ = pending.reply.send(Err(e.into()));
            }
            Err(_) => {
                // One bad row must not fail its neighbours: each alone, with its own answer.
                for pending in batch {
                    let one = [pending.new.borrowed()];
                    let result = self.inner.store.insert_danmaku(&one).await;
                    let _ = pending
                        .reply
                        .send(result.map(|ids| ids[0]).map_err(InteractError::from));
                }
            }
        }
    }

    async fn reload_filter(&self) -> Result<()> {
        let words = self.inner.store.chat_filter_words().await?;
        self.inner.filter.set(words);
        Ok(())
    }

    /// The conversation `target` if `viewer` may see it.
    pub async fn conversation(
        &self,
        viewer: Option<&User>,
        target: &Target,
    ) -> Result<Conversation> {
        match target {
            Target::Video(id) => {
                let video = self.inner.catalog.visible(viewer, id).await?;
                Ok(Conversation {
                    target: target.clone(),
                    owner_id: video.owner_id,
                    video_id: Some(video.id),
                    live_since: None,
                })
            }
            Target::Room(id) => {
                let room = self.room(id).await?;
                if policy::access_to(Viewer::from(viewer), room.visibility, room.owner_id)
                    == Access::Hidden
                {
                    return Err(InteractError::NotFound("live room"));
                }
                let on_air = room.status == LiveStatus::Live;
                Ok(Conversation {
                    target: target.clone(),
                    owner_id: room.owner_id,
                    video_id: room.recording_id.clone(),
                    live_since: room.started_at.filter(|_| on_air),
                })
            }
        }
    }

    async fn room(&self, id: &RoomId) -> Result<RoomRow> {
        if let Some(row) = self.inner.rooms.get(id).await {
            return Ok(row);
        }
        let row = self
            .inner
            .store
            .room(id)
            .await?
            .ok_or(InteractError::NotFound("live room"))?;
        self.inner.rooms.insert(id.clone(), row.clone()).await;
        Ok(row)
    }

    /// Sends a danmaku: on demand at `input.time_ms`; live at the broadcast's time now (less
    /// the sender's latency). Stored, then delivered to every viewer on every node.
    pub async fn send_danmaku(
        &self,
        user: &User,
        target: &Target,
        input: DanmakuInput,
    ) -> Result<DanmakuView> {
        let inner = &self.inner;
        let text = checked_text("text", &input.text, inner.config.danmaku_max_chars)?;
        let color = danmaku::parse_color(input.color.as_ref())?;
        let time_ms = match (target, input.time_ms) {
            (Target::Video(_), None) => {
                return Err(InteractError::InvalidInput(
                    "time_ms: required: where in the video (ms)".into(),
                ));
            }
            (Target::Video(_), Some(t)) if !(0..=danmaku::MAX_TIME_MS).contains(&t) => {
                return Err(InteractError::InvalidInput(
                    "time_ms: must be from 0 to 604800000".into(),
                ));
            }
            (_, t) => t,
        };
        let latency = input.latency_ms.unwrap_or(0);
        if !(0..=danmaku::MAX_LATENCY_MS).contains(&latency) {
            return Err(InteractError::InvalidInput(
                "latency_ms: must be from 0 to 60000".into(),
            ));
        }
        if inner.filter.blocks(&text) {
            return Err(InteractError::Filtered);
        }
        self.admit(user, target).await?;
        let conversation = self.conversation(Some(user), target).await?;
        let now = now_millis();
        let (video_id, time_ms) = match (&conversation.live_since, time_ms) {
            (_, Some(t)) if matches!(target, Target::Video(_)) => {
                (conversation.video_id.clone(), t)
            }
            (Some(since), _) => (
                conversation.video_id.clone(),
                (now - since - latency).max(0),
            ),
            (None, _) => return Err(InteractError::NotLive),
        };
        let video_id = video_id.ok_or(InteractError::NotLive)?;
        let speaker = if policy::owns(user, conversation.owner_id) {
            Speaker::Host
        } else {
            Speaker::Viewer
        };
        let mode = input.mode.unwrap_or_default();
        let size = input.size.unwrap_or_default();
        let new = OwnedDanmaku {
            video_id: video_id.clone(),
            room_id: match target {
                Target::Room(id) => Some(id.clone()),
                Target::Video(_) => None,
            },
            author_id: user.id,
            weight: danmaku::weight(&text, speaker),
            text,
            time_ms,
            mode: mode.as_str(),
            color,
            size: size.as_str(),
        };
        let (reply, answer) = oneshot::channel();
        inner
            .writes
            .send(Pending {
                new: new.clone(),
                reply,
            })
            .await
            .map_err(|_| InteractError::NotFound("danmaku writer"))?;
        let (id, created_at) = answer
            .await
            .map_err(|_| InteractError::NotFound("danmaku writer"))??;
        let view = DanmakuView {
            kind: "danmaku",
            id,
            video_id: video_id.to_string(),
            room_id: new.room_id.as_ref().map(ToString::to_string),
            author: user.name.clone(),
            text: new.text,
            time_ms,
            mode,
            color: danmaku::color_hex(color),
            size,
            weight: new.weight,
            created_at,
            deleted: false,
        };
        self.publish(target, &view);
        self.track(
            EventType::Danmaku,
            &video_id,
            user,
            json!({"danmaku_id": id, "time_ms": time_ms}),
        );
        Ok(view)
    }

    /// The sender's and the conversation's rates, flood mutes and moderators' mutes.
    async fn admit(&self, user: &User, target: &Target) -> Result<()> {
        let inner = &self.inner;
        let now = now_millis();
        {
            let mut flooded = inner.flooded.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(&until) = flooded.get(&user.id) {
                if until > now {
                    return Err(InteractError::RateLimited {
                        retry_after_ms: (until - now) as u64,
                    });
                }
                flooded.remove(&user.id);
            }
            if inner.senders.take(&user.id, now).is_err() {
                let mute_ms = inner.config.flood_mute_s.max(1) * 1000;
                if flooded.len() > 100_000 {
                    flooded.retain(|_, until| *until > now);
                }
                flooded.insert(user.id, now + mute_ms as i64);
                return Err(InteractError::RateLimited {
                    retry_after_ms: mute_ms,
                });
            }
        }
        let key = (target.clone(), user.id);
        let muted = match inner.mutes.get(&key).await {
            Some(muted) => muted,
            None => {
                let muted = inner
                    .store
                    .muted_until(&target.to_string(), user.id)
                    .await?;
                inner.mutes.insert(key, muted).await;
                muted
            }
        };
        if let Some(until) = muted.filter(|&until| until > now) {
            return Err(InteractError::Muted {
                remaining_ms: (until - now) as u64,
            });
        }
        inner
            .conversations
            .take(target, now)
            .map_err(|wait| InteractError::RoomBusy {
                retry_after_ms: wait,
            })
    }

    fn publish(&self, target: &Target, message: &impl Serialize) {
        match serde_json::to_vec(message) {
            Ok(json) => self.inner.hub.publish(&target.topic(), Bytes::from(json)),
            Err(e) => tracing::error!("chat message: {e}"),
        }
    }

    fn track(&self, kind: EventType, video: &VideoId, user: &User, properties: Value) {
        let Some(tracking) = &self.inner.tracking else {
            return;
        };
        let Value::Object(properties) = properties else {
            return;
        };
        tracking
            .ingestion()
            .queue_for_user(kind, video.as_str(), &user.name, properties);
    }

    /// A slice of a video's danmaku history, without the viewer's blocked senders; over the
    /// cap, the highest-weighted.
    pub async fn danmaku_window(
        &self,
        viewer: Option<&User>,
        video: &VideoId,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<(Vec<DanmakuView>, i64, (i64, i64))> {
        let (from, to) = danmaku::window(from_ms, to_ms)?;
        self.inner.catalog.visible(viewer, video).await?;
        let blocked = self.blocked_ids(viewer).await?;
        let window = self
            .inner
            .store
            .danmaku_window(
                video,
                from,
                to,
                i64::from(self.inner.config.slice_cap),
                &blocked,
            )
            .await?;
        let views = window.danmaku.into_iter().map(DanmakuView::from).collect();
        Ok((views, window.total, (from, to)))
    }

    /// What a conversation said after id `since` (deletions included), oldest first: what a
    /// reconnecting viewer missed.
    pub async fn danmaku_since(
        &self,
        viewer: Option<&User>,
        target: &Target,
        since: i64,
        limit: i64,
    ) -> Result<Vec<DanmakuView>> {
        let conversation = self.conversation(viewer, target).await?;
        let Some(video) = conversation.video_id else {
            return Ok(Vec::new());
        };
        let room = match target {
            Target::Room(id) => Some(id),
            Target::Video(_) => None,
        };
        let blocked = self.blocked_ids(viewer).await?;
        let rows = self
            .inner
            .store
            .danmaku_since(room, &video, since.max(0), limit.clamp(1, MAX_SINCE))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| !blocked.contains(&row.author_id))
            .map(DanmakuView::from)
            .collect())
    }

    async fn blocked_ids(&self, viewer: Option<&User>) -> Result<Vec<UserId>> {
        Ok(match viewer {
            Some(user) => self
                .inner
                .store
                .blocks(user.id)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
            None => Vec::new(),
        })
    }

    /// Whether `user` moderates conversations of `owner`'s: the owner, an admin, or an
    /// appointed moderator.
    pub async fn moderation(&self, user: &User, owner: UserId) -> Result<Moderation> {
        let allowed =
            policy::owns(user, owner) || self.inner.store.is_moderator(owner, user.id).await?;
        Ok(if allowed {
            Moderation::Allowed
        } else {
            Moderation::Denied
        })
    }

    /// Deletes a danmaku (its author, or a moderator of its conversation) and tells the
    /// conversation's viewers.
    pub async fn delete_danmaku(&self, user: &User, id: i64) -> Result<()> {
        let row = self
            .inner
            .store
            .danmaku(id)
            .await?
            .filter(|row| row.deleted_at.is_none())
            .ok_or(InteractError::NotFound("danmaku"))?;
        let target = match &row.room_id {
            Some(room) => Target::Room(room.clone()),
            None => Target::Video(row.video_id.clone()),
        };
        let conversation = match self.conversation(Some(user), &target).await {
            Ok(c) => c,
            // A room's recording outlives nothing: fall back to the video it is stored on.
            Err(InteractError::NotFound(_)) if row.room_id.is_some() => {
                self.conversation(Some(user), &Target::Video(row.video_id.clone()))
                    .await?
            }
            Err(e) => return Err(e),
        };
        if row.author_id != user.id
            && self.moderation(user, conversation.owner_id).await? == Moderation::Denied
        {
            return Err(InteractError::NotModerator);
        }
        self.inner.store.delete_danmaku(id).await?;
        self.publish(&target, &json!({"type": "danmaku_deleted", "id": id}));
        Ok(())
    }

    /// Mutes `name` in `target` for `minutes` (0 lifts it); moderators only.
    pub async fn mute(
        &self,
        user: &User,
        target: &Target,
        name: &str,
        minutes: i64,
    ) -> Result<i64> {
        if !(0..=MAX_MUTE_MINUTES).contains(&minutes) {
            return Err(InteractError::InvalidInput(format!(
                "minutes: must be from 0 to {MAX_MUTE_MINUTES}"
            )));
        }
        let conversation = self.conversation(Some(user), target).await?;
        if self.moderation(user, conversation.owner_id).await? == Moderation::Denied {
            return Err(InteractError::NotModerator);
        }
        let victim = self.user_named(name).await?;
        let until = if minutes == 0 {
            0
        } else {
            now_millis() + minutes * 60_000
        };
        self.inner
            .store
            .set_mute(&target.to_string(), victim.id, until, user.id)
            .await?;
        self.inner
            .mutes
            .invalidate(&(target.clone(), victim.id))
            .await;
        self.publish(
            target,
            &json!({"type": "muted", "user": victim.name, "until": until}),
        );
        Ok(until)
    }

    async fn user_named(&self, name: &str) -> Result<User> {
        self.inner
            .store
            .user_by_name(name)
            .await?
            .ok_or(InteractError::NotFound("user"))
    }

    /// Blocks (or unblocks) `name` for `user`: their messages are no longer shown to `user`.
    pub async fn set_block(&self, user: &User, name: &str, on: bool) -> Result<()> {
        let other = self.user_named(name).await?;
        if other.id == user.id {
            return Err(InteractError::InvalidInput(
                "name: you cannot block yourself".into(),
            ));
        }
        Ok(self.inner.store.set_block(user.id, other.id, on).await?)
    }

    /// Who `user` blocked, by name.
    pub async fn blocks(&self, user: &User) -> Result<Vec<String>> {
        Ok(self
            .inner
            .store
            .blocks(user.id)
            .await?
            .into_iter()
            .map(|(_, name)| name)
            .collect())
    }

    /// Appoints (or dismisses) `name` as a moderator of `owner`'s conversations.
    pub async fn set_moderator(&self, owner: &User, name: &str, on: bool) -> Result<()> {
        let moderator = self.user_named(name).await?;
        if moderator.id == owner.id {
            return Err(InteractError::InvalidInput(
                "name: you already moderate your own channel".into(),
            ));
        }
        Ok(self
            .inner
            .store
            .set_moderator(owner.id, moderator.id, on)
            .await?)
    }

    /// `owner`'s moderators, by name.
    pub async fn moderators(&self, owner: &User) -> Result<Vec<String>> {
        Ok(self
            .inner
            .store
            .moderators(owner.id)
            .await?
            .into_iter()
            .map(|(_, name)| name)
            .collect())
    }

    /// The admins' keyword filter (cheap to clone; comments share it).
    pub fn keywords(&self) -> WordFilter {
        self.inner.filter.clone()
    }

    /// The keyword filter's words.
    pub fn filter_words(&self) -> Vec<String> {
        self.inner.filter.words()
    }

    /// Replaces the keyword filter (admins only; the caller checked).
    pub async fn set_filter_words(&self, words: &[String]) -> Result<Vec<String>> {
        let words = WordFilter::normalize(words).map_err(InteractError::InvalidInput)?;
        self.inner.store.set_chat_filter_words(&words).await?;
        self.inner.filter.set(words.clone());
        Ok(words)
    }

    /// Asks the host of live room `room` a question.
    pub async fn ask(&self, user: &User, room: &RoomId, text: &str) -> Result<QuestionView> {
        let text = checked_text("text", text, MAX_QUESTION_CHARS)?;
        if self.inner.filter.blocks(&text) {
            return Err(InteractError::Filtered);
        }
        let target = Target::Room(room.clone());
        self.admit(user, &target).await?;
        self.conversation(Some(user), &target).await?;
        let row = self
            .inner
            .store
            .insert_question(room, user.id, &text)
            .await?;
        let view = QuestionView::of(row, false);
        self.publish(&target, &view);
        Ok(view)
    }

    /// The room's questions, as `viewer` sees them.
    pub async fn questions(
        &self,
        viewer: Option<&User>,
        room: &RoomId,
    ) -> Result<Vec<QuestionView>> {
        self.conversation(viewer, &Target::Room(room.clone()))
            .await?;
        let rows = self.inner.store.questions(room, MAX_LISTED).await?;
        let voted = match viewer {
            Some(user) => {
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                self.inner.store.question_votes_of(user.id, &ids).await?
            }
            None => Vec::new(),
        };
        Ok(rows
            .into_iter()
            .map(|row| {
                let mine = voted.contains(&row.id);
                QuestionView::of(row, mine)
            })
            .collect())
    }

    /// A question the viewer may see, with its room.
    async fn question_for(
        &self,
        viewer: &User,
        id: i64,
    ) -> Result<(spool_metadata::QuestionRow, Conversation)> {
        let row = self
            .inner
            .store
            .question(id)
            .await?
            .filter(|q| q.deleted_at.is_none())
            .ok_or(InteractError::NotFound("question"))?;
        let conversation = self
            .conversation(Some(viewer), &Target::Room(row.room_id.clone()))
            .await?;
        Ok((row, conversation))
    }

    /// Votes for a question (or takes the vote back).
    pub async fn vote(&self, user: &User, id: i64, on: bool) -> Result<QuestionView> {
        let (_, conversation) = self.question_for(user, id).await?;
        let row = self
            .inner
            .store
            .vote_question(id, user.id, on)
            .await?
            .ok_or(InteractError::NotFound("question"))?;
        let view = QuestionView::of(row, false);
        self.publish(&conversation.target, &view);
        Ok(QuestionView { voted: on, ..view })
    }

    /// The host pins (or unpins), marks answered, or takes down a question.
    pub async fn host_question(
        &self,
        user: &User,
        id: i64,
        action: HostAction,
    ) -> Result<QuestionView> {
        let (_, conversation) = self.question_for(user, id).await?;
        let host = policy::owns(user, conversation.owner_id);
        let may = host
            || (action == HostAction::Delete
                && self.moderation(user, conversation.owner_id).await? == Moderation::Allowed);
        if !may {
            return Err(InteractError::NotHost);
        }
        let store = &self.inner.store;
        let row = match action {
            HostAction::Pin => store.pin_question(id, true).await?,
            HostAction::Unpin => store.pin_question(id, false).await?,
            HostAction::Answer => store.answer_question(id).await?,
            HostAction::Delete => {
                store.delete_question(id).await?;
                store.question(id).await?
            }
        }
        .ok_or(InteractError::NotFound("question"))?;
        let view = QuestionView::of(row, false);
        self.publish(&conversation.target, &view);
        Ok(view)
    }
}

/// What a room's host does with a question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostAction {
    /// Show it above the others (unpins the room's other question).
    Pin,
    /// Stop showing it above.
    Unpin,
    /// Mark it answered.
    Answer,
    /// Take it down (moderators may too).
    Delete,
}
