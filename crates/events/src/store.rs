//! One interface over the two event logs: the embedded one ([`EventLog`], one node) and NATS
//! JetStream ([`JetStreamLog`], several nodes). Both hand out dense offsets from 0, replay from
//! any kept offset, and acknowledge an append only once it is stored; consumers get every
//! record at least once and deduplicate by event id.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

use crate::error::Result;
use crate::jetstream::JetStreamLog;
use crate::segment::Record;
use crate::{EventLog, LogConfig};

/// Where events go.
#[derive(Clone, Debug)]
pub enum StoreConfig {
    /// The embedded log in this directory.
    Embedded {
        /// Its directory.
        dir: PathBuf,
        /// Its settings.
        config: LogConfig,
    },
    /// A JetStream stream.
    JetStream {
        /// `nats://host:port`.
        url: String,
        /// Stream name.
        stream: String,
        /// How long records are kept.
        max_age: Duration,
        /// Bytes the stream keeps at most (None: no limit).
        max_bytes: Option<u64>,
    },
}

/// The event log in use.
#[derive(Debug)]
pub enum EventStore {
    /// Append-only files in the data dir.
    Embedded(EventLog),
    /// A NATS JetStream stream.
    JetStream(Box<JetStreamLog>),
}

impl EventStore {
    /// Opens (or connects to, creating the stream) the configured log.
    pub async fn open(config: &StoreConfig) -> Result<Self> {
        match config {
            StoreConfig::Embedded { dir, config } => {
                Ok(Self::Embedded(EventLog::open(dir, config.clone()).await?))
            }
            StoreConfig::JetStream {
                url,
                stream,
                max_age,
                max_bytes,
            } => Ok(Self::JetStream(Box::new(
                JetStreamLog::connect(url, stream, *max_age, *max_bytes).await?,
            ))),
        }
    }

    /// Appends `(event id, payload)` records; returns once they are stored, with an offset
    /// above every one of them.
    pub async fn append(&self, records: Vec<(String, Bytes)>) -> Result<u64> {
        match self {
            Self::Embedded(log) => {
                let payloads = records.into_iter().map(|(_, payload)| payload).collect();
                Ok(log.append(payloads).await?.end)
            }
            Self::JetStream(log) => log.append(records).await,
        }
    }

    /// Up to `max` records from `from_offset` on.
    pub async fn read(&self, from_offset: u64, max: usize) -> Result<Vec<Record>> {
        match self {
            Self::Embedded(log) => log.read(from_offset, max).await,
            Self::JetStream(log) => log.read(from_offset, max).await,
        }
    }

    /// The offset the next record will get.
    pub async fn next_offset(&self) -> Result<u64> {
        match self {
            Self::Embedded(log) => Ok(log.next_offset()),
            Self::JetStream(log) => log.next_offset().await,
        }
    }

    /// Drops what is past the retention limits: whole old segments of the embedded log (the
    /// JetStream server enforces the stream's own limits); returns the bytes freed.
    pub async fn enforce_retention(&self) -> Result<u64> {
        match self {
            Self::Embedded(log) => Ok(log.enforce_retention().await?.bytes_deleted),
            Self::JetStream(_) => Ok(0),
        }
    }

    /// The oldest offset still kept.
    pub async fn oldest_offset(&self) -> Result<u64> {
        match self {
            Self::Embedded(log) => Ok(log.oldest_offset()),
            Self::JetStream(log) => log.oldest_offset().await,
        }
    }
}
