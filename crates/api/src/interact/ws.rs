//! `/api/v1/ws`: one WebSocket per page. The client subscribes to conversations
//! (`video:<id>`, `room:<id>`), optionally resuming after the last id it has, and sends
//! danmaku; the server delivers what every node's senders said as batch frames (one frame
//! carries a tick's messages), with heartbeats. The frames are documented in
//! docs/interact.md.
//!
//! The upgrade checks `Origin` (a WebSocket handshake cannot carry the CSRF header, so a
//! browser's cross-site socket is refused here) and reads the session like any request.
//! A viewer whose socket does not drain loses frames (it is told, and resumes by cursor);
//! it never slows the room. One whose socket stays blocked is closed.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use spool_interact::danmaku::DanmakuInput;
use spool_interact::{Delivery, Target};
use spool_metadata::User;
use tokio::sync::mpsc;

use crate::AppState;
use crate::auth::MaybeUser;
use crate::error::{ApiError, ApiResult};

/// Largest frame a client may send.
pub const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// Conversations one socket may follow at once.
pub const MAX_SUBSCRIPTIONS: usize = 8;
/// A heartbeat frame this often; clients reconnect after missing two.
pub const HEARTBEAT: Duration = Duration::from_secs(20);
/// Frames waiting for one socket at most, beyond the conversation's own queue.
const SOCKET_QUEUE: usize = 64;
/// A socket that takes no frame for this long is closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Malformed frames a client may send before it is closed.
const MAX_BAD_FRAMES: u32 = 20;

/// Open the page's socket (WebSocket upgrade). Frames are in docs/interact.md.
#[utoipa::path(get, path = "/api/v1/ws", tag = "interact",
    responses((status = 101, description = "switching to the WebSocket protocol"),
              (status = 400, body = crate::error::ErrorBody, description = "not a WebSocket upgrade request"),
              (status = 403, body = crate::error::ErrorBody, description = "csrf_failed: a browser page of another origin")))]
pub async fn socket(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    crate::accounts::check_origin(&state, &headers)?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::bad_request(format!(
            "this endpoint speaks WebSocket: send an upgrade request ({e})"
        ))
    })?;
    // A cookie session can end while the socket stays open (sign-out, expiry): it is checked
    // again at every heartbeat. A bearer token lives until it is revoked, like the API's.
    let session_secret = match crate::auth::bearer_token(&headers)? {
        Some(_) => None,
        None => crate::auth::cookie(&headers, crate::auth::SESSION_COOKIE).map(str::to_owned),
    };
    Ok(upgrade
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| session(state, user, session_secret, socket)))
}

/// What a client sends.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Subscribe {
        topic: String,
        #[serde(default)]
        since: Option<i64>,
    },
    Unsubscribe {
        topic: String,
    },
    Send {
        topic: String,
        #[serde(default, rename = "ref")]
        reference: Option<String>,
        #[serde(flatten)]
        danmaku: DanmakuInputWire,
    },
    Ping,
}

#[derive(Deserialize)]
struct DanmakuInputWire {
    text: String,
    #[serde(default)]
    time_ms: Option<i64>,
    #[serde(default)]
    mode: Option<spool_interact::danmaku::Mode>,
    #[serde(default)]
    color: Option<spool_interact::danmaku::ColorInput>,
    #[serde(default)]
    size: Option<spool_interact::danmaku::Size>,
    #[serde(default)]
    latency_ms: Option<i64>,
}

struct Session {
    state: AppState,
    user: Option<User>,
    out: mpsc::Sender<Utf8Bytes>,
    seats: HashMap<Target, tokio::task::JoinHandle<()>>,
    bad_frames: u32,
    /// Answers to the client's own frames, written by the session loop itself: never through
    /// the deliveries' queue, which only that loop drains (waiting on it there would stall).
    replies: Vec<Utf8Bytes>,
}

async fn session(
    state: AppState,
    user: Option<User>,
    session_secret: Option<String>,
    socket: WebSocket,
) {
    metrics::gauge!("spool_ws_connections").increment(1.0);
    let (mut sink, mut stream) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Utf8Bytes>(SOCKET_QUEUE);
    let stop = state.stop.clone();
    let mut session = Session {
        state,
        user,
        out,
        seats: HashMap::new(),
        bad_frames: 0,
        replies: Vec::new(),
    };
    let hello = json!({
        "type": "hello",
        "user": session.user.as_ref().map(|u| u.name.clone()),
        "heartbeat_ms": HEARTBEAT.as_millis() as u64,
    });
    let mut close: Option<(u16, &'static str)> = None;
    if sink
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => {
                close = Some((close_code::AWAY, "the server is restarting; reconnect"));
                break;
            }
            _ = heartbeat.tick() => {
                if session.user.is_some()
                    && let Some(secret) = &session_secret
                    && matches!(session.state.store.session(secret).await, Ok(None))
                {
                    // Signed out or expired: the socket goes on as an anonymous viewer's.
                    session.user = None;
                    session.reply(json!({"type": "signed_out"}));
                    if !flush(&mut sink, &mut session.replies).await {
                        break;
                    }
                }
                let beat = Utf8Bytes::from_static(r#"{"type":"heartbeat"}"#);
                if !send_within(&mut sink, Message::Text(beat)).await {
                    break;
                }
            }
            frame = outgoing.recv() => {
                let Some(frame) = frame else { break };
                if !send_within(&mut sink, Message::Text(frame)).await {
                    close = Some((close_code::POLICY, "this socket does not read its frames"));
                    break;
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let handled = session.handle(text.as_str()).await;
                    if !flush(&mut sink, &mut session.replies).await {
                        break;
                    }
                    if let Err(why) = handled {
                        close = Some(why);
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    close = Some((close_code::UNSUPPORTED, "frames are JSON text; binary frames are not accepted"));
                    break;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    // tungstenite closes with 1009 for an oversized frame itself.
                    tracing::debug!("websocket: {e}");
                    break;
                }
            }
        }
    }
    for (_, seat) in session.seats.drain() {
        seat.abort();
    }
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
    metrics::gauge!("spool_ws_connections").decrement(1.0);
}

/// Writes the session's own answers, in order; false when the socket is gone or stuck.
async fn flush(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    replies: &mut Vec<Utf8Bytes>,
) -> bool {
    for reply in replies.drain(..) {
        if !send_within(sink, Message::Text(reply)).await {
            return false;
        }
    }
    true
}

async fn send_within(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    message: Message,
) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await,
        Ok(Ok(()))
    )
}

