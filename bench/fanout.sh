#!/usr/bin/env bash
# Danmaku fan-out over WebSocket, on loopback: VIEWERS sockets in ONE conversation (a public
# on-demand video) of one `spool serve` node, RATE danmaku per second sent in over the socket
# for SECONDS; messages delivered per second (counted inside the batch frames, every viewer),
# frames per second, send-to-receive p50/p99 (every SAMPLE-th viewer records every message),
# and the server's RSS: before the viewers, with them all connected and idle, peak under load.
# The same run measures the ceiling: the same client against a minimal tokio-tungstenite
# broadcast server (the driver's `ceiling` mode: the same frames, no storage, no HTTP stack).
# The load generator runs on the same machine and shares its cores with the server.
# Stops by itself, removes its scratch files.
#
#   bash bench/fanout.sh > table.md      (progress on stderr, the table on stdout)
#
# Environment: SPOOL_BIN (default $CARGO_TARGET_DIR/release/spool or target/release/spool),
# BENCH_DIR (/tmp/spool-bench), VIEWERS (10000), RATE (1000), SECONDS (20), RUNS (3),
# BUILD (1; 0: use the binaries as built), DRIVER_BIN (the example's binary),
# SENDERS (256 sockets the sends are spread over: each sends one at a time), SAMPLE (100), CEILING (1: also measure the
# ceiling; 0: Spool only), TICK_MS (50: interact.tick_ms).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
SPOOL_BIN="${SPOOL_BIN:-$target/release/spool}"
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench}"
VIEWERS="${VIEWERS:-10000}"
RATE="${RATE:-1000}"
SECONDS_="${SECONDS:-20}"   # $SECONDS is bash's clock: read once, never written
RUNS="${RUNS:-3}"
SENDERS="${SENDERS:-256}"
SAMPLE="${SAMPLE:-100}"
CEILING="${CEILING:-1}"
TICK_MS="${TICK_MS:-50}"
log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

driver="${DRIVER_BIN:-$target/release/examples/fanout}"
if [ "${BUILD:-1}" = 1 ]; then
  log "building (release)"
  cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p spool --bin spool >&2
  cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p spool --example fanout >&2
fi

# 10,000 client sockets in the driver, as many in the server.
want=$((VIEWERS + SENDERS + 1024))
ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge "$want" ] || log "warning: ulimit -n is $(ulimit -n), below $want"

mkdir -p "$BENCH_DIR"
scratch="$(mktemp -d "$BENCH_DIR/fanout.XXXXXX")"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
}
cleanup() { stop_server; rm -rf "$scratch"; }
trap cleanup EXIT

# The announced address in a log: "<prefix> http://127.0.0.1:PORT" or "... on 127.0.0.1:PORT".
wait_port() { # LOG PATTERN
  for _ in $(seq 1 300); do
    port="$(grep -oE "$2[^ ]*:[0-9]+" "$1" 2>/dev/null | head -1 | grep -oE '[0-9]+$' || true)"
    [ -n "$port" ] && { echo "$port"; return 0; }
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$1" >&2; return 1
}

run_spool() { # RUN -> RESULT line on stdout
  local dir="$scratch/spool-$1" token video port
  mkdir -p "$dir"
  token="$("$SPOOL_BIN" user add bench --data "$dir/data" 2>/dev/null | tail -1 | awk '{print $NF}')"
  # One load generator on one address, one sender user: the per-address connection cap and
  # the chat rate limits (3 per 2 s per user, 500/s per room by default) are raised.
  SPOOL__JOBS__WORKERS=0 SPOOL__SERVER__MAX_CONNECTIONS_PER_ADDRESS=1000000 \
    SPOOL__INTERACT__USER_BURST=100000000 SPOOL__INTERACT__ROOM_PER_SECOND=100000000 \
    SPOOL__INTERACT__TICK_MS="$TICK_MS" RUST_LOG="${RUST_LOG:-warn,spool=info}" \
    "$SPOOL_BIN" serve --data "$dir/data" --listen 127.0.0.1:0 --rtmp-listen 127.0.0.1:0 \
    > "$dir/server.log" 2>&1 &
  server_pid=$!
  port="$(wait_port "$dir/server.log" "spool serving on http://")"
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  # The video row through the store, once the server has its schema.
  video="$("$driver" seed "sqlite://$dir/data/spool.db" bench)"
  "$driver" run url="ws://127.0.0.1:$port/api/v1/ws" topic="video:$video" token="$token" \
    viewers="$VIEWERS" rate="$RATE" seconds="$SECONDS_" senders="$SENDERS" sample="$SAMPLE" \
    pid="$server_pid" | grep '^RESULT'
  stop_server
}

