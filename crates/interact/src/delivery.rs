//! Delivery to this node's viewers: one task per conversation that has viewers here. It reads
//! the conversation's hub topic (where every node publishes what its senders said), gathers
//! a tick's messages into ONE frame, serialized once, and hands the same bytes to every
//! viewer's queue. 10,000 viewers of a room cost one frame build per tick, not 10,000.
//!
//! A viewer's queue is a bounded ring (`tokio::sync::broadcast`): a viewer that does not
//! keep up is told how many frames it missed and reloads by cursor; it never holds the
//! others or the sender.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use spool_hub::{Hub, Received};
use tokio::sync::broadcast;

use crate::Target;

/// Frames kept for a viewer that has not taken them yet (at a 50 ms tick, about 12 s).
pub const VIEWER_QUEUE_FRAMES: usize = 256;
/// Most messages one frame carries; a busier tick sends several frames.
pub const MAX_FRAME_MESSAGES: usize = 500;

/// One frame for the viewers of a conversation: `{"type":"batch","topic":…,"messages":[…]}`
/// (or a `lagged` notice), already serialized.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The JSON text (UTF-8).
    pub text: Bytes,
    /// Messages it carries (0 for a notice).
    pub messages: usize,
}

/// What a viewer receives.
#[derive(Debug)]
pub enum Delivery {
    /// The next frame.
    Frame(Frame),
    /// The viewer fell this many frames behind; they are gone (reload by cursor).
    Missed(u64),
}

/// A viewer's place in a conversation; dropping it leaves.
pub struct Seat {
    target: Target,
    frames: broadcast::Receiver<Frame>,
}

