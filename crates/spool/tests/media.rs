//! The media pipeline end to end through the real binary: `spool upload` a generated video,
//! watch it become `ready` (low rungs first, then the whole ladder), play its `hls_url` with
//! ffmpeg as a real HLS client, and check the CDN-facing behaviour of the media endpoints.
//! Hostile files end `failed` with a reason, make no network request and leave the server up.
//! Runs on SQLite and on MariaDB.
#![allow(clippy::disallowed_methods)] // generates sources and plays HLS with the real ffmpeg

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use spool_media::testing;
use spool_metadata::testing::{Engine, TestDb};
use support::{Server, client, header, play_in_chromium, upload_command, upload_ok};

/// How long the pipeline may take to publish a video.
const WAIT: Duration = Duration::from_secs(180);

/// Generates a test source with ffmpeg (testsrc2 + sine).
async fn make_source(dir: &Path, name: &str, size: &str, seconds: u32) -> PathBuf {
    let path = dir.join(name);
    let video = format!("testsrc2=size={size}:rate=30:duration={seconds}");
    let audio = format!("sine=frequency=440:sample_rate=48000:duration={seconds}");
    let inputs = ["-f", "lavfi", "-i", &video, "-f", "lavfi", "-i", &audio];
    let encode = [&testing::H264[..], &testing::AAC, &["-shortest"]].concat();
    testing::make(&[&inputs[..], &encode].concat(), &path).await;
    path
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client().get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.expect("GET")
}

/// Plays `url` with ffmpeg as an HLS/DASH client, decoding everything. Panics on any error.
fn play(url: &str) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "warning"])
        .arg("-i")
        .arg(url)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "ffmpeg could not play {url}:\n{stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .collect();
    assert!(
        errors.is_empty(),
        "ffmpeg reported errors playing {url}: {errors:?}"
    );
}

