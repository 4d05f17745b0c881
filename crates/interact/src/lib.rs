//! Interaction: what viewers say to each other and to the creator. Danmaku (bullet comments
//! anchored to playback time on demand, to the broadcast's timeline live), comments, follows
//! and live Q&A, with their limits (length, rate, keyword filter, blocks, room moderators) and
//! their delivery to the viewers of a room or video through the hub. Knows nothing of HTTP or
//! WebSockets: the api crate maps it.
//!
//! Architecture Invariant: a sender never waits for a viewer. Deliveries go through the hub's
//! bounded chat topics and per-connection bounded queues; a viewer that cannot keep up is
//! told it missed messages (and reloads them by cursor), it never slows the room.

pub mod comments;
pub mod follows;
pub use comments::{CommentError, Comments};
pub use follows::{FollowError, Follows};
