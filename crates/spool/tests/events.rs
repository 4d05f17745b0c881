//! Event tracking against a real `spool serve`: the server is SIGKILLed while clients send
//! batches; clients resend what was not acknowledged (and some of what was). After the restart
//! no acknowledged event is missing from the log (read back with `spool events tail`), nothing
//! is counted twice, and the video's stats equal a recount of the log. Once with the embedded
//! log, once with NATS JetStream.

#![allow(clippy::disallowed_methods)] // runs the real spool binary

mod support;

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spool_events::aggregate::Aggregates;
use spool_events::jetstream::JetStreamLog;
use spool_events::tracking::TrackedEvent;
use support::{BIN, Server, random_file, upload_command, upload_ok};
use tokio::sync::Mutex;

const CLIENTS: usize = 8;
const BATCHES_PER_CLIENT: usize = 40;
const EVENTS_PER_BATCH: usize = 50;

/// One batch of heartbeats, 2 s each, from one anonymous viewer per batch.
fn batch(video: &str, client: usize, n: usize) -> Value {
    let viewer = format!("viewer-{client}-{n}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events: Vec<Value> = (0..EVENTS_PER_BATCH)
        .map(|i| {
            let from = (i * 2) as f64;
            json!({
                "event_id": format!("{client:08x}-{n:04x}-4000-8000-{i:012x}"),
                "type": "heartbeat",
                "anonymous_id": viewer,
                "session_id": viewer,
                "video_id": video,
                "position_s": from + 2.0,
                "properties": {"from_s": from, "to_s": from + 2.0},
                "occurred_at": now - 500,
                "sent_at": now,
            })
        })
        .collect();
    json!({ "events": events })
}

#[tokio::test]
async fn acknowledged_events_survive_a_crash_and_count_once_embedded() {
    crash_under_load(&[]).await;
}

/// The same against the machine's NATS JetStream (`SPOOL_TEST_NATS`, default
/// nats://127.0.0.1:4222) in a stream of its own, deleted afterwards.
#[tokio::test]
async fn acknowledged_events_survive_a_crash_and_count_once_jetstream() {
    let url = std::env::var("SPOOL_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let stream = format!("SPOOL_TEST_CRASH_{}", std::process::id());
    crash_under_load(&[
        ("SPOOL__EVENTS__LOG_URL", &url),
        ("SPOOL__EVENTS__NATS_STREAM", &stream),
    ])
    .await;
    let log = JetStreamLog::connect(&url, &stream, Duration::from_secs(60), None)
        .await
        .unwrap();
    let logged = log.next_offset().await.unwrap();
    assert!(
        logged >= (CLIENTS * BATCHES_PER_CLIENT * EVENTS_PER_BATCH) as u64,
        "the events are not in the JetStream stream ({logged})"
    );
    log.delete().await.unwrap();
}

async fn crash_under_load(env: &[(&str, &str)]) {
    let mut env = env.to_vec();
    env.push(("SPOOL__EVENTS__RATE_LIMIT_PER_S", "0"));
    let mut server = Server::start_with(None, &env).await;
    let admin = server.admin_add("ops");
    let (file, _) = random_file(server.dir(), "clip.bin", 7, 4096);
    let video = upload_ok(
        upload_command(&server, &admin, &file, &server.dir().join("state")),
        &server,
    );
    let url = server.url("/api/v1/events");

    // Clients send their batches in order; an unacknowledged batch is resent until it is,
    // and every fifth acknowledged batch is resent once more (a client that missed the answer).
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (url, video, acknowledged) = (url.clone(), video.clone(), acknowledged.clone());
        clients.push(tokio::spawn(async move {
            let http = support::client();
            let (mut resent_acknowledged, mut failed_sends) = (0, 0);
            for n in 0..BATCHES_PER_CLIENT {
                let body = batch(&video, client, n);
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    assert!(
                        Instant::now() < deadline,
                        "batch {client}/{n} never acknowledged"
                    );
                    match http.post(&url).json(&body).send().await {
                        Ok(r) if r.status() == 200 => break,
                        Ok(r) => assert!(r.status().is_server_error(), "status {}", r.status()),
                        Err(_) => failed_sends += 1,
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let ids = body["events"].as_array().unwrap().iter();
                acknowledged
                    .lock()
                    .await
                    .extend(ids.map(|e| e["event_id"].as_str().unwrap().to_owned()));
                if n % 5 == 0 {
                    let again = http.post(&url).json(&body).send().await;
                    if again.is_ok_and(|r| r.status() == 200) {
                        resent_acknowledged += 1;
                    }
                }
            }
            (resent_acknowledged, failed_sends)
        }));
    }
    // Kill the server in the middle of the load, then bring it back.
    loop {
        let done = acknowledged.lock().await.len();
        if done >= CLIENTS * BATCHES_PER_CLIENT * EVENTS_PER_BATCH / 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart().await;
    let (mut resent, mut failed) = (0, 0);
    for client in clients {
        let (r, f) = client.await.unwrap();
        (resent, failed) = (resent + r, failed + f);
    }
    assert!(resent > 0, "no acknowledged batch was resent");
    assert!(failed > 0, "the crash did not interrupt the load");
    assert_eq!(server.starts, 2);
    let acknowledged = acknowledged.lock().await.clone();
    assert_eq!(
        acknowledged.len(),
        CLIENTS * BATCHES_PER_CLIENT * EVENTS_PER_BATCH
    );

    // The whole log, read back with `spool events tail --from 0`.
    let total_in_log = {
        let stats = stats(&server, &admin, &video).await;
        stats["events_counted"].as_u64().unwrap()
    };
    let logged = tail_all(&server, &admin).await;
    let logged_ids: HashSet<&str> = logged.iter().map(|e| e.event_id.as_str()).collect();
    let missing = acknowledged
        .iter()
        .filter(|id| !logged_ids.contains(id.as_str()))
        .count();
    assert_eq!(
        missing, 0,
        "acknowledged events missing from the log after the crash"
    );
    assert!(logged.len() as u64 >= total_in_log);

    // The stats, once the aggregator has caught up, equal a recount of the log, and count
    // each event once however often it was sent.
    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = stats(&server, &admin, &video).await;
        if stats["events_counted"].as_u64() == Some(logged.len() as u64) {
            break stats;
        }
        assert!(
            Instant::now() < deadline,
            "aggregator never caught up: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut recount = Aggregates::new();
    for event in &logged {
        recount.apply(event, None);
    }
    let expected = recount.video(&video);
    let distinct_viewers = (CLIENTS * BATCHES_PER_CLIENT) as u64;
    assert_eq!(stats["unique_viewers"], expected.unique_viewers);
    assert_eq!(expected.unique_viewers, distinct_viewers);
    assert_eq!(stats["views"], expected.views);
    assert_eq!(
        expected.views, distinct_viewers,
        "each viewer watched 100 s: one view each"
    );
    let watch_time = stats["watch_time_s"].as_f64().unwrap();
    assert_eq!(watch_time, expected.watch_time_s);
    assert_eq!(
        watch_time,
        (acknowledged.len() * 2) as f64,
        "2 s per distinct event: duplicates are not counted"
    );
    server.assert_healthy().await;
}

async fn stats(server: &Server, token: &str, video: &str) -> Value {
    let response = support::client()
        .get(server.url(&format!("/api/v1/videos/{video}/stats")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Every event in the log, through `spool events tail --from 0 --count N`.
async fn tail_all(server: &Server, token: &str) -> Vec<TrackedEvent> {
    // Where the log ends: a tail from the end, not waiting, answers it as `next`.
    let end = support::client()
        .get(server.url("/api/v1/events/tail?wait_ms=0&limit=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["next"]
        .as_u64()
        .unwrap();
    let out = tokio::process::Command::new(BIN)
        .args(["events", "tail", "--from", "0", "--count", &end.to_string()])
        .args(["--server", &server.base, "--token", token])
        .env_remove("SPOOL_SERVER")
        .env_remove("SPOOL_TOKEN")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "spool events tail: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<TrackedEvent> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len() as u64, end);
    events
}
