//! Resumable uploads (tus 1.0.0 semantics, without HTTP): durable appends with an
//! incremental, crash-resumable BLAKE3; content dedup into blobs; instant upload with proof of
//! possession; lookup by content hash; expiry and crash recovery. The api crate maps HTTP to
//! [`UploadService`] and [`UploadError`] to status codes.
//!
//! Architecture Invariant: an offset is never acknowledged before its bytes are fsynced, and no
//! blob ever exists under a hash its bytes do not have.

pub mod error;
pub mod hasher;
pub mod service;
pub mod tus;

pub use error::UploadError;
pub use service::{Challenge, Created, UploadInfo, UploadService};
pub use tus::{ExpectedChecksum, parse_checksum, parse_metadata};
