//! The notification hub: "something about this topic changed", pushed to whoever listens.
//!
//! Publishers (the media pipeline, the catalog) call [`Hub::notify`] after a change is
//! committed; subscribers (server-sent progress streams) wait on a [`Subscription`] and then
//! read the truth from where it lives (the metadata database). A notification therefore
//! carries at most a small hint, never the state: a subscriber that misses one (it lagged, or
//! it subscribed late) loses nothing as long as it reads the state after subscribing.
//!
//! [`Hub`] is an enum, not a trait object (async methods are not object-safe, and there are
//! few backends), like the events crate's `EventStore`. Today it has one backend,
//! [`LocalHub`]: one `tokio::sync::broadcast` channel per topic, created on first subscription
//! and removed with its last subscriber. The scale-out issue adds a variant per transport with
//! the same three operations: NATS core subjects (a topic is a subject, `notify` is a publish,
//! a subscription a core subscription) or Redis pub/sub (`PUBLISH` / `SUBSCRIBE` on a channel
//! named like the topic). Both are fire-and-forget like this one, so callers already treat
//! notifications as lossy hints.
//!
//! Architecture Invariant: a publisher never waits for a subscriber. Sending is a
//! non-blocking push into a bounded ring; a slow subscriber lags (it is told it missed
//! messages), it never makes the sender wait or the hub grow.

pub mod nats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use spool_model::{RoomId, VideoId};
use tokio::sync::broadcast;

/// Messages kept per topic for subscribers that have not read them yet; a subscriber further
/// behind lags (see [`Received::Lagged`]).
pub const TOPIC_CAPACITY: usize = 16;

/// Messages kept per chat topic ([`Topic::is_chat`]): a second of a very busy room.
pub const CHAT_TOPIC_CAPACITY: usize = 4096;

/// A topic name. Dot-separated words so that it maps onto a NATS subject or a Redis channel
/// as it is (`video.<id>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(String);

impl Topic {
    /// Changes of one video's row that its viewers may want at once: status, progress,
    /// published media, visibility, deletion.
    pub fn video(id: &VideoId) -> Self {
        Self(format!("video.{id}"))
    }

    /// What is said in a live room (danmaku, questions, gifts): the interaction crate's
    /// deliveries. Not observed by the firehose (see [`Topic::is_chat`]).
    pub fn room_chat(id: &RoomId) -> Self {
        Self(format!("chat.room.{id}"))
    }

    /// What is said over an on-demand video (danmaku, gifts, comments).
    pub fn video_chat(id: &VideoId) -> Self {
        Self(format!("chat.video.{id}"))
    }

    /// Conversation, not state: many messages a second in a busy room, so the firehose
    /// (which tells caches that state changed) does not carry them, and a topic keeps more of
    /// them for a subscriber that is a moment behind.
    pub fn is_chat(&self) -> bool {
        self.0.starts_with("chat.")
    }

    /// A topic from its name as [`Topic::as_str`] gives it (a cross-node backend receives
    /// names); `None` for a name no constructor makes.
    pub fn parse(name: &str) -> Option<Self> {
        let known = name
            .strip_prefix("video.")
            .is_some_and(|id| id.parse::<VideoId>().is_ok())
            || name
                .strip_prefix("chat.video.")
                .is_some_and(|id| id.parse::<VideoId>().is_ok())
            || name
                .strip_prefix("chat.room.")
                .is_some_and(|id| id.parse::<RoomId>().is_ok());
        known.then(|| Self(name.to_owned()))
    }

    /// The topic's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The video a [`Topic::video`] topic is about.
    pub fn video_id(&self) -> Option<VideoId> {
        self.0.strip_prefix("video.")?.parse().ok()
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a subscription received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// One notification (its payload; empty for a plain "changed").
    Message(Bytes),
    /// The subscriber fell this many messages behind and they were dropped: read the state
    /// again.
    Lagged(u64),
}

/// What a [`Firehose`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// A notification on this topic.
    Changed(Topic),
    /// This many notifications were dropped because the reader fell behind: assume
    /// everything changed.
    Lagged(u64),
}

/// Notifications kept for a [`Firehose`] reader that has not read them yet.
pub const FIREHOSE_CAPACITY: usize = 1024;

