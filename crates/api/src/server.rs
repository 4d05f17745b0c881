//! The listener loop: accepts connections, serves the router on each with hyper (HTTP/1.1 and
//! HTTP/2), and defends against slow clients (slowloris):
//!
//! - a connection that sends nothing is closed after `server.header_read_timeout_s`, and so is
//!   one whose request head (line and headers) takes longer than that to arrive — which also
//!   ends idle keep-alive connections;
//! - a request body that makes no progress for `server.body_timeout_s` is cut (the handler sees
//!   the body fail: an upload keeps and acknowledges what arrived); a body that flows, however
//!   slowly, is never cut;
//! - one address holds at most `server.max_connections_per_address` connections; more are
//!   closed as soon as they are accepted.
//!
//! [`serve`] returns once `shutdown` completes (or the state's `stop` fires) and every open
//! connection has finished its in-flight requests; connection tasks never outlive it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::AppState;

/// The most hyper reads from a connection at once; also the largest request head.
const READ_BUFFER: usize = 128 * 1024;

/// How the listener treats slow and numerous clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The first byte and the whole request head must arrive within this.
    pub header_read_timeout: Duration,
    /// A request body that yields no bytes for this long is cut.
    pub body_timeout: Duration,
    /// Open connections allowed from one IP address.
    pub max_connections_per_address: usize,
}

impl Limits {
    /// The limits of `[server]`.
    pub fn from_config(config: &spool_config::ServerConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_s.max(1)),
            body_timeout: Duration::from_secs(config.body_timeout_s.max(1)),
            max_connections_per_address: config.max_connections_per_address.max(1),
        }
    }
}

/// Serves the API for `state` on `listener` until `shutdown` completes or `state.stop`
/// fires, then lets open connections finish their requests (idle ones close at once) and
/// returns. With `server.metrics_listen` set, `/metrics` is also served openly there.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let limits = Limits::from_config(&state.config.server);
    let stop = state.stop.child_token();
    let metrics = match state.config.server.metrics_listen {
        Some(address) => {
            let metrics_listener = TcpListener::bind(address).await?;
            tracing::info!(
                "metrics on http://{}/metrics",
                metrics_listener.local_addr()?
            );
            Some(metrics_listener)
        }
        None => None,
    };
    let app = crate::router(state.clone());
    let main = serve_router(listener, app, limits, stop.clone());
    let metrics = async {
        match metrics {
            Some(l) => serve_router(l, crate::metrics_router(state), limits, stop.clone()).await,
            None => Ok(()),
        }
    };
    let signal = async {
        tokio::select! {
            () = shutdown => {}
            () = stop.cancelled() => {}
        }
        stop.cancel();
    };
    let (main, metrics, ()) = tokio::join!(main, metrics, signal);
    main.and(metrics)
}

/// Serves `app` on `listener` with `limits` until `stop` fires, then drains connections.
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // hyper reads up to this much per syscall (its default is 400 KiB): an upload's frames
        // are slices of this buffer held until written, so it sets memory per upload.
        .max_buf_size(READ_BUFFER)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.body_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let per_address = Arc::new(PerAddress::default());
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors and the like: wait a little rather than spin.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = per_address
            .clone()
            .take(peer.ip(), limits.max_connections_per_address)
        else {
            tracing::debug!(%peer, "connection refused: too many from this address");
            metrics::counter!("spool_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let (builder, app, stop) = (builder.clone(), app.clone(), stop.clone());
        connections.spawn(async move {
            let _slot = slot;
            serve_connection(&builder, stream, peer, app, limits, stop).await;
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) {
    // hyper's header timer starts once it knows the protocol, which needs the first bytes: a
    // client that sends nothing is closed here (and at once on shutdown).
    let mut first = [0u8; 1];
    tokio::select! {
        peeked = tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first)) => {
            match peeked {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
        () = stop.cancelled() => return,
    }
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request =
            request.map(|body| Body::new(ProgressTimeout::new(body, limits.body_timeout)));
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.oneshot(request).await.unwrap_or_else(|e| match e {})) }
    });
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

/// Open connections per address.
#[derive(Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`PerAddress`], given back on drop.
struct Slot {
    owner: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    fn take(self: Arc<Self>, address: IpAddr, max: usize) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        drop(open);
        Some(Slot {
            owner: self,
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// A request body that fails when no frame arrives for `timeout` while it is being read.
/// The clock runs only while someone waits for the body, and restarts with every frame.
struct ProgressTimeout {
    inner: Incoming,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ProgressTimeout {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: None,
        }
    }
}

/// The error a stalled body ends with.
#[derive(Debug)]
pub struct BodyStalled(Duration);

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body made no progress for {:?}", self.0)
    }
}

impl std::error::Error for BodyStalled {}

impl HttpBody for ProgressTimeout {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.deadline = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(deadline.as_mut().poll(cx));
                this.deadline = None;
                Poll::Ready(Some(Err(Box::new(BodyStalled(timeout)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
