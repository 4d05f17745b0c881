//! Moderation: PDQ perceptual hashes of images and video frames ([`pdq`]), vPDQ matching of
//! two videos' frame hashes ([`vpdq`]), an exact Hamming-radius index over 256-bit hashes
//! ([`index`]), hash list files ([`lists`]), the admins' keyword filter for chat
//! ([`keywords`]), and the service over them ([`Moderation`]: lists in memory, the frame
//! scan's matching, holds, reports, review decisions and their audit). Knows nothing of HTTP
//! or of ffmpeg: frames arrive as pixels from the pipeline, which samples them with the media
//! crate on the worker that holds the source.
//!
//! Architecture Invariant: a radius query never misses a stored hash within the radius (the
//! index is exact, checked against a linear scan); no hash is ever compared across kinds (a
//! PDQ hash is never taken for a BLAKE3 digest); a video is never held, released or removed
//! without its audit row in the same transaction (removals: audited before the delete).

mod error;
pub mod hash;
pub mod index;
pub mod keywords;
pub mod lists;
pub mod pdq;
mod service;
pub mod vpdq;

pub use error::{ModerationError, Result};
pub use hash::{HashParseError, PdqHash};
pub use lists::ListKind;
pub use pdq::{Dihedral, PdqDihedral, PdqError, PdqFloat, PdqOutput};
pub use service::{
    Action, Case, DigestGate, FrameHash, HashMatch, Imported, ItemMatch, MATCH_RADIUS, MATCH_SHARE,
    MIN_QUALITY, Moderation, Pair, REMOVED_DIGESTS, REMOVED_FRAMES, ReportKind, checked_reason,
};
