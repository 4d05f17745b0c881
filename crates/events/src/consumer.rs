//! Durable consumer offsets: one small file per consumer under `<dir>/consumers/`,
//! replaced atomically (write temp, fsync, rename, fsync directory).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{LogError, Result};
use crate::segment::sync_dir;

/// Checks that a consumer name is `[a-z0-9_-]{1,64}` (it becomes a file name).
pub fn validate_consumer_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(LogError::InvalidConsumerName(name.to_owned()))
    }
}

/// The consumer offset files of one log.
#[derive(Debug)]
pub(crate) struct Consumers {
    dir: PathBuf,
    tmp_counter: AtomicU64,
}

impl Consumers {
    /// Opens (creating) `dir`.
    pub(crate) fn open(dir: PathBuf) -> Result<Self> {
        fs::create_dir_all(&dir).map_err(LogError::io(&dir))?;
        Ok(Self {
            dir,
            tmp_counter: AtomicU64::new(0),
        })
    }

    /// Durably records that `name` will next read `next_offset`.
    pub(crate) fn commit(&self, name: &str, next_offset: u64) -> Result<()> {
        validate_consumer_name(name)?;
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        // '.' never appears in a valid name, so temp files cannot collide with offset files.
        let tmp = self.dir.join(format!(".{name}.{n}.tmp"));
        let result = write_synced(&tmp, format!("{next_offset}\n").as_bytes());
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let path = self.dir.join(name);
        fs::rename(&tmp, &path).map_err(LogError::io(&path))?;
        sync_dir(&self.dir)
    }

    /// The committed next offset of `name`, or `None` if it never committed.
    pub(crate) fn get(&self, name: &str) -> Result<Option<u64>> {
        validate_consumer_name(name)?;
        let path = self.dir.join(name);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LogError::io(&path)(e)),
        };
        text.trim_end()
            .parse()
            .map(Some)
            .map_err(|_| LogError::Corrupt { path, position: 0 })
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::File::create(path).map_err(LogError::io(path))?;
    file.write_all(bytes).map_err(LogError::io(path))?;
    file.sync_all().map_err(LogError::io(path))
}
