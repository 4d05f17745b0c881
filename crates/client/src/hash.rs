//! Hashing the file to upload with BLAKE3 before anything is sent: the hash names the resume
//! state, finds unfinished uploads on the server, and enables instant upload.
//!
//! Streams through a fixed 1 MiB buffer on a blocking thread, so memory stays bounded whatever
//! the file size, and stops early when the caller gives up (e.g. on Ctrl-C).

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use spool_model::ContentHash;

use crate::error::ClientError;

const BUF_SIZE: usize = 1 << 20;

/// Hashes everything `reader` yields, calling `progress` with the byte count of each block.
/// Returns an [`io::ErrorKind::Interrupted`] error once `cancel` is set.
pub fn hash_reader(
    mut reader: impl Read,
    mut progress: impl FnMut(u64),
    cancel: &AtomicBool,
) -> io::Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "hashing cancelled",
            ));
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(hasher.finalize()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        progress(n as u64);
    }
}

/// Sets the flag when dropped: the async caller was cancelled, so the blocking thread stops.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Hashes the file at `path` on a blocking thread, advancing `bar` as it goes.
pub async fn hash_file(
    path: &Path,
    bar: indicatif::ProgressBar,
) -> Result<ContentHash, ClientError> {
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let owned = path.to_owned();
    let task = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&owned)?;
        hash_reader(file, |n| bar.inc(n), &cancel)
    });
    match task.await {
        Ok(Ok(hash)) => Ok(hash.into()),
        Ok(Err(e)) => Err(ClientError::io(path, e)),
        Err(join) => Err(ClientError::io(path, io::Error::other(join))),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn check(len: usize) {
        let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let mut seen = 0u64;
        let got = hash_reader(Cursor::new(&data), |n| seen += n, &AtomicBool::new(false)).unwrap();
        assert_eq!(got, blake3::hash(&data), "len {len}");
        assert_eq!(seen, len as u64);
    }

    #[test]
    fn matches_one_shot_hash() {
        for len in [
            0,
            1,
            1023,
            1024,
            BUF_SIZE - 1,
            BUF_SIZE,
            BUF_SIZE + 1,
            3 * BUF_SIZE + 17,
        ] {
            check(len);
        }
    }

    #[test]
    fn cancel_stops_hashing() {
        let err =
            hash_reader(Cursor::new(vec![0u8; 10]), |_| {}, &AtomicBool::new(true)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    }

    #[tokio::test]
    async fn hashes_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        let data = vec![42u8; 2 * BUF_SIZE + 5];
        std::fs::write(&path, &data).unwrap();
        let bar = indicatif::ProgressBar::hidden();
        let got = hash_file(&path, bar.clone()).await.unwrap();
        assert_eq!(got, ContentHash::from(blake3::hash(&data)));
        assert_eq!(bar.position(), data.len() as u64);
        assert!(hash_file(&dir.path().join("missing"), bar).await.is_err());
    }
}
