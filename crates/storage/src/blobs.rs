//! The blob store on local disk: partial upload files and content-addressed blobs.
//!
//! Layout under the data dir: `uploads/<upload_id>.part` while bytes arrive, then
//! `blobs/<hh>/<hash>` (first two hex digits fan out directories) once complete. A blob file is
//! only ever created by an atomic rename of a fully written, fsynced partial file, so a blob path
//! never holds half a file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use spool_model::{ContentHash, UploadId};

use crate::atomic::sync_dir;
use crate::{Result, StorageError, io_err};

/// The local-disk blob store.
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens (creating) the store under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        for sub in ["uploads", "blobs"] {
            let dir = data_dir.join(sub);
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        Ok(Self {
            root: data_dir.to_owned(),
        })
    }

    /// Where the partial file of an upload lives.
    pub fn partial_path(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(format!("{id}.part"))
    }

    /// The storage key of a blob with this hash.
    pub fn blob_key(hash: &ContentHash) -> String {
        let hex = hash.to_hex();
        format!("blobs/{}/{hex}", &hex[..2])
    }

    /// The file of a blob key.
    pub fn blob_path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Opens an upload's partial file for appending at `offset`, creating it if needed and
    /// cutting off anything past `offset` (bytes that were written but never acknowledged).
    pub fn open_partial(&self, id: &UploadId, offset: u64) -> Result<File> {
        let path = self.partial_path(id);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        if len < offset {
            return Err(StorageError::Io {
                path,
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("partial file has {len} bytes but {offset} were acknowledged"),
                ),
            });
        }
        if len > offset {
            file.set_len(offset).map_err(io_err(&path))?;
        }
        if offset == 0 {
            // The file's directory entry must survive a crash before any offset is acknowledged.
            sync_dir(&self.root.join("uploads"))?;
        }
        file.seek(SeekFrom::Start(offset)).map_err(io_err(&path))?;
        Ok(file)
    }

    /// Reads `len` bytes at `offset` of a partial file (the hasher's unfinished tail).
    pub fn read_partial(&self, id: &UploadId, offset: u64, len: usize) -> Result<Vec<u8>> {
        read_at(&self.partial_path(id), offset, len)
    }

    /// Deletes an upload's partial file; a missing file is fine.
    pub fn remove_partial(&self, id: &UploadId) -> Result<()> {
        let path = self.partial_path(id);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&path)(e)),
            _ => Ok(()),
        }
    }

    /// Ids of every partial file on disk (for the orphan sweep).
    pub fn partial_ids(&self) -> Result<Vec<UploadId>> {
        let dir = self.root.join("uploads");
        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            if let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".part"))
                .and_then(|n| n.parse().ok())
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Moves a complete, fsynced partial file into the blob store under its hash and returns the
    /// blob key. If the blob already exists (same content uploaded before), the partial file is
    /// deleted instead: the content is stored once. Idempotent, so a crash at any point can be
    /// finished by calling it again.
    pub fn promote(&self, id: &UploadId, hash: &ContentHash) -> Result<String> {
        let key = Self::blob_key(hash);
        let target = self.blob_path(&key);
        let partial = self.partial_path(id);
        if target.exists() {
            self.remove_partial(id)?;
            return Ok(key);
        }
        let dir = target.parent().expect("blob path has a parent");
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
            sync_dir(&self.root.join("blobs"))?;
        }
        match fs::rename(&partial, &target) {
            // Someone finishing the same upload concurrently got there first.
            Err(e) if e.kind() == io::ErrorKind::NotFound && target.exists() => return Ok(key),
            other => other.map_err(io_err(&partial))?,
        }
        // The rename must itself survive a crash before the database says the blob exists.
        sync_dir(dir)?;
        Ok(key)
    }

    /// Reads `len` bytes at `offset` of a blob (proof-of-possession checks).
    pub fn read_blob(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        read_at(&self.blob_path(key), offset, len)
    }

    /// Deletes a blob's file once the metadata store dropped its last reference; a missing file
    /// is fine. Refuses anything but a blob key (`blobs/<hh>/<hash>`), so a bad key can never
    /// reach outside the blob store.
    pub fn delete_blob(&self, key: &str) -> Result<()> {
        let path = self.blob_path(key);
        let parts: Vec<&str> = key.split('/').collect();
        let well_formed = matches!(parts.as_slice(), ["blobs", hh, hash]
            if hh.len() == 2 && hash.starts_with(hh) && hash.parse::<ContentHash>().is_ok());
        if !well_formed {
            return Err(StorageError::Io {
                path,
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a blob key"),
            });
        }
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&path)(e)),
            _ => Ok(()),
        }
    }
}

fn read_at(path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut file = File::open(path).map_err(io_err(path))?;
    file.seek(SeekFrom::Start(offset)).map_err(io_err(path))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf).map_err(io_err(path))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn partial_files_truncate_unacknowledged_bytes_and_promote_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let id = UploadId::random();
        let mut f = store.open_partial(&id, 0).unwrap();
        f.write_all(b"hello world").unwrap();
        drop(f);
        // Only 5 bytes were acknowledged: the rest is cut off on reopen.
        let mut f = store.open_partial(&id, 5).unwrap();
        f.write_all(b"!").unwrap();
        drop(f);
        assert_eq!(store.read_partial(&id, 0, 6).unwrap(), b"hello!");
        assert!(
            store.open_partial(&id, 100).is_err(),
            "acknowledged more than on disk"
        );
        assert_eq!(store.partial_ids().unwrap(), vec![id.clone()]);

        let hash = ContentHash::from(blake3::hash(b"hello!"));
        let key = store.promote(&id, &hash).unwrap();
        assert_eq!(store.read_blob(&key, 1, 4).unwrap(), b"ello");
        assert!(!store.partial_path(&id).exists());
        // Idempotent, and a second copy of the same content is dropped, not stored twice.
        assert_eq!(store.promote(&id, &hash).unwrap(), key);
        let other = UploadId::random();
        let mut f = store.open_partial(&other, 0).unwrap();
        f.write_all(b"hello!").unwrap();
        assert_eq!(store.promote(&other, &hash).unwrap(), key);
        assert!(!store.partial_path(&other).exists());

        // Deleting: the file goes, a second delete is fine, non-blob keys are refused.
        store.delete_blob(&key).unwrap();
        assert!(!store.blob_path(&key).exists());
        store.delete_blob(&key).unwrap();
        for bad in [
            "../spool.db",
            "uploads/x.part",
            "blobs/00/../../spool.db",
            "blobs/zz/x",
        ] {
            assert!(store.delete_blob(bad).is_err(), "{bad}");
        }
    }
}
