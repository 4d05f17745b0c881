//! `spool wallet grant` end to end on a data dir: a grant, its replay by key, a reused key
//! with another amount, bad amounts and an unknown user refused with a clear message; the
//! ledger holds exactly the one grant afterwards.
#![allow(clippy::disallowed_methods)] // runs the spool binary

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_spool");

fn spool(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .env("SPOOL_LOG", "warn")
        .output()
        .expect("run spool")
}

#[tokio::test]
async fn grants_once_per_key_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(spool(&data, &["user", "add", "ann"]).status.success());
    let cases: &[(&[&str], bool, &str)] = &[
        (
            &["ann", "250", "--key", "k1"],
            true,
            "granted 250 coins to ann: balance 250\n",
        ),
        (
            &["ann", "250", "--key", "k1"],
            true,
            "balance 250 (already granted with this key)",
        ),
        (
            &["ann", "251", "--key", "k1"],
            false,
            "already used for a different request",
        ),
        (&["ann", "0"], false, "amount must be 1 to"),
        (&["ann", "-5"], false, "amount must be 1 to"),
        (&["nobody", "5"], false, "user not found"),
        (
            &["ann", "5", "--key", "has space"],
            false,
            "Idempotency-Key",
        ),
    ];
    for (args, ok, says) in cases {
        let out = spool(&data, &[&["wallet", "grant"], *args].concat());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.success(), *ok, "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
    let store = spool_metadata::Store::connect(
        &format!("sqlite://{}?mode=rw", data.join("spool.db").display()),
        1,
    )
    .await
    .unwrap();
    let audit = store.ledger_audit().await.unwrap();
    assert_eq!(
        (
            audit.transfers,
            audit.entries_sum,
            audit.mismatched_balances
        ),
        (1, 0, 0)
    );
    store.close().await;
}
