//! Live Q&A as viewers see it: a question, its votes, whether the host pinned or answered it.

use serde::Serialize;
use spool_metadata::QuestionRow;

/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 300;
/// Questions a room's list shows at most.
pub const MAX_LISTED: i64 = 200;

/// A question as the room shows it (and the socket's `question` message).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuestionView {
    /// Always `"question"` (the socket's message type).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Id.
    pub id: i64,
    /// The room.
    pub room_id: String,
    /// Who asked.
    pub author: String,
    /// The question (plain text).
    pub text: String,
    /// Upvotes.
    pub votes: i64,
    /// The host shows it now.
    pub pinned: bool,
    /// The host answered it.
    pub answered: bool,
    /// Whether the caller voted for it (false in socket messages, which go to everyone).
    pub voted: bool,
    /// Taken down (only in socket messages, so rooms drop it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Unix ms.
    pub created_at: i64,
}

impl QuestionView {
    /// The view of a stored question; `voted` for the caller.
    pub fn of(row: QuestionRow, voted: bool) -> Self {
        Self {
            kind: "question",
            id: row.id,
            room_id: row.room_id.to_string(),
            author: row.author,
            text: if row.deleted_at.is_some() {
                String::new()
            } else {
                row.text
            },
            votes: row.votes,
            pinned: row.pinned,
            answered: row.answered_at.is_some(),
            voted,
            deleted: row.deleted_at.is_some(),
            created_at: row.created_at,
        }
    }
}
