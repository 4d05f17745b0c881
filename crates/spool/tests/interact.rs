//! Danmaku over the page's WebSocket against real `spool serve` processes: two nodes on one
//! MariaDB database sharing rooms through NATS (a danmaku sent to node A reaches a viewer
//! on node B), resume after a reconnect without duplicates, and the socket's refusals (a
//! foreign Origin, anonymous sends, floods, binary and oversized frames) with the server up.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use spool_metadata::testing::{self, Engine, TestDb};
use spool_model::Visibility;
use support::Server;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(
    server: &Server,
    token: Option<&str>,
    origin: Option<&str>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = server.url("/api/v1/ws").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    Ok(socket)
}

/// The next text frame as JSON, within 10 s.
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Frames until one of `kind` (skipping heartbeats and others), within 10 s.
async fn until(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let frame = next_json(socket).await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

/// Danmaku ids in batch frames until `want` of them arrived.
async fn danmaku_ids(socket: &mut Socket, want: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    while ids.len() < want {
        let frame = until(socket, "batch").await;
        for m in frame["messages"].as_array().unwrap() {
            if m["type"] == "danmaku" {
                ids.push(m["id"].as_i64().unwrap());
            }
        }
    }
    ids
}

async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

async fn public_video(url: &str, owner: &str) -> String {
    let store = spool_metadata::Store::connect(url, 2).await.unwrap();
    let user = store.user_by_name(owner).await.unwrap().unwrap();
    let upload = testing::uploaded(&store, user.id, "talk", Visibility::Public, b"talk").await;
    store.close().await;
    upload.video_id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_danmaku_sent_to_node_a_reaches_a_viewer_on_node_b() {
    let db = TestDb::new(Engine::MySql).await;
    let prefix = format!("t{:08x}", rand::random::<u32>());
    let env = [
        ("SPOOL__HUB__NATS_URL", "nats://127.0.0.1:4222"),
        ("SPOOL__HUB__SUBJECT_PREFIX", prefix.as_str()),
    ];
    let a = Server::start_with(Some(&db.url), &env).await;
    let b = Server::start_with(Some(&db.url), &env).await;
    let ann = a.user_add("ann");
    let video = public_video(&db.url, "ann").await;
    let mut viewer_on_b = open(&b, None, None).await.unwrap();
    let topic = format!("video:{video}");
    send(
        &mut viewer_on_b,
        json!({"type": "subscribe", "topic": topic}),
    )
    .await;
    assert_eq!(until(&mut viewer_on_b, "subscribed").await["topic"], topic);
    // The nodes' bridges subscribe on NATS as they start: send until B delivers, then check
    // that everything sent after arrives on B once.
    let http = support::client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let first = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B never delivered node A's danmaku"
        );
        let sent: Value = http
            .post(a.url(&format!("/api/v1/videos/{video}/danmaku")))
            .bearer_auth(&ann)
            .json(&json!({"text": "<b>hello from A</b>", "time_ms": 1000, "mode": "top", "color": "#00ff00"}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        match tokio::time::timeout(Duration::from_millis(500), until(&mut viewer_on_b, "batch"))
            .await
        {
            Ok(frame) => {
                let message = &frame["messages"][0];
                assert_eq!(
                    message["text"], "<b>hello from A</b>",
                    "text as sent, never markup"
                );
                assert_eq!(
                    (message["mode"].as_str(), message["color"].as_str()),
                    (Some("top"), Some("#00ff00"))
                );
                assert!(message["id"].as_i64().unwrap() <= sent["id"].as_i64().unwrap());
                break sent;
            }
            Err(_) => continue,
        }
    };
    // The viewer on B sends too (over the socket, signed in); a viewer on A sees it.
    let bob = b.user_add("bob");
    let mut sender_on_b = open(&b, Some(&bob), None).await.unwrap();
    let mut viewer_on_a = open(&a, None, None).await.unwrap();
    send(
        &mut viewer_on_a,
        json!({"type": "subscribe", "topic": topic}),
    )
    .await;
    until(&mut viewer_on_a, "subscribed").await;
    send(
        &mut sender_on_b,
        json!({"type": "send", "topic": topic, "ref": "r1", "text": "from B", "time_ms": 2000}),
    )
    .await;
    let ack = until(&mut sender_on_b, "sent").await;
    assert_eq!(ack["ref"], "r1");
    let id = ack["id"].as_i64().unwrap();
    assert!(id > first["id"].as_i64().unwrap());
    let ids = danmaku_ids(&mut viewer_on_a, 1).await;
    assert_eq!(ids, vec![id], "node A delivers what B's sender said");
    // History is shared through the database: both nodes answer the same slice.
    for node in [&a, &b] {
        let slice: Value = http
            .get(node.url(&format!(
                "/api/v1/videos/{video}/danmaku?from_ms=0&to_ms=360000"
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let texts: Vec<&str> = slice["danmaku"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["text"].as_str())
            .collect();
        assert!(
            texts.contains(&"from B") && texts.contains(&"<b>hello from A</b>"),
            "{slice}"
        );
    }
    a.assert_healthy().await;
    b.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_resumes_without_duplicates_and_refuses_what_it_should() {
    let server = Server::start().await;
    let ann = server.user_add("ann");
    let database = format!("sqlite://{}/spool.db", server.data.display());
    let video = public_video(&database, "ann").await;
    let topic = format!("video:{video}");

    // A browser page of another origin may not open the socket (cross-site WebSocket hijacking).
    match open(&server, Some(&ann), Some("http://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("a foreign origin was let in: {:?}", other.map(|_| ())),
    }
    // Its own origin may.
    let mut sender = open(&server, Some(&ann), Some(&server.base)).await.unwrap();
    // A plain GET is not an upgrade.
    let plain = support::client()
        .get(server.url("/api/v1/ws"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);

    // Anonymous viewers watch but cannot send.
    let mut viewer = open(&server, None, None).await.unwrap();
    send(&mut viewer, json!({"type": "subscribe", "topic": topic})).await;
    until(&mut viewer, "subscribed").await;
    send(
        &mut viewer,
        json!({"type": "send", "topic": topic, "ref": "x", "text": "hi", "time_ms": 0}),
    )
    .await;
    let refused = until(&mut viewer, "error").await;
    assert_eq!(
        (refused["code"].as_str(), refused["ref"].as_str()),
        (Some("unauthorized"), Some("x"))
    );
    // Unknown and malformed topics, malformed frames: error frames, the socket stays.
    send(
        &mut viewer,
        json!({"type": "subscribe", "topic": "video:AAAAAAAAAAA"}),
    )
    .await;
    assert_eq!(until(&mut viewer, "error").await["code"], "not_found");
    send(
        &mut viewer,
        json!({"type": "subscribe", "topic": "channel:x"}),
    )
    .await;
    assert_eq!(until(&mut viewer, "error").await["code"], "invalid_input");
    viewer
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    assert_eq!(until(&mut viewer, "error").await["code"], "invalid_json");

    // Three sends pass, the fourth is a flood: refused with a wait, nothing stored for it.
    let mut sent = Vec::new();
    for i in 0..4 {
        send(&mut sender, json!({"type": "send", "topic": topic, "ref": format!("{i}"), "text": format!("n{i}"), "time_ms": i * 100})).await;
    }
    for _ in 0..3 {
        sent.push(until(&mut sender, "sent").await["id"].as_i64().unwrap());
    }
    let flood = until(&mut sender, "error").await;
    assert_eq!(flood["code"], "chat_rate_limited");
    assert!(flood["retry_after_ms"].as_u64().unwrap() >= 1000, "{flood}");
    assert_eq!(danmaku_ids(&mut viewer, 3).await, sent);

    // A viewer that reconnects with the last id it has gets only what it missed.
    let mut back = open(&server, None, None).await.unwrap();
    send(
        &mut back,
        json!({"type": "subscribe", "topic": topic, "since": sent[0]}),
    )
    .await;
    until(&mut back, "subscribed").await;
    let replay = until(&mut back, "batch").await;
    assert_eq!(replay["replay"], true);
    let replayed: Vec<i64> = replay["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(replayed, sent[1..].to_vec());

    // Binary frames close the socket (1003); so do oversized ones (1009); the server stays up.
    viewer
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), viewer.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(closed.map(|f| f.code), Some(CloseCode::Unsupported));
    let mut big = open(&server, None, None).await.unwrap();
    let _ = big.send(Message::Text("x".repeat(64 * 1024).into())).await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match big.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the oversized frame ends the socket in time");
    assert!(
        matches!(outcome, Some(CloseCode::Size) | None),
        "{outcome:?}"
    );
    server.assert_healthy().await;
}
