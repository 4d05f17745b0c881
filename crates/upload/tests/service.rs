//! The upload service's durability paths, driven directly: crash leftovers, interrupted
//! completions, orphans, expiry, racing writers and shutdown mid-body.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use spool_config::UploadConfig;
use spool_metadata::testing::{Engine, TestDb};
use spool_metadata::{Store, User};
use spool_model::{ContentHash, VideoStatus};
use spool_storage::LocalStore;
use spool_upload::hasher::ResumableHasher;
use spool_upload::{UploadError, UploadService};
use tokio_util::sync::CancellationToken;

struct Fixture {
    service: UploadService,
    store: Store,
    blobs: LocalStore,
    user: User,
    _dir: tempfile::TempDir,
    _db: TestDb,
}

async fn fixture(tweak: impl FnOnce(&mut UploadConfig)) -> Fixture {
    let (db, store) = TestDb::store(Engine::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let blobs = LocalStore::open(dir.path()).unwrap();
    let mut config = UploadConfig::default();
    tweak(&mut config);
    let service = UploadService::new(store.clone(), blobs.clone(), config);
    let user = store.create_user("u", false).await.unwrap();
    Fixture {
        service,
        store,
        blobs,
        user,
        _dir: dir,
        _db: db,
    }
}

impl Fixture {
    /// Creates an upload of `length` bytes as the fixture's user, without metadata.
    async fn create(&self, length: u64) -> spool_upload::UploadInfo {
        self.service
            .create(&self.user, Some(length), "")
            .await
            .unwrap()
            .upload
    }

    /// Appends a body at `offset` as the fixture's user, without length or checksum headers.
    async fn append(
        &self,
        id: &spool_model::UploadId,
        offset: u64,
        body: impl futures_util::Stream<Item = Chunk> + Unpin,
        stop: CancellationToken,
    ) -> Result<spool_upload::UploadInfo, UploadError> {
        self.service
            .append(&self.user, id, offset, None, None, body, stop)
            .await
    }
}

type Chunk = Result<Bytes, std::io::Error>;

fn body(parts: &[&[u8]]) -> impl futures_util::Stream<Item = Chunk> + Unpin {
    let owned: Vec<Chunk> = parts
        .iter()
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    futures_util::stream::iter(owned)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

#[tokio::test]
async fn unacknowledged_bytes_from_a_crash_are_cut_off() {
    let f = fixture(|_| {}).await;
    let content = data(200_000);
    let up = f.create(200_000).await;
    let stop = CancellationToken::new();
    let info = f
        .append(&up.id, 0, body(&[&content[..70_000]]), stop.clone())
        .await
        .unwrap();
    assert_eq!(info.offset, 70_000);
    // A crash left garbage after the acknowledged offset.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(f.blobs.partial_path(&up.id))
        .unwrap();
    file.write_all(&[0xEE; 5000]).unwrap();
    drop(file);
    let info = f
        .append(&up.id, 70_000, body(&[&content[70_000..]]), stop)
        .await
        .unwrap();
    assert!(info.complete);
    let video = f.store.video(&up.video_id).await.unwrap().unwrap();
    assert_eq!(
        video.blake3,
        Some(ContentHash::from(blake3::hash(&content)))
    );
}

#[tokio::test]
async fn interrupted_completions_are_finished_and_orphans_removed_on_recovery() {
    let f = fixture(|_| {}).await;
    for (promoted_before_crash, finished_by_head) in [(false, false), (true, false), (false, true)]
    {
        let content =
            data(100_000 + promoted_before_crash as usize + 2 * finished_by_head as usize);
        let hash = ContentHash::from(blake3::hash(&content));
        let up = f.create(content.len() as u64).await;
        // Replay the first half of a completion by hand: bytes fsynced and the final hash
        // recorded with the last offset, then the crash (optionally after the rename).
        let mut file = f.blobs.open_partial(&up.id, 0).unwrap();
        file.write_all(&content).unwrap();
        file.sync_data().unwrap();
        let mut hasher = ResumableHasher::new();
        hasher.update(&content);
        assert!(
            f.store
                .commit_offset(
                    &up.id,
                    0,
                    content.len() as i64,
                    &hasher.checkpoint(),
                    Some(&hash),
                    i64::MAX
                )
                .await
                .unwrap()
        );
        if promoted_before_crash {
            f.blobs.promote(&up.id, &hash).unwrap();
        }
        if finished_by_head {
            // Without a restart: the next HEAD finishes it, so a client never sees the full
            // offset while the video stays `uploading`.
            assert!(f.service.info(&f.user, &up.id).await.unwrap().complete);
        } else {
            f.service.recover().await.unwrap();
        }
        let video = f.store.video(&up.video_id).await.unwrap().unwrap();
        assert_eq!(
            video.status,
            VideoStatus::Uploaded,
            "promoted first: {promoted_before_crash}"
        );
        assert_eq!(video.blake3, Some(hash));
        let blob = f.store.blob(&hash).await.unwrap().unwrap();
        assert_eq!(
            std::fs::read(f.blobs.blob_path(&blob.storage_key)).unwrap(),
            content
        );
    }
    // A partial file without an active upload is an orphan.
    let orphan = spool_model::UploadId::random();
    f.blobs.open_partial(&orphan, 0).unwrap();
    f.service.recover().await.unwrap();
    assert!(!f.blobs.partial_path(&orphan).exists());
}

#[tokio::test]
async fn expired_uploads_answer_gone_and_are_reclaimed() {
    let f = fixture(|c| c.expire_after_s = 1).await;
    let up = f.create(10).await;
    f.append(&up.id, 0, body(&[b"01234"]), CancellationToken::new())
        .await
        .unwrap();
    assert!(f.blobs.partial_path(&up.id).exists());
    assert_eq!(
        f.service.sweep_expired().await.unwrap(),
        0,
        "not expired yet"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(matches!(
        f.service.info(&f.user, &up.id).await,
        Err(UploadError::Expired)
    ));
    assert_eq!(f.service.sweep_expired().await.unwrap(), 1);
    assert!(!f.blobs.partial_path(&up.id).exists());
    assert!(f.store.video(&up.video_id).await.unwrap().is_none());
    assert_eq!(
        f.store
            .user_by_id(f.user.id)
            .await
            .unwrap()
            .unwrap()
            .used_bytes,
        0
    );
    assert!(matches!(
        f.service.info(&f.user, &up.id).await,
        Err(UploadError::Expired)
    ));
}

#[tokio::test]
async fn racing_writers_get_locked_and_shutdown_keeps_what_arrived() {
    let f = fixture(|_| {}).await;
    let up = f.create(1_000_000).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    let stream = tokio_stream_from(rx);
    let stop = CancellationToken::new();
    let first = {
        let (service, user, id, stop) = (
            f.service.clone(),
            f.user.clone(),
            up.id.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            service
                .append(&user, &id, 0, None, None, stream, stop)
                .await
        })
    };
    tx.send(Ok(Bytes::from(vec![1u8; 300_000]))).await.unwrap();
    // Let the first writer start (it takes the upload on its first poll), then race it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let raced = f
        .append(&up.id, 0, body(&[b"x"]), CancellationToken::new())
        .await;
    assert!(matches!(raced, Err(UploadError::Locked)), "{raced:?}");
    assert!(matches!(
        f.service.terminate(&f.user, &up.id).await,
        Err(UploadError::Locked)
    ));
    // Shutdown: the body is still open, yet the writer stops, acknowledges, and answers.
    stop.cancel();
    let result = first.await.unwrap();
    assert!(
        matches!(result, Err(UploadError::Interrupted { offset: 300_000 })),
        "{result:?}"
    );
    assert_eq!(
        f.service.info(&f.user, &up.id).await.unwrap().offset,
        300_000
    );
    drop(tx);
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Chunk>,
) -> impl futures_util::Stream<Item = Chunk> + Unpin {
    Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))).fuse()
}
