//! SIGKILL mid-transcode (issue 12, "ffmpeg outlives a SIGKILLed server"): the real server
//! is killed once during the quick pass and once during the main pass. After each kill no
//! ffmpeg it started may survive (the kernel kills them with their parent); after each
//! restart the video finishes, and in the end its media directory holds exactly the published
//! generation and the current cover: no abandoned generation, no unfinished pass, no
//! temporary file, and every playlist complete.
#![allow(clippy::disallowed_methods)] // prepares the source with the real ffmpeg

mod support;

use std::time::{Duration, Instant};

use support::{Server, ffmpegs_with, looped_clip, upload_command, upload_ok};

/// Waits until `ready` says yes about the video's JSON, or panics after `within`.
async fn wait_video(
    server: &Server,
    token: &str,
    id: &str,
    within: Duration,
    what: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let video = server.video(token, id).await;
        assert_ne!(video["status"], "failed", "{what}: {video}");
        if ready(&video) {
            return video;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}: {video}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a transcoding ffmpeg of this server runs (one with a filter graph: not a probe)
/// while `phase` holds, then SIGKILLs the server and checks that none of its ffmpeg survives.
async fn kill_mid_pass(
    server: &mut Server,
    token: &str,
    id: &str,
    what: &str,
    phase: impl Fn(&serde_json::Value) -> bool,
) {
    let data = server.data.display().to_string();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let running = ffmpegs_with(&data);
        if running
            .iter()
            .any(|(_, line)| line.contains("-filter_complex"))
        {
            let video = server.video(token, id).await;
            if phase(&video) {
                break;
            }
        }
        let video = server.video(token, id).await;
        assert_ne!(
            video["processing_complete"], true,
            "{what}: finished before the kill"
        );
        assert!(
            Instant::now() < deadline,
            "{what}: no pass seen running: {video}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill9();
    // The kernel kills the children with their parent; allow it a moment, never more.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = ffmpegs_with(&data);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: ffmpeg outlived the SIGKILLed server: {left:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ffmpeg_dies_with_a_sigkilled_server_and_restarts_leave_no_orphans() {
    let env = [
        // Slow enough to be caught mid-pass on a small machine.
        ("SPOOL__MEDIA__PRESET", "slow"),
        // The killed worker's job moves to the restarted one quickly.
        ("SPOOL__JOBS__LEASE_S", "3"),
        ("SPOOL__JOBS__HEARTBEAT_S", "1"),
    ];
    let mut server = Server::start_with(None, &env).await;
    let token = server.user_add("alice");
    let source = looped_clip(server.dir());
    let state = server.dir().join("upload-state");
    let id = upload_ok(upload_command(&server, &token, &source, &state), &server);

    // 1. Killed in the quick pass: nothing published yet.
    kill_mid_pass(&mut server, &token, &id, "quick pass", |v| {
        v["renditions"].as_array().is_some_and(|r| r.is_empty())
    })
    .await;
    server.restart().await;

    // 2. Killed in the main pass: the low rungs are published, the high ones on their way.
    kill_mid_pass(&mut server, &token, &id, "main pass", |v| {
        v["status"] == "ready" && v["processing_complete"] == false
    })
    .await;
    server.restart().await;

    let video = wait_video(
        &server,
        &token,
        &id,
        Duration::from_secs(400),
        "after the restarts",
        |v| v["processing_complete"] == true,
    )
    .await;
    assert_eq!(video["progress"], 100);
    let names: Vec<&str> = video["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["720p", "480p", "360p", "240p"], "{video}");

    // Only the published generation and the current cover are left.
    let hls = video["hls_url"].as_str().unwrap();
    let generation = hls_generation(&server, hls).await;
    let cover = video["cover_url"].as_str().unwrap();
    let cover_set = cover.rsplit('/').nth(1).unwrap().to_owned();
    let media = server.data.join("media").join(&id);
    spool_media::testing::assert_only_published(&media, &generation, &cover_set);
    for rung in names.iter().chain(&["audio"]) {
        let playlist =
            std::fs::read_to_string(media.join(&generation).join(rung).join("index.m3u8"))
                .unwrap_or_else(|e| panic!("{rung}: {e}"));
        assert!(
            playlist.trim_end().ends_with("#EXT-X-ENDLIST"),
            "{rung}: {playlist}"
        );
        for segment in playlist
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            assert!(
                media.join(&generation).join(rung).join(segment).is_file(),
                "{rung}/{segment}"
            );
        }
    }
    assert!(ffmpegs_with(&server.data.display().to_string()).is_empty());
}

/// The generation the master playlist points at (its first media playlist URI).
async fn hls_generation(server: &Server, hls_url: &str) -> String {
    let master = support::client()
        .get(hls_url)
        .send()
        .await
        .expect("GET master")
        .text()
        .await
        .expect("master body");
    let uri = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap_or_else(|| panic!("no media playlist in {master}\n{}", server.log_tail()));
    uri.split('/').next().unwrap().to_owned()
}
