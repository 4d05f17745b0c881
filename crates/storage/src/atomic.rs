//! The one durable write: [`write_atomic`] (and [`write_atomic_with`] for streaming writers).
//!
//! A file written here is, once the call returns, complete under its final name and survives a
//! power loss: the bytes go to a temporary file in the same directory (hidden, ending in
//! `.tmp`, so nothing serves it), the file is fsynced, renamed over the target, and the
//! directory is fsynced so the rename itself is durable. A reader sees the old file or the
//! whole new one, never a part. [`persist`] is the second half on its own (for a file someone
//! else wrote), [`sync_tree`] makes a whole directory tree durable (what ffmpeg wrote), and
//! [`sync_dir`] one directory's entries.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::{Result, StorageError, io_err};

/// Suffix of every temporary file this crate creates.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Writes `bytes` to `path` durably and atomically (see the module docs). The parent directory
/// must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Like [`write_atomic`], with `write` producing the contents into the temporary file (an
/// encoder writing as it goes). When `write` fails, the temporary file is removed and the
/// target is left as it was.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<()> {
    let dir = parent(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(io_err(path))?;
    write(tmp.as_file_mut()).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| StorageError::Io {
        path: path.to_owned(),
        source: e.error,
    })?;
    sync_dir(dir)
}

/// Makes a complete file someone else wrote durable under `to`: fsyncs `from`, renames it to
/// `to` (replacing a file there) and fsyncs the directory of `to` (and of `from`, when it
/// differs).
pub fn persist(from: &Path, to: &Path) -> Result<()> {
    File::open(from)
        .and_then(|f| f.sync_all())
        .map_err(io_err(from))?;
    fs::rename(from, to).map_err(io_err(from))?;
    let (from_dir, to_dir) = (parent(from)?, parent(to)?);
    sync_dir(to_dir)?;
    if from_dir != to_dir {
        sync_dir(from_dir)?;
    }
    Ok(())
}

/// Fsyncs a directory, making its entries (new, renamed or removed files) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Fsyncs every file and directory under `dir` (and `dir` itself), deepest first, so that
/// after it returns the whole tree survives a power loss. Symbolic links are not followed.
pub fn sync_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_err(&path))?;
        if kind.is_dir() {
            sync_tree(&path)?;
        } else if kind.is_file() {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&path))?;
        }
    }
    sync_dir(dir)
}

fn parent(path: &Path) -> Result<&Path> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => Ok(dir),
        Some(_) => Ok(Path::new(".")),
        None => Err(StorageError::Io {
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "no parent directory"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_whole_files_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.m3u8");
        write_atomic(&path, b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"second, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        assert_eq!(names(dir.path()), ["index.m3u8"]);
    }

    #[test]
    fn a_failing_writer_keeps_the_old_file_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outputs.json");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |f| {
            f.write_all(b"half of the new")?;
            Err(io::Error::other("encoder gave up"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("encoder gave up"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["outputs.json"]);
        // No directory: an error, nothing created.
        assert!(write_atomic(&dir.path().join("missing/x"), b"x").is_err());
    }

    #[test]
    fn persist_and_sync_tree() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join("seg_1.m4s"), b"segment").unwrap();
        sync_tree(dir.path()).unwrap();
        fs::write(dir.path().join("source.part"), b"source").unwrap();
        persist(&dir.path().join("source.part"), &sub.join("source")).unwrap();
        assert_eq!(names(&sub), ["seg_1.m4s", "source"]);
        assert!(sync_tree(&dir.path().join("nope")).is_err());
    }
}
