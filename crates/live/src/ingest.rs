//! RTMP ingest: the listener on `--rtmp-listen`, one task per connection, all owned by
//! [`RtmpIngest::run`] (nothing outlives it). `rml_rtmp` does the protocol (handshake simple
//! and complex, chunking, `connect`/`publish`); this drives it over tokio with deadlines, so
//! a silent, garbled or truncated peer ends with a log line and never holds a task.

use std::net::SocketAddr;
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::LiveError;
use crate::service::{Live, Publisher};

/// How long a peer may take over the handshake and `connect`/`publish`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Publishers on air at once, at most (each is a task and a packager).
const MAX_CONNECTIONS: usize = 256;

/// The RTMP listener.
pub struct RtmpIngest {
    live: Live,
    listener: TcpListener,
}

impl RtmpIngest {
    /// The ingest for `live` on a bound `listener` (bind first: the service's RTMP URL
    /// names the address it got).
    pub fn new(live: Live, listener: TcpListener) -> Self {
        Self { live, listener }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts publishers until `stop`, then closes every connection and waits for them.
    pub async fn run(self, stop: CancellationToken) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((socket, peer)) if connections.len() < MAX_CONNECTIONS => {
                        let live = self.live.clone();
                        let stop = stop.clone();
                        connections.spawn(async move {
                            let outcome = tokio::select! {
                                outcome = serve(live, socket) => outcome,
                                () = stop.cancelled() => Ok(Ended::Shutdown),
                            };
                            match outcome {
                                Ok(ended) => tracing::info!(%peer, "rtmp connection closed: {}", ended.describe()),
                                Err(error) => tracing::warn!(%peer, code = error.code(), "rtmp connection refused: {error}"),
                            }
                        });
                    }
                    Ok((_, peer)) => tracing::warn!(%peer, "rtmp connection refused: too many publishers"),
                    Err(error) => {
                        tracing::warn!(%error, "rtmp accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        connections.shutdown().await;
    }
}

/// How a connection ended without an error of the publisher's.
enum Ended {
    /// The publisher said it stopped (the broadcast ended).
    Finished,
    /// The connection closed or went silent (the broadcast waits for a reconnect).
    Dropped(&'static str),
    /// The server is stopping.
    Shutdown,
}

impl Ended {
    fn describe(&self) -> &'static str {
        match self {
            Self::Finished => "the publisher stopped; broadcast ended",
            Self::Dropped(why) => why,
            Self::Shutdown => "server stopping",
        }
    }
}

/// Errors of the connection itself, as [`LiveError::BadStream`].
fn protocol(what: impl std::fmt::Display) -> LiveError {
    LiveError::BadStream(what.to_string())
}

async fn send(
    socket: &mut TcpStream,
    results: Vec<ServerSessionResult>,
) -> Result<Vec<ServerSessionEvent>, LiveError> {
    let mut events = Vec::new();
    for result in results {
        match result {
            ServerSessionResult::OutboundResponse(packet) => {
                socket.write_all(&packet.bytes).await.map_err(protocol)?;
            }
            ServerSessionResult::RaisedEvent(event) => events.push(event),
            ServerSessionResult::UnhandleableMessageReceived(_) => {}
        }
    }
    Ok(events)
}

async fn handshake(socket: &mut TcpStream) -> Result<Vec<u8>, LiveError> {
    let mut handshake = Handshake::new(PeerType::Server);
    let mut buffer = vec![0u8; 4096];
    loop {
        let read = socket.read(&mut buffer).await.map_err(protocol)?;
        if read == 0 {
            return Err(protocol(
                "the peer closed the connection during the handshake",
            ));
        }
        match handshake
            .process_bytes(&buffer[..read])
            .map_err(|e| protocol(format!("not an RTMP handshake ({e:?})")))?
        {
            HandshakeProcessResult::InProgress { response_bytes } => {
                socket.write_all(&response_bytes).await.map_err(protocol)?;
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                socket.write_all(&response_bytes).await.map_err(protocol)?;
                return Ok(remaining_bytes);
            }
        }
    }
}

async fn serve(live: Live, mut socket: TcpStream) -> Result<Ended, LiveError> {
    let mut publisher = None;
    let outcome = converse(&live, &mut socket, &mut publisher).await;
    if let (Err(error), Some(publisher)) = (&outcome, publisher.take()) {
        // A stream we cannot take ends the broadcast now: waiting for a reconnect would only
        // bring the same stream back.
        if matches!(
            error,
            LiveError::UnsupportedCodec(_) | LiveError::BadStream(_)
        ) {
            publisher.finish().await?;
        }
    }
    outcome
}

async fn converse(
    live: &Live,
    socket: &mut TcpStream,
    publisher: &mut Option<Publisher>,
) -> Result<Ended, LiveError> {
    let socket = &mut *socket;
    let _ = socket.set_nodelay(true);
    let idle = live.settings().idle_timeout;
    let leftover = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(socket))
        .await
        .map_err(|_| protocol("the handshake did not finish in time"))??;
    let (mut session, initial) =
        ServerSession::new(ServerSessionConfig::new()).map_err(|e| protocol(format!("{e:?}")))?;
    let mut pending = send(socket, initial).await?;
    if !leftover.is_empty() {
        let results = session
            .handle_input(&leftover)
            .map_err(|e| protocol(format!("{e:?}")))?;
        pending.extend(send(socket, results).await?);
    }
    let mut buffer = vec![0u8; 64 * 1024];
    let handshake_deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    loop {
        for event in std::mem::take(&mut pending) {
            match event {
                ServerSessionEvent::ConnectionRequested { request_id, .. } => {
                    let results = session
                        .accept_request(request_id)
                        .map_err(|e| protocol(format!("{e:?}")))?;
                    pending.extend(send(socket, results).await?);
                }
                ServerSessionEvent::PublishStreamRequested {
                    request_id,
                    app_name,
                    stream_key,
                    ..
                } => {
                    if publisher.is_some() {
                        return Err(protocol("a second publish on one connection"));
                    }
                    match live.begin_publish(&app_name, &stream_key).await {
                        Ok(granted) => {
                            let results = session
                                .accept_request(request_id)
                                .map_err(|e| protocol(format!("{e:?}")))?;
                            *publisher = Some(granted);
                            pending.extend(send(socket, results).await?);
                        }
                        Err(refused) => {
                            let results = session
                                .reject_request(
                                    request_id,
                                    "NetStream.Publish.BadName",
                                    &refused.to_string(),
                                )
                                .map_err(|e| protocol(format!("{e:?}")))?;
                            send(socket, results).await?;
                            let _ = socket.shutdown().await;
                            return Err(refused);
                        }
                    }
                }
                ServerSessionEvent::VideoDataReceived {
                    data, timestamp, ..
                } => {
                    if let Some(publisher) = publisher {
                        publisher.push_video(&data, timestamp.value)?;
                    }
                }
                ServerSessionEvent::AudioDataReceived {
                    data, timestamp, ..
                } => {
                    if let Some(publisher) = publisher {
                        publisher.push_audio(&data, timestamp.value)?;
                    }
                }
                ServerSessionEvent::PublishStreamFinished { .. } => {
                    if let Some(publisher) = publisher.take() {
                        publisher.finish().await?;
                    }
                    return Ok(Ended::Finished);
                }
                ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                    let results = session
                        .reject_request(
                            request_id,
                            "NetStream.Play.Failed",
                            "this server takes publishers only; watch over HLS",
                        )
                        .map_err(|e| protocol(format!("{e:?}")))?;
                    send(socket, results).await?;
                    return Err(LiveError::InvalidInput(
                        "RTMP playback is not offered; watch over HLS".into(),
                    ));
                }
                _ => {}
            }
        }
        let read = if publisher.is_some() {
            match tokio::time::timeout(idle, socket.read(&mut buffer)).await {
                Ok(read) => read,
                Err(_) => return Ok(Ended::Dropped("the publisher went silent")),
            }
        } else {
            match tokio::time::timeout_at(handshake_deadline, socket.read(&mut buffer)).await {
                Ok(read) => read,
                Err(_) => return Err(protocol("no publish request in time")),
            }
        };
        let read = read.map_err(protocol)?;
        if read == 0 {
            return match publisher {
                Some(_) => Ok(Ended::Dropped("the publisher disconnected")),
                None => Err(protocol("the peer closed the connection before publishing")),
            };
        }
        let results = session
            .handle_input(&buffer[..read])
            .map_err(|e| protocol(format!("{e:?}")))?;
        pending = send(socket, results).await?;
    }
}
