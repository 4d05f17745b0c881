#!/usr/bin/env bash
# Discovery, online, on loopback against a real `spool serve` (MariaDB, no media workers):
# 100,000 ready videos seeded through the store, 100,000 viewers' profiles made through
# POST /api/v1/events, then
#   - a simulation: synthetic viewers with a hidden taste take the feed page by page, watch
#     and like what matches and skip the rest; the share matching their taste per round
#     against a viewer who never interacts (trending + fresh) and random; the time from a
#     "not interested" to a feed without that video;
#   - open-loop load at fixed rates: GET /feed and GET /related at 1,000/s, search at 500/s
#     (latency from each request's scheduled time), and GET /api/v1/videos/{id} at the same
#     rate: the cheapest JSON answer, a reference for this client and server on these cores;
#   - the server's memory.
# Stops by itself, cleans up (drops its database).
#
#   bash bench/reco-online.sh > table.md      (progress on stderr, tables on stdout)
#
# Environment: SPOOL_BIN (default $CARGO_TARGET_DIR/release/spool or target/release/spool),
# BENCH_DIR (default /tmp/spool-bench), VIDEOS (100000), USERS (100000), SIM_USERS (200),
# ROUNDS (6), RATE (1000), SEARCH_RATE (500), LOAD_S (30), MYSQL (mysql://root@127.0.0.1:3306).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
SPOOL_BIN="${SPOOL_BIN:-$target/release/spool}"
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench}"
VIDEOS="${VIDEOS:-100000}"
USERS="${USERS:-100000}"
SIM_USERS="${SIM_USERS:-200}"
ROUNDS="${ROUNDS:-6}"
RATE="${RATE:-1000}"
SEARCH_RATE="${SEARCH_RATE:-500}"
LOAD_S="${LOAD_S:-30}"
MYSQL="${MYSQL:-mysql://root@127.0.0.1:3306}"
PORT=18093
db="spool_bench_reco_$$"
dir="$BENCH_DIR/reco-online"
log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

log "building (release)"
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p spool --bin spool >&2
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p spool-recommend --example online >&2
online="$target/release/examples/online"

rm -rf "$dir"; mkdir -p "$dir"
mariadb -uroot -h127.0.0.1 -e "CREATE DATABASE $db"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT

log "seeding $VIDEOS videos"
"$online" seed "$MYSQL/$db" "$VIDEOS" "$dir/ids.txt" >&2

log "starting spool serve"
# One load generator on one address: the per-address caps are raised for it.
SPOOL__JOBS__WORKERS=0 SPOOL__EVENTS__RATE_LIMIT_PER_S=10000000 SPOOL__EVENTS__RATE_LIMIT_BURST=10000000 \
  SPOOL__SERVER__MAX_CONNECTIONS_PER_ADDRESS=100000 \
  "$SPOOL_BIN" serve --data "$dir/data" --database "$MYSQL/$db" --listen "127.0.0.1:$PORT" \
  --rtmp-listen 127.0.0.1:0 > "$dir/server.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$PORT"
for _ in $(seq 1 600); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$url/healthz" >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
# The index of recommendable videos is read at start: wait until the feed serves.
for _ in $(seq 1 600); do
  [ "$(curl -sf "$url/api/v1/feed?limit=1&anonymous_id=warmup" | grep -c '"id"')" -gt 0 ] && break; sleep 0.2
done

log "profiles for $USERS viewers"
"$online" profiles "$url" "$USERS" "$dir/ids.txt" >&2
rss() { awk '/VmRSS|VmHWM/ {printf "%s %d MiB  ", $1, $2/1024}' "/proc/$server_pid/status"; }

echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d); $VIDEOS videos, $USERS viewers with profiles, MariaDB"
echo
echo "Server memory after the profiles: $(rss)"
echo
log "simulation: $SIM_USERS viewers, $ROUNDS rounds"
"$online" simulate "$url" "$dir/ids.txt" "$SIM_USERS" "$ROUNDS"
echo
echo "| requests | rate | p50 ms | p99 ms | max ms | errors |"
echo "|---|---|---|---|---|---|"
for kind in feed related; do
  log "load: $kind at $RATE/s for $LOAD_S s"
  "$online" load "$url" "$dir/ids.txt" "$RATE" "$LOAD_S" "$kind"
done
log "load: search at $SEARCH_RATE/s for $LOAD_S s"
"$online" load "$url" "$dir/ids.txt" "$SEARCH_RATE" "$LOAD_S" search
log "load: one video's JSON at $RATE/s for $LOAD_S s (the reference)"
"$online" load "$url" "$dir/ids.txt" "$RATE" "$LOAD_S" video
echo
echo "Server memory at the end: $(rss)"
