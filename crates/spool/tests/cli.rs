//! `spool upload` and `spool user add` end to end against a real `spool serve`: plain upload,
//! instant upload of content the same user already has, proof of possession for another user,
//! resume of a killed upload from local state and, without local state, via the server's
//! lookup by content hash.
#![allow(clippy::disallowed_methods)] // drives real external clients and the spool binary

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{Server, upload_command, upload_ok};

/// Sum of the samples of `name` whose labels contain `label` in `GET /metrics`.
async fn metric_with(server: &Server, name: &str, label: &str) -> f64 {
    let text = server.metrics_text().await;
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Uploads completed `how` (`instant`, `proof`, ...).
async fn completed(server: &Server, how: &str) -> f64 {
    metric_with(
        server,
        "spool_uploads_completed_total",
        &format!("how=\"{how}\""),
    )
    .await
}

/// One more upload completed `how` than `before`, and no byte sent for it: the server still
/// received `bytes` in all.
async fn assert_completed_without_bytes(server: &Server, how: &str, before: f64, bytes: f64) {
    assert_eq!(
        server.metric("spool_upload_bytes_total").await,
        bytes,
        "an upload completed by {how} must not send the bytes again"
    );
    assert_eq!(completed(server, how).await, before + 1.0, "{how}");
}

#[tokio::test]
async fn upload_then_instant_upload_then_proof_of_possession() {
    let server = Server::start().await;
    let alice = server.user_add("alice");
    let bob = server.user_add("bob");
    let state = server.dir().join("state-alice");
    let len = 5 * 1024 * 1024 + 777;
    let (file, blake3) = support::random_file(server.dir(), "holiday.mp4", 21, len);

    // Plain upload.
    let first = upload_ok(upload_command(&server, &alice, &file, &state), &server);
    support::assert_uploaded(&server, &alice, &first, &blake3, len as u64).await;
    let v = server.video(&alice, &first).await;
    assert_eq!(v["owner"], "alice");
    assert_eq!(v["title"], "holiday");
    let bytes = server.metric("spool_upload_bytes_total").await;
    assert_eq!(bytes, len as f64, "the first upload sends every byte once");

    // The same file again, same user: complete at creation, no byte sent.
    let instant_before = completed(&server, "instant").await;
    let second = upload_ok(upload_command(&server, &alice, &file, &state), &server);
    assert_ne!(second, first, "a second upload makes a second video");
    support::assert_uploaded(&server, &alice, &second, &blake3, len as u64).await;
    assert_completed_without_bytes(&server, "instant", instant_before, bytes).await;

    // Another user with the same content: proof of possession, no byte sent.
    let proof_before = completed(&server, "proof").await;
    let third = upload_ok(
        upload_command(&server, &bob, &file, &server.dir().join("state-bob")),
        &server,
    );
    support::assert_uploaded(&server, &bob, &third, &blake3, len as u64).await;
    assert_eq!(server.video(&bob, &third).await["owner"], "bob");
    assert_completed_without_bytes(&server, "proof", proof_before, bytes).await;
}

/// Starts `spool upload` on a 64 MiB file in 1 MiB chunks and SIGKILLs the client once the
/// server holds some of it. Returns the file, its hash, and the unfinished upload's lookup
/// entry once its offset stopped moving.
async fn start_and_kill(
    server: &Server,
    token: &str,
    state: &Path,
    seed: u64,
) -> (PathBuf, String, serde_json::Value) {
    const LEN: usize = 64 * 1024 * 1024;
    let (file, blake3) = support::random_file(server.dir(), &format!("big-{seed}.mkv"), seed, LEN);
    let mut cmd = upload_command(server, token, &file, state);
    cmd.arg("--chunk-size").arg("1MiB");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child: Child = cmd.spawn().expect("spawn spool upload");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = server.lookup(token, &blake3).await;
        if found
            .first()
            .and_then(|u| u["offset"].as_u64())
            .unwrap_or(0)
            > 0
        {
            break;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            let out = child.wait_with_output().expect("client output");
            panic!(
                "spool upload ended ({status}) before it could be interrupted\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(Instant::now() < deadline, "no upload progress within 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL spool upload");
    let out = child.wait_with_output().expect("reap spool upload");
    assert!(
        out.stdout.is_empty(),
        "a killed upload printed a video id: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Let the server finish the request the kill cut off, then read the settled offset.
    let mut last = None;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let found = server.lookup(token, &blake3).await;
        assert_eq!(found.len(), 1, "one unfinished upload expected: {found:?}");
        let entry = found[0].clone();
        if last
            .as_ref()
            .is_some_and(|l: &serde_json::Value| l["offset"] == entry["offset"])
        {
            let offset = entry["offset"].as_u64().expect("offset");
            assert!(
                offset > 0 && offset < LEN as u64,
                "offset {offset} after the kill"
            );
            assert_eq!(entry["length"], LEN as u64);
            return (file, blake3, entry);
        }
        last = Some(entry);
    }
}

async fn resume_after_kill(keep_state: bool) {
    let server = Server::start().await;
    let token = server.user_add("carol");
    let state = server.dir().join("state");
    let (file, blake3, entry) =
        start_and_kill(&server, &token, &state, if keep_state { 31 } else { 32 }).await;
    let offset = entry["offset"].as_u64().unwrap();
    let len = entry["length"].as_u64().unwrap();
    if !keep_state {
        std::fs::remove_dir_all(&state).expect("delete the state dir");
    }
    let bytes_before = server.metric("spool_upload_bytes_total").await;

    let id = upload_ok(upload_command(&server, &token, &file, &state), &server);
    assert_eq!(
        id, entry["video_id"],
        "the resumed upload must fill the interrupted upload's video"
    );
    support::assert_uploaded(&server, &token, &id, &blake3, len).await;
    let sent = server.metric("spool_upload_bytes_total").await - bytes_before;
    assert!(
        sent <= (len - offset) as f64,
        "the resumed run sent {sent} bytes; only {} were missing",
        len - offset
    );
    assert!(
        server.lookup(&token, &blake3).await.is_empty(),
        "no unfinished upload may remain"
    );
}

#[tokio::test]
async fn killed_upload_resumes_from_the_state_dir() {
    resume_after_kill(true).await;
}

#[tokio::test]
async fn killed_upload_resumes_by_hash_lookup_without_state() {
    resume_after_kill(false).await;
}

#[tokio::test]
async fn user_add_twice_fails() {
    let server = Server::start().await;
    server.user_add("dave");
    let out = server.user_add_output("dave");
    assert!(!out.status.success(), "a second `user add dave` succeeded");
    assert!(
        out.stdout.is_empty(),
        "no token may be printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.to_lowercase().contains("already exists"),
        "stderr must say the user already exists: {stderr:?}"
    );
    server.assert_healthy().await;
}

/// `spool serve` runs with its allocator's settings (it re-executes itself with them when the
/// environment lacks them), and an operator's own value wins.
#[tokio::test]
async fn serve_runs_with_its_allocator_settings_unless_the_operator_set_them() {
    let environ = |server: &Server| -> Vec<String> {
        let pid = server.pid().expect("the server runs");
        std::fs::read(format!("/proc/{pid}/environ"))
            .expect("read the server's environment")
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    };
    let server = Server::start().await;
    let vars = environ(&server);
    for want in ["MIMALLOC_ARENA_EAGER_COMMIT=0", "MIMALLOC_PURGE_DELAY=0"] {
        assert!(vars.iter().any(|v| v == want), "{want} missing: {vars:?}");
    }
    server.assert_healthy().await;
    drop(server);

    let server = Server::start_with(None, &[("MIMALLOC_PURGE_DELAY", "250")]).await;
    let vars = environ(&server);
    assert!(
        vars.iter().any(|v| v == "MIMALLOC_PURGE_DELAY=250"),
        "{vars:?}"
    );
    assert!(
        vars.iter().any(|v| v == "MIMALLOC_ARENA_EAGER_COMMIT=0"),
        "{vars:?}"
    );
    server.assert_healthy().await;
}