/// The notification hub; cheap to clone (clones share topics).
#[derive(Clone, Debug)]
pub enum Hub {
    /// In this process only.
    Local(LocalHub),
    /// Shared by the nodes through NATS core subjects (see [`nats`]).
    Nats(nats::NatsHub),
}

impl Hub {
    /// A hub inside this process.
    pub fn local() -> Self {
        Self::Local(LocalHub::default())
    }

    /// Tells the subscribers of `topic` that it changed. Never waits; without subscribers it
    /// does nothing.
    pub fn notify(&self, topic: &Topic) {
        self.publish(topic, Bytes::new());
    }

    /// Sends `payload` to the subscribers of `topic`. Never waits; without subscribers it does
    /// nothing.
    pub fn publish(&self, topic: &Topic, payload: Bytes) {
        match self {
            Self::Local(hub) => hub.publish(topic, payload),
            Self::Nats(hub) => hub.publish(topic, payload),
        }
    }

    /// Starts listening to `topic`: every message published after this returns is received
    /// (or counted as lagged).
    pub fn subscribe(&self, topic: &Topic) -> Subscription {
        Subscription::Local(self.node_local().subscribe(topic))
    }

    /// Starts observing every topic (which topic changed, not the payload): for caches in
    /// front of state that many topics describe, such as the catalog's hot rows.
    pub fn observe_all(&self) -> Firehose {
        Firehose(self.node_local().firehose.subscribe())
    }

    /// Topics with at least one subscriber in this process, whose names start with `prefix`
    /// (e.g. `"video."`); for bridges that feed the hub from elsewhere.
    pub fn subscribed_topics(&self, prefix: &str) -> Vec<Topic> {
        self.node_local().subscribed_topics(prefix)
    }

    /// This node's subscribers (a NATS hub delivers to them what any node published).
    fn node_local(&self) -> &LocalHub {
        match self {
            Self::Local(hub) => hub,
            Self::Nats(hub) => hub.local(),
        }
    }
}

/// Every topic's notifications (see [`Hub::observe_all`]); bounded like a topic, so a slow
/// reader lags instead of holding the sender.
#[derive(Debug)]
pub struct Firehose(broadcast::Receiver<Topic>);

