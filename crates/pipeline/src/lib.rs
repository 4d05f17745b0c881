//! The media pipeline as durable job stages, run by `spool-jobs` runners.
//!
//! Every completed upload queues a `process` job; the stages of one video all run on the same
//! worker (rendezvous placement in `spool-jobs`), so the source is fetched to that worker's
//! scratch dir once and every stage reads it there:
//!
//! 1. [`PROCESS_JOB`]: fetch the source, probe it safely, record duration and size, queue
//!    [`TRANSCODE_JOB`]. A file that is not an acceptable video ends here, `failed`, with the
//!    reason.
//! 2. [`TRANSCODE_JOB`]: with progressive publishing on, a quick pass encodes the low rungs,
//!    the audio, the storyboard and the cover candidates from one decode and publishes them
//!    (the video is `ready`); then one pass encodes the higher rungs and publishes the whole
//!    ladder. Each publication is one conditional UPDATE of the video row.
//! 3. [`RECORDING_JOB`]: a live broadcast that ended is a video already (its live renditions,
//!    recorded as it aired, are the ladder); this stage adds the storyboard and the cover.
//!
//! A video whose content another ready video was already transcoded from, with the same
//! ladder settings, shares that video's media instead (`reuse`): `ready` in its `process`
//! stage, with no transcode.
//!
//! Stages are idempotent: output goes to a fresh generation directory that nothing references
//! until it is published; a retry after the quick pass was published keeps that generation and
//! only redoes the higher rungs; a retry after everything was published does nothing.
//!
//! Architecture Invariant: a row never points at media that is not durable, and a stage never
//! assumes it runs once: every stage is idempotent and publishes in one conditional UPDATE.

mod fetch;
mod reuse;
mod stages;

pub use fetch::SourceCache;
pub use spool_metadata::{PROCESS_JOB, RECORDING_JOB};
pub use stages::Pipeline;

/// The job that encodes the ladder, storyboard and covers (queued by [`PROCESS_JOB`]).
pub const TRANSCODE_JOB: &str = "transcode";