impl Session {
    /// Handles one client frame; `Err` closes the socket with that code and reason.
    async fn handle(&mut self, text: &str) -> Result<(), (u16, &'static str)> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.bad_frames += 1;
                if self.bad_frames > MAX_BAD_FRAMES {
                    return Err((close_code::POLICY, "too many malformed frames"));
                }
                self.reply(json!({
                    "type": "error", "code": "invalid_json",
                    "message": format!("not a frame this server understands: {e}"),
                }));
                return Ok(());
            }
        };
        match frame {
            ClientFrame::Ping => self.reply(json!({"type": "pong"})),
            ClientFrame::Subscribe { topic, since } => {
                if let Err(e) = self.subscribe(&topic, since).await {
                    self.refuse(&e, None, Some(&topic));
                }
            }
            ClientFrame::Unsubscribe { topic } => {
                if let Ok(target) = topic.parse::<Target>()
                    && let Some(seat) = self.seats.remove(&target)
                {
                    seat.abort();
                }
                self.reply(json!({"type": "unsubscribed", "topic": topic}));
            }
            ClientFrame::Send {
                topic,
                reference,
                danmaku,
            } => {
                let result = self.send(&topic, danmaku).await;
                match result {
                    Ok(id) => {
                        self.reply(
                            json!({"type": "sent", "ref": reference, "topic": topic, "id": id}),
                        );
                    }
                    Err(e) => self.refuse(&e, reference.as_deref(), Some(&topic)),
                }
            }
        }
        Ok(())
    }

    async fn subscribe(&mut self, topic: &str, since: Option<i64>) -> Result<(), ApiError> {
        let target: Target = topic.parse().map_err(ApiError::from)?;
        if !self.seats.contains_key(&target) && self.seats.len() >= MAX_SUBSCRIPTIONS {
            return Err(ApiError::bad_request(format!(
                "at most {MAX_SUBSCRIPTIONS} subscriptions per socket; unsubscribe first"
            )));
        }
        let interact = self.state.interact.clone();
        interact.conversation(self.user.as_ref(), &target).await?;
        if let Some(old) = self.seats.remove(&target) {
            old.abort();
        }
        // Seated before the replay is read: nothing sent in between can fall through (the
        // client drops a danmaku whose id it has).
        let mut seat = interact.fanout().join(&target);
        self.reply(json!({"type": "subscribed", "topic": topic}));
        if let Some(since) = since {
            let missed = interact
                .danmaku_since(
                    self.user.as_ref(),
                    &target,
                    since,
                    spool_interact::MAX_SINCE,
                )
                .await?;
            self.reply(
                json!({"type": "batch", "topic": topic, "replay": true, "messages": missed}),
            );
        }
        let out = self.out.clone();
        let forward = tokio::spawn(async move {
            while let Some(delivery) = seat.recv().await {
                let text = match delivery {
                    Delivery::Frame(frame) => match Utf8Bytes::try_from(frame.text) {
                        Ok(text) => text,
                        Err(_) => continue,
                    },
                    Delivery::Missed(n) => json!({
                        "type": "lagged", "topic": seat.target().to_string(), "missed_frames": n,
                    })
                    .to_string()
                    .into(),
                };
                if out.send(text).await.is_err() {
                    return;
                }
            }
        });
        self.seats.insert(target, forward);
        Ok(())
    }

    async fn send(&mut self, topic: &str, wire: DanmakuInputWire) -> Result<i64, ApiError> {
        let Some(user) = &self.user else {
            return Err(ApiError::unauthorized());
        };
        let target: Target = topic.parse().map_err(ApiError::from)?;
        let input = DanmakuInput {
            text: wire.text,
            time_ms: wire.time_ms,
            mode: wire.mode,
            color: wire.color,
            size: wire.size,
            latency_ms: wire.latency_ms,
        };
        Ok(self
            .state
            .interact
            .send_danmaku(user, &target, input)
            .await?
            .id)
    }

    fn refuse(&mut self, error: &ApiError, reference: Option<&str>, topic: Option<&str>) {
        let mut frame = json!({
            "type": "error",
            "code": error.code(),
            "status": error.status().as_u16(),
            "message": error.message(),
        });
        if let Some(reference) = reference {
            frame["ref"] = Value::from(reference);
        }
        if let Some(topic) = topic {
            frame["topic"] = Value::from(topic);
        }
        if let Some(wait) = error.retry_after() {
            frame["retry_after_ms"] = Value::from(wait.as_millis() as u64);
        }
        self.reply(frame);
    }

    fn reply(&mut self, frame: Value) {
        self.replies.push(frame.to_string().into());
    }
}
