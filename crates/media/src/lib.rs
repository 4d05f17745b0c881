//! Media: the only crate that spawns processes (ffmpeg and ffprobe, through [`process`]).
//!
//! - [`process`]: the one process wrapper — timeout, kill on drop, a global concurrency limit.
//! - [`probe`]: safe ffprobe of local files (protocol and demuxer whitelists) and validation
//!   against the configured caps.
//! - [`ladder`]: which renditions a source gets (never above the source, aspect kept).
//! - [`transcode`]: one ffmpeg pass that decodes once and writes a set of rungs as CMAF fMP4
//!   segments, optionally with storyboard tiles and cover candidates from the same decode.
//! - [`frames`]: frames sampled at a low rate as raw RGB, for perceptual hashing.
//! - [`manifest`]: HLS master/media playlists, the DASH MPD and the storyboard WebVTT track.
//! - [`published`]: what a video has published, as stored in its row.
//! - `mp4` (private): just enough MP4 box reading for codec strings and segment timing.
//! - [`cover`]: cover images: choosing a sharp representative frame, validating uploads,
//!   resizing to the standard sizes.
//! - `testing` (feature `testing`): test sources made with ffmpeg, for this and other crates'
//!   tests.
//!
//! Architecture Invariant: no process is ever spawned outside `process.rs`, and ffmpeg/ffprobe
//! never open anything but local files of whitelisted containers, or pipes fed by our own
//! code (the streaming mode): a playlist disguised as a video never makes the server open a URL.

pub mod cover;
mod error;
pub mod frames;
pub mod ladder;
pub mod manifest;
mod mp4;
pub mod probe;
pub mod process;
pub mod published;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transcode;

pub use error::MediaError;
pub use published::Published;
