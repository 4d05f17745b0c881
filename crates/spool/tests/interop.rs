//! Interoperability: real third-party tus clients (tus-js-client on Node.js, tuspy on Python)
//! upload to a real `spool serve`, plainly and interrupted-then-resumed. The clients are driven
//! by the scripts in `interop/` (see interop/README.md). Missing client dependencies fail the
//! test with the command that installs them; the test is never skipped.
#![allow(clippy::disallowed_methods)] // drives real external clients and the spool binary

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::Server;

/// 3 MiB + 12345 B: several 256 KiB chunks and an odd tail.
const FILE_LEN: usize = 3 * 1024 * 1024 + 12345;
/// Where the interrupted runs stop before resuming.
const INTERRUPT_AFTER: u64 = 1024 * 1024;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

#[derive(Clone, Copy, Debug)]
enum Client {
    TusJs,
    Tuspy,
}

fn require(client: Client) {
    let dir = interop_dir();
    match client {
        Client::TusJs => {
            let node = Command::new("node").arg("--version").output();
            assert!(
                node.is_ok_and(|o| o.status.success()),
                "node is not installed; the interop test needs Node.js (scripts/test.sh installs it)"
            );
            assert!(
                dir.join("node_modules/tus-js-client/package.json").exists(),
                "interop/node_modules is missing: run `npm ci --prefix interop` \
                 (from the repository root)"
            );
        }
        Client::Tuspy => {
            let ok = Command::new("python3")
                .args(["-c", "import tusclient, requests"])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                ok,
                "tuspy is not importable by python3: run ./scripts/test.sh (it installs tuspy into \
                 interop/.venv and puts that first in PATH), or \
                 `pip install -r interop/requirements.txt`"
            );
        }
    }
}

fn command(client: Client) -> Command {
    let dir = interop_dir();
    match client {
        Client::TusJs => {
            let mut c = Command::new("node");
            c.arg(dir.join("tus_js_upload.mjs"));
            c
        }
        Client::Tuspy => {
            let mut c = Command::new("python3");
            c.arg(dir.join("tuspy_upload.py"));
            c
        }
    }
}

async fn run(client: Client, interrupt: bool, seed: u64) {
    require(client);
    let server = Server::start().await;
    let token = server.user_add("interop");
    let (file, blake3) = support::random_file(server.dir(), "clip.bin", seed, FILE_LEN);

    let mut cmd = command(client);
    cmd.arg("--endpoint")
        .arg(server.uploads_url())
        .arg("--token")
        .arg(&token)
        .arg("--file")
        .arg(&file);
    if interrupt {
        cmd.arg("--interrupt-after")
            .arg(INTERRUPT_AFTER.to_string());
    }
    let out = cmd.output().expect("run the interop client");
    support::assert_succeeded(
        &out,
        &format!("{client:?} (interrupt: {interrupt})"),
        &server,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let result: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{client:?} printed no JSON line ({e}): {stdout}"));

    let url = result["upload_url"].as_str().expect("upload_url");
    assert!(
        url.starts_with(&format!("{}/", server.uploads_url())),
        "upload_url {url} is not under {}",
        server.uploads_url()
    );
    let video_id = result["video_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no video_id from {client:?}: {line}"));
    let resumed_from = result["resumed_from"].as_u64().expect("resumed_from");
    if interrupt {
        assert!(
            resumed_from >= INTERRUPT_AFTER && resumed_from < FILE_LEN as u64,
            "{client:?} resumed from {resumed_from}, expected between {INTERRUPT_AFTER} and {FILE_LEN}"
        );
    } else {
        assert_eq!(resumed_from, 0, "{client:?}: {line}");
    }
    support::assert_uploaded(&server, &token, video_id, &blake3, FILE_LEN as u64).await;
    let v = server.video(&token, video_id).await;
    assert_eq!(v["title"], "clip", "title from the tus metadata: {v}");
}

#[tokio::test]
async fn tus_js_client_uploads() {
    run(Client::TusJs, false, 11).await;
}

#[tokio::test]
async fn tus_js_client_resumes_an_interrupted_upload() {
    run(Client::TusJs, true, 12).await;
}

#[tokio::test]
async fn tuspy_uploads() {
    run(Client::Tuspy, false, 13).await;
}

#[tokio::test]
async fn tuspy_resumes_an_interrupted_upload() {
    run(Client::Tuspy, true, 14).await;
}
