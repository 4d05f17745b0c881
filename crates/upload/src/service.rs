//! The upload service: creation, durable appends, completion into blobs, termination,
//! proof of possession, lookup by hash, expiry and crash recovery.
//!
//! Invariant: an offset is acknowledged (stored in the metadata row and answered to a client)
//! only after the bytes before it were fsynced, together with the hasher checkpoint for exactly
//! those bytes. Everything past the stored offset in a partial file is garbage from a crash and
//! is cut off the next time the file is opened.

use std::collections::HashSet;
use std::fmt::Display;
use std::io::{IoSlice, Write};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use rand::{Rng, RngCore};
use spool_catalog::Title;
use spool_config::UploadConfig;
use spool_metadata::{MetadataError, NewUpload, Store, UploadRow, UploadState, User};
use spool_model::{ContentHash, UploadId, VideoId, Visibility, now_millis};
use spool_storage::LocalStore;
use subtle::ConstantTimeEq;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{Result, UploadError};
use crate::hasher::ResumableHasher;
use crate::tus::{ExpectedChecksum, RunningChecksum, parse_metadata};

/// Bytes handed to the disk in one write; two batches are held per request at most, so memory
/// per upload stays at about 2 × this (plus one frame), whatever the file size.
const WRITE_BATCH: usize = 128 * 1024;
/// Frames in one batch at most, so a body cut into tiny frames cannot grow the list of them
/// without bound (each costs a `Bytes` and an `iovec`).
const WRITE_BATCH_FRAMES: usize = 256;
/// Size of each proof-of-possession range.
const PROOF_RANGE: u64 = 64 * 1024;
/// Number of proof-of-possession ranges.
const PROOF_RANGES: usize = 4;

/// What a client sees of an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadInfo {
    /// Upload id.
    pub id: UploadId,
    /// The video it fills.
    pub video_id: VideoId,
    /// Acknowledged offset.
    pub offset: u64,
    /// Total length, unless deferred.
    pub length: Option<u64>,
    /// The raw `Upload-Metadata`.
    pub metadata: String,
    /// Expiry, Unix ms.
    pub expires_at: i64,
    /// True once every byte arrived.
    pub complete: bool,
}

impl From<&UploadRow> for UploadInfo {
    fn from(row: &UploadRow) -> Self {
        Self {
            id: row.id.clone(),
            video_id: row.video_id.clone(),
            offset: row.offset as u64,
            length: row.length.map(|l| l as u64),
            metadata: row.metadata.clone(),
            expires_at: row.expires_at,
            complete: row.state == UploadState::Complete,
        }
    }
}

/// A proof-of-possession challenge: hash these ranges of your file keyed with the nonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// 32 random bytes, hex.
    pub nonce: String,
    /// `(offset, length)` byte ranges.
    pub ranges: Vec<(u64, u64)>,
}

