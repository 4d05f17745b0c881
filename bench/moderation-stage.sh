#!/usr/bin/env bash
# Moderation's frame-hash step as a share of the transcode, in Spool's real pipeline: a 60 s
# 1080p source is uploaded to `spool serve`; the `process` stage samples it at 1 fps, hashes
# each frame with PDQ and matches it (the log's "frames hashed ... took_ms"), then the ladder is
# transcoded (upload complete -> processing_complete, minus the hash step). RUNS runs, the
# medians reported beside each run. Loopback only, stops by itself, removes its scratch files.
#
#   bash bench/moderation-stage.sh          (progress on stderr, the table on stdout)
#
# Environment:
#   SPOOL_BIN   spool binary (default: $CARGO_TARGET_DIR/release/spool if set, else target/release/spool)
#   RUNS        runs (default 3)
#   DURATION    seconds of the generated source (default 60)
#   SIZE        WIDTHxHEIGHT (default 1920x1080)
#   BENCH_DIR   scratch directory (default /tmp/spool-bench-moderation)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${SPOOL_BIN:-}" ]; then
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then SPOOL_BIN="$CARGO_TARGET_DIR/release/spool"
  else SPOOL_BIN="$root/target/release/spool"; fi
fi
RUNS="${RUNS:-3}"
DURATION="${DURATION:-60}"
SIZE="${SIZE:-1920x1080}"
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench-moderation}"
log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }
[ -x "$SPOOL_BIN" ] || die "spool binary missing (looked for $SPOOL_BIN; cargo build --release -p spool)"
for tool in ffmpeg curl python3; do command -v "$tool" >/dev/null || die "$tool is required"; done

rm -rf "$BENCH_DIR"; mkdir -p "$BENCH_DIR"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$BENCH_DIR"; }
trap cleanup EXIT

src="$BENCH_DIR/source.mp4"
log "generating a ${DURATION} s ${SIZE} source"
ffmpeg -hide_banner -loglevel error -nostdin -f lavfi -i "testsrc2=size=$SIZE:rate=30:duration=$DURATION" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$DURATION" \
  -c:v libx264 -preset veryfast -crf 14 -pix_fmt yuv420p -c:a aac -shortest "$src"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
results=()
for run in $(seq "$RUNS"); do
  data="$BENCH_DIR/data-$run"; port="$(free_port)"; rtmp="$(free_port)"
  token="$("$SPOOL_BIN" user add "bench$run" --data "$data" 2>/dev/null)"
  "$SPOOL_BIN" serve --data "$data" --listen "127.0.0.1:$port" --rtmp-listen "127.0.0.1:$rtmp" \
    > "$BENCH_DIR/server-$run.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  id="$("$SPOOL_BIN" upload "$src" --server "http://127.0.0.1:$port" --token "$token" \
        --state-dir "$BENCH_DIR/state-$run" --no-progress)"
  start=$(date +%s.%N)
  while :; do
    body="$(curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/videos/$id")"
    echo "$body" | grep -q '"processing_complete":true' && break
    echo "$body" | grep -q '"status":"failed"' && die "processing failed: $body"
    sleep 0.2
  done
  end=$(date +%s.%N)
  hash_ms="$(sed 's/\x1b\[[0-9;]*m//g' "$BENCH_DIR/server-$run.log" | grep -o 'frames hashed.*' | head -1 \
             | sed -E 's/.*took_ms=([0-9]+).*/\1/')"
  [ -n "$hash_ms" ] || die "no 'frames hashed' line in the log"
  hashed="$(sed 's/\x1b\[[0-9;]*m//g' "$BENCH_DIR/server-$run.log" | grep -o 'frames hashed.*' | head -1 \
             | sed -E 's/.*hashed=([0-9]+).*/\1/')"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  total_ms="$(python3 -c "print(round(($end - $start) * 1000))")"
  log "run $run: frames hashed $hashed in ${hash_ms} ms; upload complete -> ladder done ${total_ms} ms"
  results+=("$hash_ms $total_ms $hashed")
done

python3 - "$SPOOL_BIN" "${results[@]}" <<'PY'
import statistics, sys, platform, os
runs = [tuple(map(int, r.split())) for r in sys.argv[2:]]
hash_ms = [h for h, _, _ in runs]
transcode_ms = [t - h for h, t, _ in runs]
share = [h / t for h, t in zip(hash_ms, transcode_ms)]
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
print(f"Machine: {cpu}, {os.cpu_count()} cores; binary {sys.argv[1]}")
print()
print("| measure | median | runs |")
print("|---|---|---|")
print(f"| frames sampled (1 fps) and hashed | {runs[0][2]} | {', '.join(str(r[2]) for r in runs)} |")
print(f"| hash step (sample + PDQ + match), ms | {statistics.median(hash_ms):.0f} | {', '.join(map(str, hash_ms))} |")
print(f"| rest of processing (probe, ladder transcode, publish), ms | {statistics.median(transcode_ms):.0f} | {', '.join(map(str, transcode_ms))} |")
print(f"| hash step / transcode | **{statistics.median(share) * 100:.1f} %** | {', '.join(f'{s * 100:.1f} %' for s in share)} |")
PY
