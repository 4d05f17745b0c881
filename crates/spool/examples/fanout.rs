//! Danmaku fan-out over WebSocket (bench/fanout.sh drives it):
//!
//! - `seed DATABASE_URL OWNER`: one public on-demand video of OWNER through the store (not
//!   processed: the conversation only needs the row); prints its id.
//! - `ceiling LISTEN`: the same-run ceiling, a minimal tokio-tungstenite server speaking the
//!   subset of `/api/v1/ws` the benchmark uses (hello, subscribe, send): every `send` becomes a
//!   danmaku JSON object of the shape Spool sends, gathered for 50 ms into ONE batch frame
//!   handed to every socket through a `tokio::sync::broadcast` ring, one task per socket. No
//!   storage, no HTTP stack, no auth: what loopback WebSocket delivery of the same bytes costs
//!   on this machine with this client. Prints `ceiling listening on ADDR`.
//! - `run key=value...`: `url` (ws://…/api/v1/ws), `topic`, `token` (the senders'), `viewers`,
//!   `rate` (messages/s sent in), `seconds`, `senders` (sockets the sends are spread over),
//!   `sample` (every Nth viewer records every latency), `pid` (the server's, for RSS and CPU).
//!   Connects the viewers (64 handshakes in flight), subscribes them all, then sends `rate`
//!   danmaku per second open-loop, each text `t=<unix µs when sent>`; every viewer counts the
//!   messages inside the batch frames it gets, the sampled ones record receive time − send
//!   time per message. Prints progress on stderr and one `RESULT k=v …` line on stdout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use spool_metadata::testing;
use spool_model::Visibility;
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("seed") if args.len() == 3 => seed(&args[1], &args[2]).await,
        Some("ceiling") if args.len() == 2 => ceiling(&args[1]).await,
        Some("run") => run(Params::parse(&args[1..])?).await,
        _ => anyhow::bail!(
            "usage: fanout seed DATABASE_URL OWNER | ceiling LISTEN | run url=… topic=… token=… \
             viewers=N rate=N seconds=N [senders=8] [sample=100] [pid=PID]"
        ),
    }
}

async fn seed(database: &str, owner: &str) -> anyhow::Result<()> {
    let store = spool_metadata::Store::connect(database, 2).await?;
    let user = store
        .user_by_name(owner)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user {owner}"))?;
    let upload = testing::uploaded(&store, user.id, "fan-out", Visibility::Public, b"fanout").await;
    store.close().await;
    println!("{}", upload.video_id);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The ceiling: a minimal broadcast server.

/// The gathering interval, as Spool's default `interact.tick_ms`.
const CEILING_TICK: Duration = Duration::from_millis(50);

async fn ceiling(listen: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("ceiling listening on {}", listener.local_addr()?);
    let (frames, _) = broadcast::channel::<Utf8Bytes>(256);
    let (messages, mut incoming) = mpsc::unbounded_channel::<String>();
    let relay = frames.clone();
    tokio::spawn(async move {
        let mut pending: Vec<String> = Vec::new();
        let mut ticker = tokio::time::interval(CEILING_TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = incoming.recv() => match message {
                    Some(m) => pending.push(m),
                    None => return,
                },
                _ = ticker.tick() => {
                    if pending.is_empty() {
                        continue;
                    }
                    let mut text = String::from(r#"{"type":"batch","topic":"video:ceiling","messages":["#);
                    text.push_str(&pending.join(","));
                    text.push_str("]}");
                    pending.clear();
                    let _ = relay.send(Utf8Bytes::from(text));
                }
            }
        }
    });
    let ids = Arc::new(AtomicU64::new(1));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let frames = frames.clone();
        let messages = messages.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            if let Err(e) = ceiling_socket(stream, frames, messages, ids).await {
                eprintln!("ceiling socket: {e}");
            }
        });
    }
}

