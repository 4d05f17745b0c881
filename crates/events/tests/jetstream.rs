//! The event log on the real NATS JetStream server of the machine (127.0.0.1:4222, or
//! `SPOOL_TEST_NATS`): appends are acknowledged and read back in order with dense offsets from
//! 0, a retried record (same event id) is stored once, and reads start anywhere. Each test
//! uses its own stream and deletes it. A server that is down fails the test.

use std::time::Duration;

use bytes::Bytes;
use spool_events::jetstream::JetStreamLog;
use spool_events::{EventStore, StoreConfig};

fn nats_url() -> String {
    std::env::var("SPOOL_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn unique_stream(tag: &str) -> String {
    format!("SPOOL_TEST_{tag}_{:08x}", rand_suffix())
}

fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

fn records(prefix: &str, n: usize) -> Vec<(String, Bytes)> {
    (0..n)
        .map(|i| {
            (
                format!("{prefix}-{i}"),
                Bytes::from(format!("{prefix} payload {i}")),
            )
        })
        .collect()
}

#[tokio::test]
async fn appends_are_read_back_in_order_and_retries_are_stored_once() {
    let stream = unique_stream("ORDER");
    let config = StoreConfig::JetStream {
        url: nats_url(),
        stream: stream.clone(),
        max_age: Duration::from_secs(3600),
        max_bytes: None,
    };
    let store = EventStore::open(&config)
        .await
        .unwrap_or_else(|e| panic!("NATS JetStream at {} must be running: {e}", nats_url()));
    assert_eq!(store.next_offset().await.unwrap(), 0);
    assert!(store.read(0, 10).await.unwrap().is_empty());

    // Two writers at once, then one of them retries its whole batch.
    let (a, b) = tokio::join!(
        store.append(records("a", 50)),
        store.append(records("b", 50))
    );
    assert!(a.unwrap() <= 100 && b.unwrap() <= 100);
    // The retry's acknowledgements name where the records already are.
    assert!(store.append(records("a", 50)).await.unwrap() <= 100);
    assert_eq!(
        store.next_offset().await.unwrap(),
        100,
        "the retry was stored again"
    );

    let all = store.read(0, 1000).await.unwrap();
    assert_eq!(all.len(), 100);
    for (i, record) in all.iter().enumerate() {
        assert_eq!(record.offset, i as u64, "offsets are dense from 0");
        assert!(record.timestamp_ms > 1_600_000_000_000);
    }
    // Each writer's records keep their order.
    let of = |prefix: &str| -> Vec<String> {
        all.iter()
            .map(|r| String::from_utf8(r.payload.to_vec()).unwrap())
            .filter(|p| p.starts_with(prefix))
            .collect()
    };
    let expected: Vec<String> = (0..50).map(|i| format!("a payload {i}")).collect();
    assert_eq!(of("a "), expected);
    assert_eq!(of("b ").len(), 50);

    // Reads start anywhere and stop at `max`.
    let middle = store.read(42, 5).await.unwrap();
    let offsets: Vec<u64> = middle.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [42, 43, 44, 45, 46]);
    assert_eq!(middle[0].payload, all[42].payload);
    assert!(store.read(100, 10).await.unwrap().is_empty());
    assert_eq!(store.oldest_offset().await.unwrap(), 0);

    // A second node sees the same log.
    let other = EventStore::open(&config).await.unwrap();
    assert_eq!(other.read(0, 1000).await.unwrap(), all);

    JetStreamLog::connect(&nats_url(), &stream, Duration::from_secs(3600), None)
        .await
        .unwrap()
        .delete()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bad_stream_name_or_an_unreachable_server_is_a_clear_error() {
    let bad = JetStreamLog::connect(&nats_url(), "has.dots", Duration::from_secs(60), None).await;
    assert_eq!(bad.unwrap_err().code(), "event_log_invalid_config");
    let down = JetStreamLog::connect(
        "nats://127.0.0.1:1",
        "SPOOL_TEST_DOWN",
        Duration::from_secs(60),
        None,
    )
    .await;
    let err = down.unwrap_err();
    assert_eq!(err.code(), "event_log_unavailable");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}
