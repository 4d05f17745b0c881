#!/usr/bin/env bash
# Runs Spool on embedded defaults (SQLite + local disk under ./data) at 127.0.0.1:8080.
# Installs what is missing, builds a release binary, then `spool serve "$@"`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
apt_need ffmpeg:ffmpeg gcc:cc pkg-config:pkg-config
need_cargo
cargo build --release -p spool
exec "${CARGO_TARGET_DIR:-target}/release/spool" serve "$@"
