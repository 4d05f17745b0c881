//! Publishing: whenever a video row says what is published, every file it points at is
//! already complete under its final name (playlists end, segments exist at their recorded
//! sizes, the manifest lists the renditions); no temporary file or unfinished pass remains
//! once the ladder is complete; what a killed earlier attempt left (a generation no row points
//! to, a pass inside the published one, an old cover set) is removed; and progress moves
//! during the quick pass, not only after it. Real ffmpeg, SQLite and MariaDB.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use spool_config::Config;
use spool_jobs::{CancellationToken, Runner, RunnerConfig};
use spool_media::{Published, testing};
use spool_metadata::Store;
use spool_metadata::testing::{ENGINES, Engine, TestDb};
use spool_model::{VideoId, VideoStatus};
use spool_pipeline::Pipeline;
use spool_storage::{Generation, LocalStore, MediaLayout};
use spool_upload::UploadService;

/// A 854x480 clip with audio: ladder 480p (main pass), 360p and 240p (quick pass).
async fn make_source(path: &Path, seconds: u32) -> Vec<u8> {
    let video = format!("testsrc2=size=854x480:rate=25:duration={seconds}");
    let audio = format!("sine=frequency=330:duration={seconds}");
    let inputs = ["-f", "lavfi", "-i", &video, "-f", "lavfi", "-i", &audio];
    testing::make(&[&inputs[..], &testing::H264, &testing::AAC].concat(), path).await;
    std::fs::read(path).unwrap()
}

/// Uploads `content` as a new video of a new user.
async fn upload(store: &Store, config: &Config, blobs: &LocalStore, content: &[u8]) -> VideoId {
    let uploads = UploadService::new(store.clone(), blobs.clone(), config.upload.clone());
    let user = store.create_user("owner", false).await.unwrap();
    support::upload_as(&uploads, &user, content).await
}

/// Checks one rendition directory: a complete playlist whose every segment exists.
fn check_rendition(dir: &Path, what: &str) {
    let playlist = std::fs::read_to_string(dir.join("index.m3u8"))
        .unwrap_or_else(|e| panic!("{what}: the row points at a missing playlist: {e}"));
    assert!(
        playlist.trim_end().ends_with("#EXT-X-ENDLIST"),
        "{what}: truncated playlist:\n{playlist}"
    );
    assert!(dir.join("init.mp4").is_file(), "{what}: no init.mp4");
    let segments: Vec<&str> = playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(!segments.is_empty(), "{what}: no segments");
    for segment in segments {
        let meta = std::fs::metadata(dir.join(segment))
            .unwrap_or_else(|e| panic!("{what}: segment {segment} missing: {e}"));
        assert!(meta.len() > 0, "{what}: empty segment {segment}");
    }
}

/// What a published row promises must all be on disk, complete.
fn check_published(layout: &MediaLayout, video: &VideoId, published: &Published) {
    let generation = Generation::parse(&published.generation).unwrap();
    let dir = layout.generation_dir(video, &generation);
    for rendition in &published.renditions {
        check_rendition(&dir.join(&rendition.name), &rendition.name);
    }
    if published.audio.is_some() {
        check_rendition(&dir.join("audio"), "audio");
    }
    let mpd = std::fs::read_to_string(dir.join("manifest.mpd")).expect("the manifest exists");
    assert!(mpd.trim_end().ends_with("</MPD>"), "truncated manifest");
    for rendition in &published.renditions {
        assert!(
            mpd.contains(&format!("{}/{}/", published.generation, rendition.name)),
            "the manifest lacks {}",
            rendition.name
        );
    }
    let outputs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("outputs.json")).unwrap()).unwrap();
    for r in outputs["renditions"].as_array().unwrap() {
        let name = r["rendition"]["name"].as_str().unwrap();
        for segment in r["segments"].as_array().unwrap() {
            let file = dir.join(name).join(segment["uri"].as_str().unwrap());
            assert_eq!(
                std::fs::metadata(&file).map(|m| m.len()).ok(),
                segment["bytes"].as_u64(),
                "{}",
                file.display()
            );
        }
    }
    if published.storyboard {
        assert!(dir.join("storyboard/storyboard.vtt").is_file());
    }
}

async fn publish_in_order(engine: Engine) {
    let (_db, store) = TestDb::store(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(dir.path(), |c| c.media.preset = "medium".into());
    let blobs = LocalStore::open(&config.server.data_dir).unwrap();
    let layout = MediaLayout::new(&config.server.data_dir);
    let content = make_source(&dir.path().join("source.mp4"), 20).await;
    let video = upload(&store, &config, &blobs, &content).await;

    // What a killed earlier attempt could have left: a generation no row points to (with an
    // unfinished pass in it), and a cover set old enough that no install is still writing it.
    let abandoned = Generation::fresh();
    let killed = layout.begin_pass(&video, &abandoned).unwrap();
    std::fs::create_dir_all(killed.path().join("360p")).unwrap();
    std::fs::write(killed.path().join("360p/seg_1.m4s.tmp"), b"half").unwrap();
    let (stale_cover, stale_dir) = layout.begin_cover(&video).unwrap();
    std::fs::write(stale_dir.join("640.jpg"), b"old").unwrap();
    let old = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::open(&stale_dir)
        .unwrap()
        .set_modified(old)
        .unwrap();

    let pipeline = Pipeline::new(store.clone(), blobs.clone(), config.clone());
    let runner = Runner::new(
        store.clone(),
        pipeline,
        RunnerConfig {
            poll_interval: Duration::from_millis(50),
            heartbeat_interval: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { runner.run(stop).await }
    });

    // Watch the row: every state it publishes must already be whole on disk.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut seen_media: Vec<String> = Vec::new();
    let mut progress_before_ready = BTreeSet::new();
    let published = loop {
        let row = store.video(&video).await.unwrap().unwrap();
        assert_ne!(row.status, VideoStatus::Failed, "{:?}", row.error);
        if row.status != VideoStatus::Ready {
            progress_before_ready.insert(row.progress);
        }
        if let Some(media) = row.media.clone()
            && seen_media.last() != Some(&media)
        {
            let published = Published::from_json(&media).unwrap();
            check_published(&layout, &video, &published);
            seen_media.push(media);
            if published.complete {
                assert_eq!(row.status, VideoStatus::Ready);
                break published;
            }
        }
        assert!(Instant::now() < deadline, "not processed in time: {row:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.cancel();
    task.await.unwrap();

    // The quick pass published first, then the whole ladder, in one generation.
    assert_eq!(seen_media.len(), 2, "{seen_media:?}");
    let names: Vec<&str> = published
        .renditions
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["480p", "360p", "240p"]);
    // Progress was reported while the quick pass ran, not only once it was published.
    assert!(
        progress_before_ready.iter().any(|&p| p > 2),
        "progress during the quick pass: {progress_before_ready:?}"
    );

    // Nothing but the published generation and the current cover is left, and nothing
    // temporary or unfinished in them.
    let row = store.video(&video).await.unwrap().unwrap();
    let cover = row.cover_gen.clone().expect("an automatic cover");
    assert_ne!(cover, stale_cover.as_str());
    testing::assert_only_published(&layout.video_dir(&video), &published.generation, &cover);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_never_points_at_incomplete_media_and_orphans_are_swept() {
    for engine in ENGINES {
        publish_in_order(engine).await;
    }
}
