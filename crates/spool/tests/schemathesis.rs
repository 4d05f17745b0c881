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
    let server = Server::start().await;
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
    server.assert_healthy().await;
}
