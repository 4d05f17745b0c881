//! Throwaway databases for tests: a SQLite file in a temp dir, or a fresh database
//! (`spool_test_<random>`) created on the MariaDB/MySQL server named by `SPOOL_TEST_MYSQL`
//! (default `mysql://root@127.0.0.1:3306`) or the PostgreSQL server named by
//! `SPOOL_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`), dropped when the handle
//! drops. A server that is down makes the test fail; it is never skipped.

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
    /// A fresh database on the local PostgreSQL.
    Postgres,
}

/// Every engine, for data-driven tests.
pub const ENGINES: [Engine; 3] = [Engine::Sqlite, Engine::MySql, Engine::Postgres];

/// `sql`, written with `?` placeholders, in the dialect of the database at `url` (for tests
/// that change rows behind the store's back).
pub fn dialect(url: &str, sql: &str) -> String {
    if url.starts_with("postgres") {
        crate::number_placeholders(sql)
    } else {
        sql.to_owned()
    }
}

/// A database that exists for one test.
pub struct TestDb {
    /// URL to hand to `Store::connect` or `spool --database`.
    pub url: String,
    /// The server engine and the database's name on it, dropped with the handle.
    server_db: Option<(Engine, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// The server URL (without a database) tests use for `engine`.
fn server(engine: Engine) -> String {
    let (var, default) = match engine {
        Engine::Postgres => ("SPOOL_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
        Engine::MySql | Engine::Sqlite => ("SPOOL_TEST_MYSQL", "mysql://root@127.0.0.1:3306"),
    };
    std::env::var(var).unwrap_or_else(|_| default.into())
}

/// The URL of the database that administrative statements run in on `engine`'s server.
fn admin_url(engine: Engine) -> String {
    match engine {
        // PostgreSQL has no connection without a database.
        Engine::Postgres => format!("{}/postgres", server(engine)),
        Engine::MySql | Engine::Sqlite => server(engine),
    }
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
                    server_db: None,
                    _dir: Some(dir),
                }
            }
            Engine::MySql | Engine::Postgres => {
                let name = format!("spool_test_{:016x}", rand::rng().random::<u64>());
                run_admin(&admin_url(engine), &format!("CREATE DATABASE {name}")).await;
                Self {
                    url: format!("{}/{name}", server(engine)),
                    server_db: Some((engine, name)),
                    _dir: None,
                }
            }
        }
    }

    /// A fresh database for a server test on `engine`: none for SQLite (the server keeps its
    /// own file in its data dir).
    pub async fn for_server(engine: Engine) -> Option<Self> {
        match engine {
            Engine::Sqlite => None,
            Engine::MySql | Engine::Postgres => Some(Self::new(engine).await),
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
        .unwrap_or_else(|e| {
            panic!("the database server at {server} must be running for tests: {e}")
        });
    sqlx::query(sql).execute(&mut conn).await.expect(sql);
    let _ = conn.close().await;
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((engine, name)) = self.server_db.take() {
            let server = admin_url(engine);
            // A server or pool of the test may still hold connections: PostgreSQL refuses to
            // drop a database in use unless forced.
            let drop = match engine {
                Engine::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                Engine::MySql | Engine::Sqlite => format!("DROP DATABASE IF EXISTS {name}"),
            };
            // Drop may run inside a runtime; a private runtime on its own thread is always safe.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(run_admin(&server, &drop));
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
