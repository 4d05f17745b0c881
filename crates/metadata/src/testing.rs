//! Throwaway databases for tests: a SQLite file in a temp dir, or a fresh MariaDB/MySQL
//! database (`spool_test_<random>`) created on the server named by `SPOOL_TEST_MYSQL`
//! (default `mysql://root@127.0.0.1:3306`) and dropped when the handle drops.
//! A MariaDB that is down makes the test fail; it is never skipped.

use rand::Rng;
use spool_model::{ContentHash, UploadId, UserId, VideoId, Visibility, now_millis};

use crate::{NewUpload, Store};

/// Which engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// SQLite in a temp dir.
    Sqlite,
    /// A fresh database on the local MariaDB.
    MySql,
}

/// Both engines, for data-driven tests.
pub const ENGINES: [Engine; 2] = [Engine::Sqlite, Engine::MySql];

/// A database that exists for one test.
pub struct TestDb {
    /// URL to hand to `Store::connect` or `spool --database`.
    pub url: String,
    mysql_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn mysql_server() -> String {
    std::env::var("SPOOL_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

impl TestDb {
    /// Creates an empty database on `engine`.
    pub async fn new(engine: Engine) -> Self {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("spool.db").display()
                );
                Self {
                    url,
                    mysql_name: None,
                    _dir: Some(dir),
                }
            }
            Engine::MySql => {
                let name = format!("spool_test_{:016x}", rand::rng().random::<u64>());
                let server = mysql_server();
                run_admin(&server, &format!("CREATE DATABASE {name}")).await;
                Self {
                    url: format!("{server}/{name}"),
                    mysql_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// Creates the database and connects a migrated store to it.
    pub async fn store(engine: Engine) -> (Self, Store) {
        let db = Self::new(engine).await;
        let store = Store::connect(&db.url, 4)
            .await
            .expect("connect to test database");
        (db, store)
    }
}

/// Runs `test` once per engine, each with a fresh migrated store and its database URL; the
/// store is closed (and the database dropped) before the next engine starts.
pub async fn on_each_engine<F, Fut>(test: F)
where
    F: Fn(Engine, Store, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for engine in ENGINES {
        eprintln!("engine: {engine:?}");
        let (db, store) = TestDb::store(engine).await;
        test(engine, store.clone(), db.url.clone()).await;
        store.close().await;
        drop(db);
    }
}

/// An upload of `owner` as a client would create it: fresh ids, declared `length`, no
/// metadata, no announced hash, expiring in a minute.
pub fn new_upload(
    owner: UserId,
    title: &str,
    visibility: Visibility,
    length: Option<i64>,
) -> NewUpload {
    NewUpload {
        id: UploadId::random(),
        video_id: VideoId::random(),
        owner_id: owner,
        title: title.into(),
        visibility,
        length,
        metadata: String::new(),
        announced_blake3: None,
        hash_state: vec![],
        expires_at: now_millis() + 60_000,
    }
}

/// A ready video row of `owner` held in memory only (for pure code over rows: policies,
/// indexes, rankers); fields can be set with `VideoRow { title, ..video_row(..) }`.
pub fn video_row(owner: UserId, visibility: Visibility) -> crate::VideoRow {
    crate::VideoRow {
        id: VideoId::random(),
        owner_id: owner,
        owner_name: "owner".into(),
        title: "t".into(),
        description: String::new(),
        tags: vec![],
        category: String::new(),
        visibility,
        status: spool_model::VideoStatus::Ready,
        duration_ms: None,
        width: None,
        height: None,
        blake3: None,
        size_bytes: None,
        error: None,
        progress: 100,
        media: None,
        cover_gen: None,
        cover_custom: false,
        views: 0,
        likes: 0,
        created_at: 0,
        updated_at: 0,
        hold_reason: None,
        held_at: None,
    }
}

/// A video whose upload of `content` completed, made through the store (no file behind it):
/// `uploaded`, its blob referenced under the local store's key (`blobs/<hh>/<blake3>`), the
/// owner's quota charged. Returns the upload, whose `video_id` is the video.
pub async fn uploaded(
    store: &Store,
    owner: UserId,
    title: &str,
    visibility: Visibility,
    content: &[u8],
) -> NewUpload {
    let hash = ContentHash::from(blake3::hash(content));
    let upload = new_upload(owner, title, visibility, Some(content.len() as i64));
    store
        .create_upload(&upload, 0)
        .await
        .expect("create the upload");
    let key = format!("blobs/{}/{}", &hash.to_hex()[..2], hash.to_hex());
    assert!(
        store
            .complete_upload(&upload.id, &hash, content.len() as i64, &key)
            .await
            .expect("complete the upload"),
        "the upload completes"
    );
    upload
}

async fn run_admin(server: &str, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("MariaDB at {server} must be running for tests: {e}"));
    sqlx::query(sql).execute(&mut conn).await.expect(sql);
    let _ = conn.close().await;
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.mysql_name.take() {
            let server = mysql_server();
            // Drop may run inside a runtime; a private runtime on its own thread is always safe.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(run_admin(
                        &server,
                        &format!("DROP DATABASE IF EXISTS {name}"),
                    ));
            })
            .join();
        }
    }
}

/// The least a write can cost on `store`'s engine: one write transaction that changes one row
/// (the platform account's balance, by zero) and commits. Benchmarks time it as the ceiling a
/// transactional write cannot beat on the same disk and engine.
pub async fn bare_write_transaction(store: &Store) -> crate::Result<()> {
    crate::with_retry(|| async {
        let mut tx = store.begin_write().await?;
        sqlx::query("UPDATE ledger_accounts SET balance = balance + 0 WHERE id = ?")
            .bind(crate::PLATFORM_ACCOUNT)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    })
    .await
}
