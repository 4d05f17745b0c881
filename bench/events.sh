#!/usr/bin/env bash
# Event ingestion with durable acknowledgement: wrk POSTs batches of BATCH tracking events to
# /api/v1/events over CONNS connections on loopback (every event a new event_id), while a
# sampler measures how far the stream aggregates lag behind the log. Compared in the same run
# with the physical limits: the disk's fsynced sequential write rate (how many events per
# second it could persist at the log's bytes per event) and the HTTP stack's ceiling (wrk
# against /healthz on the same server, times BATCH). Medians of RUNS runs. Loopback only,
# bounded, stops by itself, removes its scratch files. See bench/README.md.
#
#   bash bench/events.sh > table.md        (progress on stderr, the markdown table on stdout)
#   QUICK=1 bash bench/events.sh           (smoke test: 3 s per measurement, 1 run)
#
# Environment:
#   SPOOL_BIN  spool binary (default: $CARGO_TARGET_DIR/release/spool if set, else target/release/spool)
#   BENCH_DIR  scratch directory (default /tmp/spool-bench)
#   RUNS       runs, the median is reported (default 3)
#   DURATION   seconds of each wrk measurement (default 10)
#   CONNS      connections (default 64)
#   THREADS    wrk threads (default 2)
#   BATCH      events per request (default 50)
#   EVENTS_LOG empty: the embedded log (default); nats://HOST:PORT: NATS JetStream, in a stream
#              of its own that the script deletes at exit
#   NATS_STORE the NATS server's store directory (-sd), to measure bytes per event
#              (default /var/lib/nats-server)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${SPOOL_BIN:-}" ]; then
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then SPOOL_BIN="$CARGO_TARGET_DIR/release/spool"
  else SPOOL_BIN="$root/target/release/spool"; fi
fi
if [ "${QUICK:-0}" = 1 ]; then DURATION="${DURATION:-3}"; RUNS="${RUNS:-1}"; fi
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
BATCH="${BATCH:-50}"
EVENTS_LOG="${EVENTS_LOG:-}"
STREAM="SPOOL_BENCH_$$"

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in curl wrk python3 awk dd; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[ -x "$SPOOL_BIN" ] || die "spool binary missing (looked for $SPOOL_BIN; cargo build --release -p spool, or set SPOOL_BIN)"
for var in $(compgen -e | grep '^SPOOL__' || true); do unset "$var"; done

mkdir -p "$BENCH_DIR"
work="$(mktemp -d "$BENCH_DIR/events.XXXXXX")"
SRV_PID=""; SAMPLER_PID=""
stop_pid() { [ -n "$1" ] || return 0; kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# Deletes the bench's JetStream stream: one request on the NATS protocol, no client needed.
delete_stream() {
  [ -n "$EVENTS_LOG" ] || return 0
  python3 - "$EVENTS_LOG" "$STREAM" <<'EOF' || true
import socket, sys
host, port = sys.argv[1].removeprefix("nats://").split(":")
s = socket.create_connection((host, int(port)), timeout=5)
s.recv(4096)  # INFO
s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.bench 1\r\n'
          b"PUB $JS.API.STREAM.DELETE." + sys.argv[2].encode() + b" _INBOX.bench 0\r\n\r\nPING\r\n")
s.recv(4096)
EOF
}
cleanup() {
  stop_pid "$SAMPLER_PID"; stop_pid "$SRV_PID"
  delete_stream
  rm -rf "$work"; rmdir "$BENCH_DIR" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR==0) {print "n/a"; exit}
  if (NR%2) printf "%.2f\n", v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="n/a" || b=="n/a" || b==0) print "n/a"; else printf "%.2f", a/b }'; }
# wrk latency like "12.34ms" / "850.00us" / "1.20s" to milliseconds.
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0;
  else if (v ~ /s$/) printf "%.3f", v*1000; else print "n/a" }'; }

