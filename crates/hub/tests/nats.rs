//! The hub across two nodes over the real NATS server (127.0.0.1:4222; scripts/test.sh
//! starts it): a message published on one node reaches the other's subscribers once, and
//! the publishing node's own subscribers once (not again on the way back).

use std::time::Duration;

use bytes::Bytes;
use spool_hub::nats::NatsHub;
use spool_hub::{Received, Topic};
use spool_model::RoomId;
use tokio_util::sync::CancellationToken;

const NATS: &str = "nats://127.0.0.1:4222";

async fn next(sub: &mut spool_hub::Subscription) -> Option<Received> {
    tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn a_message_published_on_one_node_reaches_the_other_once() {
    let prefix = format!("test{:08x}", rand::random::<u32>());
    let stop = CancellationToken::new();
    let (a, bridge_a) = NatsHub::connect(NATS, &prefix)
        .await
        .expect("NATS on 127.0.0.1:4222");
    let (b, bridge_b) = NatsHub::connect(NATS, &prefix).await.unwrap();
    let tasks = [
        tokio::spawn(bridge_a.run(stop.clone())),
        tokio::spawn(bridge_b.run(stop.clone())),
    ];
    let topic = Topic::room_chat(&RoomId::random());
    let mut on_a = a.subscribe(&topic);
    let mut on_b = b.subscribe(&topic);
    // The bridges subscribe on NATS as they start: publish until B hears, within a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut sent = 0u32;
    let heard = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B never heard node A"
        );
        sent += 1;
        a.publish(&topic, Bytes::from(format!("{sent}")));
        match tokio::time::timeout(Duration::from_millis(200), on_b.recv()).await {
            Ok(Some(Received::Message(m))) => break m,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => continue,
        }
    };
    // Everything A sent from the one B heard on arrives on B, in order.
    let first: u32 = std::str::from_utf8(&heard).unwrap().parse().unwrap();
    for n in first + 1..=sent {
        assert_eq!(
            next(&mut on_b).await,
            Some(Received::Message(Bytes::from(format!("{n}"))))
        );
    }
    // A's own subscriber got each of A's messages exactly once, at once.
    for n in 1..=sent {
        assert_eq!(
            next(&mut on_a).await,
            Some(Received::Message(Bytes::from(format!("{n}"))))
        );
    }
    b.publish(&topic, Bytes::from_static(b"from b"));
    assert_eq!(
        next(&mut on_a).await,
        Some(Received::Message(Bytes::from_static(b"from b")))
    );
    assert_eq!(
        next(&mut on_b).await,
        Some(Received::Message(Bytes::from_static(b"from b")))
    );
    let echo = tokio::time::timeout(Duration::from_millis(300), on_a.recv()).await;
    assert!(echo.is_err(), "a message came back twice: {echo:?}");
    stop.cancel();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn a_bad_prefix_or_an_unreachable_server_is_refused() {
    assert!(NatsHub::connect(NATS, "has space").await.is_err());
    assert!(NatsHub::connect(NATS, "").await.is_err());
    assert!(
        NatsHub::connect("nats://127.0.0.1:1", "spool")
            .await
            .is_err()
    );
}
