//! The metadata store: the only code that writes SQL.
//!
//! One code path serves SQLite (the embedded default), MySQL/MariaDB and PostgreSQL through
//! sqlx's `Any` driver. Every query is written once with `?` placeholders in portable SQL and
//! passes through [`Store::sql`], which numbers the placeholders (`$1`, `$2`, …) for PostgreSQL;
//! the three migration folders hold the same schema in each dialect. Integers are BIGINT and
//! timestamps Unix milliseconds so the `Any` driver decodes the same Rust types from every
//! engine.
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

use std::borrow::Cow;
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
    #[error("unsupported database URL `{0}` (use sqlite://, mysql:// or postgres://)")]
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
    /// PostgreSQL.
    Postgres,
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
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Resolves when a job is queued through this store (or a clone) after the call; idle job
    /// runners wait on it beside their poll interval.
    pub async fn job_queued(&self) {
        self.job_queued.notified().await;
    }

    pub(crate) fn notify_job_queued(&self) {
        self.job_queued.notify_waiters();
    }

    /// Connects and applies pending migrations. `url` is `sqlite://…`, `mysql://…` (or
    /// `mariadb://…`) or `postgres://…` (or `postgresql://…`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Backend::MySql
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
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
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
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

    /// `sql` in this store's dialect. Queries are written once with `?` placeholders (SQLite and
    /// MySQL take them as they are); PostgreSQL numbers its placeholders, so each `?` outside a
    /// quoted literal or identifier becomes `$1`, `$2`, … A rewrite in one place keeps one text
    /// per query for three engines; per-dialect SQL would triple every query for one detail.
    pub(crate) fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self.backend {
            Backend::Postgres => Cow::Owned(number_placeholders(sql)),
            Backend::Sqlite | Backend::MySql => Cow::Borrowed(sql),
        }
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
            Backend::MySql | Backend::Postgres => self.pool.begin().await?,
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
/// wait timeout (1205); PostgreSQL serialization failure (40001) and deadlock (40P01).
fn is_transient(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    let code = db.code();
    matches!(
        code.as_deref(),
        Some("5" | "6" | "517" | "261" | "40001" | "40P01")
    ) || db.message().contains("Lock wait timeout")
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

/// The id the connection's last INSERT generated (sqlx's `Any` driver reports none for
/// SQLite and PostgreSQL), asked on the same connection or transaction.
pub(crate) async fn last_insert_id(
    backend: Backend,
    conn: &mut sqlx::AnyConnection,
) -> Result<i64> {
    let sql = match backend {
        Backend::Sqlite => "SELECT last_insert_rowid() AS id",
        Backend::MySql => "SELECT CAST(LAST_INSERT_ID() AS SIGNED) AS id",
        Backend::Postgres => "SELECT lastval() AS id",
    };
    use sqlx::Row;
    Ok(sqlx::query(sql).fetch_one(conn).await?.try_get("id")?)
}

/// True when the error is a unique-constraint violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// `sql` with each `?` outside quotes replaced by `$1`, `$2`, … in order.
pub(crate) fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut quote = None;
    let mut n = 0;
    for c in sql.chars() {
        match (quote, c) {
            (None, '\'' | '"' | '`') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{number_placeholders, redact};

    #[test]
    fn placeholders_are_numbered_outside_quotes_only() {
        for (sql, expect) in [
            ("SELECT 1", "SELECT 1"),
            ("a = ? AND b = ?", "a = $1 AND b = $2"),
            ("x LIKE '%?%' AND y = ?", "x LIKE '%?%' AND y = $1"),
            ("'it''s ?' || ?", "'it''s ?' || $1"),
            ("\"we?ird\" = ?", "\"we?ird\" = $1"),
            (
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
            ),
        ] {
            assert_eq!(number_placeholders(sql), expect, "{sql}");
        }
    }

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