data="$work/data"; mkdir -p "$data"
start_spool() {
  PORT="$(free_port)"; URL="http://127.0.0.1:$PORT"
  # No rate limit and room for wrk's connections and the sampler's beside them: one address
  # (wrk) is the whole load (the default cap of 64 per address would shut the sampler out). No
  # job workers: nothing else runs.
  (cd "$work" && SPOOL__EVENTS__RATE_LIMIT_PER_S=0 SPOOL__JOBS__WORKERS=0 \
    SPOOL__SERVER__MAX_CONNECTIONS_PER_ADDRESS=$(( CONNS + 16 )) \
    SPOOL__EVENTS__LOG_URL="$EVENTS_LOG" SPOOL__EVENTS__NATS_STREAM="$STREAM" exec "$SPOOL_BIN" serve \
    --data "$data" --listen "127.0.0.1:$PORT") >>"$work/spool.log" 2>&1 &
  SRV_PID=$!
  for _ in $(seq 300); do
    curl -fsS -o /dev/null --max-time 2 "$URL/healthz" 2>/dev/null && return 0
    kill -0 "$SRV_PID" 2>/dev/null || { cat "$work/spool.log" >&2; die "spool serve exited"; }
    sleep 0.1
  done
  die "spool serve not answering"
}

token="$(cd "$work" && "$SPOOL_BIN" user add ops --admin --data "$data" | awk 'NF{last=$NF} END{print last}')"
start_spool
# A video the admin owns, for its stats (the bytes need not be a video: stats are per id).
head -c 4096 /dev/urandom >"$work/clip.bin"
VIDEO="$(cd "$work" && "$SPOOL_BIN" upload "$work/clip.bin" --server "$URL" --token "$token" \
  --no-progress --state-dir "$work/state" | tail -1)"
[ -n "$VIDEO" ] || die "no video id"
export VIDEO BATCH

# Samples every 50 ms: the log's end (tail endpoint) and what the aggregates have counted
# (stats endpoint). Lag of a sample = the time until the aggregates counted that log end. The
# log also holds records that are not this video's (the upload's own server-side events), so
# both are taken relative to the first sample, before the load starts.
cat >"$work/sampler.py" <<'EOF'
import json, sys, time, urllib.request
url, token, video, out = sys.argv[1:5]
def get(path):
    req = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(req, timeout=5))
with open(out, "w") as f:
    while True:
        t = time.monotonic()
        end = get("/api/v1/events/tail?wait_ms=0&limit=1")["next"]
        counted = get(f"/api/v1/videos/{video}/stats")["events_counted"]
        f.write(f"{t} {end} {counted}\n"); f.flush()
        time.sleep(0.05)
EOF
lag_p99() { # samples file -> p99 lag in ms over samples taken under load
  python3 - "$1" <<'EOF'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
if rows:
    _, end0, counted0 = rows[0]
    rows = [(t, end - end0, c - counted0) for (t, end, c) in rows]
lags = []
for i, (t, end, _) in enumerate(rows):
    if end == 0: continue
    done = next((t2 for (t2, _, c) in rows[i:] if c >= end), None)
    if done is None: continue
    lags.append((done - t) * 1000)
lags.sort()
print("%.0f" % lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else "n/a")
EOF
}

log_end() { # the log's next offset
  curl -fsS --max-time 5 -H "Authorization: Bearer $token" "$URL/api/v1/events/tail?wait_ms=0&limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["next"])'
}

run_wrk() { # script-or-empty path -> "req/s p50ms p99ms non2xx"
  local out
  if [ -n "$1" ]; then
    out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$1" "$URL" 2>&1)"
  else
    out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$URL/healthz" 2>&1)"
  fi
  local rps p50 p99 bad
  rps="$(awk '/^Requests\/sec/{print $2}' <<<"$out")"
  p50="$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")"
  p99="$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")"
  bad="$(awk '/Non-2xx/{print $NF}' <<<"$out")"
  echo "${rps:-0} $p50 $p99 ${bad:-0}"
}

