//! Throwaway databases for tests: a SQLite file in a temp dir, or a fresh MariaDB/MySQL
//! database (`spool_test_<random>`) created on the server named by `SPOOL_TEST_MYSQL`
//! (default `mysql://root@127.0.0.1:3306`) and dropped when the handle drops.
//! A MariaDB that is down makes the test fail; it is never skipped.

use rand::Rng;

use crate::Store;

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
