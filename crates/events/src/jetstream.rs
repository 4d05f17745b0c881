//! The event log on NATS JetStream, for several `spool serve` nodes sharing one stream.
//!
//! One stream (file storage) with one subject. Offsets are stream sequences minus one, so
//! they start at 0 like the embedded log's. Each record is published with its event id as
//! `Nats-Msg-Id`, so the server drops a retried publish inside its duplicate window; an append
//! returns once JetStream acknowledged every record (stored by the server; how often the
//! server fsyncs is its own `sync_interval`). Reads create a short-lived ephemeral pull
//! consumer from the wanted sequence, fetch what is there and delete it.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::error::{LogError, Result};
use crate::segment::Record;

/// Default stream name.
pub const DEFAULT_STREAM: &str = "SPOOL_EVENTS";
/// How long JetStream remembers message ids to drop duplicates.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How long a read waits for its first messages before answering with what it has.
const FETCH_WAIT: Duration = Duration::from_millis(500);

fn unavailable(what: &str, e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(format!("NATS JetStream {what}: {e}"))
}

/// The event log in a JetStream stream.
#[derive(Clone)]
pub struct JetStreamLog {
    context: jetstream::Context,
    stream: String,
    subject: String,
}

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog")
            .field("stream", &self.stream)
            .finish()
    }
}

impl JetStreamLog {
    /// Connects to `url` (`nats://host:port`) and creates stream `stream` (subject
    /// `<stream>.events`, file storage, records kept `max_age` and at most `max_bytes`) unless
    /// it exists.
    pub async fn connect(
        url: &str,
        stream: &str,
        max_age: Duration,
        max_bytes: Option<u64>,
    ) -> Result<Self> {
        if stream.is_empty()
            || !stream
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(LogError::InvalidConfig(
                "the JetStream stream name must be letters, digits, '_' or '-'",
            ));
        }
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| unavailable(&format!("connecting to {url}"), e))?;
        let context = jetstream::new(client);
        let subject = format!("{stream}.events");
        context
            .get_or_create_stream(stream::Config {
                name: stream.to_owned(),
                subjects: vec![subject.clone()],
                storage: stream::StorageType::File,
                max_age,
                max_bytes: max_bytes.and_then(|b| i64::try_from(b).ok()).unwrap_or(-1),
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&format!("creating stream {stream}"), e))?;
        Ok(Self {
            context,
            stream: stream.to_owned(),
            subject,
        })
    }

    /// The stream, with its current state.
    async fn stream(&self) -> Result<stream::Stream> {
        self.context
            .get_stream(&self.stream)
            .await
            .map_err(|e| unavailable("opening the stream", e))
    }

    /// Publishes `(id, payload)` records and waits for JetStream to acknowledge all of them;
    /// returns an offset above every record appended. A record whose id JetStream saw inside
    /// its duplicate window is not stored again.
    pub async fn append(&self, records: Vec<(String, Bytes)>) -> Result<u64> {
        let mut pending = Vec::with_capacity(records.len());
        for (id, payload) in records {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id.as_str());
            let ack = self
                .context
                .publish_with_headers(self.subject.clone(), headers, payload)
                .await
                .map_err(|e| unavailable("publishing", e))?;
            pending.push(ack);
        }
        let mut end = 0;
        for ack in pending {
            let ack = ack.await.map_err(|e| unavailable("acknowledging", e))?;
            end = end.max(ack.sequence);
        }
        Ok(end)
    }

    /// Up to `max` records from `from_offset` on (waiting briefly when there are none yet).
    pub async fn read(&self, from_offset: u64, max: usize) -> Result<Vec<Record>> {
        let stream = self.stream().await?;
        let state = &stream.cached_info().state;
        if state.messages == 0 || from_offset + 1 > state.last_sequence {
            return Ok(Vec::new());
        }
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from_offset + 1,
                },
                ack_policy: consumer::AckPolicy::None,
                inactive_threshold: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable("creating a reader", e))?;
        let name = consumer.cached_info().name.clone();
        let result = async {
            let mut messages = consumer
                .fetch()
                .max_messages(max)
                .expires(FETCH_WAIT)
                .messages()
                .await
                .map_err(|e| unavailable("fetching", e))?;
            let mut records = Vec::new();
            while let Some(message) = messages.next().await {
                let message = message.map_err(|e| unavailable("fetching", e))?;
                let info = message.info().map_err(|e| unavailable("reading", e))?;
                records.push(Record {
                    offset: info.stream_sequence - 1,
                    timestamp_ms: (info.published.unix_timestamp_nanos() / 1_000_000) as i64,
                    payload: message.payload.clone(),
                });
                if records.len() >= max {
                    break;
                }
            }
            Ok(records)
        }
        .await;
        // Best effort: an ephemeral consumer also goes by itself once inactive.
        let _ = stream.delete_consumer(&name).await;
        result
    }

    /// The offset the next record will get.
    pub async fn next_offset(&self) -> Result<u64> {
        let stream = self.stream().await?;
        Ok(stream.cached_info().state.last_sequence)
    }

    /// The oldest offset still kept.
    pub async fn oldest_offset(&self) -> Result<u64> {
        let stream = self.stream().await?;
        Ok(stream.cached_info().state.first_sequence.saturating_sub(1))
    }

    /// Deletes the stream and everything in it (tests clean up with this).
    pub async fn delete(self) -> Result<()> {
        self.context
            .delete_stream(&self.stream)
            .await
            .map(|_| ())
            .map_err(|e| unavailable("deleting the stream", e))
    }
}
