//! Moderation end to end through the real binary, with ThreatExchange's sample videos:
//! `spool moderation hash` a clip, `spool moderation import` its frames as a list; an upload of
//! another encoding of that clip (in colour, a logo added) ends `held` and shows in the admin
//! queue with the matched frames, a different clip does not; a file on a BLAKE3 list is
//! refused at upload (451) with nothing kept; an approval releases a held video, enough
//! reports hold one, a removal deletes it and refuses its file next time; every decision is
//! in the audit trail. Runs on SQLite and on MariaDB.
#![allow(clippy::disallowed_methods)] // drives the real binary and ffmpeg

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use spool_metadata::testing::{Engine, TestDb};
use support::{Server, blake3_file, client, clip, tus_metadata, upload_command};

/// How long the pipeline may take to hold or publish a clip.
const WAIT: Duration = Duration::from_secs(240);

fn upload(server: &Server, token: &str, file: &Path) -> std::process::Output {
    let state = server.dir().join("state");
    upload_command(server, token, file, &state)
        .output()
        .expect("run spool upload")
}

fn uploaded_id(server: &Server, out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "spool upload failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_tail()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn moderation(engine: Engine) {
    let db = TestDb::for_server(engine).await;
    let server = Server::start_with(
        db.as_ref().map(|d| d.url.as_str()),
        &[
            ("SPOOL__MODERATION__RELOAD_S", "1"),
            ("SPOOL__MODERATION__REPORT_HOLD", "2"),
        ],
    )
    .await;
    let admin = server.admin_add("root");
    let alice = server.user_add("alice");

    // The admin hashes the listed clip's frames; every line is `<hex> <quality> <file>@<s>`.
    let lines = server.hash_clip("chair-22-sd-grey-bar.mp4");
    let first_hash = lines.split_whitespace().next().unwrap().to_owned();
    assert!(lines.lines().count() >= 10, "{lines}");
    for line in lines.lines() {
        let parts: Vec<&str> = line.splitn(3, ' ').collect();
        assert_eq!(parts[0].len(), 64, "{line}");
        assert!(parts[0].bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
        assert!(parts[1].parse::<u8>().is_ok_and(|q| q <= 100), "{line}");
        assert!(parts[2].contains("chair-22-sd-grey-bar.mp4@"), "{line}");
    }
    // A bad file is refused whole: nothing of it is imported.
    let bad = server.dir().join("bad.txt");
    std::fs::write(&bad, format!("{lines}{}\n", &first_hash[..63])).unwrap();
    let refused = server.cli(&[
        "moderation",
        "import",
        bad.to_str().unwrap(),
        "--list",
        "banned-clips",
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("63 characters"), "{stderr}");
    let lists = server.get_json(&admin, "/api/v1/moderation/lists").await;
    assert_eq!(lists["lists"], json!([]), "{lists}");
    // The good file, through the CLI (straight into the database, as `user add` does); the
    // running server picks the list up (moderation.reload_s = 1).
    let found = server
        .import_hashes(&admin, "banned-clips", &lines, &first_hash)
        .await;
    assert_eq!(found["matches"][0]["list"], "banned-clips", "{found}");
    assert_eq!(found["matches"][0]["distance"], 0, "{found}");
    let (status, refused) = server
        .post_json(&admin, "/api/v1/moderation/match", &json!({"hash": "xyz"}))
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("invalid_hash"))
    );
    let (status, refused) = server
        .post_json(
            &alice,
            "/api/v1/moderation/match",
            &json!({"hash": first_hash}),
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("not_admin"))
    );

    // Another encoding of the listed clip (a logo added, in colour) is held before it plays.
    let variant = uploaded_id(
        &server,
        &upload(&server, &alice, &clip("chair-22-with-small-logo-bar.mp4")),
    );
    let held = server
        .wait_video(&alice, &variant, "held", WAIT, |v| v["status"] == "held")
        .await;
    let reason = held["hold_reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("banned-clips"), "{held}");
    let anonymous = client()
        .get(server.url(&format!("/api/v1/videos/{variant}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        404,
        "a held video is hidden from others"
    );
    // A different clip is not.
    let other = uploaded_id(
        &server,
        &upload(&server, &alice, &clip("pattern-sd-grey-bar.mp4")),
    );
    let ready = server
        .wait_video(&alice, &other, "ready", WAIT, |v| {
            v["status"] == "ready" || v["status"] == "held"
        })
        .await;
    assert_eq!(ready["status"], "ready", "{ready}");

    // The queue shows the match, with the frames side by side with the entries.
    let queue = server.get_json(&admin, "/api/v1/moderation/queue").await;
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{queue}");
    let case = &items[0];
    assert_eq!(case["video"]["id"], variant.as_str());
    let matched = &case["matches"][0];
    assert_eq!(matched["list"], "banned-clips");
    assert_eq!(
        matched["label"],
        clip("chair-22-sd-grey-bar.mp4").to_str().unwrap()
    );
    assert!(matched["query_share"].as_u64().unwrap() >= 80, "{matched}");
    let pairs = matched["pairs"].as_array().unwrap();
    assert!(!pairs.is_empty());
    for pair in pairs {
        assert!(pair["distance"].as_u64().unwrap() <= 31, "{pair}");
    }
    let frame_url = pairs
        .iter()
        .find_map(|p| p["frame_url"].as_str())
        .expect("a kept frame");
    let picture = client()
        .get(server.url(frame_url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(picture.status(), 200);
    assert_eq!(
        support::header(&picture, "content-type").as_deref(),
        Some("image/jpeg")
    );
    assert!(picture.bytes().await.unwrap().starts_with(&[0xff, 0xd8]));
    let denied = client()
        .get(server.url(frame_url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    assert_eq!(case["decisions"][0]["action"], "hold");
    assert_eq!(case["decisions"][0]["actor"], Value::Null);

    // Approving releases it: ready and visible to anyone.
    let path = format!("/api/v1/moderation/videos/{variant}/decision");
    let (status, body) = server
        .post_json(&admin, &path, &json!({"action": "approve", "reason": ""}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_input"))
    );
    let (status, body) = server
        .post_json(
            &admin,
            &path,
            &json!({"action": "approve", "reason": "a chair, not the listed clip"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"]["action"], "approve");
    assert_eq!(body["decision"]["actor"], "root");
    let released = server
        .wait_video(&alice, &variant, "ready", WAIT, |v| v["status"] == "ready")
        .await;
    assert_eq!(released["hold_reason"], Value::Null);
    let (status, body) = server
        .post_json(
            &admin,
            &path,
            &json!({"action": "approve", "reason": "again"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_held"))
    );

    // Two reporters (moderation.report_hold = 2) hold the other clip; a repeat counts once.
    let bob = server.user_add("bob");
    let carol = server.user_add("carol");
    for (who, token) in [("bob", &bob), ("bob again", &bob)] {
        let (status, body) = server
            .post_json(
                token,
                "/api/v1/reports",
                &json!({"kind": "video", "id": other, "reason": format!("{who}: spam")}),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }
    assert_eq!(server.video(&alice, &other).await["status"], "ready");
    let (status, _) = server
        .post_json(
            &carol,
            "/api/v1/reports",
            &json!({"kind": "video", "id": other, "reason": "spam"}),
        )
        .await;
    assert_eq!(status, 204);
    let reported = server.video(&alice, &other).await;
    assert_eq!(reported["status"], "held", "{reported}");
    assert_eq!(reported["hold_reason"], "reported by 2 users");
    let case = server
        .get_json(&admin, &format!("/api/v1/moderation/videos/{other}"))
        .await;
    assert_eq!(case["reports"].as_array().unwrap().len(), 2, "{case}");

    // Removing deletes it and lists its file: the same file is refused at its next upload.
    let path = format!("/api/v1/moderation/videos/{other}/decision");
    let (status, body) = server
        .post_json(
            &admin,
            &path,
            &json!({"action": "remove", "reason": "spam"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let gone = client()
        .get(server.url(&format!("/api/v1/videos/{other}")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let again = upload(&server, &alice, &clip("pattern-sd-grey-bar.mp4"));
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("content_blocked") || stderr.contains("blocklist"),
        "{stderr}"
    );

    // A file on an imported BLAKE3 list: refused at creation when announced, and by the last
    // byte otherwise; nothing of it is kept.
    let doorknob = clip("doorknob-hd-no-bar.mp4");
    let digest = blake3_file(&doorknob);
    let imported = client()
        .post(server.url("/api/v1/moderation/lists/known-files?kind=blake3"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body(format!("# exact files\n{digest} doorknob\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 201);
    let len = std::fs::metadata(&doorknob).unwrap().len();
    let created = client()
        .post(server.uploads_url())
        .bearer_auth(&alice)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", len.to_string())
        .header(
            "Upload-Metadata",
            tus_metadata(&[("filename", "d.mp4"), ("blake3", &digest)]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 451);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["error"]["code"], "content_blocked");
    // Not announced: every byte arrives, and the last request is refused.
    let created = client()
        .post(server.uploads_url())
        .bearer_auth(&alice)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", len.to_string())
        .header("Upload-Metadata", tus_metadata(&[("filename", "d.mp4")]))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = support::header(&created, "location").unwrap();
    let location = if location.starts_with("http") {
        location
    } else {
        server.url(&location)
    };
    let patched = client()
        .patch(&location)
        .bearer_auth(&alice)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(std::fs::read(&doorknob).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 451);
    let head = client()
        .head(&location)
        .bearer_auth(&alice)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 404, "the refused upload is gone");
    assert!(
        !server.blob_path(&digest).exists(),
        "the refused file was kept"
    );
    let mine = server.get_json(&alice, "/api/v1/me/videos").await;
    let titles: Vec<&str> = mine["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        vec![variant.as_str()],
        "only the approved video is left: {mine}"
    );

    // The audit trail, newest first.
    let audit = server.get_json(&admin, "/api/v1/moderation/audit").await;
    let actions: Vec<&str> = audit["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["remove", "hold", "approve", "hold"], "{audit}");
    server.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn moderation_on_sqlite() {
    moderation(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn moderation_on_mariadb() {
    moderation(Engine::MySql).await;
}