impl Challenge {
    /// The ranges as `off-len,off-len`.
    pub fn ranges_header(&self) -> String {
        self.ranges
            .iter()
            .map(|(o, l)| format!("{o}-{l}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn parse(nonce: &str, ranges: &str) -> Result<Self> {
        let bad = || UploadError::Internal("stored proof challenge is malformed".into());
        let ranges = ranges
            .split(',')
            .map(|r| {
                let (o, l) = r.split_once('-').ok_or_else(bad)?;
                Ok((o.parse().map_err(|_| bad())?, l.parse().map_err(|_| bad())?))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            nonce: nonce.to_owned(),
            ranges,
        })
    }
}

/// The answer to a creation request.
#[derive(Clone, Debug)]
pub struct Created {
    /// The new upload (already complete for an instant upload within the same account).
    pub upload: UploadInfo,
    /// Present when the content exists under another account and may be proven instead.
    pub challenge: Option<Challenge>,
}

/// Owns upload state; cheap to clone.
#[derive(Clone)]
pub struct UploadService {
    store: Store,
    blobs: LocalStore,
    config: UploadConfig,
    writing: Arc<Mutex<HashSet<UploadId>>>,
    gate: Option<ContentGate>,
}

/// Asked before a file is kept: the name of the blocklist that holds its BLAKE3 digest, if
/// one does (moderation's exact-digest lists).
pub type ContentGate = Arc<dyn Fn(&ContentHash) -> Option<String> + Send + Sync>;

/// Marks one upload as being written; dropped when the request ends.
struct WriteLock {
    writing: Arc<Mutex<HashSet<UploadId>>>,
    id: UploadId,
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        self.writing.lock().expect("lock poisoned").remove(&self.id);
        metrics::gauge!("spool_uploads_active").decrement(1.0);
    }
}

/// The open partial file with the hashing and checksum state of bytes written to it.
struct Sink {
    file: std::fs::File,
    hasher: ResumableHasher,
    checksum: Option<RunningChecksum>,
    offset: u64,
}

impl Sink {
    /// Writes the frames with vectored writes and hashes them where they lie: the body's bytes
    /// are never copied in user space.
    fn write(&mut self, frames: &[Bytes]) -> std::io::Result<()> {
        write_all_vectored(&mut self.file, frames)?;
        for frame in frames {
            self.hasher.update(frame);
            if let Some(c) = &mut self.checksum {
                c.update(frame);
            }
            self.offset += frame.len() as u64;
        }
        Ok(())
    }
}

fn write_all_vectored(file: &mut std::fs::File, frames: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = frames.iter().map(|f| IoSlice::new(f)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut rest, written),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Frames received and not yet written, kept as the HTTP server handed them over.
#[derive(Default)]
struct Batch {
    frames: Vec<Bytes>,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push(frame);
    }

    fn is_full(&self) -> bool {
        self.bytes >= WRITE_BATCH || self.frames.len() >= WRITE_BATCH_FRAMES
    }

    fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// An fsync of everything written up to `offset`, running on a blocking thread while the
/// request keeps receiving; `offset` is acknowledged only after it finished.
struct PendingSync {
    handle: JoinHandle<std::io::Result<()>>,
    offset: u64,
    checkpoint: Vec<u8>,
}

impl PendingSync {
    fn start(sink: &Sink) -> Result<Self> {
        let file = sink.file.try_clone().map_err(io_error)?;
        Ok(Self {
            handle: tokio::task::spawn_blocking(move || file.sync_data()),
            offset: sink.offset,
            checkpoint: sink.hasher.checkpoint(),
        })
    }
}

/// A blocking write in progress; it hands back the sink.
type InflightWrite = JoinHandle<(Sink, std::io::Result<()>)>;

/// How reading a PATCH body ended.
enum Ending {
    BodyDone,
    Interrupted,
    Refused(UploadError),
}

fn join_error(e: tokio::task::JoinError) -> UploadError {
    UploadError::Internal(format!("blocking task failed: {e}"))
}

fn io_error(e: std::io::Error) -> UploadError {
    UploadError::Internal(format!("write to partial file failed: {e}"))
}

fn quota_error(e: MetadataError) -> UploadError {
    match e {
        MetadataError::QuotaExceeded { .. } => UploadError::Quota(e.to_string()),
        other => other.into(),
    }
}

impl UploadService {
    /// Builds the service.
    pub fn new(store: Store, blobs: LocalStore, config: UploadConfig) -> Self {
        Self {
            store,
            blobs,
            config,
            writing: Arc::default(),
            gate: None,
        }
    }

    /// The same service refusing files whose digest `gate` names a list for: at creation when
    /// the client announces the digest, else by the request that delivers the last byte;
    /// nothing of a refused file is kept.
    pub fn with_content_gate(mut self, gate: ContentGate) -> Self {
        self.gate = Some(gate);
        self
    }

    fn refused(&self, hash: &ContentHash) -> Result<()> {
        match self.gate.as_ref().and_then(|gate| gate(hash)) {
            Some(list) => Err(UploadError::ContentBlocked { list }),
            None => Ok(()),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &UploadConfig {
        &self.config
    }

    fn expiry(&self) -> i64 {
        now_millis() + (self.config.expire_after_s as i64).saturating_mul(1000)
    }

    fn lock(&self, id: &UploadId) -> Result<WriteLock> {
        if !self
            .writing
            .lock()
            .expect("lock poisoned")
            .insert(id.clone())
        {
            return Err(UploadError::Locked);
        }
        metrics::gauge!("spool_uploads_active").increment(1.0);
        Ok(WriteLock {
            writing: self.writing.clone(),
            id: id.clone(),
        })
    }

    async fn load_owned(&self, user: &User, id: &UploadId) -> Result<UploadRow> {
        let row = self.store.upload(id).await?.ok_or(UploadError::NotFound)?;
        if !spool_catalog::policy::owns(user, row.owner_id) {
            return Err(UploadError::NotOwner);
        }
        match row.state {
            UploadState::Terminated => Err(UploadError::NotFound),
            UploadState::Expired => Err(UploadError::Expired),
            // Every byte arrived but completing failed (e.g. the database hiccuped): finish it
            // now, so a client that sees the full offset on HEAD also finds the video uploaded.
            UploadState::Active => match (row.final_blake3, row.length) {
                (Some(hash), Some(length)) => {
                    self.finish(id, &hash, length as u64).await?;
                    self.store.upload(id).await?.ok_or(UploadError::NotFound)
                }
                _ if row.expires_at <= now_millis() => Err(UploadError::Expired),
                _ => Ok(row),
            },
            UploadState::Complete => Ok(row),
        }
    }

    /// Creates an upload (and its video) for `user`. With an announced `blake3` of content the
    /// server holds, completes at once if the user already owns it, or returns a challenge.
    pub async fn create(
        &self,
        user: &User,
        length: Option<u64>,
        metadata: &str,
    ) -> Result<Created> {
        let fields = parse_metadata(metadata)?;
        if let Some(length) = length
            && length > self.config.max_size_bytes
        {
            return Err(UploadError::TooLarge {
                size: length,
                max: self.config.max_size_bytes,
            });
        }
        let announced: Option<ContentHash> = fields
            .get("blake3")
            .map(|h| h.to_ascii_lowercase().parse())
            .transpose()
            .map_err(|e| UploadError::BadRequest(format!("metadata blake3: {e}")))?;
        if let Some(hash) = &announced {
            self.refused(hash)?;
        }
        let visibility = match fields.get("visibility") {
            Some(v) => v
                .parse::<Visibility>()
                .map_err(|e| UploadError::BadRequest(format!("metadata visibility: {e}")))?,
            None => self.config.default_visibility,
        };
        let title = video_title(&fields)?;
        let new = NewUpload {
            id: UploadId::random(),
            video_id: VideoId::random(),
            owner_id: user.id,
            title,
            visibility,
            length: length.map(|l| l as i64),
            metadata: metadata.to_owned(),
            announced_blake3: announced,
            hash_state: ResumableHasher::new().checkpoint(),
            expires_at: self.expiry(),
        };
        self.store
            .create_upload(&new, self.config.user_quota_bytes)
            .await
            .map_err(quota_error)?;
        let mut challenge = None;
        if let (Some(hash), Some(length)) = (announced, length)
            && let Some(blob) = self.store.blob(&hash).await?
            && blob.size_bytes as u64 == length
        {
            if self.store.user_owns_content(user.id, &hash).await? {
                self.store
                    .complete_upload(&new.id, &hash, blob.size_bytes, &blob.storage_key)
                    .await?;
                metrics::counter!("spool_uploads_completed_total", "how" => "instant").increment(1);
            } else {
                let c = new_challenge(length);
                self.store
                    .set_proof_challenge(&new.id, &c.nonce, &c.ranges_header())
                    .await?;
                challenge = Some(c);
            }
        }
        let row = self
            .store
            .upload(&new.id)
            .await?
            .ok_or(UploadError::NotFound)?;
        Ok(Created {
            upload: UploadInfo::from(&row),
            challenge,
        })
    }

    /// The upload's state as HEAD reports it.
    pub async fn info(&self, user: &User, id: &UploadId) -> Result<UploadInfo> {
        Ok(UploadInfo::from(&self.load_owned(user, id).await?))
    }

    /// The caller's unfinished uploads that announced this hash.
    pub async fn find_by_hash(&self, user: &User, hash: &ContentHash) -> Result<Vec<UploadInfo>> {
        let rows = self.store.uploads_by_hash(user.id, hash).await?;
        Ok(rows.iter().map(UploadInfo::from).collect())
    }

    /// Answers a proof-of-possession challenge; on success the upload completes at once.
    pub async fn prove(&self, user: &User, id: &UploadId, proofs: &[String]) -> Result<UploadInfo> {
        let _lock = self.lock(id)?;
        let row = self.load_owned(user, id).await?;
        if row.state == UploadState::Complete {
            return Err(UploadError::AlreadyComplete);
        }
        let (Some((nonce, ranges)), Some(hash)) = (row.proof.clone(), row.announced_blake3) else {
            return Err(UploadError::ProofRejected);
        };
        // Spend first: one answer per challenge, so it cannot be brute-forced.
        if !self.store.spend_proof_challenge(id, &nonce).await? {
            return Err(UploadError::ProofRejected);
        }
        let challenge = Challenge::parse(&nonce, &ranges)?;
        let blob = self
            .store
            .blob(&hash)
            .await?
            .ok_or(UploadError::ProofRejected)?;
        if proofs.len() != challenge.ranges.len() {
            return Err(UploadError::ProofRejected);
        }
        let blobs = self.blobs.clone();
        let key = blob.storage_key.clone();
        let expected = tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
            let mut key_bytes = [0u8; 32];
            hex::decode_to_slice(&challenge.nonce, &mut key_bytes)
                .map_err(|_| UploadError::Internal("bad stored nonce".into()))?;
            challenge
                .ranges
                .iter()
                .map(|&(offset, len)| {
                    let data = blobs.read_blob(&key, offset, len as usize)?;
                    Ok(blake3::keyed_hash(&key_bytes, &data).to_hex().to_string())
                })
                .collect()
        })
        .await
        .map_err(join_error)??;
        let all_match = expected.iter().zip(proofs).fold(true, |ok, (want, got)| {
            ok & bool::from(want.as_bytes().ct_eq(got.to_ascii_lowercase().as_bytes()))
        });
        if !all_match {
            tracing::warn!(upload = %id, user = user.id, "proof of possession rejected");
            return Err(UploadError::ProofRejected);
        }
        self.store
            .complete_upload(id, &hash, blob.size_bytes, &blob.storage_key)
            .await?;
        self.blobs.remove_partial(id)?;
        metrics::counter!("spool_uploads_completed_total", "how" => "proof").increment(1);
        Ok(UploadInfo::from(
            &self.store.upload(id).await?.ok_or(UploadError::NotFound)?,
        ))
    }

    /// Ends an upload at its owner's request (tus termination). An unfinished upload's bytes
    /// and reservation are released and its video removed; a completed upload's record is
    /// ended while its video stays.
    pub async fn terminate(&self, user: &User, id: &UploadId) -> Result<()> {
        let _lock = self.lock(id)?;
        let row = self.load_owned(user, id).await?;
        if row.state == UploadState::Complete {
            self.store.close_completed_upload(id).await?;
            return Ok(());
        }
        self.store.end_upload(id, UploadState::Terminated).await?;
        self.blobs.remove_partial(id)?;
        Ok(())
    }

    /// Appends a PATCH body at `offset`. Bytes are written through a fixed buffer, fsynced and
    /// acknowledged every `commit_every_bytes` and at the end; when `stop` fires (shutdown) or
    /// the body breaks, what arrived is kept and acknowledged. With a checksum, nothing of the
    /// body is kept unless all of it matches.
    #[allow(clippy::too_many_arguments)]
    pub async fn append<S, E>(
        &self,
        user: &User,
        id: &UploadId,
        offset: u64,
        declared_length: Option<u64>,
        checksum: Option<ExpectedChecksum>,
        mut body: S,
        stop: CancellationToken,
    ) -> Result<UploadInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Display,
    {
        let _lock = self.lock(id)?;
        let row = self.load_owned(user, id).await?;
        if row.state == UploadState::Complete {
            return Err(UploadError::AlreadyComplete);
        }
        let start = row.offset as u64;
        if offset != start {
            return Err(UploadError::OffsetMismatch {
                given: offset,
                actual: start,
            });
        }
        let length = self.settle_length(&row, declared_length).await?;
        let limit = match length {
            Some(l) => l,
            None => self.deferred_limit(user).await?,
        };

        let blobs = self.blobs.clone();
        let (upload_id, checkpoint) = (id.clone(), row.hash_state.clone());
        let mut sink = tokio::task::spawn_blocking(move || -> Result<Sink> {
            let file = blobs.open_partial(&upload_id, start)?;
            let tail_at = ResumableHasher::tail_offset(&checkpoint)
                .map_err(|e| UploadError::Internal(e.to_string()))?;
            let tail = blobs.read_partial(&upload_id, tail_at, (start - tail_at) as usize)?;
            let hasher = ResumableHasher::restore(&checkpoint, &tail)
                .map_err(|e| UploadError::Internal(e.to_string()))?;
            Ok(Sink {
                file,
                hasher,
                checksum: checksum.map(RunningChecksum::new),
                offset: start,
            })
        })
        .await
        .map_err(join_error)??;

        let mut committed = start;
        let mut received = start;
        let mut batch = Batch::default();
        let mut inflight: Option<InflightWrite> = None;
        let mut sink_slot = Some(sink);
        let can_commit_midway = sink_slot.as_ref().is_some_and(|s| s.checksum.is_none());
        // At most one fsync runs in the background while the body keeps streaming in.
        let mut pending: Option<PendingSync> = None;

        let ending = loop {
            let frame = tokio::select! {
                biased;
                _ = stop.cancelled() => break Ending::Interrupted,
                frame = body.next() => frame,
            };
            let data = match frame {
                None => break Ending::BodyDone,
                Some(Err(e)) => {
                    tracing::info!(upload = %id, "upload body ended early: {e}");
                    break Ending::Interrupted;
                }
                Some(Ok(data)) => data,
            };
            if received + data.len() as u64 > limit {
                break Ending::Refused(match length {
                    Some(length) => UploadError::PastLength { length },
                    None => UploadError::TooLarge {
                        size: received + data.len() as u64,
                        max: limit,
                    },
                });
            }
            received += data.len() as u64;
            metrics::counter!("spool_upload_bytes_total").increment(data.len() as u64);
            batch.push(data);
            if batch.is_full() {
                start_write(&mut inflight, &mut sink_slot, &mut batch).await?;
            }
            if let Some(done) = pending.take_if(|p| p.handle.is_finished()) {
                committed = self.acknowledge(id, committed, done).await?;
            }
            if can_commit_midway
                && pending.is_none()
                && received - committed >= self.config.commit_every_bytes
                && Some(received) != length
            {
                start_write(&mut inflight, &mut sink_slot, &mut batch).await?;
                sink = finish_writes(&mut inflight, &mut sink_slot).await?;
                pending = Some(PendingSync::start(&sink)?);
                sink_slot = Some(sink);
            }
        };
        if let Some(last) = pending.take() {
            committed = self.acknowledge(id, committed, last).await?;
        }
        if !batch.is_empty() {
            start_write(&mut inflight, &mut sink_slot, &mut batch).await?;
        }
        sink = finish_writes(&mut inflight, &mut sink_slot).await?;

        if let Ending::Refused(err) = ending {
            self.discard(sink, committed).await?;
            return Err(err);
        }
        if sink.checksum.is_some() {
            let interrupted = matches!(ending, Ending::Interrupted);
            let matched = sink.checksum.take().is_some_and(RunningChecksum::matches);
            if interrupted || !matched {
                self.discard(sink, committed).await?;
                return Err(if interrupted {
                    UploadError::Interrupted { offset: committed }
                } else {
                    UploadError::ChecksumMismatch
                });
            }
        }
        let final_hash = match length {
            Some(length) if sink.offset == length => {
                let hash = ContentHash::from(sink.hasher.finalize());
                if let Some(announced) = row.announced_blake3
                    && announced != hash
                {
                    self.discard(sink, committed).await?;
                    return Err(UploadError::Blake3Mismatch {
                        announced: announced.to_hex(),
                        actual: hash.to_hex(),
                    });
                }
                if let Err(blocked) = self.refused(&hash) {
                    // Nothing of it is kept: the bytes, the reservation, the video.
                    drop(sink);
                    self.store.end_upload(id, UploadState::Terminated).await?;
                    self.blobs.remove_partial(id)?;
                    tracing::warn!(upload = %id, blake3 = %hash, "upload refused: {blocked}");
                    return Err(blocked);
                }
                Some(hash)
            }
            _ => None,
        };
        if sink.offset != committed || final_hash.is_some() {
            sink = self.commit(id, committed, sink, final_hash).await?;
        }
        if let Some(hash) = final_hash {
            drop(sink);
            self.finish(id, &hash, length.unwrap_or_default()).await?;
        }
        if matches!(ending, Ending::Interrupted) {
            let offset = self.store.upload(id).await?.map_or(0, |r| r.offset as u64);
            return Err(UploadError::Interrupted { offset });
        }
        Ok(UploadInfo::from(
            &self.store.upload(id).await?.ok_or(UploadError::NotFound)?,
        ))
    }

    async fn settle_length(&self, row: &UploadRow, declared: Option<u64>) -> Result<Option<u64>> {
        let known = row.length.map(|l| l as u64);
        match (known, declared) {
            (Some(known), Some(declared)) if known != declared => Err(UploadError::BadRequest(
                format!("Upload-Length is already {known} and cannot change"),
            )),
            (None, Some(declared)) => {
                if declared > self.config.max_size_bytes {
                    return Err(UploadError::TooLarge {
                        size: declared,
                        max: self.config.max_size_bytes,
                    });
                }
                if declared < row.offset as u64 {
                    return Err(UploadError::BadRequest(format!(
                        "Upload-Length {declared} is below the bytes already received ({})",
                        row.offset
                    )));
                }
                let declared_i = declared as i64;
                if !self
                    .store
                    .declare_length(&row.id, declared_i, self.config.user_quota_bytes)
                    .await
                    .map_err(quota_error)?
                {
                    return Err(UploadError::BadRequest(
                        "Upload-Length is already set".into(),
                    ));
                }
                Ok(Some(declared))
            }
            (known, _) => Ok(known),
        }
    }

    /// How far a deferred-length upload may grow: the size limit, or what is left of the quota.
    async fn deferred_limit(&self, user: &User) -> Result<u64> {
        let max = self.config.max_size_bytes;
        let quota = self.config.user_quota_bytes;
        if quota == 0 {
            return Ok(max);
        }
        let used = self
            .store
            .user_by_id(user.id)
            .await?
            .map_or(0, |u| u.used_bytes.max(0) as u64);
        Ok(max.min(quota.saturating_sub(used)))
    }

    /// fsyncs the file and records its length as the acknowledged offset.
    async fn commit(
        &self,
        id: &UploadId,
        expected: u64,
        sink: Sink,
        final_hash: Option<ContentHash>,
    ) -> Result<Sink> {
        let sink = tokio::task::spawn_blocking(move || {
            sink.file.sync_data().map(|_| sink).map_err(io_error)
        })
        .await
        .map_err(join_error)??;
        let stored = self
            .store
            .commit_offset(
                id,
                expected as i64,
                sink.offset as i64,
                &sink.hasher.checkpoint(),
                final_hash.as_ref(),
                self.expiry(),
            )
            .await?;
        if !stored {
            return Err(UploadError::Internal(
                "upload changed underneath an in-flight write".into(),
            ));
        }
        Ok(sink)
    }

    /// Waits for a background fsync and acknowledges the offset it covered.
    async fn acknowledge(&self, id: &UploadId, expected: u64, synced: PendingSync) -> Result<u64> {
        synced.handle.await.map_err(join_error)?.map_err(io_error)?;
        let stored = self
            .store
            .commit_offset(
                id,
                expected as i64,
                synced.offset as i64,
                &synced.checkpoint,
                None,
                self.expiry(),
            )
            .await?;
        if !stored {
            return Err(UploadError::Internal(
                "upload changed underneath an in-flight write".into(),
            ));
        }
        Ok(synced.offset)
    }

    /// Cuts the partial file back to the acknowledged offset.
    async fn discard(&self, sink: Sink, committed: u64) -> Result<()> {
        tokio::task::spawn_blocking(move || sink.file.set_len(committed).map_err(io_error))
            .await
            .map_err(join_error)?
    }

    /// Moves the finished file into the blob store and completes the upload. Idempotent.
    async fn finish(&self, id: &UploadId, hash: &ContentHash, size: u64) -> Result<()> {
        let blobs = self.blobs.clone();
        let (upload_id, h) = (id.clone(), *hash);
        let key = tokio::task::spawn_blocking(move || blobs.promote(&upload_id, &h))
            .await
            .map_err(join_error)??;
        self.store
            .complete_upload(id, hash, size as i64, &key)
            .await?;
        metrics::counter!("spool_uploads_completed_total", "how" => "bytes").increment(1);
        tracing::info!(upload = %id, blake3 = %hash, size, "upload complete");
        Ok(())
    }

    /// Reclaims expired unfinished uploads; returns how many.
    pub async fn sweep_expired(&self) -> Result<usize> {
        let mut swept = 0;
        for row in self.store.expired_uploads(now_millis(), 500).await? {
            let Ok(_lock) = self.lock(&row.id) else {
                continue;
            };
            if self.store.end_upload(&row.id, UploadState::Expired).await? {
                self.blobs.remove_partial(&row.id)?;
                swept += 1;
            }
        }
        if swept > 0 {
            tracing::info!(swept, "expired uploads reclaimed");
        }
        Ok(swept)
    }

    /// After a crash: finishes completions that were cut short and deletes partial files whose
    /// upload is no longer active.
    pub async fn recover(&self) -> Result<()> {
        for row in self.store.interrupted_completions().await? {
            if let (Some(hash), Some(length)) = (row.final_blake3, row.length) {
                tracing::info!(upload = %row.id, "finishing an interrupted completion");
                self.finish(&row.id, &hash, length as u64).await?;
            }
        }
        for id in self.blobs.partial_ids()? {
            let active = self
                .store
                .upload(&id)
                .await?
                .is_some_and(|r| r.state == UploadState::Active);
            if !active {
                self.blobs.remove_partial(&id)?;
            }
        }
        Ok(())
    }
}

/// Hands the batch to a blocking write, first waiting for the previous one, so at most one
/// write is in flight while the next batch fills.
async fn start_write(
    inflight: &mut Option<InflightWrite>,
    sink_slot: &mut Option<Sink>,
    batch: &mut Batch,
) -> Result<()> {
    if let Some(sink) = finish_inflight(inflight).await? {
        *sink_slot = Some(sink);
    }
    let mut sink = sink_slot
        .take()
        .expect("sink is home when no write is in flight");
    let frames = std::mem::take(batch).frames;
    *inflight = Some(tokio::task::spawn_blocking(move || {
        let result = sink.write(&frames);
        (sink, result)
    }));
    Ok(())
}

async fn finish_inflight(inflight: &mut Option<InflightWrite>) -> Result<Option<Sink>> {
    let Some(handle) = inflight.take() else {
        return Ok(None);
    };
    let (sink, result) = handle.await.map_err(join_error)?;
    result.map_err(io_error)?;
    Ok(Some(sink))
}

async fn finish_writes(
    inflight: &mut Option<InflightWrite>,
    sink_slot: &mut Option<Sink>,
) -> Result<Sink> {
    match finish_inflight(inflight).await? {
        Some(sink) => Ok(sink),
        None => Ok(sink_slot
            .take()
            .expect("sink is home when no write is in flight")),
    }
}

/// The title from metadata `title` (checked like every title: a bad one is refused), else the
/// file name without extension (cleaned), else "Untitled".
fn video_title(fields: &std::collections::BTreeMap<String, String>) -> Result<String> {
    let title = match fields.get("title").filter(|t| !t.trim().is_empty()) {
        Some(given) => {
            Title::parse(given).map_err(|e| UploadError::BadRequest(format!("metadata {e}")))?
        }
        None => fields
            .get("filename")
            .and_then(|name| Title::from_file_name(name))
            .unwrap_or_else(Title::untitled),
    };
    Ok(title.into_string())
}

fn new_challenge(length: u64) -> Challenge {
    let mut nonce = [0u8; 32];
    let mut rng = rand::rng();
    rng.fill_bytes(&mut nonce);
    let ranges = if length <= PROOF_RANGE * PROOF_RANGES as u64 {
        vec![(0, length)]
    } else {
        (0..PROOF_RANGES)
            .map(|_| (rng.random_range(0..=length - PROOF_RANGE), PROOF_RANGE))
            .collect()
    };
    Challenge {
        nonce: hex::encode(nonce),
        ranges,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_title(pairs: &[(&str, &str)], expect: &str) {
        let fields = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(video_title(&fields).unwrap(), expect);
    }

    #[test]
    fn titles_come_from_metadata_or_file_name() {
        check_title(&[("title", "My trip"), ("filename", "a.mp4")], "My trip");
        check_title(&[("filename", "dir/holiday.final.mp4")], "holiday.final");
        check_title(&[("filename", "C:\\clips\\cat.mov")], "cat");
        check_title(&[("title", "   ")], "Untitled");
        check_title(&[], "Untitled");
    }

    #[test]
    fn challenges_cover_small_files_whole_and_large_files_in_ranges() {
        let small = new_challenge(1000);
        assert_eq!(small.ranges, vec![(0, 1000)]);
        let large = new_challenge(10 << 20);
        assert_eq!(large.ranges.len(), PROOF_RANGES);
        assert!(large.ranges.iter().all(|&(o, l)| o + l <= 10 << 20));
        let parsed = Challenge::parse(&large.nonce, &large.ranges_header()).unwrap();
        assert_eq!(parsed, large);
    }
}