impl Seat {
    /// The conversation.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The next delivery; `None` once the conversation's task stopped (the node shuts down).
    pub async fn recv(&mut self) -> Option<Delivery> {
        match self.frames.recv().await {
            Ok(frame) => Some(Delivery::Frame(frame)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Delivery::Missed(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// This node's conversations with viewers; cheap to clone.
#[derive(Clone)]
pub struct Fanout {
    hub: Hub,
    tick: Duration,
    rooms: Arc<Mutex<HashMap<Target, broadcast::Sender<Frame>>>>,
}

impl Fanout {
    /// Delivery over `hub`, gathering messages for `tick`.
    pub fn new(hub: Hub, tick: Duration) -> Self {
        Self {
            hub,
            tick,
            rooms: Arc::default(),
        }
    }

    /// Takes a seat in `target`'s conversation: every message published on its topic after
    /// this returns is delivered (or counted as missed).
    pub fn join(&self, target: &Target) -> Seat {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let frames = match rooms.get(target) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(VIEWER_QUEUE_FRAMES);
                // Subscribed before the seat is handed out, so nothing published after
                // `join` returns can be missed.
                let subscription = self.hub.subscribe(&target.topic());
                rooms.insert(target.clone(), sender.clone());
                tokio::spawn(self.clone().relay(target.clone(), subscription, sender));
                receiver
            }
        };
        Seat {
            target: target.clone(),
            frames,
        }
    }

    /// Conversations with viewers on this node.
    pub fn conversations(&self) -> usize {
        self.rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Viewers seated on this node, in all conversations.
    pub fn viewers(&self) -> usize {
        self.rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(broadcast::Sender::receiver_count)
            .sum()
    }

    /// One conversation's task: hub messages in, one frame per tick out, until its last
    /// viewer left.
    async fn relay(
        self,
        target: Target,
        mut subscription: spool_hub::Subscription,
        viewers: broadcast::Sender<Frame>,
    ) {
        let topic = target.to_string();
        let mut pending: Vec<Bytes> = Vec::new();
        let mut ticker = tokio::time::interval(self.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = subscription.recv() => match received {
                    Some(Received::Message(payload)) => {
                        pending.push(payload);
                        if pending.len() >= MAX_FRAME_MESSAGES {
                            let _ = viewers.send(batch(&topic, &mut pending));
                        }
                    }
                    Some(Received::Lagged(missed)) => {
                        let _ = viewers.send(lagged(&topic, missed));
                    }
                    None => break,
                },
                _ = ticker.tick() => {
                    if !pending.is_empty() {
                        let _ = viewers.send(batch(&topic, &mut pending));
                    }
                    let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
                    // Under the lock: no viewer can join between the count and the removal.
                    if viewers.receiver_count() == 0 {
                        rooms.remove(&target);
                        return;
                    }
                }
            }
        }
        self.rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&target);
    }
}

/// The messages (each one JSON object) as one `batch` frame; empties `pending`.
fn batch(topic: &str, pending: &mut Vec<Bytes>) -> Frame {
    let size: usize = pending.iter().map(Bytes::len).sum();
    let mut text = String::with_capacity(size + pending.len() + topic.len() + 48);
    text.push_str(r#"{"type":"batch","topic":""#);
    text.push_str(topic); // ids and a fixed prefix: nothing to escape
    text.push_str(r#"","messages":["#);
    let messages = pending.len();
    for (i, message) in pending.drain(..).enumerate() {
        if i > 0 {
            text.push(',');
        }
        // Publishers put serde_json output on chat topics; anything else is skipped.
        match std::str::from_utf8(&message) {
            Ok(json) if json.starts_with('{') => text.push_str(json),
            _ => text.push_str("null"),
        }
    }
    text.push_str("]}");
    Frame {
        text: Bytes::from(text),
        messages,
    }
}

fn lagged(topic: &str, missed: u64) -> Frame {
    Frame {
        text: Bytes::from(format!(
            r#"{{"type":"lagged","topic":"{topic}","missed":{missed}}}"#
        )),
        messages: 0,
    }
}

#[cfg(test)]
mod tests {
    use spool_model::RoomId;

    use super::*;

    async fn next_frame(seat: &mut Seat) -> Frame {
        match tokio::time::timeout(Duration::from_secs(5), seat.recv()).await {
            Ok(Some(Delivery::Frame(frame))) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_tick_of_messages_is_one_frame_for_every_viewer() {
        let hub = Hub::local();
        let fanout = Fanout::new(hub.clone(), Duration::from_millis(30));
        let target = Target::Room(RoomId::random());
        let mut seats: Vec<Seat> = (0..3).map(|_| fanout.join(&target)).collect();
        assert_eq!(fanout.conversations(), 1);
        assert_eq!(fanout.viewers(), 3);
        for i in 0..4 {
            hub.publish(&target.topic(), Bytes::from(format!(r#"{{"n":{i}}}"#)));
        }
        for seat in &mut seats {
            let frame = next_frame(seat).await;
            let value: serde_json::Value = serde_json::from_slice(&frame.text).unwrap();
            assert_eq!(value["type"], "batch");
            assert_eq!(value["topic"], target.to_string());
            assert_eq!(
                value["messages"],
                serde_json::json!([{"n":0},{"n":1},{"n":2},{"n":3}])
            );
            assert_eq!(frame.messages, 4);
        }
        drop(seats);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while fanout.conversations() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the conversation's task never ended"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_viewer_that_does_not_read_misses_frames_and_holds_nobody() {
        let hub = Hub::local();
        let fanout = Fanout::new(hub.clone(), Duration::from_millis(10));
        let target = Target::Room(RoomId::random());
        let mut slow = fanout.join(&target);
        let mut quick = fanout.join(&target);
        let topic = target.topic();
        // Each message in its own tick: far more frames than a queue holds.
        let frames = VIEWER_QUEUE_FRAMES + 40;
        for i in 0..frames {
            hub.publish(&topic, Bytes::from(format!(r#"{{"n":{i}}}"#)));
            let frame = next_frame(&mut quick).await;
            assert!(
                std::str::from_utf8(&frame.text)
                    .unwrap()
                    .contains(&format!(r#"{{"n":{i}}}"#))
            );
        }
        match slow.recv().await {
            Some(Delivery::Missed(n)) => assert!(n >= 40, "missed {n}"),
            other => panic!("the slow viewer should have missed frames, got {other:?}"),
        }
    }
}
