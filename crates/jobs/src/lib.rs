//! The durable jobs runner.
//!
//! Jobs live in the metadata database (`jobs` and `workers` tables, written only through
//! `spool-metadata`). Any number of workers, in `spool serve` or in separate `spool worker`
//! processes, share them:
//!
//! - [`placement`] picks, by rendezvous hashing of the video id over the live workers, the one
//!   worker that runs every stage of a video, so the source is fetched to local disk once.
//! - [`Runner`] is one worker's loop: heartbeat, claim a runnable job it owns under a lease, run
//!   the [`Handler`] while renewing the lease, then record done, a retry with exponential
//!   backoff, or dead with the reason. A dead worker's jobs pass to their next owner once its
//!   heartbeat is stale and its lease has passed.
//!
//! Handlers must be idempotent: a job may run again after a crash or a lost lease.
//!
//! Architecture Invariant: a job is never held by two workers, and `Runner::run` never returns
//! with any of its work still running.

pub mod placement;
mod runner;

pub use placement::owner;
pub use runner::{
    Handler, JobError, Runner, RunnerConfig, RunnerError, backoff, backoff_ceiling,
    default_worker_id,
};
pub use spool_metadata::{JobRow, JobState};
pub use tokio_util::sync::CancellationToken;
