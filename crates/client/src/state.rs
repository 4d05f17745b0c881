//! Resume state: one small JSON file per unfinished upload, named by the file's BLAKE3
//! (`<state dir>/<blake3hex>.json`), telling which server and upload URL hold its bytes.
//!
//! Written atomically (temporary file in the same directory, fsync, rename), so a crash or
//! Ctrl-C leaves either the old state or the new one, never half a file. Deleted once the
//! upload completes.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spool_model::{ContentHash, VideoId};

use crate::error::ClientError;

/// What the client remembers about one unfinished upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    /// Server base URL the upload was created on.
    pub server: String,
    /// Absolute tus upload URL (`Location` of the creation answer).
    pub upload_url: String,
    /// The video the upload feeds (`Spool-Video-Id`), when the server named one.
    pub video_id: Option<VideoId>,
    /// File size in bytes (`Upload-Length`).
    pub size: u64,
    /// BLAKE3 of the whole file; also the state file's name.
    pub blake3: ContentHash,
    /// The local file this state was written for (informational; content is what counts).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// When the upload was created, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub created_at_ms: i64,
}

/// The directory holding resume state files.
#[derive(Clone, Debug)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// A store in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The default directory: `$XDG_STATE_HOME/spool/uploads` (`dirs::state_dir`), falling back
    /// to the local data directory where there is no state directory (macOS, Windows).
    pub fn default_dir() -> Option<PathBuf> {
        dirs::state_dir()
            .or_else(dirs::data_local_dir)
            .map(|d| d.join("spool").join("uploads"))
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state file for content `hash`.
    pub fn path_for(&self, hash: &ContentHash) -> PathBuf {
        self.dir.join(format!("{}.json", hash.to_hex()))
    }

    /// Loads the state for `hash`. A missing file is `Ok(None)`; so is an unreadable or corrupt
    /// one, which is removed (it can only be the remains of an older client or a disk fault, and
    /// the server-side lookup by hash still finds the upload).
    pub fn load(&self, hash: &ContentHash) -> Result<Option<UploadState>, ClientError> {
        let path = self.path_for(hash);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ClientError::io(path, e)),
        };
        match serde_json::from_slice::<UploadState>(&bytes) {
            Ok(state) if state.blake3 == *hash => Ok(Some(state)),
            Ok(_) | Err(_) => {
                tracing::warn!(path = %path.display(), "ignoring corrupt upload state file");
                self.remove(hash)?;
                Ok(None)
            }
        }
    }

    /// Writes `state` atomically, replacing any previous state for the same content.
    pub fn save(&self, state: &UploadState) -> Result<(), ClientError> {
        let path = self.path_for(&state.blake3);
        fs::create_dir_all(&self.dir).map_err(|e| ClientError::io(&self.dir, e))?;
        let mut json = serde_json::to_vec_pretty(state).expect("state serializes");
        json.push(b'\n');
        // NamedTempFile is created with mode 0600 and removed if we fail before persisting.
        let mut tmp = tempfile::Builder::new()
            .prefix(".upload-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(|e| ClientError::io(&self.dir, e))?;
        tmp.write_all(&json)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| ClientError::io(tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| ClientError::io(&path, e.error))?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Removes the state for `hash`; a missing file is fine.
    pub fn remove(&self, hash: &ContentHash) -> Result<(), ClientError> {
        let path = self.path_for(hash);
        match fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&self.dir);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ClientError::io(path, e)),
        }
    }
}

/// Makes a rename or unlink in `dir` durable (best effort: not every platform can fsync a
/// directory, and losing it costs at most a resume).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(hash: ContentHash, url: &str) -> UploadState {
        UploadState {
            server: "http://127.0.0.1:8080".into(),
            upload_url: url.into(),
            video_id: Some("abcDEF012_-".parse().unwrap()),
            size: 12345,
            blake3: hash,
            file: Some("/videos/a.mp4".into()),
            created_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn round_trip_replace_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("nested/uploads"));
        let hash = ContentHash::from(blake3::hash(b"video bytes"));
        assert_eq!(store.load(&hash).unwrap(), None);

        let first = state(hash, "http://127.0.0.1:8080/api/v1/uploads/one");
        store.save(&first).unwrap();
        assert_eq!(store.load(&hash).unwrap(), Some(first));
        assert_eq!(
            store.path_for(&hash).file_name().unwrap().to_str().unwrap(),
            format!("{}.json", hash.to_hex())
        );

        let second = state(hash, "http://127.0.0.1:8080/api/v1/uploads/two");
        store.save(&second).unwrap();
        assert_eq!(store.load(&hash).unwrap(), Some(second));
        // Replacement left no temporary files behind.
        let names: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![format!("{}.json", hash.to_hex())]);

        store.remove(&hash).unwrap();
        assert_eq!(store.load(&hash).unwrap(), None);
        store.remove(&hash).unwrap();
    }

    #[test]
    fn file_format_is_stable_json() {
        let hash = ContentHash::from(blake3::hash(b"x"));
        let json = serde_json::to_value(state(hash, "http://h/u/1")).unwrap();
        assert_eq!(json["upload_url"], "http://h/u/1");
        assert_eq!(json["video_id"], "abcDEF012_-");
        assert_eq!(json["size"], 12345);
        assert_eq!(json["blake3"], hash.to_hex());
        // Older or hand-written files without the optional fields still load.
        let minimal = format!(
            r#"{{"server":"s","upload_url":"u","video_id":null,"size":1,"blake3":"{}"}}"#,
            hash.to_hex()
        );
        let s: UploadState = serde_json::from_str(&minimal).unwrap();
        assert_eq!((s.file, s.created_at_ms), (None, 0));
    }

    #[test]
    fn corrupt_or_mismatched_files_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        let hash = ContentHash::from(blake3::hash(b"a"));
        fs::write(store.path_for(&hash), b"{ not json").unwrap();
        assert_eq!(store.load(&hash).unwrap(), None);
        assert!(!store.path_for(&hash).exists());

        // A file whose content names another hash is not trusted either.
        let other = ContentHash::from(blake3::hash(b"b"));
        let json = serde_json::to_vec(&state(other, "u")).unwrap();
        fs::write(store.path_for(&hash), json).unwrap();
        assert_eq!(store.load(&hash).unwrap(), None);
    }
}
