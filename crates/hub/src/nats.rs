//! The hub across nodes over NATS core subjects. A node delivers what it publishes to its own
//! subscribers at once (no round trip) and sends it to NATS stamped with its node id; every
//! node subscribes to `<prefix>.video.>` and `<prefix>.chat.>` and delivers to its own
//! subscribers what other nodes sent. NATS core is at-most-once like the local ring, so the
//! contract is unchanged: notifications are hints, chat a live feed with cursors to catch up.
//!
//! Every node receives every topic's messages, which is simple and right while nodes share
//! most rooms; per-topic subscriptions are the step after (only rooms with viewers here).

use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{LocalHub, Topic};

/// Messages waiting to go out to NATS at most; past it they are dropped (and counted), as a
/// slow local subscriber's are.
pub const OUTBOX: usize = 65_536;
const NODE_HEADER: &str = "Spool-Node";

/// A hub shared through NATS; cheap to clone.
#[derive(Clone, Debug)]
pub struct NatsHub {
    local: LocalHub,
    outbox: mpsc::Sender<(Topic, Bytes)>,
    prefix: String,
    node: String,
}

/// The task that moves messages between this node and NATS; run it in the supervised set.
pub struct NatsBridge {
    client: async_nats::Client,
    outbox: mpsc::Receiver<(Topic, Bytes)>,
    hub: NatsHub,
}

/// Connecting failed.
#[derive(Debug, thiserror::Error)]
#[error("the hub's NATS server {url}: {reason}")]
pub struct NatsError {
    url: String,
    reason: String,
}

impl NatsHub {
    /// Connects to NATS at `url`; subjects are `<prefix>.<topic>`. The hub works at once;
    /// messages cross nodes while the returned bridge runs.
    pub async fn connect(url: &str, prefix: &str) -> Result<(crate::Hub, NatsBridge), NatsError> {
        let fail = |reason: String| NatsError {
            url: url.to_owned(),
            reason,
        };
        if prefix.is_empty()
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(fail(
                "the subject prefix must be letters, digits, '_' or '-'".into(),
            ));
        }
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let (outbox, queue) = mpsc::channel(OUTBOX);
        let hub = NatsHub {
            local: LocalHub::default(),
            outbox,
            prefix: prefix.to_owned(),
            node: format!("{:016x}", rand::random::<u64>()),
        };
        Ok((
            crate::Hub::Nats(hub.clone()),
            NatsBridge {
                client,
                outbox: queue,
                hub,
            },
        ))
    }

    pub(crate) fn local(&self) -> &LocalHub {
        &self.local
    }

    pub(crate) fn publish(&self, topic: &Topic, payload: Bytes) {
        self.local.publish(topic, payload.clone());
        if self.outbox.try_send((topic.clone(), payload)).is_err() {
            metrics::counter!("spool_hub_nats_dropped_total").increment(1);
        }
    }
}

impl NatsBridge {
    /// Sends this node's messages to NATS and delivers the other nodes' here, until `stop`.
    pub async fn run(mut self, stop: CancellationToken) {
        let hub = self.hub.clone();
        let subscribe = |what: &str| {
            let client = self.client.clone();
            let subject = format!("{}.{what}.>", hub.prefix);
            async move { client.subscribe(subject).await }
        };
        let (videos, chats) = match tokio::try_join!(subscribe("video"), subscribe("chat")) {
            Ok(both) => both,
            Err(e) => {
                tracing::error!(
                    "hub: subscribing on NATS failed, nodes will not hear each other: {e}"
                );
                return;
            }
        };
        let mut incoming = futures_util::stream::select(videos, chats);
        let strip = format!("{}.", hub.prefix);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                out = self.outbox.recv() => {
                    let Some((topic, payload)) = out else { break };
                    let mut headers = HeaderMap::new();
                    headers.insert(NODE_HEADER, hub.node.as_str());
                    let subject = format!("{}.{}", hub.prefix, topic.as_str());
                    if let Err(e) = self.client.publish_with_headers(subject, headers, payload).await {
                        metrics::counter!("spool_hub_nats_dropped_total").increment(1);
                        tracing::debug!("hub: publishing to NATS: {e}");
                    }
                }
                message = incoming.next() => {
                    let Some(message) = message else { break };
                    let from_here = message
                        .headers
                        .as_ref()
                        .and_then(|h| h.get(NODE_HEADER))
                        .is_some_and(|node| node.as_str() == hub.node);
                    if from_here {
                        continue;
                    }
                    let topic = message
                        .subject
                        .as_str()
                        .strip_prefix(&strip)
                        .and_then(Topic::parse);
                    if let Some(topic) = topic {
                        hub.local.publish(&topic, message.payload);
                    }
                }
            }
        }
        let _ = self.client.flush().await;
    }
}
