//! Secrets the server keeps in its data dir (the URL-signing key): read, or created once at
//! random and written durably, so every restart signs with the same key.

use std::fs;
use std::io;
use std::path::Path;

use crate::atomic::write_atomic;
use crate::{Result, io_err};

/// The secret at `path` (at least 32 bytes, as stored), or a new random one (32 bytes,
/// hex-encoded) written there durably first.
pub fn load_or_create_secret(path: &Path) -> Result<Vec<u8>> {
    match fs::read(path) {
        Ok(secret) if secret.len() >= 32 => return Ok(secret),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let secret: [u8; 32] = rand::random();
    let hexed: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    write_atomic(path, hexed.as_bytes())?;
    Ok(hexed.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/url-signing.key");
        let first = load_or_create_secret(&path).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(load_or_create_secret(&path).unwrap(), first);
        // Too short to be a key: replaced.
        fs::write(&path, b"short").unwrap();
        assert_ne!(load_or_create_secret(&path).unwrap(), b"short".to_vec());
    }
}
