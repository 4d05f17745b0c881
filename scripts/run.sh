#!/usr/bin/env bash
# Runs Spool on embedded defaults (SQLite + local disk under ./data) at 127.0.0.1:8080.
# Installs what is missing, builds the web app and a release binary, then `spool serve "$@"`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
apt_need ffmpeg:ffmpeg gcc:cc pkg-config:pkg-config nodejs:node npm:npm
need_cargo
npm ci --prefix web --no-audit --no-fund --loglevel=error
npm --prefix web run build --silent
echo "building the release binary: the first build takes about 7 minutes on a 2-core machine," >&2
echo "later ones only rebuild what changed" >&2
# Cargo's progress bar even when stderr is not a terminal (a log, CI): the line shows how far it is.
CARGO_TERM_PROGRESS_WHEN="${CARGO_TERM_PROGRESS_WHEN:-always}" \
    CARGO_TERM_PROGRESS_WIDTH="${CARGO_TERM_PROGRESS_WIDTH:-100}" \
    cargo build --release -p spool
exec "${CARGO_TARGET_DIR:-target}/release/spool" serve "$@"
