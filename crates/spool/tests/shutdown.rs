//! Graceful shutdown: SIGTERM during an upload makes the server stop reading, acknowledge
//! (fsync + commit) the bytes that arrived, answer, and exit 0; after a restart the upload
//! resumes from there and completes byte-identical.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::{Server, blake3_hex, header, random_bytes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_upload_keeps_acknowledged_bytes_and_exits_cleanly() {
    let mut server = Server::start().await;
    let token = server.user_add("terry");
    let http = support::client();
    let content = random_bytes(7, 8 << 20);
    let created = http
        .post(server.uploads_url())
        .header("tus-resumable", "1.0.0")
        .header("authorization", format!("Bearer {token}"))
        .header("upload-length", content.len().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = header(&created, "location").unwrap();
    let video_id = header(&created, "spool-video-id").unwrap();

    // A PATCH whose body sends 3 MiB and then stalls, as a slow client would.
    let sent = 3 << 20;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    for chunk in content[..sent].chunks(256 << 10) {
        tx.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
    }
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    }));
    let patch = tokio::spawn(
        http.patch(&location)
            .header("tus-resumable", "1.0.0")
            .header("authorization", format!("Bearer {token}"))
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .body(body)
            .send(),
    );
    // Wait until the server has received those bytes (not yet acknowledged: commits happen
    // every 64 MiB or at the end of a request).
    for _ in 0..250 {
        if server.metric("spool_upload_bytes_total").await >= sent as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.metric("spool_upload_bytes_total").await, sent as f64);

    let status = server.terminate(Duration::from_secs(10));
    assert!(
        status.success(),
        "spool serve exited with {status}\n{}",
        server.log_tail()
    );
    assert!(
        server.log().contains("shutting down"),
        "{}",
        server.log_tail()
    );
    let answer = patch.await.unwrap();
    if let Ok(answer) = answer {
        // The server answered before closing: the request was cut short, and said so.
        assert_eq!(answer.status(), 400);
    }
    drop(tx);

    server.restart().await;
    let head = http
        .head(&location)
        .header("tus-resumable", "1.0.0")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&head, "upload-offset").as_deref(), Some("3145728"));
    let rest = http
        .patch(&location)
        .header("tus-resumable", "1.0.0")
        .header("authorization", format!("Bearer {token}"))
        .header("upload-offset", sent.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(content[sent..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 204);
    support::assert_uploaded(
        &server,
        &token,
        &video_id,
        &blake3_hex(&content),
        content.len() as u64,
    )
    .await;
}