# Where the log's bytes land: the data dir, or the NATS server's store for the stream
# (NATS_STORE: its -sd directory, default /var/lib/nats-server).
if [ -n "$EVENTS_LOG" ]; then log_dir="${NATS_STORE:-/var/lib/nats-server}/jetstream/\$G/streams/$STREAM"
else log_dir="$data/events"; fi
events_rate=(); p50s=(); p99s=(); lags=(); health_rate=(); disk_rate=(); bytes_per_event=()
for run in $(seq "$RUNS"); do
  log "run $run/$RUNS: events"
  before="$(du -sb "$log_dir" 2>/dev/null | awk '{print $1}')"; before="${before:-0}"
  off_before="$(log_end)"
  python3 "$work/sampler.py" "$URL" "$token" "$VIDEO" "$work/samples.$run" &
  SAMPLER_PID=$!
  read -r rps p50 p99 bad < <(run_wrk "$root/bench/events.lua")
  sleep 2 # let the sampler see the aggregates catch up
  stop_pid "$SAMPLER_PID"; SAMPLER_PID=""
  [ "$bad" = 0 ] || die "$bad requests were not answered 200 (see $work/spool.log)"
  events_rate+=("$(awk -v r="$rps" -v b="$BATCH" 'BEGIN{printf "%.0f", r*b}')")
  p50s+=("$p50"); p99s+=("$p99")
  lags+=("$(lag_p99 "$work/samples.$run")")
  log "  aggregate lag p99 ${lags[-1]} ms"
  after="$(du -sb "$log_dir" 2>/dev/null | awk '{print $1}')"; after="${after:-0}"
  logged=$(( $(log_end) - off_before ))
  bytes_per_event+=("$(awk -v a="$after" -v b="$before" -v n="$logged" 'BEGIN{printf "%.0f", (a-b)/n}')")
  log "  $(awk -v r="$rps" -v b="$BATCH" 'BEGIN{printf "%.0f", r*b}') events/s, p50 ${p50} ms, p99 ${p99} ms"

  log "run $run/$RUNS: HTTP ceiling (/healthz)"
  read -r hrps _ _ _ < <(run_wrk "")
  health_rate+=("$(awk -v r="$hrps" -v b="$BATCH" 'BEGIN{printf "%.0f", r*b}')")

  log "run $run/$RUNS: disk (256 MiB written and fdatasync'd)"
  dd_out="$(dd if=/dev/zero of="$work/dd.bin" bs=1M count=256 conv=fdatasync 2>&1)"
  rm -f "$work/dd.bin"
  mbps="$(awk '/copied/{ for (i=1;i<=NF;i++) if ($i ~ /^[0-9.]+$/ && $(i+1) ~ /B\/s/) { v=$i; u=$(i+1) } }
    END{ if (u ~ /^GB/) v*=1000; else if (u ~ /^kB/) v/=1000; print v }' <<<"$dd_out")"
  disk_rate+=("$mbps")
done

bpe="$(median "${bytes_per_event[@]}")"
ev="$(median "${events_rate[@]}")"
disk_mbps="$(median "${disk_rate[@]}")"
disk_events="$(awk -v m="$disk_mbps" -v b="$bpe" 'BEGIN{ if (b<=0) print "n/a"; else printf "%.0f", m*1e6/b }')"
http_events="$(median "${health_rate[@]}")"
cpu="$(awk -F: '/model name/{gsub(/^ /,"",$2); print $2; exit}' /proc/cpuinfo)"
cat <<EOF
### Event ingestion, ${EVENTS_LOG:-embedded log} ($(date +%Y-%m-%d))

Machine: $(nproc) cores ($cpu), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); $("$SPOOL_BIN" --version 2>/dev/null || echo spool); $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}').
wrk and the server share the 2 cores. ${THREADS} wrk threads, ${CONNS} connections, batches of ${BATCH} heartbeat events
(every event_id new), ${DURATION} s per measurement, median of ${RUNS} runs. An answer 200 means every event of the
batch is stored: fsynced in the embedded log, or acknowledged by JetStream.

| measurement | value |
|---|---|
| events/s acknowledged | $ev |
| ack latency p50 / p99 (ms) | $(median "${p50s[@]}") / $(median "${p99s[@]}") |
| aggregate lag p99 (ms) | $(median "${lags[@]}") |
| log bytes per event | $bpe |
| disk limit: fsynced MB/s → events/s at that size | $disk_mbps → $disk_events |
| HTTP ceiling: /healthz req/s × $BATCH | $http_events |
| Spool / disk limit | $(ratio "$ev" "$disk_events") |
| Spool / HTTP ceiling | $(ratio "$ev" "$http_events") |
EOF
