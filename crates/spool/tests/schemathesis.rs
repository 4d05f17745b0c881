//! The OpenAPI document agrees with what the server does: schemathesis (PyPI, installed into
//! `interop/.venv` by scripts/test.sh) generates requests from `GET /api/openapi.json` of a
//! real `spool serve` on a temp data dir and runs every check (`--checks all`): no 5xx, only
//! documented statuses, content types, headers and bodies, schema-violating input refused,
//! schema-valid input accepted, auth not ignored. Bounded: a few examples per operation, a
//! fixed seed, and a time budget. Exceptions the schema cannot express (opaque cursors, tus
//! header combinations, event batch rules) are in `interop/schemathesis.toml`, each with why.
#![allow(clippy::disallowed_methods)] // drives the real schemathesis CLI

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::Server;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_agrees_with_the_server_under_schemathesis() {
    let found = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "schemathesis is not on PATH: run ./scripts/test.sh (it installs interop/requirements.txt \
         into interop/.venv and puts that first in PATH), or \
         `pip install -r interop/requirements.txt`"
    );
    // The web app's pages are documented operations too: serve the built app.
    let dist = interop_dir().join("../web/dist");
    assert!(
        dist.join("index.html").exists(),
        "the web app is not built: run `npm --prefix web ci && npm --prefix web run build` \
         (scripts/test.sh does)"
    );
    let server = Server::start_with(None, &[("SPOOL__WEB__DIR", dist.to_str().unwrap())]).await;
    let token = server.admin_add("fuzzer");
    let report = server.dir().join("schemathesis");
    let output = tokio::task::spawn_blocking({
        let schema = server.url("/api/openapi.json");
        let config = interop_dir().join("schemathesis.toml");
        let interop_dir = interop_dir();
        move || {
            Command::new("schemathesis")
                .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
                .env("PYTHONPATH", &interop_dir)
                .arg("--config-file")
                .arg(config)
                .args(["--no-color", "run", &schema])
                .args(["--checks", "all"])
                .args(["--max-examples", "6", "--seed", "20261202"])
                .args(["--workers", "2", "--request-timeout", "10"])
                .args(["--max-time", "240"])
                .args(["--phases", "examples,coverage,fuzzing"])
                .arg("--header")
                .arg(format!("Authorization: Bearer {token}"))
                .arg("--report-dir")
                .arg(&report)
                .output()
                .expect("run schemathesis")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found disagreements:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Green must mean tested: every selected operation was exercised, none errored.
    let summary = |label: &str| -> Option<String> {
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .map(|rest| rest.trim().to_owned())
    };
    let selected = summary("Selected:").expect("a summary line `Selected: N/M`");
    let all = selected.split('/').next_back().unwrap().to_owned();
    assert_eq!(
        summary("Tested:").as_deref(),
        Some(all.as_str()),
        "not every operation was tested:\n{stdout}"
    );
    assert!(
        summary("Errored:").is_none(),
        "operations errored:\n{stdout}"
    );
    server.assert_healthy().await;
}
