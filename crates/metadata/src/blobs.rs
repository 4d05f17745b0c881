//! Content-addressed blobs: one stored copy per BLAKE3 hash, reference counted by videos.

use spool_model::ContentHash;
use sqlx::Row;

use crate::{Result, Store};

/// A stored blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// Content hash.
    pub hash: ContentHash,
    /// Key in the blob store.
    pub storage_key: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Number of videos referring to it.
    pub refcount: i64,
}

impl Store {
    /// The blob with this hash, if stored.
    pub async fn blob(&self, hash: &ContentHash) -> Result<Option<Blob>> {
        let row = sqlx::query(&self.sql(
            "SELECT storage_key, size_bytes, refcount FROM blobs WHERE hash = ? AND refcount > 0",
        ))
        .bind(hash.to_hex())
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(Blob {
                hash: *hash,
                storage_key: row.try_get("storage_key")?,
                size_bytes: row.try_get("size_bytes")?,
                refcount: row.try_get("refcount")?,
            })
        })
        .transpose()
    }
}
