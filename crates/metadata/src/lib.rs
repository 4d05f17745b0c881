//! The metadata store: the only code that writes SQL.
//!
//! One code path serves SQLite (the embedded default) and MySQL/MariaDB through sqlx's `Any`
//! driver. Every query uses `?` placeholders and portable SQL; the two migration folders hold
//! the same schema in each dialect. Integers are BIGINT and timestamps Unix milliseconds so the
//! `Any` driver decodes the same Rust types from both engines.
//!
//! Architecture Invariant: no SQL exists outside this crate, and no write here ever leaves the
//! tables inconsistent on its own (one statement or one transaction); it never decides policy
//! (callers pass the quota, the expected offset, the state).

mod blobs;
mod comments;
mod danmaku;
mod follows;
mod jobs;
mod ledger;
mod likes;
mod live;
mod media;
mod moderation;
mod questions;
mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
mod uploads;
mod users;
mod videos;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use blobs::Blob;
pub use comments::{
    CommentCursor, CommentInsert, CommentOrder, CommentReport, CommentRow, NewComment,
};
pub use danmaku::{DanmakuRow, DanmakuWindow, NewDanmaku};
pub use follows::FollowedChannel;
pub use jobs::{JobRow, JobState, MAX_JOB_ERROR_LEN, MAX_JOB_KIND_LEN, MAX_WORKER_ID_LEN};
pub use ledger::{
    EarningRow, GiftRow, ISSUANCE_ACCOUNT, LeaderRow, LedgerAudit, Movement, NewTransfer,
    PLATFORM_ACCOUNT, Posted, TransferKind, TransferRow,
};
pub use likes::LikeState;
pub use live::{NewRoom, RECORDING_JOB, RoomRow};
pub use media::{CoverChange, MAX_VIDEO_ERROR_LEN};
pub use moderation::{
    Actor, DecisionRow, FrameHashRow, HashListRow, ImportedList, ListEntryRow, MatchRow,
    NewListEntry, ReportRow,
};
pub use questions::QuestionRow;
pub use sessions::{NewSession, Session};
pub use uploads::{NewUpload, PROCESS_JOB, UploadRow, UploadState};
pub use users::{User, validate_user_name};
pub use videos::{DeletedVideo, ListCursor, VideoRow, VideoUpdate};

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names an engine Spool does not support.
    #[error("unsupported database URL `{0}` (use sqlite:// or mysql://)")]
    UnsupportedUrl(String),
    /// A unique value is already taken (e.g. a user name).
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// Reserving more bytes would exceed the user's quota.
    #[error("storage quota exceeded: {used} of {quota} bytes used, {requested} more requested")]
    QuotaExceeded {
        /// Bytes already charged.
        used: i64,
        /// The user's quota.
        quota: u64,
        /// Bytes the request needs.
        requested: i64,
    },
    /// A value given by the caller is not acceptable.
    #[error("{0}")]
    InvalidInput(String),
    /// A row holds a value the code does not understand (a bug or a hand-edited row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl MetadataError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Database(_) | Self::Migrate(_) => "database_error",
            Self::UnsupportedUrl(_) => "unsupported_database",
            Self::AlreadyExists(_) => "already_exists",
            Self::Corrupt(_) => "corrupt_row",
            Self::InvalidInput(_) => "invalid_input",
            Self::QuotaExceeded { .. } => "quota_exceeded",
        }
    }
}

/// Shorthand for metadata results.
pub type Result<T, E = MetadataError> = std::result::Result<T, E>;

/// Which engine is behind the pool; only migrations and a few pragmas differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// MySQL or MariaDB.
    MySql,
}

/// Handle to the metadata database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Wakes this process's idle job runners when a job is queued through this handle (other
    /// processes find it at their next poll).
    job_queued: std::sync::Arc<tokio::sync::Notify>,
    /// Statements started through this handle and its clones (tests count queries).
    #[cfg(feature = "testing")]
    queries: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/mysql");

