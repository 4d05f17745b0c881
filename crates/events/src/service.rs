//! [`Tracking`]: event tracking as its callers see it, one value to hold: the shared log,
//! ingestion, and the read side of the stats projection; plus the tasks the binary runs
//! ([`Tracking::stats_runner`], [`Tracking::server_event_writer`], [`Tracking::retention`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::aggregate::{Aggregates, Limits};
use crate::error::Result;
use crate::ingest::{IngestConfig, Ingestion, ServerEventWriter, VideoAccess};
use crate::projection::{ProjectionHandle, ProjectionRunner};
use crate::shared::{LogRetention, SharedLog};
use crate::stats::{StatsProjection, VideoCatalog};
use crate::store::{EventStore, StoreConfig};

/// How often the log's retention limits are enforced.
pub const RETENTION_EVERY: Duration = Duration::from_secs(600);

/// Tracking settings.
#[derive(Clone, Debug)]
pub struct TrackingConfig {
    /// Local state: the projections' checkpoints, and the embedded log when in use.
    pub dir: PathBuf,
    /// Where the log is.
    pub store: StoreConfig,
    /// Ingestion.
    pub ingest: IngestConfig,
    /// The stats' bounds.
    pub limits: Limits,
}

impl TrackingConfig {
    /// The settings `[events]` gives, with local state in `dir`: the embedded log there
    /// when `log_url` is empty, else the JetStream stream it names.
    pub fn from_settings(dir: PathBuf, settings: &spool_config::EventsConfig) -> Self {
        let max_age = Duration::from_secs(settings.retention_days * 24 * 3600);
        let max_bytes = (settings.retention_bytes > 0).then_some(settings.retention_bytes);
        let store = if settings.log_url.is_empty() {
            StoreConfig::Embedded {
                dir: dir.clone(),
                config: crate::LogConfig {
                    retention_age: Some(max_age),
                    retention_bytes: max_bytes,
                    ..crate::LogConfig::default()
                },
            }
        } else {
            StoreConfig::JetStream {
                url: settings.log_url.clone(),
                stream: settings.nats_stream.clone(),
                max_age,
                max_bytes,
            }
        };
        Self {
            dir,
            store,
            ingest: IngestConfig {
                rate_limit_per_s: settings.rate_limit_per_s,
                rate_limit_burst: settings.rate_limit_burst,
                dedup_window: Duration::from_secs(settings.dedup_window_s),
            },
            limits: Limits {
                views_per_address_hour: settings.views_per_address_hour,
                ..Limits::default()
            },
        }
    }
}

/// Event tracking: the log, ingestion and the stats read side.
pub struct Tracking {
    dir: PathBuf,
    limits: Limits,
    log: Arc<SharedLog>,
    ingestion: Arc<Ingestion>,
    stats: ProjectionHandle<Aggregates>,
}

impl Tracking {
    /// Tracking as `config` says, deciding visibility with `access`. Opens nothing yet.
    pub fn new(config: TrackingConfig, access: Arc<dyn VideoAccess>) -> Self {
        let log = Arc::new(SharedLog::new(config.store));
        Self {
            ingestion: Arc::new(Ingestion::new(log.clone(), &config.ingest, access)),
            stats: ProjectionHandle::new(Aggregates::with_limits(config.limits)),
            dir: config.dir,
            limits: config.limits,
            log,
        }
    }

    /// The shared log.
    pub fn shared_log(&self) -> &Arc<SharedLog> {
        &self.log
    }

    /// The event log itself, opened on first use.
    pub async fn log(&self) -> Result<&EventStore> {
        self.log.get().await
    }

    /// Ingestion of tracking batches and server-observed events.
    pub fn ingestion(&self) -> &Arc<Ingestion> {
        &self.ingestion
    }

    /// The stats as folded so far.
    pub fn stats(&self) -> &ProjectionHandle<Aggregates> {
        &self.stats
    }

    /// Where the projections checkpoint.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The task that folds the log into the stats: run one per process.
    pub fn stats_runner(
        &self,
        catalog: Box<dyn VideoCatalog>,
    ) -> ProjectionRunner<StatsProjection> {
        ProjectionRunner::new(
            StatsProjection::new(catalog, self.limits),
            self.log.clone(),
            &self.dir,
            self.stats.clone(),
        )
    }

    /// The task that appends server-observed events: run one per process, stopped after the
    /// HTTP server has drained.
    pub fn server_event_writer(&self) -> ServerEventWriter {
        ServerEventWriter::new(self.ingestion.clone())
    }

    /// The task that enforces the log's retention.
    pub fn retention(&self) -> LogRetention {
        LogRetention::new(self.log.clone(), RETENTION_EVERY)
    }
}
