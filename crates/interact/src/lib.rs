//! Interaction: what viewers say to each other and to the creator. Danmaku (bullet comments
//! anchored to playback time on demand, to the broadcast's timeline live), comments, follows
//! and live Q&A, with their limits (length, rate, keyword filter, blocks, room moderators) and
//! their delivery to the viewers of a room or video through the hub. Knows nothing of HTTP or
//! WebSockets: the api crate maps it.
//!
//! Architecture Invariant: a sender never waits for a viewer. Deliveries go through the hub's
//! bounded chat topics and per-connection bounded queues; a viewer that cannot keep up is
//! told it missed messages (and reloads them by cursor), it never slows the room.

pub mod danmaku;
pub mod delivery;
pub mod error;
pub mod limits;
pub mod questions;
mod service;
pub mod text;

use std::fmt;
use std::str::FromStr;

use spool_hub::Topic;
use spool_model::{RoomId, VideoId};

pub use delivery::{Delivery, Fanout, Frame, Seat};
pub use error::{InteractError, Result};
pub use service::{Conversation, HostAction, Interact, MAX_SINCE, Moderation};

/// A conversation: the viewers of one on-demand video, or of one live room.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// An on-demand video (`video:<id>`).
    Video(VideoId),
    /// A live room (`room:<id>`).
    Room(RoomId),
}

impl Target {
    /// The hub topic its messages travel on, between nodes too.
    pub fn topic(&self) -> Topic {
        match self {
            Self::Video(id) => Topic::video_chat(id),
            Self::Room(id) => Topic::room_chat(id),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Video(id) => write!(f, "video:{id}"),
            Self::Room(id) => write!(f, "room:{id}"),
        }
    }
}

impl FromStr for Target {
    type Err = InteractError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || InteractError::InvalidInput("topic: must be video:<id> or room:<id>".into());
        match s.split_once(':') {
            Some(("video", id)) => Ok(Self::Video(id.parse().map_err(|_| bad())?)),
            Some(("room", id)) => Ok(Self::Room(id.parse().map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }
}
pub mod comments;
pub mod follows;
pub use comments::{CommentError, Comments};
pub use follows::{FollowError, Follows};
