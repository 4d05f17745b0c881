//! Event tracking against a real `spool serve`: the server is SIGKILLed while clients send
//! batches; clients resend what was not acknowledged (and some of what was). After the restart
//! no acknowledged event is missing from the log (read back with `spool events tail`), nothing
//! is counted twice, and the video's stats equal a recount of the log. Once with the embedded
//! log, once with NATS JetStream. Then what the log must not take: events about videos the
//! sender may not see or that do not exist, views minted with invented anonymous ids; and
//! that server-observed (CMCD) events survive a graceful shutdown.

#![allow(clippy::disallowed_methods)] // runs the real spool binary

mod support;

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spool_events::aggregate::{Aggregates, Limits};
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
    // Every viewer here comes from 127.0.0.1: no per-address cap on views.
    env.push(("SPOOL__EVENTS__VIEWS_PER_ADDRESS_HOUR", "0"));
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
    let mut recount = Aggregates::with_limits(Limits {
        views_per_address_hour: 0,
        ..Limits::default()
    });
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
    let end = log_end(server, token).await;
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

const HOUR_MS: i64 = 3600 * 1000;

/// Sent now, happened in the middle of the previous hour of the server's clock (a device that
/// queued them offline): every event of a test falls into one hour, whatever the wall clock.
fn mid_hour() -> (i64, i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let occurred = now.div_euclid(HOUR_MS) * HOUR_MS - HOUR_MS / 2;
    (occurred, now)
}

fn uuid(tag: u32, n: usize) -> String {
    format!("{tag:08x}-0000-4000-8000-{n:012x}")
}

/// A viewer watching 0..30 s of `video` in three heartbeats.
fn watch(video: &str, viewer: &str, session: &str, tag: u32, n: usize) -> Vec<Value> {
    let (occurred, sent) = mid_hour();
    (0..3)
        .map(|i| {
            let from = (i * 10) as f64;
            json!({
                "event_id": uuid(tag, n * 3 + i),
                "type": "heartbeat",
                "anonymous_id": viewer,
                "session_id": session,
                "video_id": video,
                "position_s": from + 10.0,
                "properties": {"from_s": from, "to_s": from + 10.0},
                "occurred_at": occurred + (i as i64) * 10_000,
                "sent_at": sent,
            })
        })
        .collect()
}

