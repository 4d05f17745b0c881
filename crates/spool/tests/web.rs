//! The web app in a real browser: `web/tests/e2e.mjs` drives Debian's Chromium through
//! playwright-core against a real `spool serve` with a fresh data dir (sign-up, upload through
//! the page, processing, playback, storyboard, seeking, the feed's prefetch, a throttled
//! network, private videos, no XSS, no console errors, screenshots), and what a person sees:
//! on the watch page and in the feed the video is the topmost element at the player's centre
//! and two screenshots of the picture a second of playback apart differ; a watch page opened
//! while the video processes picks up the renditions published later; a video held by a PDQ
//! hash-list match (made here, before the script runs: a clip's frames hashed and imported by
//! the CLI, another encoding of it uploaded) goes through the admin's moderation queue and
//! case to an approval (`web/tests/e2e/moderation.mjs`). The script asserts; this test runs
//! it, checks its report and keeps its measurements and screenshots.

#![allow(clippy::disallowed_methods)] // drives node, like the interop tests

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, clip, upload_command, upload_ok};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where screenshots and the measurements go: `SPOOL_WEB_ARTIFACTS`, else under the target dir.
fn artifacts_dir() -> PathBuf {
    std::env::var_os("SPOOL_WEB_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-e2e"))
}

/// The fixture of `web/tests/e2e/moderation.mjs`: a video held by a PDQ list match, as
/// `{"video_id", "owner_token"}`. As in `tests/moderation.rs`: the admin hashes a clip's frames
/// and imports them as the list `banned-clips` through the CLI; once the running server matches
/// the first hash (`moderation.reload_s = 1`), a user uploads another encoding of the clip,
/// which ends `held`.
async fn held_video(server: &Server, admin: &str) -> Value {
    let lines = server.hash_clip("chair-22-sd-grey-bar.mp4");
    let first_hash = lines
        .split_whitespace()
        .next()
        .expect("spool moderation hash printed no hash");
    server
        .import_hashes(admin, "banned-clips", &lines, first_hash)
        .await;

    let owner = server.user_add("held_uploader");
    let state = server.dir().join("held-upload-state");
    let id = upload_ok(
        upload_command(
            server,
            &owner,
            &clip("chair-22-with-small-logo-bar.mp4"),
            &state,
        ),
        server,
    );
    server
        .wait_video(&owner, &id, "held", Duration::from_secs(240), |v| {
            v["status"] == "held"
        })
        .await;
    json!({"video_id": id, "owner_token": owner})
}

#[tokio::test]
async fn the_web_app_works_in_chromium() {
    let web = repo().join("web");
    assert!(
        web.join("dist/index.html").exists() && web.join("node_modules/playwright-core").exists(),
        "the web app is not built: run `npm --prefix web ci && npm --prefix web run build` \
         (scripts/test.sh does)"
    );
    let dist = web.join("dist");
    let server = Server::start_with(
        None,
        &[
            ("SPOOL__WEB__DIR", dist.to_str().unwrap()),
            // The moderation fixture's list, imported by the CLI, is picked up within a second.
            ("SPOOL__MODERATION__RELOAD_S", "1"),
        ],
    )
    .await;
    let artifacts = artifacts_dir();
    let samples = server.dir().join("samples");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::create_dir_all(&samples).unwrap();
    let admin = server.admin_add("gifts_admin");
    let held = held_video(&server, &admin).await;

    let out = Command::new("node")
        .arg(web.join("tests/e2e.mjs"))
        .env("SPOOL_URL", &server.base)
        .env("SPOOL_ARTIFACTS", &artifacts)
        .env("SPOOL_SAMPLES", &samples)
        .env("SPOOL_ADMIN_TOKEN", &admin)
        .env("SPOOL_MODERATION_HELD", held.to_string())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "e2e.mjs failed:\n{stdout}\n{stderr}\n--- server log ---\n{}",
        server.log_tail()
    );
    let last = stdout.trim().lines().last().unwrap_or_default();
    let report: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("e2e.mjs last line is not JSON ({e}): {stdout}"));
    std::fs::write(
        artifacts.join("measurements.json"),
        serde_json::to_vec_pretty(&report).unwrap(),
    )
    .unwrap();
    eprintln!("web e2e measurements: {report}");
    assert_eq!(
        report["moderation"]["action"], "approve",
        "the moderation part did not run: {report}"
    );
    let shots = std::fs::read_dir(artifacts.join("screenshots"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(
        shots >= 16,
        "expected screenshots of 8 pages at 2 widths, found {shots}"
    );
    server.assert_healthy().await;
}
