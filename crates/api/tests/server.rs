//! The listener loop over real TCP (`spool_api::server::serve` on 127.0.0.1:0): clients that
//! trickle their headers or stall their bodies are cut within the configured timeouts while
//! normal requests keep being answered, a body that flows slowly but steadily survives, one
//! address cannot hold more than its share of connections, and shutdown drains.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use spool_metadata::testing::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

mod support;

struct Running {
    address: SocketAddr,
    stop: CancellationToken,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    token: String,
    _t: support::TestState,
}

async fn boot(configure: impl FnOnce(&mut spool_config::Config)) -> Running {
    let t = support::test_state(Engine::Sqlite, configure).await;
    let (_, token) = t.user("ann", false).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let served = tokio::spawn(spool_api::server::serve(
        listener,
        t.state.clone(),
        stop.clone().cancelled_owned(),
    ));
    Running {
        address,
        stop,
        served,
        token,
        _t: t,
    }
}

/// A connection to the server from `source` (a loopback address).
async fn connect(server: SocketAddr, source: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind a loopback source address");
    socket.connect(server).await.unwrap()
}

/// Reads until the server closes the connection (or `deadline`); returns what arrived and
/// whether it closed in time.
async fn read_until_closed(stream: &mut TcpStream, deadline: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let end = Instant::now() + deadline;
    let mut buf = [0u8; 4096];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// One whole `GET /healthz` on a fresh connection from `source`; the status line.
async fn healthz(server: SocketAddr, source: [u8; 4]) -> String {
    let mut stream = connect(server, source).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed, "a normal request is answered and closed");
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_are_cut_while_normal_requests_are_answered() {
    let server = boot(|c| {
        c.server.header_read_timeout_s = 1;
        c.server.body_timeout_s = 2;
    })
    .await;
    let started = Instant::now();
    // 12 slowloris connections: a request line, then one header byte every 200 ms.
    let mut tricklers = Vec::new();
    for n in 0..12u8 {
        let address = server.address;
        tricklers.push(tokio::spawn(async move {
            let mut stream = connect(address, [127, 0, 0, 1]).await;
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ").await;
            let mut buf = [0u8; 1024];
            for _ in 0..100 {
                if stream.write_all(b"a").await.is_err() {
                    return Instant::now();
                }
                match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await
                {
                    Ok(Ok(0)) | Ok(Err(_)) => return Instant::now(),
                    // The server may say 408 first; it closes right after.
                    Ok(Ok(_)) | Err(_) => {}
                }
            }
            panic!("trickling connection {n} is still open after 20 s");
        }));
    }
    // One that sends nothing at all.
    let mut silent = connect(server.address, [127, 0, 0, 1]).await;
    // Meanwhile normal requests are answered.
    for _ in 0..3 {
        assert!(
            healthz(server.address, [127, 0, 0, 1])
                .await
                .contains("200")
        );
    }
    for t in tricklers {
        let closed_at = t.await.unwrap();
        let after = closed_at - started;
        assert!(
            after < Duration::from_secs(5),
            "closed only after {after:?}"
        );
    }
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed, "a silent connection is closed");
    server.stop.cancel();
    server.served.await.unwrap().unwrap();
}

/// Starts a tus upload of `length` bytes; its path.
async fn create_upload(server: &Running, length: usize) -> String {
    let mut stream = connect(server.address, [127, 0, 0, 1]).await;
    let request = format!(
        "POST /api/v1/uploads HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTus-Resumable: 1.0.0\r\n\
         Authorization: Bearer {}\r\nUpload-Length: {length}\r\nContent-Length: 0\r\n\r\n",
        server.token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let location = answer
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("Location")
        .trim()
        .to_owned();
    location
        .strip_prefix("http://spool.test")
        .unwrap()
        .to_owned()
}

/// Opens a PATCH of `length` bytes at offset 0 (headers sent, body not yet).
async fn start_patch(server: &Running, path: &str, length: usize) -> TcpStream {
    let mut stream = connect(server.address, [127, 0, 0, 1]).await;
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTus-Resumable: 1.0.0\r\n\
         Authorization: Bearer {}\r\nUpload-Offset: 0\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {length}\r\n\r\n",
        server.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_cut_and_a_slow_steady_one_survives() {
    let server = boot(|c| {
        c.server.header_read_timeout_s = 1;
        c.server.body_timeout_s = 1;
    })
    .await;

    // Slow but steady: 10 bytes every 400 ms for about 4 s, four times the body timeout.
    let path = create_upload(&server, 100).await;
    let mut stream = start_patch(&server, &path, 100).await;
    for chunk in [0u8; 100].chunks(10) {
        stream.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(closed);
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert!(answer.contains("upload-offset: 100"), "{answer}");

    // Stalled: 10 bytes, then nothing.
    let path = create_upload(&server, 100).await;
    let mut stream = start_patch(&server, &path, 100).await;
    stream.write_all(&[1u8; 10]).await.unwrap();
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed, "a stalled body is cut");
    let after = started.elapsed();
    assert!(after < Duration::from_secs(5), "cut only after {after:?}");
    let answer = String::from_utf8_lossy(&answer);
    // What arrived is acknowledged: the client resumes from there.
    if !answer.is_empty() {
        assert!(answer.contains("interrupted"), "{answer}");
    }
    let mut head = connect(server.address, [127, 0, 0, 1]).await;
    let request = format!(
        "HEAD {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTus-Resumable: 1.0.0\r\n\
         Authorization: Bearer {}\r\n\r\n",
        server.token
    );
    head.write_all(request.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut head, Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains("upload-offset: 10\r\n"), "{answer}");

    server.stop.cancel();
    server.served.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let server = boot(|c| {
        c.server.header_read_timeout_s = 30;
        c.server.max_connections_per_address = 4;
    })
    .await;
    // Four connections from 127.0.0.1 that send nothing yet.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect(server.address, [127, 0, 0, 1]).await);
    }
    // The fifth from the same address is closed at once.
    let mut fifth = connect(server.address, [127, 0, 0, 1]).await;
    let _ = fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    let (answer, closed) = read_until_closed(&mut fifth, Duration::from_secs(5)).await;
    assert!(
        closed && answer.is_empty(),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // Another address is served.
    assert!(
        healthz(server.address, [127, 0, 0, 2])
            .await
            .contains("200")
    );
    // A place freed is a place taken.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = connect(server.address, [127, 0, 0, 1]).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        if String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Shutdown: serve returns once the held connections are gone (they have no request in
    // flight, so they close at once).
    server.stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server.served)
        .await
        .expect("serve returns after stop")
        .unwrap()
        .unwrap();
}