impl Store {
    /// Resolves when a job is queued through this store (or a clone) after the call; idle job
    /// runners wait on it beside their poll interval.
    pub async fn job_queued(&self) {
        self.job_queued.notified().await;
    }

    pub(crate) fn notify_job_queued(&self) {
        self.job_queued.notify_waiters();
    }

    /// Connects and applies pending migrations. `url` is `sqlite://…` or `mysql://…`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Backend::MySql
        } else {
            return Err(MetadataError::UnsupportedUrl(redact(url)));
        };
        let url = url.replacen("mariadb:", "mysql:", 1);
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets `spool user add` write while the server runs; FULL makes a
                        // committed upload offset survive power loss, not only a crash.
                        conn.execute(
                            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                             PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::MySql => MYSQL_MIGRATIONS.run(&pool).await?,
        }
        Ok(Self {
            pool,
            backend,
            job_queued: Default::default(),
            #[cfg(feature = "testing")]
            queries: std::sync::Arc::default(),
        })
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    /// Closes every connection (waits for checked-out ones to return).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        #[cfg(feature = "testing")]
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.pool
    }

    /// Statements (and transactions) started so far through this handle and its clones; with
    /// the `testing` feature only, for tests that prove something costs no queries.
    #[cfg(feature = "testing")]
    pub fn queries_started(&self) -> u64 {
        self.queries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first cannot wait for the lock
    /// when it later writes, it fails at once with SQLITE_BUSY.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        #[cfg(feature = "testing")]
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::MySql => self.pool.begin().await?,
        })
    }
}

/// Runs a transactional operation again when the engine reports a transient conflict
/// (SQLite busy, MySQL deadlock or lock wait timeout), with a short jittered backoff.
pub(crate) async fn with_retry<T, F, Fut>(mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut delay_ms = 5u64;
    let mut attempt = 0;
    loop {
        match op().await {
            Err(MetadataError::Database(e)) if is_transient(&e) && attempt < 10 => {
                tracing::debug!(attempt, "transient database conflict, retrying: {e}");
                let jitter = rand::random::<u64>() % (delay_ms + 1);
                tokio::time::sleep(Duration::from_millis(delay_ms + jitter)).await;
                delay_ms = (delay_ms * 2).min(500);
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// SQLite BUSY (5), LOCKED (6), BUSY_SNAPSHOT (517); MySQL deadlock (SQLSTATE 40001) and lock
/// wait timeout (1205).
fn is_transient(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    let code = db.code();
    matches!(code.as_deref(), Some("5" | "6" | "517" | "261" | "40001"))
        || db.message().contains("Lock wait timeout")
        || db.message().contains("database is locked")
}

/// Removes a password from a database URL before it reaches a log or error.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// True when the error is a unique-constraint violation.
/// The id the connection's last INSERT generated (sqlx's `Any` driver reports none for
/// SQLite), asked on the same connection or transaction.
pub(crate) async fn last_insert_id(
    backend: Backend,
    conn: &mut sqlx::AnyConnection,
) -> Result<i64> {
    let sql = match backend {
        Backend::Sqlite => "SELECT last_insert_rowid() AS id",
        Backend::MySql => "SELECT CAST(LAST_INSERT_ID() AS SIGNED) AS id",
    };
    use sqlx::Row;
    Ok(sqlx::query(sql).fetch_one(conn).await?.try_get("id")?)
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::redact;

    fn check(input: &str, expect: &str) {
        assert_eq!(redact(input), expect);
    }

    #[test]
    fn redact_hides_passwords_only() {
        check(
            "mysql://root:secret@127.0.0.1/db",
            "mysql://root:***@127.0.0.1/db",
        );
        check("mysql://root@127.0.0.1/db", "mysql://root@127.0.0.1/db");
        check("sqlite://./data/spool.db", "sqlite://./data/spool.db");
    }
}