async fn upload_and_process(engine: Engine) {
    let db = TestDb::for_server(engine).await;
    let server = Server::start_with(db.as_ref().map(|d| d.url.as_str()), &[]).await;
    let token = server.user_add("alice");
    // 854x480: the quick pass publishes 360p and 240p, the second pass adds 480p.
    let source = make_source(server.dir(), "clip.mp4", "854x480", 9).await;
    let id = upload_ok(
        upload_command(&server, &token, &source, &server.dir().join("state")),
        &server,
    );

    let first = server
        .wait_video(&token, &id, "ready", WAIT, |v| v["status"] == "ready")
        .await;
    let complete = server
        .wait_video(&token, &id, "the whole ladder", WAIT, |v| {
            v["processing_complete"] == true
        })
        .await;
    // Progressive publishing: either we saw the quick rungs alone, or the ladder was done
    // before the first poll; in both cases the final ladder is exactly this.
    let names = |v: &Value| -> Vec<String> {
        v["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    if first["processing_complete"] == false {
        assert_eq!(names(&first), ["360p", "240p"], "{first}");
    }
    assert_eq!(names(&complete), ["480p", "360p", "240p"], "{complete}");
    assert_eq!(complete["progress"], 100);
    assert_eq!(
        (complete["width"].as_i64(), complete["height"].as_i64()),
        (Some(854), Some(480))
    );
    let duration = complete["duration_s"].as_f64().unwrap();
    assert!((duration - 9.0).abs() < 0.2, "duration {duration}");
    for r in complete["renditions"].as_array().unwrap() {
        assert!(r["bandwidth"].as_u64().unwrap() > 0, "{r}");
        assert!(r["codecs"].as_str().unwrap().starts_with("avc1."), "{r}");
    }
    assert!(complete["error"].is_null());

    // Every link answers.
    let hls = complete["hls_url"].as_str().unwrap().to_owned();
    for key in ["hls_url", "dash_url", "storyboard_vtt_url", "cover_url"] {
        let url = complete[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing: {complete}"));
        let r = get(url, &[]).await;
        assert_eq!(r.status(), 200, "{key} {url}");
    }

    // ffmpeg plays the master playlist (every rung it picks) and the DASH manifest.
    play(&hls);
    play(complete["dash_url"].as_str().unwrap());

    // hls.js in Chromium plays it from the start, and from near the end fetches only the last
    // segment of the one rung it plays (plus the audio's last segment).
    play_in_chromium(&hls, -1.0, 2.0);
    // The 9 s clip has 4 s segments: the last one runs from 8 s to the end.
    let last_start = ((duration / 4.0).ceil() - 1.0) * 4.0;
    let report = play_in_chromium(&hls, last_start + 0.25, 0.4);
    let segments: Vec<&str> = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|u| u.ends_with(".m4s"))
        .collect();
    let last_video = format!("seg_{}.m4s", (duration / 4.0).ceil() as u32);
    let video_segments: Vec<_> = segments.iter().filter(|u| !u.contains("/audio/")).collect();
    assert!(
        !video_segments.is_empty() && video_segments.iter().all(|u| u.ends_with(&last_video)),
        "seeking to the end fetched other video segments: {segments:?}"
    );

    // (ffmpeg is not used for this check: while probing the streams its HLS demuxer reads the
    // first segments of every variant, whatever the seek.)

    // CDN-facing behaviour of a segment: immutable, strong ETag, ranges, HEAD, 304.
    let master = get(&hls, &[("accept-encoding", "gzip")]).await;
    assert_eq!(header(&master, "content-encoding").as_deref(), Some("gzip"));
    let master_text = get(&hls, &[]).await.text().await.unwrap();
    let media_uri = master_text
        .lines()
        .find(|l| l.ends_with("index.m3u8") && !l.starts_with('#'))
        .unwrap();
    let base = hls.trim_end_matches("master.m3u8");
    let media_url = format!("{base}{media_uri}");
    let playlist = get(&media_url, &[]).await.text().await.unwrap();
    let segment = playlist.lines().find(|l| l.ends_with(".m4s")).unwrap();
    let segment_url = format!("{}{segment}", media_url.trim_end_matches("index.m3u8"));
    let full = get(&segment_url, &[]).await;
    assert_eq!(full.status(), 200);
    assert_eq!(
        header(&full, "cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    let etag = header(&full, "etag").unwrap();
    assert!(etag.starts_with('"'), "strong etag: {etag}");
    let body = full.bytes().await.unwrap();
    let partial = get(&segment_url, &[("range", "bytes=10-19")]).await;
    assert_eq!(partial.status(), 206);
    assert_eq!(
        header(&partial, "content-range"),
        Some(format!("bytes 10-19/{}", body.len()))
    );
    assert_eq!(partial.bytes().await.unwrap(), body.slice(10..20));
    let beyond = get(
        &segment_url,
        &[("range", &format!("bytes={}-", body.len()))],
    )
    .await;
    assert_eq!(beyond.status(), 416);
    let again = get(&segment_url, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), 304);
    let head = client().head(&segment_url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        header(&head, "content-length"),
        Some(body.len().to_string())
    );
    for bad in [
        "../../etc/passwd",
        "x/../../spool.db",
        "outputs.json",
        "nope/seg_1.m4s",
    ] {
        let r = get(&format!("{base}{bad}"), &[]).await;
        assert_eq!(r.status(), 404, "{bad}");
    }

    // Start rendition: with ~1.5 Mbit/s measured, the master lists 480p... or lower first.
    let slow = get(&format!("{hls}?CMCD=mtp%3D700"), &[])
        .await
        .text()
        .await
        .unwrap();
    let first_variant = slow
        .lines()
        .find(|l| l.ends_with("index.m3u8") && !l.starts_with('#'))
        .unwrap();
    assert!(
        first_variant.contains("360p") || first_variant.contains("240p"),
        "{slow}"
    );
    server.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_process_and_play_sqlite() {
    upload_and_process(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_process_and_play_mariadb() {
    upload_and_process(Engine::MySql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_process_and_play_postgres() {
    upload_and_process(Engine::Postgres).await;
}

/// Hostile and broken files end `failed` with a readable reason, make no network request and
/// leave the server serving; a private video's media needs its signed URL; a custom cover
/// replaces the automatic one and bad images get a clear 4xx. Media processed by a separate
/// `spool worker` process (the server runs no workers).
#[tokio::test(flavor = "multi_thread")]
async fn hostile_files_private_media_covers_and_a_separate_worker() {
    let server = Server::start_with(None, &[("SPOOL__JOBS__WORKERS", "0")]).await;
    let mut worker = std::process::Command::new(support::BIN)
        .arg("worker")
        .arg("--data")
        .arg(&server.data)
        .current_dir(server.dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(server.dir().join("worker.log")).unwrap())
        .spawn()
        .expect("start spool worker");
    let token = server.user_add("mallory");
    let dir = server.dir().to_owned();

    // A listener that must never see a connection.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let trap_url = format!("http://127.0.0.1:{}/", trap.local_addr().unwrap().port());
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        (
            "playlist.mp4",
            format!(
                "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n{trap_url}seg.ts\n#EXT-X-ENDLIST\n"
            )
            .into_bytes(),
        ),
        (
            "notes.mp4",
            b"just some text, not a video at all\n".repeat(40),
        ),
        ("truncated.mp4", {
            let full = std::fs::read(make_source(&dir, "full.mp4", "320x240", 3).await).unwrap();
            full[..full.len() / 2].to_vec()
        }),
    ];
    let mut failed = Vec::new();
    for (name, bytes) in &hostile {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let id = upload_ok(
            upload_command(&server, &token, &path, &dir.join(format!("state-{name}"))),
            &server,
        );
        failed.push((name, id));
    }
    for (name, id) in &failed {
        let video = server
            .wait_video(&token, id, "failed", WAIT, |v| v["status"] == "failed")
            .await;
        let reason = video["error"].as_str().unwrap_or_default();
        assert!(
            !reason.is_empty() && !reason.contains(&*dir.to_string_lossy()),
            "{name}: {video}"
        );
        assert!(video["hls_url"].is_null(), "{name}: {video}");
    }
    assert!(
        trap.accept().is_err(),
        "processing a hostile file made a network request"
    );
    server.assert_healthy().await;

    // A private video, processed by the separate worker: its media answers only through the
    // signed URL the owner gets.
    let source = make_source(&dir, "private.mp4", "320x240", 3).await;
    let mut cmd = upload_command(&server, &token, &source, &dir.join("state-private"));
    cmd.args(["--visibility", "private"]);
    let id = upload_ok(cmd, &server);
    let video = server
        .wait_video(&token, &id, "ready", WAIT, |v| {
            v["processing_complete"] == true
        })
        .await;
    let hls = video["hls_url"].as_str().unwrap();
    assert!(
        hls.contains("/media/s/"),
        "private media must be signed: {hls}"
    );
    assert_eq!(get(hls, &[]).await.status(), 200);
    play(hls);
    let unsigned = server.url(&format!("/media/{id}/master.m3u8"));
    assert_eq!(get(&unsigned, &[]).await.status(), 404);
    let tampered = hls.replacen("/media/s/", "/media/s/1", 1);
    assert!(matches!(
        get(&tampered, &[]).await.status().as_u16(),
        403 | 404
    ));
    let anonymous = client()
        .get(server.url(&format!("/api/v1/videos/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 404);

    // Custom cover: replaces the automatic one; bad images get a clear 4xx.
    let auto_cover = video["cover_url"].as_str().unwrap().to_owned();
    let put_cover = |body: Vec<u8>| {
        client()
            .put(server.url(&format!("/api/v1/videos/{id}/cover")))
            .bearer_auth(&token)
            .body(body)
            .send()
    };
    let frame = std::fs::read(make_frame(&dir).await).unwrap();
    assert_eq!(put_cover(frame).await.unwrap().status(), 204);
    let after = server.video(&token, &id).await;
    let custom = after["cover_url"].as_str().unwrap();
    assert_ne!(custom, auto_cover);
    assert_eq!(get(custom, &[]).await.status(), 200);
    for (body, status, code) in [
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
            415,
            "unsupported_image",
        ),
        (Vec::new(), 422, "invalid_media"),
        (vec![0xFFu8; 11 << 20], 413, "image_too_large"),
    ] {
        let r = put_cover(body).await.unwrap();
        assert_eq!(r.status(), status);
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"]["code"], code, "{err}");
    }
    // A later automatic run never replaces the custom cover.
    assert_eq!(
        server.video(&token, &id).await["cover_url"].as_str(),
        Some(custom)
    );

    server.assert_healthy().await;
    let _ = worker.kill();
    let _ = worker.wait();
}

/// One PNG frame from ffmpeg, for the cover upload.
async fn make_frame(dir: &Path) -> PathBuf {
    let path = dir.join("cover.png");
    let frame = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=800x450",
        "-frames:v",
        "1",
    ];
    testing::make(&frame, &path).await;
    path
}

/// Uploading content the server already transcoded creates a video that shares the existing
/// renditions, storyboard and cover (no second transcode), is ready at once, and keeps
/// playing after the first video is deleted.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_content_shares_its_media_and_outlives_the_first_video() {
    let server = Server::start().await;
    let token = server.user_add("alice");
    let source = make_source(server.dir(), "clip.mp4", "640x360", 5).await;
    let first = upload_ok(
        upload_command(&server, &token, &source, &server.dir().join("state1")),
        &server,
    );
    let done = server
        .wait_video(&token, &first, "the whole ladder", WAIT, |v| {
            v["processing_complete"] == true
        })
        .await;

    // The same file again: an instant upload (no bytes sent), then shared media.
    let second = upload_ok(
        upload_command(&server, &token, &source, &server.dir().join("state2")),
        &server,
    );
    assert_ne!(first, second);
    let uploaded = Instant::now();
    let shared = loop {
        let video = server.video(&token, &second).await;
        if video["processing_complete"] == true {
            break video;
        }
        assert!(
            uploaded.elapsed() < Duration::from_secs(10),
            "sharing is taking too long: it transcodes again? {video}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    eprintln!(
        "shared media: ready {:?} after the upload completed",
        uploaded.elapsed()
    );
    for key in ["renditions", "duration_s", "width", "height", "progress"] {
        assert_eq!(shared[key], done[key], "{key}");
    }
    // The same generation (one encode), served under the new video's id.
    let generation_of = |v: &Value| {
        let url = v["storyboard_vtt_url"].as_str().unwrap().to_owned();
        url.split('/').rev().nth(2).unwrap().to_owned()
    };
    assert_eq!(generation_of(&shared), generation_of(&done));
    assert!(shared["cover_url"].is_string(), "{shared}");

    // Deleting the first video keeps what the second uses.
    let deleted = client()
        .delete(server.url(&format!("/api/v1/videos/{first}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    for key in ["hls_url", "storyboard_vtt_url", "cover_url"] {
        let url = shared[key].as_str().unwrap();
        assert_eq!(get(url, &[]).await.status(), 200, "{key} {url}");
    }
    play(shared["hls_url"].as_str().unwrap());
    server.assert_healthy().await;
}
