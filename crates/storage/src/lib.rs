//! Storage: the bytes Spool keeps on disk, and the one way they become durable.
//!
//! - [`blobs`]: [`LocalStore`], partial upload files and content-addressed blobs.
//! - [`media`]: [`MediaLayout`], where published media (generations, passes, covers) lives,
//!   spoken in videos, generations and file names so an object store can take its place.
//! - [`secret`]: the URL-signing key, created once and kept.
//! - [`share`]: media shared between videos of the same content, as hard links.
//! - [`atomic`]: [`write_atomic`], the one durable write (temporary file in the same
//!   directory, fsync, rename, fsync the directory), and the fsync helpers around it.
//!
//! Plain blocking `std::fs`: async callers run it on blocking threads. Knows nothing of SQL,
//! HTTP or async, and decides no policy: callers say what to write, keep or remove.
//!
//! Architecture Invariant: a file this crate says is written is never incomplete under its
//! final name, and never lost to a power loss after the call returned: every publication
//! (blob, pass, manifest, cover) is fsynced file by file and directory by directory before it
//! returns, so a database row committed afterwards never points at a truncated file.

pub mod atomic;
pub mod blobs;
pub mod media;
pub mod secret;
pub mod share;

use std::io;
use std::path::{Path, PathBuf};

pub use atomic::{persist, sync_dir, sync_tree, write_atomic, write_atomic_with};
pub use blobs::LocalStore;
pub use media::{Generation, Keep, MediaLayout, PassDir};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file system refused.
    #[error("storage I/O error on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl StorageError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        "storage_error"
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Every entry under `dir`, relative to it, directories with a trailing `/`, sorted; empty
/// when `dir` does not exist. For diagnostics and tests of what a layout holds.
pub fn list_tree(dir: &Path) -> std::collections::BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut std::collections::BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for path in entries.flatten().map(|e| e.path()) {
            let rel = path
                .strip_prefix(base)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                out.insert(format!("{rel}/"));
                walk(base, &path, out);
            } else {
                out.insert(rel);
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Shorthand for storage results.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