run_ceiling() { # RUN -> RESULT line on stdout
  local dir="$scratch/ceiling-$1" port
  mkdir -p "$dir"
  "$driver" ceiling 127.0.0.1:0 > "$dir/server.log" 2>&1 &
  server_pid=$!
  port="$(wait_port "$dir/server.log" "ceiling listening on ")"
  "$driver" run url="ws://127.0.0.1:$port/" topic="video:ceiling" \
    viewers="$VIEWERS" rate="$RATE" seconds="$SECONDS_" senders="$SENDERS" sample="$SAMPLE" \
    pid="$server_pid" | grep '^RESULT'
  stop_server
}

results="$scratch/results"
: > "$results"
for run in $(seq 1 "$RUNS"); do
  log "run $run/$RUNS: spool, $VIEWERS viewers, $RATE msg/s for $SECONDS_ s"
  echo "spool $(run_spool "$run")" >> "$results"
  tail -1 "$results" >&2
  if [ "$CEILING" = 1 ]; then
    log "run $run/$RUNS: ceiling"
    echo "ceiling $(run_ceiling "$run")" >> "$results"
    tail -1 "$results" >&2
  fi
done

field() { # CONTENDER KEY -> values, one a line
  grep "^$1 " "$results" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}'; }
med() { field "$1" "$2" | median; }
all() { field "$1" "$2" | paste -sd/ -; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
ram="$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "Machine: $(nproc) cores ($cpu), $ram RAM; $(uname -sr); $(date -u +%Y-%m-%d); load generator on the same machine."
echo "Spool $("$SPOOL_BIN" --version 2>/dev/null | awk '{print $NF}') at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'); $VIEWERS viewers in one conversation, $RATE msg/s in for $SECONDS_ s over $SENDERS sockets, tick $TICK_MS ms; chat rate limits and the per-address connection cap raised for the load."
echo
echo "| server | viewers | deliveries/s | delivered | frames/s | msgs/frame | MiB/s | p50 ms | p99 ms | max ms | lagged notices | closed early | server cores | driver cores |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for who in spool ceiling; do
  grep -q "^$who " "$results" || continue
  echo "| $who | $(med $who viewers) | $(med $who deliveries_per_s) ($(all $who deliveries_per_s)) | $(med $who delivered_pct) % | $(med $who frames_per_s) | $(med $who msgs_per_frame) | $(med $who mib_per_s) | $(med $who p50_ms) | $(med $who p99_ms) ($(all $who p99_ms)) | $(med $who max_ms) | $(med $who lagged_notices) | $(med $who closed_early) | $(med $who server_cores) | $(med $who driver_cores) |"
done
echo
echo "Medians of $RUNS runs (each run's figure in parentheses). Spool's send → stored (created_at − send time) p50/p99: $(med spool stored_p50_ms)/$(med spool stored_p99_ms) ms; viewers' handshake ramp $(med spool ramp_s) s."
rss_start="$(med spool rss_start_kib)"; rss_idle="$(med spool rss_idle_kib)"; rss_peak="$(med spool rss_peak_kib)"
awk -v s="$rss_start" -v i="$rss_idle" -v p="$rss_peak" -v n="$VIEWERS" 'BEGIN {
  printf "Spool RSS: %.0f MiB before the viewers, %.0f MiB with %d idle viewers (%.1f KiB per connection), %.0f MiB peak under load (%.1f KiB per connection).\n",
    s/1024, i/1024, n, (i-s)/n, p/1024, (p-s)/n }'
if grep -q '^ceiling ' "$results"; then
  awk -v s="$(med ceiling rss_start_kib)" -v i="$(med ceiling rss_idle_kib)" -v p="$(med ceiling rss_peak_kib)" -v n="$VIEWERS" 'BEGIN {
    printf "Ceiling RSS: %.0f MiB before, %.0f MiB idle (%.1f KiB per connection), %.0f MiB peak.\n", s/1024, i/1024, (i-s)/n, p/1024 }'
  awk -v a="$(med spool deliveries_per_s)" -v b="$(med ceiling deliveries_per_s)" 'BEGIN { if (b > 0) printf "Spool / ceiling deliveries: %.2f\n", a/b }'
fi
awk -v a="$(med spool deliveries_per_s)" 'BEGIN { printf "Spool / Centrifugo published (~25,000 deliveries/s per 2 CPUs, not measured here): %.1f x\n", a/25000 }'