/// POSTs `events` (as `token`, or anonymous) and returns the answer's JSON; asserts 200.
async fn post_events(server: &Server, token: Option<&str>, events: Vec<Value>) -> Value {
    let mut request = support::client()
        .post(server.url("/api/v1/events"))
        .json(&json!({ "events": events }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The log's end: a tail from the end that does not wait answers it as `next`.
async fn log_end(server: &Server, admin: &str) -> u64 {
    let tail = server
        .get_json(admin, "/api/v1/events/tail?wait_ms=0&limit=1")
        .await;
    tail["next"].as_u64().unwrap()
}

/// The stats once the aggregator has folded everything below `offset`.
async fn stats_at(server: &Server, token: &str, video: &str, offset: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = stats(server, token, video).await;
        if stats["events_counted"].as_u64().unwrap() >= offset {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "aggregator never caught up: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn metric_with(server: &Server, name_and_labels: &str) -> f64 {
    server
        .metrics_text()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// `spool_events_dropped_total` for `reason`.
async fn dropped(server: &Server, reason: &str) -> f64 {
    metric_with(
        server,
        &format!("spool_events_dropped_total{{reason=\"{reason}\"}}"),
    )
    .await
}

/// Issue 12: events about a private video from someone who may not see it are dropped (never
/// in its stats, its public view count or anyone's history), and so are events about ids that
/// do not exist: a flood of them leaves the log and the aggregates checkpoint as they were.
#[tokio::test]
async fn events_for_hidden_or_unknown_videos_are_dropped() {
    let mut server = Server::start_with(None, &[("SPOOL__EVENTS__RATE_LIMIT_PER_S", "0")]).await;
    let admin = server.admin_add("ops");
    let alice = server.user_add("alice");
    let bob = server.user_add("bob");
    let (file, _) = random_file(server.dir(), "private.bin", 11, 4096);
    let mut upload = upload_command(&server, &alice, &file, &server.dir().join("state"));
    upload.args(["--visibility", "private"]);
    let private = upload_ok(upload, &server);

    // Strangers, anonymous with invented ids or signed in as bob: accepted (the answer does
    // not tell them what exists) but dropped.
    let before = log_end(&server, &admin).await;
    for n in 0..20 {
        let reply = post_events(
            &server,
            None,
            watch(&private, &format!("invented-{n}"), &format!("s-{n}"), 1, n),
        )
        .await;
        assert_eq!(reply["accepted"], 3, "{reply}");
    }
    post_events(
        &server,
        Some(&bob),
        watch(&private, "bob-device", "bob", 2, 0),
    )
    .await;
    assert_eq!(log_end(&server, &admin).await, before, "nothing was logged");
    assert_eq!(dropped(&server, "hidden_video").await, 63.0);
    // The owner's own viewing counts: the same pipeline works for those who may see it.
    post_events(
        &server,
        Some(&alice),
        watch(&private, "alice-device", "alice", 3, 0),
    )
    .await;
    let end = log_end(&server, &admin).await;
    assert_eq!(end, before + 3);
    let stats = stats_at(&server, &alice, &private, end).await;
    assert_eq!(stats["views"], 1, "only alice's view: {stats}");
    assert_eq!(stats["unique_viewers"], 1, "{stats}");
    assert_eq!(stats["watch_time_s"], 30.0, "{stats}");
    let history = server.get_json(&bob, "/api/v1/me/history").await;
    assert_eq!(history["history"], json!([]), "{history}");

    // 100k events for ids that do not exist: none logged, none aggregated.
    let before = log_end(&server, &admin).await;
    let (occurred, sent) = mid_hour();
    for b in 0..100 {
        let events: Vec<Value> = (0..1000)
            .map(|i| {
                json!({
                    "event_id": uuid(10 + b, i),
                    "type": "heartbeat",
                    "anonymous_id": format!("flood-{i}"),
                    "session_id": "flood",
                    "video_id": spool_model::VideoId::random().as_str(),
                    "position_s": 10.0,
                    "properties": {"from_s": 0.0, "to_s": 10.0},
                    "occurred_at": occurred,
                    "sent_at": sent,
                })
            })
            .collect();
        post_events(&server, None, events).await;
    }
    assert_eq!(log_end(&server, &admin).await, before, "nothing was logged");
    assert_eq!(dropped(&server, "unknown_video").await, 100_000.0);
    let status = server.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}");
    let checkpoint = std::fs::metadata(server.data.join("events/aggregates.json")).unwrap();
    assert!(
        checkpoint.len() < 16 * 1024,
        "the aggregates grew to {} bytes",
        checkpoint.len()
    );
}

/// Issue 12: one client minting anonymous ids adds a bounded number of views: at most
/// `events.views_per_address_hour` (50) per address and 5 per session per video per hour,
/// while every viewer's watch time still counts.
#[tokio::test]
async fn many_anonymous_ids_from_one_address_count_a_bounded_number_of_views() {
    let server = Server::start_with(None, &[("SPOOL__EVENTS__RATE_LIMIT_PER_S", "0")]).await;
    let admin = server.admin_add("ops");
    let alice = server.user_add("alice");
    let upload = |name: &str, seed: u64| {
        let (file, _) = random_file(server.dir(), name, seed, 4096);
        upload_ok(
            upload_command(
                &server,
                &alice,
                &file,
                &server.dir().join(format!("state-{name}")),
            ),
            &server,
        )
    };
    let (by_address, by_session) = (upload("a.bin", 21), upload("b.bin", 22));

    // 200 invented viewers, each in a session of its own, all from 127.0.0.1.
    for chunk in 0..10 {
        let events: Vec<Value> = (0..20)
            .flat_map(|i| {
                let n = chunk * 20 + i;
                watch(
                    &by_address,
                    &format!("mint-{n}"),
                    &format!("sess-{n}"),
                    100,
                    n,
                )
            })
            .collect();
        post_events(&server, None, events).await;
    }
    // 20 invented viewers in one session (on another video, so the address cap is not hit).
    let events: Vec<Value> = (0..20)
        .flat_map(|n| watch(&by_session, &format!("tab-{n}"), "one-tab", 101, n))
        .collect();
    post_events(&server, None, events).await;

    let end = log_end(&server, &admin).await;
    let stats = stats_at(&server, &alice, &by_address, end).await;
    assert_eq!(stats["views"], 50, "{stats}");
    assert_eq!(stats["unique_viewers"], 200, "{stats}");
    assert_eq!(stats["watch_time_s"], 200.0 * 30.0, "{stats}");
    let stats = stats_at(&server, &alice, &by_session, end).await;
    assert_eq!(stats["views"], 5, "{stats}");
    assert_eq!(stats["unique_viewers"], 20, "{stats}");
    // The public count is the capped one too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.video(&alice, &by_address).await["views"] != 50 {
        assert!(Instant::now() < deadline, "video views never reached 50");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Issue 11: server-observed events (CMCD on media requests) queued when a graceful shutdown
/// begins are written before the process exits: every media request that was answered has
/// its `qoe` event in the log after a restart.
#[tokio::test]
async fn queued_qoe_events_survive_a_graceful_shutdown() {
    let mut server = Server::start().await;
    let admin = server.admin_add("ops");
    let (file, _) = random_file(server.dir(), "clip.bin", 31, 4096);
    let video = upload_ok(
        upload_command(&server, &admin, &file, &server.dir().join("state")),
        &server,
    );
    let before = log_end(&server, &admin).await;
    // Media requests with CMCD, as hls.js sends them (the qoe event is recorded on the
    // request, whether or not the segment exists yet), from 8 clients at once.
    const REQUESTS: usize = 400;
    let mut clients = Vec::new();
    for c in 0..8 {
        let url = server.url(&format!("/media/{video}/360p/seg_{c}.m4s"));
        clients.push(tokio::spawn(async move {
            let http = support::client();
            for n in 0..REQUESTS / 8 {
                let cmcd = format!("br=800,bl={n},mtp=4000,ot=v,sid=\"qoe-{c}\"");
                let response = http
                    .get(&url)
                    .query(&[("CMCD", cmcd.as_str())])
                    .send()
                    .await
                    .unwrap();
                assert!(
                    response.status() == 200 || response.status() == 404,
                    "{}",
                    response.status()
                );
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    // At once: SIGTERM, as an operator or systemd would.
    let status = server.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}");
    server.restart().await;
    let end = log_end(&server, &admin).await;
    let tail = format!("/api/v1/events/tail?from={before}&limit=1000&wait_ms=0");
    let out = server.get_json(&admin, &tail).await;
    let qoe = out["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "qoe" && e["video_id"] == video.as_str())
        .count();
    assert_eq!(qoe, REQUESTS, "qoe events in the log (log end {end})");
}

/// Issue 12: `spool events tail --help` says it takes `--server`/`--token` (or SPOOL_SERVER /
/// SPOOL_TOKEN) as `spool upload` does.
#[test]
fn events_tail_help_names_the_server_and_token_conventions() {
    let out = std::process::Command::new(BIN)
        .args(["events", "tail", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "--server",
        "SPOOL_SERVER",
        "--token",
        "SPOOL_TOKEN",
        "spool upload",
    ] {
        assert!(help.contains(expected), "{expected} missing from:\n{help}");
    }
}