async fn ceiling_socket(
    stream: tokio::net::TcpStream,
    frames: broadcast::Sender<Utf8Bytes>,
    messages: mpsc::UnboundedSender<String>,
    ids: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let ws = tokio_tungstenite::accept_async(stream).await?;
    let (mut sink, mut stream) = ws.split();
    sink.send(Message::Text(
        r#"{"type":"hello","user":null,"heartbeat_ms":20000}"#.into(),
    ))
    .await?;
    let mut seat: Option<broadcast::Receiver<Utf8Bytes>> = None;
    loop {
        tokio::select! {
            frame = async {
                match seat.as_mut() {
                    Some(seat) => seat.recv().await,
                    None => std::future::pending().await,
                }
            } => match frame {
                Ok(text) => sink.send(Message::Text(text)).await?,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    sink.send(Message::Text(json!({"type": "lagged", "missed_frames": n}).to_string().into())).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            incoming = stream.next() => {
                let Some(Ok(Message::Text(text))) = incoming else { return Ok(()) };
                let frame: Value = serde_json::from_str(text.as_str())?;
                match frame["type"].as_str() {
                    Some("subscribe") => {
                        seat = Some(frames.subscribe());
                        let reply = json!({"type": "subscribed", "topic": frame["topic"]});
                        sink.send(Message::Text(reply.to_string().into())).await?;
                    }
                    Some("send") => {
                        let id = ids.fetch_add(1, Ordering::Relaxed);
                        // The fields and order of Spool's DanmakuView (a struct: `type` first).
                        let message = format!(
                            r##"{{"type":"danmaku","id":{id},"video_id":"AAAAAAAAAAA","author":"bench","text":{},"time_ms":{},"mode":"scroll","color":"#ffffff","size":"normal","weight":10,"created_at":{}}}"##,
                            frame["text"], frame["time_ms"], now_us() / 1000,
                        );
                        let _ = messages.send(message);
                        let reply = json!({"type": "sent", "ref": frame["ref"], "topic": frame["topic"], "id": id});
                        sink.send(Message::Text(reply.to_string().into())).await?;
                    }
                    _ => {}
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The load: viewers and senders.

struct Params {
    url: String,
    topic: String,
    token: String,
    viewers: usize,
    rate: u64,
    seconds: u64,
    senders: usize,
    sample: usize,
    pid: Option<u32>,
}

impl Params {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let get = |key: &str| {
            args.iter()
                .find_map(|a| a.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
                .map(str::to_owned)
        };
        let need = |key: &str| get(key).ok_or_else(|| anyhow::anyhow!("missing {key}=…"));
        Ok(Self {
            url: need("url")?,
            topic: need("topic")?,
            token: get("token").unwrap_or_default(),
            viewers: need("viewers")?.parse()?,
            rate: need("rate")?.parse()?,
            seconds: need("seconds")?.parse()?,
            senders: get("senders").map_or(Ok(8), |s| s.parse())?,
            sample: get("sample").map_or(Ok(100), |s| s.parse())?,
            pid: get("pid").map(|p| p.parse()).transpose()?,
        })
    }
}

#[derive(Default)]
struct Counters {
    subscribed: AtomicUsize,
    failed: AtomicUsize,
    closed_early: AtomicUsize,
    messages: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
    lagged_notices: AtomicU64,
    missed_frames: AtomicU64,
    last_delivery_us: AtomicU64,
    acks: AtomicU64,
    refused: AtomicU64,
}

/// What a sampled viewer saw: per message, receive − send (µs) and stored − send (ms, from
/// `created_at`).
#[derive(Default)]
struct Sample {
    end_to_end_us: Vec<u64>,
    to_stored_ms: Vec<i64>,
}

async fn open(url: &str, token: Option<&str>) -> anyhow::Result<Socket> {
    let mut request = url.into_client_request()?;
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    if let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = socket.get_mut() {
        let _ = tcp.set_nodelay(true);
    }
    let hello = tokio::time::timeout(Duration::from_secs(30), socket.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("closed before hello"))??;
    anyhow::ensure!(
        hello.to_text()?.contains(r#""type":"hello""#),
        "not a hello: {hello:?}"
    );
    Ok(socket)
}

async fn subscribe(url: &str, topic: &str) -> anyhow::Result<Socket> {
    let mut socket = open(url, None).await?;
    let frame = json!({"type": "subscribe", "topic": topic}).to_string();
    socket.send(Message::Text(frame.into())).await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("closed before subscribed"))??;
        if let Message::Text(text) = &frame {
            if text.as_str().contains(r#""type":"subscribed""#) {
                return Ok(socket);
            }
            anyhow::ensure!(
                !text.as_str().contains(r#""type":"error""#),
                "subscribe refused: {text}"
            );
        }
    }
}

async fn viewer(
    url: Arc<str>,
    topic: Arc<str>,
    counters: Arc<Counters>,
    handshakes: Arc<Semaphore>,
    stop: CancellationToken,
    sampled: bool,
) -> Sample {
    let mut sample = Sample::default();
    let permit = handshakes.acquire_owned().await;
    let mut socket = None;
    for _ in 0..3 {
        match subscribe(&url, &topic).await {
            Ok(s) => {
                socket = Some(s);
                break;
            }
            Err(e) => {
                eprintln!("viewer: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    drop(permit);
    let Some(mut socket) = socket else {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        return sample;
    };
    counters.subscribed.fetch_add(1, Ordering::Relaxed);
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => break,
            frame = socket.next() => frame,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => {
                if !stop.is_cancelled() {
                    counters.closed_early.fetch_add(1, Ordering::Relaxed);
                }
                break;
            }
            Some(Ok(_)) => continue,
        };
        let received = now_us();
        let text = text.as_str();
        if text.starts_with(r#"{"type":"batch""#) {
            let n = text.matches(r#"{"type":"danmaku""#).count() as u64;
            counters.messages.fetch_add(n, Ordering::Relaxed);
            counters.frames.fetch_add(1, Ordering::Relaxed);
            counters
                .bytes
                .fetch_add(text.len() as u64, Ordering::Relaxed);
            counters
                .last_delivery_us
                .fetch_max(received, Ordering::Relaxed);
            if sampled && let Ok(batch) = serde_json::from_str::<Value>(text) {
                for m in batch["messages"].as_array().into_iter().flatten() {
                    let Some(sent) = m["text"]
                        .as_str()
                        .and_then(|t| t.strip_prefix("t="))
                        .and_then(|t| t.parse::<u64>().ok())
                    else {
                        continue;
                    };
                    sample.end_to_end_us.push(received.saturating_sub(sent));
                    if let Some(stored) = m["created_at"].as_i64() {
                        sample.to_stored_ms.push(stored - (sent / 1000) as i64);
                    }
                }
            }
        } else if text.contains(r#""type":"lagged""#) {
            counters.lagged_notices.fetch_add(1, Ordering::Relaxed);
            if let Ok(notice) = serde_json::from_str::<Value>(text) {
                let n = notice["missed_frames"]
                    .as_u64()
                    .or(notice["missed"].as_u64())
                    .unwrap_or(0);
                counters.missed_frames.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
    sample
}

/// One sender socket: frames from `queue` out, acks counted.
async fn sender(
    url: String,
    token: String,
    mut queue: mpsc::UnboundedReceiver<String>,
    counters: Arc<Counters>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let socket = open(&url, Some(&token)).await?;
    let (mut sink, mut stream) = socket.split();
    let reader_counters = counters.clone();
    let reader = tokio::spawn(async move {
        let mut first_refusal = true;
        while let Some(Ok(frame)) = stream.next().await {
            let Message::Text(text) = frame else { continue };
            let text = text.as_str();
            if text.contains(r#""type":"sent""#) {
                reader_counters.acks.fetch_add(1, Ordering::Relaxed);
            } else if text.contains(r#""type":"error""#) {
                reader_counters.refused.fetch_add(1, Ordering::Relaxed);
                if first_refusal {
                    eprintln!("a send was refused: {text}");
                    first_refusal = false;
                }
            }
        }
    });
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => break,
            frame = queue.recv() => frame,
        };
        let Some(frame) = frame else { break };
        sink.send(Message::Text(frame.into())).await?;
    }
    let _ = sink.close().await;
    reader.abort();
    Ok(())
}

fn proc_status(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| {
            v.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
}

/// utime + stime of a process, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    ticks as f64 / 100.0
}

fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run(p: Params) -> anyhow::Result<()> {
    let counters = Arc::new(Counters::default());
    let stop = CancellationToken::new();
    let kib = |key: &str| p.pid.and_then(|pid| proc_status(pid, key)).unwrap_or(0);
    let rss_start = kib("VmRSS");

    // Viewers.
    let started = Instant::now();
    let url: Arc<str> = p.url.as_str().into();
    let topic: Arc<str> = p.topic.as_str().into();
    let handshakes = Arc::new(Semaphore::new(64));
    let mut viewers = Vec::with_capacity(p.viewers);
    for i in 0..p.viewers {
        viewers.push(tokio::spawn(viewer(
            url.clone(),
            topic.clone(),
            counters.clone(),
            handshakes.clone(),
            stop.clone(),
            i % p.sample.max(1) == 0,
        )));
    }
    loop {
        let done =
            counters.subscribed.load(Ordering::Relaxed) + counters.failed.load(Ordering::Relaxed);
        if done >= p.viewers {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "only {done} of {} viewers subscribed in 300 s",
            p.viewers
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let subscribed = counters.subscribed.load(Ordering::Relaxed);
    let ramp_s = started.elapsed().as_secs_f64();
    eprintln!(
        "{subscribed} viewers subscribed in {ramp_s:.1} s ({} failed)",
        counters.failed.load(Ordering::Relaxed)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = kib("VmRSS");

    // Senders.
    let mut queues = Vec::new();
    let mut sender_tasks = Vec::new();
    for _ in 0..p.senders.max(1) {
        let (tx, rx) = mpsc::unbounded_channel();
        queues.push(tx);
        sender_tasks.push(tokio::spawn(sender(
            p.url.clone(),
            p.token.clone(),
            rx,
            counters.clone(),
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Peak RSS under load, sampled.
    let peak = Arc::new(AtomicU64::new(rss_idle));
    let sampling = Arc::new(AtomicBool::new(true));
    if let Some(pid) = p.pid {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some(rss) = proc_status(pid, "VmRSS") {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }

    let server_pid = p.pid.map(|pid| pid.to_string()).unwrap_or_default();
    let cpu_server_0 = cpu_seconds(&server_pid);
    let cpu_self_0 = cpu_seconds("self");
    let total = p.rate * p.seconds;
    let send_start = Instant::now();
    let send_start_us = now_us();
    let mut sent = 0u64;
    let mut ticker = tokio::time::interval(Duration::from_millis(2));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while sent < total {
        ticker.tick().await;
        let due = ((send_start.elapsed().as_secs_f64() * p.rate as f64) as u64).min(total);
        while sent < due {
            let frame = json!({
                "type": "send", "topic": &*topic, "ref": sent.to_string(),
                "text": format!("t={}", now_us()), "time_ms": (sent % 600_000) as i64,
            });
            let _ = queues[sent as usize % queues.len()].send(frame.to_string());
            sent += 1;
        }
    }
    let send_s = send_start.elapsed().as_secs_f64();
    eprintln!("sent {sent} in {send_s:.1} s; draining");

    // Drain: until every acknowledged message reached every viewer, or nothing arrived for 3 s
    // (at most 30 s).
    let drain_start = Instant::now();
    let mut last = (counters.messages.load(Ordering::Relaxed), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let acks = counters.acks.load(Ordering::Relaxed);
        let refused = counters.refused.load(Ordering::Relaxed);
        let messages = counters.messages.load(Ordering::Relaxed);
        let alive = subscribed - counters.closed_early.load(Ordering::Relaxed);
        if acks + refused >= sent && messages >= acks * alive as u64 {
            break;
        }
        if messages != last.0 {
            last = (messages, Instant::now());
        }
        if last.1.elapsed() > Duration::from_secs(3)
            || drain_start.elapsed() > Duration::from_secs(30)
        {
            break;
        }
    }
    let cpu_server = cpu_seconds(&server_pid) - cpu_server_0;
    let cpu_self = cpu_seconds("self") - cpu_self_0;
    let wall = send_start.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    let rss_peak = peak.load(Ordering::Relaxed);
    let hwm = kib("VmHWM");
    stop.cancel();

    let mut e2e = Vec::new();
    let mut stored = Vec::new();
    let mut sampled_viewers = 0;
    for v in viewers {
        let sample = v.await?;
        if !sample.end_to_end_us.is_empty() {
            sampled_viewers += 1;
        }
        e2e.extend(sample.end_to_end_us);
        stored.extend(sample.to_stored_ms);
    }
    for s in sender_tasks {
        if let Err(e) = s.await? {
            eprintln!("sender: {e}");
        }
    }
    e2e.sort_unstable();
    stored.sort_unstable();

    let c = &counters;
    let messages = c.messages.load(Ordering::Relaxed);
    let frames = c.frames.load(Ordering::Relaxed);
    let acks = c.acks.load(Ordering::Relaxed);
    let last_us = c.last_delivery_us.load(Ordering::Relaxed);
    let delivery_s = (last_us.saturating_sub(send_start_us) as f64 / 1e6).max(send_s);
    let expected = acks * subscribed as u64;
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "RESULT viewers={subscribed} failed={} ramp_s={ramp_s:.1} sent={sent} acked={acks} refused={} \
         send_s={send_s:.2} delivered={messages} expected={expected} delivered_pct={:.2} \
         deliveries_per_s={:.0} frames_per_s={:.0} mib_per_s={:.1} msgs_per_frame={:.1} \
         p50_ms={:.1} p99_ms={:.1} max_ms={:.1} samples={} sampled_viewers={sampled_viewers} \
         stored_p50_ms={} stored_p99_ms={} lagged_notices={} missed_frames={} closed_early={} \
         rss_start_kib={rss_start} rss_idle_kib={rss_idle} rss_peak_kib={rss_peak} hwm_kib={hwm} \
         server_cores={:.2} driver_cores={:.2}",
        c.failed.load(Ordering::Relaxed),
        c.refused.load(Ordering::Relaxed),
        if expected > 0 {
            100.0 * messages as f64 / expected as f64
        } else {
            0.0
        },
        messages as f64 / delivery_s,
        frames as f64 / delivery_s,
        c.bytes.load(Ordering::Relaxed) as f64 / delivery_s / 1048576.0,
        if frames > 0 {
            messages as f64 / frames as f64
        } else {
            0.0
        },
        ms(percentile(&e2e, 50.0)),
        ms(percentile(&e2e, 99.0)),
        ms(e2e.last().copied().unwrap_or(0)),
        e2e.len(),
        percentile(&stored, 50.0),
        percentile(&stored, 99.0),
        c.lagged_notices.load(Ordering::Relaxed),
        c.missed_frames.load(Ordering::Relaxed),
        c.closed_early.load(Ordering::Relaxed),
        cpu_server / wall,
        cpu_self / wall,
    );
    Ok(())
}
