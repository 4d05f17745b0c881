//! Live streaming end to end through the real binary: ffmpeg publishes over RTMP as OBS does,
//! the room goes live, its LL-HLS and plain playlists are read (blocking reload, preload
//! hints, parts) and played by ffmpeg as an HLS client; wrong keys, second publishers,
//! garbage, truncated handshakes, audio-only and unsupported codecs are refused with a clear
//! log line while the server stays up; a publisher that drops and comes back within the
//! grace period continues the broadcast; an ended broadcast, and one whose server was killed
//! mid-air, is a video that plays, with its storyboard and cover.
#![allow(clippy::disallowed_methods)] // publishes and plays with the real ffmpeg, node and Chromium

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

mod support;
use support::{Server, client, play_in_chromium};

/// Waits for `check` to give a value, polling every 100 ms, for at most `within`.
async fn eventually<T, F, Fut>(within: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    support::wait_for(what, within, String::new, check).await
}

struct Room {
    id: String,
    key: String,
    rtmp_url: String,
}

async fn create_room(server: &Server, token: &str, title: &str) -> Room {
    let reply = client()
        .post(server.url("/api/v1/live"))
        .bearer_auth(token)
        .json(&json!({ "title": title }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["room"]["status"], "idle");
    Room {
        id: body["room"]["id"].as_str().unwrap().to_owned(),
        key: body["stream_key"].as_str().unwrap().to_owned(),
        rtmp_url: body["rtmp_url"].as_str().unwrap().to_owned(),
    }
}

/// Waits until the room's JSON satisfies `ready`; returns it.
async fn room_until(
    server: &Server,
    id: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    eventually(Duration::from_secs(30), what, || async {
        let room = fetch_room(server, id).await;
        ready(&room).then_some(room)
    })
    .await
}

async fn fetch_room(server: &Server, id: &str) -> Value {
    client()
        .get(server.url(&format!("/api/v1/live/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// What the publisher sends.
#[derive(Clone, Copy, Debug)]
enum Source<'a> {
    /// As OBS does: 854x480 x264 veryfast zerolatency, 1 s GOP, AAC.
    Obs,
    /// Sound only.
    AudioOnly,
    /// Sorenson H.263 (FLV codec 2) instead of H.264.
    Flv1,
    /// A file copied through as it is (`-re -i FILE -c copy`).
    File(&'a str),
}

/// ffmpeg publishing a test picture in real time to `url` until killed.
fn publish(url: &str, source: Source<'_>) -> Child {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-re"]);
    match source {
        Source::Obs | Source::Flv1 => {
            cmd.args(["-f", "lavfi", "-i", "testsrc2=size=854x480:rate=30"]);
        }
        Source::AudioOnly => {}
        Source::File(path) => {
            cmd.args(["-i", path, "-c", "copy", "-f", "flv", url])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true);
            return cmd.spawn().expect("spawn ffmpeg");
        }
    }
    cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    match source {
        Source::File(_) => unreachable!("handled above"),
        Source::Obs => cmd.args(
            "-c:v libx264 -preset veryfast -tune zerolatency -g 30 -pix_fmt yuv420p -c:a aac -b:a 96k"
                .split(' '),
        ),
        Source::Flv1 => cmd.args(["-c:v", "flv1", "-c:a", "aac"]),
        Source::AudioOnly => cmd.args(["-c:a", "aac"]),
    };
    cmd.args(["-t", "120", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ffmpeg")
}

/// Publishes `source` to `url` and expects ffmpeg to give up, with `logged` in the log.
async fn refused(server: &Server, url: &str, source: Source<'_>, logged: &str) {
    let mut ffmpeg = publish(url, source);
    let status = tokio::time::timeout(Duration::from_secs(30), ffmpeg.wait())
        .await
        .unwrap_or_else(|_| panic!("the publisher to {url} kept running"))
        .unwrap();
    assert!(!status.success(), "the publisher to {url} was not refused");
    assert!(
        server.log().contains(logged),
        "no `{logged}` in the log:\n{}",
        server.log_tail()
    );
}

async fn get_text(url: &str) -> (u16, String) {
    let reply = client().get(url).send().await.unwrap();
    let status = reply.status().as_u16();
    (status, reply.text().await.unwrap_or_default())
}

/// `(msn, part)` of the playlist's `EXT-X-PRELOAD-HINT`.
fn preload_hint(playlist: &str) -> (u64, u32) {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))
        .unwrap_or_else(|| panic!("no preload hint in\n{playlist}"));
    let uri = line.split("URI=\"").nth(1).unwrap().trim_end_matches('"');
    let (msn, rest) = uri.split_once('.').unwrap();
    let part = rest.trim_end_matches(".m4s");
    (msn.parse().unwrap(), part.parse().unwrap())
}

/// The media sequence number of the first complete segment after the playlist's first
/// `EXT-X-DISCONTINUITY`.
fn discontinuity_msn(playlist: &str) -> Option<u64> {
    let after = playlist.split("#EXT-X-DISCONTINUITY").nth(1)?;
    let uri = after
        .lines()
        .find(|l| !l.starts_with('#') && l.ends_with(".m4s") && l.matches('.').count() == 1)?;
    uri.trim_end_matches(".m4s").parse().ok()
}

/// Seconds of complete segments a media playlist lists.
fn listed_seconds(playlist: &str) -> f64 {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| l.trim_end_matches(',').parse::<f64>().ok())
        .sum()
}

/// Plays `url` with ffmpeg as an HLS client, decoding everything; returns the duration
/// ffprobe reads from it. Panics on any error.
fn play_with_ffmpeg(url: &str) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i", url])
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg could not play {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no duration from ffprobe for {url}"))
}

/// The recording of an ended room: waits until it is a ready video with its storyboard and
/// cover, checks its duration against `at_least`..`at_least + slack` seconds, plays it in
/// ffmpeg (same duration) and hls.js; returns the video's JSON.
async fn check_recording(
    server: &Server,
    token: &str,
    room: &str,
    at_least: f64,
    slack: f64,
) -> Value {
    let ended = room_until(server, room, "the room to point at its recording", |r| {
        r["status"] == "ended" && r["video_id"].is_string()
    })
    .await;
    let video_id = ended["video_id"].as_str().unwrap().to_owned();
    let video = eventually(
        Duration::from_secs(60),
        "the recording's storyboard and cover",
        || async {
            let video = server.video(token, &video_id).await;
            (video["status"] == "ready"
                && video["storyboard_vtt_url"].is_string()
                && video["cover_url"].is_string())
            .then_some(video)
        },
    )
    .await;
    let duration = video["duration_s"].as_f64().unwrap();
    // The probed duration may fall short of the playlist's EXTINF sum by up to a few frames
    // (seen: 3.933 s for 4.0 s listed at 30 fps, two frames), the last frame's length and
    // timestamp rounding; a lost segment would be a whole second.
    assert!(
        duration >= at_least - 0.1 && duration <= at_least + slack,
        "the recording lasts {duration} s, the broadcast had {at_least} s (+{slack}): {video}"
    );
    let hls = video["hls_url"].as_str().unwrap().to_owned();
    let played = play_with_ffmpeg(&hls);
    assert!(
        (played - duration).abs() < 0.5,
        "ffmpeg plays {played} s of a {duration} s recording"
    );
    let report = play_in_chromium(&hls, -1.0, 2.0);
    assert!(report["fatal"].is_null(), "{report}");
    video
}

/// Processes the server has started and not reaped (over all its threads).
fn children_of(server: &Server) -> usize {
    let pid = server.pid().expect("server running");
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .map(|task| {
            std::fs::read_to_string(task.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .count()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_obs_like_publisher_goes_live_and_plays_over_ll_hls_and_plain_hls() {
    let server = Server::start().await;
    let token = server.user_add("caster");
    let room = create_room(&server, &token, "Live shopping").await;
    assert_eq!(
        room.rtmp_url,
        format!("rtmp://127.0.0.1:{}/live", server.rtmp_port)
    );
    let ffmpeg = publish(&format!("{}/{}", room.rtmp_url, room.key), Source::Obs);

    let on_air = room_until(&server, &room.id, "the room to go live", |r| {
        r["status"] == "live" && r["hls_url"].is_string()
    })
    .await;
    let master_url = on_air["hls_url"].as_str().unwrap().to_owned();
    // The source passed through, and the 360p rung encoded from it (never above 480 lines).
    let master = eventually(Duration::from_secs(20), "the master playlist", || async {
        let (status, text) = get_text(&master_url).await;
        (status == 200 && text.contains("360p/index.m3u8")).then_some(text)
    })
    .await;
    assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), 2, "{master}");
    assert!(master.contains("RESOLUTION=854x480"), "{master}");
    assert!(master.contains("RESOLUTION=640x360"), "{master}");
    assert!(
        master.contains("CODECS=\"avc1.") && master.contains("mp4a.40.2"),
        "{master}"
    );
    let media_url = master_url.replace("index.m3u8", "source/index.m3u8");

    // Wait until a few parts exist, then read the LL playlist.
    let playlist = eventually(Duration::from_secs(20), "three parts", || async {
        let (_, text) = get_text(&media_url).await;
        (text.matches("#EXT-X-PART:").count() >= 3).then_some(text)
    })
    .await;
    for tag in [
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=",
        "PART-HOLD-BACK=",
        "#EXT-X-PART-INF:PART-TARGET=0.250",
        "#EXT-X-MAP:URI=\"init-0.mp4\"",
        "#EXT-X-PROGRAM-DATE-TIME:",
        "INDEPENDENT=YES",
    ] {
        assert!(playlist.contains(tag), "{tag} missing from\n{playlist}");
    }
    for line in playlist.lines().filter(|l| l.starts_with("#EXT-X-PART:")) {
        let duration: f64 = line
            .split("DURATION=")
            .nth(1)
            .and_then(|d| d.split(',').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            duration <= 0.250 + 1e-9,
            "a part longer than the target: {line}"
        );
    }

    // Blocking reload: asking for the hinted part answers once it exists, and lists it.
    let (msn, part) = preload_hint(&playlist);
    let asked = Instant::now();
    let (status, blocked) = get_text(&format!("{media_url}?_HLS_msn={msn}&_HLS_part={part}")).await;
    assert_eq!(status, 200);
    assert!(
        blocked.contains(&format!("URI=\"{msn}.{part}.m4s\"")),
        "the blocking answer does not list part {msn}.{part}:\n{blocked}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "blocked for {:?}",
        asked.elapsed()
    );

    // The next hinted part, fetched before it exists, arrives when it is made.
    let (msn, part) = preload_hint(&blocked);
    let part_url = media_url.replace("index.m3u8", &format!("{msn}.{part}.m4s"));
    let reply = client().get(&part_url).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        reply.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let bytes = reply.bytes().await.unwrap();
    assert_eq!(&bytes[4..8], b"moof", "a part is a CMAF fragment");

    // The rung's segments start where the source's do (keyframes at the same pictures), and
    // each playlist reports the other rendition.
    let rung_url = media_url.replace("source/", "360p/");
    let (source_playlist, rung_playlist) =
        eventually(Duration::from_secs(20), "three rung segments", || async {
            let (_, rung) = get_text(&rung_url).await;
            let (_, source) = get_text(&media_url).await;
            (rung.matches("#EXTINF").count() >= 3).then_some((source, rung))
        })
        .await;
    let durations = |playlist: &str| -> Vec<f64> {
        playlist
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|d| d.trim_end_matches(',').parse().unwrap())
            .collect()
    };
    for (n, (a, b)) in durations(&source_playlist)
        .iter()
        .zip(durations(&rung_playlist))
        .enumerate()
    {
        assert!(
            (a - b).abs() < 0.05,
            "segment {n}: {a} s in the source, {b} s in 360p\n{source_playlist}\n{rung_playlist}"
        );
    }
    assert!(
        source_playlist.contains("#EXT-X-RENDITION-REPORT:URI=\"../360p/index.m3u8\""),
        "{source_playlist}"
    );
    assert!(
        rung_playlist.contains("#EXT-X-RENDITION-REPORT:URI=\"../source/index.m3u8\""),
        "{rung_playlist}"
    );

    // Far beyond the live edge is a bad request, not a hang.
    let (status, body) = get_text(&format!("{media_url}?_HLS_msn={}", msn + 50)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("live_bad_playlist_request"), "{body}");

    // The room is listed, counts its viewer, and both playlists play in ffmpeg.
    let listed: Value = client()
        .get(server.url("/api/v1/live"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == room.id.as_str()),
        "{listed}"
    );
    assert!(
        fetch_room(&server, &room.id).await["viewers"]
            .as_u64()
            .unwrap()
            >= 1
    );
    for url in [
        master_url.clone(),
        master_url.replace("index.m3u8", "plain.m3u8"),
    ] {
        let played = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-i",
                &url,
                "-t",
                "3",
                "-f",
                "null",
                "-",
            ])
            .stdin(Stdio::null())
            .output();
        let played = tokio::time::timeout(Duration::from_secs(30), played)
            .await
            .expect("ffmpeg as an HLS client hung")
            .unwrap();
        assert!(
            played.status.success(),
            "ffmpeg could not play {url}: {}",
            String::from_utf8_lossy(&played.stderr)
        );
    }

    // Every playlist passes a strict third-party parser.
    let plain_media = get_text(&media_url.replace("index.m3u8", "plain.m3u8"))
        .await
        .1;
    let plain_master = get_text(&master_url.replace("index.m3u8", "plain.m3u8"))
        .await
        .1;
    let files: Vec<std::path::PathBuf> = [
        ("master.m3u8", &master),
        ("plain-master.m3u8", &plain_master),
        ("ll.m3u8", &blocked),
        ("plain.m3u8", &plain_media),
        ("rung.m3u8", &rung_playlist),
    ]
    .iter()
    .map(|(name, text)| {
        let path = server.dir().join(name);
        std::fs::write(&path, text.as_bytes()).unwrap();
        path
    })
    .collect();
    spool_media::testing::check_hls(&files, true);

    // hls.js in Chromium plays the LL playlist in low-latency mode, loading parts.
    let report = play_in_chromium(&master_url, -1.0, 3.0);
    assert_eq!(report["lowLatencyMode"], true, "{report}");
    let parts_loaded = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let name = r.as_str().unwrap_or("").rsplit('/').next().unwrap_or("");
            name.ends_with(".m4s") && name.matches('.').count() == 2
        })
        .count();
    assert!(parts_loaded >= 3, "hls.js loaded no parts: {report}");
    let latency = report["latency"].as_f64().unwrap_or(f64::MAX);
    assert!(
        latency < 5.0,
        "hls.js plays {latency} s behind the live edge: {report}"
    );

    // Stopping the publisher (ffmpeg quits on SIGINT, unpublishing) ends the broadcast.
    let (_, before) = get_text(&media_url).await;
    let pid = ffmpeg.id().unwrap();
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    room_until(&server, &room.id, "the room to end", |r| {
        r["status"] == "ended"
    })
    .await;
    drop(ffmpeg);
    // The recording has the live ladder as its renditions.
    let video = check_recording(&server, &token, &room.id, listed_seconds(&before), 1.5).await;
    let heights: Vec<u64> = video["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights, [480, 360], "{video}");
    assert_eq!(children_of(&server), 0, "an encoder outlived its broadcast");
    server.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_publishers_are_refused_with_a_reason_and_the_server_stays_up() {
    let server = Server::start_with(None, &[("SPOOL__LIVE__IDLE_TIMEOUT_S", "2")]).await;
    let token = server.user_add("caster");
    let room = create_room(&server, &token, "Refusals").await;
    let rtmp = room.rtmp_url.clone();

    // Each refused publisher gives up, and the log names why.
    let key_url = format!("{rtmp}/{}", room.key);
    let refusals = [
        (format!("{rtmp}/not-a-key"), Source::Obs, "live_wrong_key"),
        (
            format!("{}/other/{}", rtmp.trim_end_matches("/live"), room.key),
            Source::Obs,
            "live_wrong_key",
        ),
        (key_url.clone(), Source::AudioOnly, "audio only"),
        (key_url.clone(), Source::Flv1, "FLV video codec 2"),
    ];
    for (url, source, logged) in &refusals {
        refused(&server, url, *source, logged).await;
    }

    // A second publisher while the first is on air.
    let first = publish(&format!("{rtmp}/{}", room.key), Source::Obs);
    room_until(&server, &room.id, "the first publisher on air", |r| {
        r["status"] == "live" && r["publishing"] == true
    })
    .await;
    refused(&server, &key_url, Source::Obs, "live_already_publishing").await;
    assert_eq!(
        fetch_room(&server, &room.id).await["publishing"],
        true,
        "the first publisher was cut off"
    );
    drop(first);

    // Garbage instead of a handshake, and a handshake that stops half way: both closed.
    let address = format!("127.0.0.1:{}", server.rtmp_port);
    for bytes in [vec![0x47u8; 5000], vec![0x03u8, 0, 0, 0]] {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        socket.write_all(&bytes).await.unwrap();
        let mut sink = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(15), socket.read_to_end(&mut sink)).await;
        assert!(closed.is_ok(), "the server kept a bad connection open");
    }
    assert!(server.log().contains("handshake"), "{}", server.log_tail());
    server.assert_healthy().await;
    assert_eq!(
        children_of(&server),
        0,
        "a refused publisher left a process behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_reconnects_within_the_grace_period_continues_the_broadcast() {
    let server = Server::start_with(None, &[("SPOOL__LIVE__RECONNECT_GRACE_S", "4")]).await;
    let token = server.user_add("caster");
    let room = create_room(&server, &token, "Flaky uplink").await;
    let url = format!("{}/{}", room.rtmp_url, room.key);
    let media_url = server.url(&format!("/live/{}/source/index.m3u8", room.id));

    let first = publish(&url, Source::Obs);
    eventually(Duration::from_secs(30), "a segment", || async {
        let (status, text) = get_text(&media_url).await;
        (status == 200 && text.contains("#EXTINF")).then_some(())
    })
    .await;
    let started_at = fetch_room(&server, &room.id).await["started_at"].clone();
    // The uplink dies (no unpublish): the room waits.
    drop(first);
    let missed = room_until(&server, &room.id, "the publisher to be missed", |r| {
        r["publishing"] == false
    })
    .await;
    assert_eq!(missed["status"], "live");

    let second = publish(&url, Source::Obs);
    let playlist = eventually(
        Duration::from_secs(30),
        "the broadcast to continue",
        || async {
            let (_, text) = get_text(&media_url).await;
            let after = text.split("#EXT-X-DISCONTINUITY").nth(1)?;
            after.contains("#EXTINF").then_some(text)
        },
    )
    .await;
    assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:0"), "{playlist}");
    // The 360p rung's encoder finished the first connection's pictures before the second's
    // started: its discontinuity is at the same segment as the source's.
    let rung_url = media_url.replace("source/", "360p/");
    let rung = eventually(Duration::from_secs(30), "the rung to continue", || async {
        let (_, text) = get_text(&rung_url).await;
        discontinuity_msn(&text).map(|_| text)
    })
    .await;
    assert_eq!(
        discontinuity_msn(&rung),
        discontinuity_msn(&playlist),
        "source:\n{playlist}\n360p:\n{rung}"
    );
    let now = fetch_room(&server, &room.id).await;
    assert_eq!(
        now["started_at"], started_at,
        "a new broadcast began instead"
    );
    assert_eq!(now["publishing"], true);

    // Gone for longer than the grace period: the broadcast ends, and its recording (both
    // connections, one discontinuity) is a video.
    let (_, before) = get_text(&media_url).await;
    drop(second);
    room_until(&server, &room.id, "the broadcast to end", |r| {
        r["status"] == "ended"
    })
    .await;
    let video = check_recording(&server, &token, &room.id, listed_seconds(&before), 3.0).await;
    assert_eq!(video["title"], "Flaky uplink", "{video}");
    server.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_broadcast_keeps_the_recording_up_to_the_kill() {
    let mut server = Server::start().await;
    let token = server.user_add("caster");
    let room = create_room(&server, &token, "Power cut").await;
    let media_url = server.url(&format!("/live/{}/source/index.m3u8", room.id));
    let publisher = publish(&format!("{}/{}", room.rtmp_url, room.key), Source::Obs);
    let playlist = eventually(Duration::from_secs(30), "four segments", || async {
        let (_, text) = get_text(&media_url).await;
        (text.matches("#EXTINF").count() >= 4).then_some(text)
    })
    .await;
    server.kill9();
    drop(publisher);
    server.restart().await;
    // What was listed before the kill is recorded; at most the segment in flight is more.
    check_recording(&server, &token, &room.id, listed_seconds(&playlist), 2.0).await;
    server.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_copied_through_with_b_frames_and_long_gops_plays_and_warns_its_owner() {
    let server = Server::start().await;
    let token = server.user_add("caster");
    let room = create_room(&server, &token, "From a file").await;
    // x264's defaults: B-frames; keyframes every 3 s (the warning's threshold is 2 s).
    let sample = server.dir().join("sample.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=30:duration=40")
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=40",
        ])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "90",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(&sample)
        .status()
        .unwrap();
    assert!(made.success());
    let sample = sample.display().to_string();
    let _ffmpeg = publish(
        &format!("{}/{}", room.rtmp_url, room.key),
        Source::File(&sample),
    );

    // The owner sees the stream's health, with both warnings.
    let owned = eventually(Duration::from_secs(30), "both warnings", || async {
        let room: Value = client()
            .get(server.url(&format!("/api/v1/live/{}", room.id)))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (room["health"]["warnings"].as_array()?.len() == 2).then_some(room)
    })
    .await;
    let health = &owned["health"];
    assert_eq!(health["b_frames"], true, "{owned}");
    assert!(
        (health["gop_seconds"].as_f64().unwrap() - 3.0).abs() < 0.1,
        "{owned}"
    );
    assert_eq!(
        (health["width"].as_u64(), health["height"].as_u64()),
        (Some(640), Some(360))
    );
    // Strangers see no health and no RTMP URL.
    let public = fetch_room(&server, &room.id).await;
    assert!(
        public["health"].is_null() && public["rtmp_url"].is_null(),
        "{public}"
    );

    // Viewers count from live viewing's tracking events too: three players report playing
    // (the events name the recording and the room), none of them read a playlist yet.
    let recording = owned["recording_id"].as_str().unwrap().to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events: Vec<Value> = (0..3)
        .map(|i| {
            json!({
                "event_id": format!("00000000-0000-4000-8000-{i:012x}"),
                "type": "play",
                "anonymous_id": format!("live-viewer-{i}"),
                "session_id": format!("live-session-{i}"),
                "video_id": recording,
                "position_s": 0.0,
                "properties": {"surface": "live", "room_id": room.id},
                "occurred_at": now - 100,
                "sent_at": now,
            })
        })
        .collect();
    let sent = client()
        .post(server.url("/api/v1/events"))
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    room_until(&server, &room.id, "three viewers from events", |r| {
        r["viewers"].as_u64() >= Some(3)
    })
    .await;

    // It plays in hls.js (B-frames and all) once a segment is there.
    let master_url = owned["hls_url"].as_str().unwrap().to_owned();
    let media_url = master_url.replace("index.m3u8", "source/index.m3u8");
    eventually(Duration::from_secs(30), "a segment", || async {
        let (_, text) = get_text(&media_url).await;
        text.contains("#EXTINF").then_some(())
    })
    .await;
    let report = play_in_chromium(&master_url, -1.0, 2.0);
    assert!(report["fatal"].is_null(), "{report}");
    server.assert_healthy().await;
}