impl Firehose {
    /// The next notification, or `None` when the hub is gone.
    pub async fn recv(&mut self) -> Option<Observed> {
        match self.0.recv().await {
            Ok(topic) => Some(Observed::Changed(topic)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Observed::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// A subscription to one topic; dropping it unsubscribes (the topic goes with its last
/// subscriber).
#[derive(Debug)]
pub enum Subscription {
    /// A subscription to a [`LocalHub`] topic.
    Local(LocalSubscription),
}

impl Subscription {
    /// The next message, or `None` when the hub can deliver nothing more (never for a local
    /// hub while the subscription lives).
    pub async fn recv(&mut self) -> Option<Received> {
        match self {
            Self::Local(s) => s.recv().await,
        }
    }

    /// The topic subscribed to.
    pub fn topic(&self) -> &Topic {
        match self {
            Self::Local(s) => &s.topic,
        }
    }
}

/// Per-topic broadcast channels inside one process, and one firehose of every topic.
#[derive(Clone, Debug)]
pub struct LocalHub {
    topics: Arc<Mutex<HashMap<Topic, broadcast::Sender<Bytes>>>>,
    firehose: broadcast::Sender<Topic>,
}

impl Default for LocalHub {
    fn default() -> Self {
        Self {
            topics: Arc::default(),
            firehose: broadcast::channel(FIREHOSE_CAPACITY).0,
        }
    }
}

type Topics = HashMap<Topic, broadcast::Sender<Bytes>>;

impl LocalHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Topics> {
        // The map stays consistent under every operation, so a panic elsewhere does not
        // poison it for good.
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn publish(&self, topic: &Topic, payload: Bytes) {
        if self.firehose.receiver_count() > 0 && !topic.is_chat() {
            let _ = self.firehose.send(topic.clone());
        }
        let topics = self.lock();
        if let Some(sender) = topics.get(topic) {
            // Err means no receiver is left: the last subscription removes the topic itself.
            let _ = sender.send(payload);
        }
    }

    fn subscribe(&self, topic: &Topic) -> LocalSubscription {
        let mut topics = self.lock();
        let receiver = match topics.get(topic) {
            Some(sender) => sender.subscribe(),
            None => {
                let capacity = if topic.is_chat() {
                    CHAT_TOPIC_CAPACITY
                } else {
                    TOPIC_CAPACITY
                };
                let (sender, receiver) = broadcast::channel(capacity);
                topics.insert(topic.clone(), sender);
                receiver
            }
        };
        LocalSubscription {
            hub: self.clone(),
            topic: topic.clone(),
            receiver: Some(receiver),
        }
    }

    fn subscribed_topics(&self, prefix: &str) -> Vec<Topic> {
        self.lock()
            .keys()
            .filter(|t| t.0.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Topics with subscribers right now.
    pub fn topic_count(&self) -> usize {
        self.lock().len()
    }
}

/// A subscription to a [`LocalHub`] topic.
#[derive(Debug)]
pub struct LocalSubscription {
    hub: LocalHub,
    topic: Topic,
    /// Always `Some` until dropped.
    receiver: Option<broadcast::Receiver<Bytes>>,
}

impl LocalSubscription {
    async fn recv(&mut self) -> Option<Received> {
        let receiver = self.receiver.as_mut()?;
        match receiver.recv().await {
            Ok(payload) => Some(Received::Message(payload)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Received::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Drop for LocalSubscription {
    fn drop(&mut self) {
        let mut topics = self.hub.lock();
        // Under the lock, so no subscribe can sneak in between the count and the removal.
        drop(self.receiver.take());
        if topics
            .get(&self.topic)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            topics.remove(&self.topic);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn hub() -> (Hub, LocalHub) {
        let local = LocalHub::default();
        (Hub::Local(local.clone()), local)
    }

    #[tokio::test]
    async fn subscribers_get_what_is_published_after_they_subscribe() {
        let (hub, _) = hub();
        let a = Topic::video(&VideoId::random());
        let b = Topic::video(&VideoId::random());
        hub.notify(&a); // nobody listens: dropped
        let mut first = hub.subscribe(&a);
        let mut second = hub.subscribe(&a);
        let mut other = hub.subscribe(&b);
        hub.publish(&a, Bytes::from_static(b"x"));
        for s in [&mut first, &mut second] {
            assert_eq!(
                s.recv().await,
                Some(Received::Message(Bytes::from_static(b"x")))
            );
        }
        let nothing = tokio::time::timeout(Duration::from_millis(50), other.recv()).await;
        assert!(nothing.is_err(), "another topic's message");
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_and_the_sender_never_waits() {
        let (hub, _) = hub();
        let topic = Topic::video(&VideoId::random());
        let mut slow = hub.subscribe(&topic);
        let sent = TOPIC_CAPACITY as u64 * 100;
        for _ in 0..sent {
            hub.notify(&topic); // returns at once although nobody reads
        }
        let Some(Received::Lagged(missed)) = slow.recv().await else {
            panic!("the slow subscriber should lag");
        };
        assert_eq!(missed, sent - TOPIC_CAPACITY as u64);
        for _ in 0..TOPIC_CAPACITY {
            assert_eq!(slow.recv().await, Some(Received::Message(Bytes::new())));
        }
    }

    #[tokio::test]
    async fn the_firehose_sees_every_topic_and_lags_when_slow() {
        let (hub, _) = hub();
        let id = VideoId::random();
        let topic = Topic::video(&id);
        hub.notify(&topic); // before anyone observes: not seen
        let mut all = hub.observe_all();
        hub.notify(&topic);
        let observed = all.recv().await;
        assert_eq!(observed, Some(Observed::Changed(topic.clone())));
        assert_eq!(topic.video_id(), Some(id));
        for _ in 0..FIREHOSE_CAPACITY + 5 {
            hub.notify(&topic);
        }
        assert_eq!(all.recv().await, Some(Observed::Lagged(5)));
    }

    #[tokio::test]
    async fn topics_go_with_their_last_subscriber() {
        let (hub, local) = hub();
        let topic = Topic::video(&VideoId::random());
        let first = hub.subscribe(&topic);
        let second = hub.subscribe(&topic);
        assert_eq!(hub.subscribed_topics("video."), vec![topic.clone()]);
        assert!(hub.subscribed_topics("user.").is_empty());
        drop(first);
        assert_eq!(local.topic_count(), 1);
        drop(second);
        assert_eq!(local.topic_count(), 0);
        hub.notify(&topic);
        assert_eq!(local.topic_count(), 0, "publishing creates no topic");
    }
}
