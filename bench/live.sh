#!/usr/bin/env bash
# Live streaming on loopback: glass-to-glass latency of LL-HLS and plain HLS, read from a wall
# clock the publisher burns into the picture and hls.js (headless Chromium) reads back from
# the frames it presents; the CPU one 720p30 room costs with its ladder (the source passed
# through + 480p and 360p encoded) and whether the ladder keeps real time; and 1,000 viewers'
# blocking playlist reloads (answer time after a part lands). Stops by itself, cleans up.
#
#   bash bench/live.sh > table.md          (progress on stderr, the markdown table on stdout)
#   QUICK=1 bash bench/live.sh             (smoke test: about 3 minutes)
#
# Environment:
#   SPOOL_BIN   spool binary (default: $CARGO_TARGET_DIR/release/spool if set, else target/release/spool)
#   BENCH_DIR   scratch directory (default /tmp/spool-bench)
#   LL_S        seconds of LL-HLS latency sampling (default 600: p50/p95 and drift minute 1 -> 10)
#   PLAIN_S     seconds of plain-HLS latency sampling (default 120)
#   CPU_S       seconds of CPU measurement (default 60)
#   VIEWERS     blocking viewers (default 1000)
#   VIEWERS_S   seconds of the viewer load (default 30)
#   SERVE_ENV   extra settings for spool serve, e.g. "SPOOL__LIVE__PART_TARGET_MS=250" (to compare)
#   QUICK=1     LL_S=90 PLAIN_S=45 CPU_S=20 VIEWERS_S=10 unless set explicitly
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${SPOOL_BIN:-}" ]; then
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then SPOOL_BIN="$CARGO_TARGET_DIR/release/spool"
  else SPOOL_BIN="$root/target/release/spool"; fi
fi
if [ "${QUICK:-0}" = 1 ]; then
  LL_S="${LL_S:-90}"; PLAIN_S="${PLAIN_S:-45}"; CPU_S="${CPU_S:-20}"; VIEWERS_S="${VIEWERS_S:-10}"
fi
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench}"
LL_S="${LL_S:-600}"
PLAIN_S="${PLAIN_S:-120}"
CPU_S="${CPU_S:-60}"
VIEWERS="${VIEWERS:-1000}"
VIEWERS_S="${VIEWERS_S:-30}"
SERVE_ENV="${SERVE_ENV:-}"

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in curl ffmpeg node python3; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[ -x "$SPOOL_BIN" ] || die "spool binary missing (looked for $SPOOL_BIN; cargo build --release -p spool, or set SPOOL_BIN)"
[ -d "$root/interop/node_modules/hls.js" ] || (cd "$root/interop" && npm ci --no-audit --no-fund --loglevel=error)
for var in $(compgen -e | grep '^SPOOL__' || true); do
  log "ignoring $var from the environment (Spool runs with its defaults)"
  unset "$var"
done

# A thousand viewers are a thousand sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$BENCH_DIR"
work="$(mktemp -d "$BENCH_DIR/live.XXXXXX")"
SRV_PID=""
PUB_PID=""
HELD_PID=""
stop_pid() { [ -n "$1" ] || return 0; kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
cleanup() {
  stop_pid "$HELD_PID"; HELD_PID=""
  stop_pid "$PUB_PID"; PUB_PID=""
  stop_pid "$SRV_PID"; SRV_PID=""
  rm -rf "$work"
  rmdir "$BENCH_DIR" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- Spool and a room
data="$work/data"; mkdir -p "$data"
token="$(cd "$work" && "$SPOOL_BIN" user add bench --data "$data" | awk 'NF{last=$NF} END{print last}')"
[ -n "$token" ] || die "spool user add printed no token"
port="$(free_port)"; rtmp_port="$(free_port)"; url="http://127.0.0.1:$port"
# Spool's defaults, but for the connections one address may hold: the 1,000 viewers all come
# from 127.0.0.1 here (64 by default, against one abusive client).
# shellcheck disable=SC2086 # SERVE_ENV is a list of assignments
(cd "$work" && exec env SPOOL__SERVER__MAX_CONNECTIONS_PER_ADDRESS=$(( VIEWERS + 100 )) $SERVE_ENV \
  "$SPOOL_BIN" serve --data "$data" --listen "127.0.0.1:$port" \
  --rtmp-listen "127.0.0.1:$rtmp_port") >>"$work/spool.log" 2>&1 &
SRV_PID=$!
for _ in $(seq 300); do curl -fs -o /dev/null "$url/healthz" && break; sleep 0.1; done
curl -fs -o /dev/null "$url/healthz" || { cat "$work/spool.log" >&2; die "spool serve not answering"; }
room="$(curl -fsS -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"title":"latency bench"}' "$url/api/v1/live")"
read -r room_id key rtmp_url < <(python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["room"]["id"], r["stream_key"], r["rtmp_url"])' <<<"$room")
master="$url/live/$room_id/index.m3u8"

# ---------------------------------------------------------------- the publisher
# 27 blocks of 40x40 px at the top: bit b of the milliseconds since midnight UTC when the
# frame is made (the clock at ffmpeg's start plus the frame's time; -re paces the frames to
# the wall clock), white for 1. Everything else as OBS sends: x264 veryfast zerolatency,
# 1 s GOP, 2.5 Mbit/s, AAC.
# How long after it is launched ffmpeg starts its clock: one frame stamped with the wall clock
# as it is read (-use_wallclock_as_timestamps), against the time of the launch. The clock burnt
# in below starts at the launch, so the latencies measured include this (they overstate it).
calib_start="$(( $(date +%s%3N) % 86400000 ))"
calib_clock="$(ffmpeg -hide_banner -nostdin -loglevel error -re -use_wallclock_as_timestamps 1 \
  -f lavfi -i "color=c=black:size=1280x40:rate=30" -copyts \
  -vf "geq=lum='255*mod(floor(mod(T*1000\,86400000)/pow(2\,floor(X/40)))\,2)':cb=128:cr=128" \
  -frames:v 1 -f rawvideo -pix_fmt gray - | python3 -c '
import sys
row = sys.stdin.buffer.read()[20 * 1280:21 * 1280]
print(sum(1 << b for b in range(27) if row[b * 40 + 20] > 128))')"
startup_ms=$(( (calib_clock - calib_start + 86400000) % 86400000 ))
[ "$startup_ms" -lt 5000 ] || startup_ms="n/a"
start_ms="$(( $(date +%s%3N) % 86400000 ))"
clock="geq=lum='255*mod(floor(($start_ms+T*1000)/pow(2\,floor(X/40)))\,2)':cb=128:cr=128"
ffmpeg -hide_banner -nostdin -loglevel error -re \
  -f lavfi -i "testsrc2=size=1280x720:rate=30" -re -f lavfi -i "color=c=black:size=1280x40:rate=30" \
  -re -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -filter_complex "[1:v]$clock[clk];[0:v][clk]overlay=0:0,format=yuv420p[v]" \
  -map '[v]' -map 2:a -c:v libx264 -preset veryfast -tune zerolatency -g 30 -b:v 2500k \
  -maxrate 2500k -bufsize 2500k -c:a aac -b:a 128k -f flv "$rtmp_url/$key" 2>"$work/publisher.log" &
PUB_PID=$!
log "publishing to room $room_id; waiting for the ladder"
for _ in $(seq 300); do
  [ "$(curl -fs "$master" | grep -c '^#EXT-X-STREAM-INF' || true)" -ge 3 ] && break
  kill -0 "$PUB_PID" 2>/dev/null || { cat "$work/publisher.log" >&2; die "the publisher exited"; }
  sleep 0.2
done
variants="$(curl -fs "$master" | grep -c '^#EXT-X-STREAM-INF' || true)"
[ "$variants" -ge 3 ] || die "the master playlist lists $variants variants, not source + 480p + 360p"
sleep 5

# ---------------------------------------------------------------- CPU and real time
cpu_ticks() { # spool and its children (the ladder's ffmpeg): utime + stime
  local total=0 pid
  for pid in "$SRV_PID" $(pgrep -P "$SRV_PID" || true); do
    [ -r "/proc/$pid/stat" ] || continue
    total=$(( total + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$pid/stat") ))
  done
  echo "$total"
}
media_seconds() { # seconds of media in a rung's LL playlist (segments and the open one's parts)
  curl -fs "$url/live/$room_id/$1/index.m3u8" | python3 -c '
import sys
total = 0.0; parts = 0.0
for line in sys.stdin:
    if line.startswith("#EXTINF:"): total += float(line[8:].split(",")[0]); parts = 0.0
    elif line.startswith("#EXT-X-PART:"): parts += float(line.split("DURATION=")[1].split(",")[0])
print(total + parts)'
}
hz="$(getconf CLK_TCK)"; cores="$(nproc)"
log "CPU of the room for $CPU_S s"
t0="$(date +%s.%N)"; c0="$(cpu_ticks)"; m0="$(media_seconds 360p)"; s0="$(media_seconds source)"
sleep "$CPU_S"
t1="$(date +%s.%N)"; c1="$(cpu_ticks)"; m1="$(media_seconds 360p)"; s1="$(media_seconds source)"
read -r cpu_share rung_speed source_speed < <(python3 -c "
wall = $t1 - $t0
print(f'{($c1 - $c0) / $hz / wall / $cores * 100:.1f}', f'{($m1 - $m0) / wall:.3f}', f'{($s1 - $s0) / wall:.3f}')")
publisher_cpu="$(ps -o %cpu= -p "$PUB_PID" | tr -d ' ')"

# ---------------------------------------------------------------- 1,000 blocking viewers
# First the floor: the same viewers against a server that only holds their requests and
# answers them all at once every 250 ms (what the client process itself adds).
log "the viewers' floor: $VIEWERS viewers against interop/held-playlists.mjs for $VIEWERS_S s"
node "$root/interop/held-playlists.mjs" 250 >"$work/held.port" &
HELD_PID=$!
for _ in $(seq 100); do [ -s "$work/held.port" ] && break; sleep 0.1; done
node "$root/interop/live-viewers.mjs" "http://127.0.0.1:$(cat "$work/held.port")/index.m3u8" "$VIEWERS" "$VIEWERS_S" >"$work/floor.json"
stop_pid "$HELD_PID"; HELD_PID=""
log "floor: $(cat "$work/floor.json")"
log "$VIEWERS blocking viewers for $VIEWERS_S s"
node "$root/interop/live-viewers.mjs" "$url/live/$room_id/source/index.m3u8" "$VIEWERS" "$VIEWERS_S" >"$work/viewers.json"
log "viewers: $(cat "$work/viewers.json")"

# ---------------------------------------------------------------- latency
log "LL-HLS latency for $LL_S s"
node "$root/interop/live-latency.mjs" "$master" "$LL_S" ll >"$work/ll.json"
log "plain HLS latency for $PLAIN_S s"
node "$root/interop/live-latency.mjs" "$url/live/$room_id/plain.m3u8" "$PLAIN_S" plain >"$work/plain.json"

# ---------------------------------------------------------------- report
kernel="$(uname -r)"; cpu_model="$(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
mem="$(awk '/MemTotal/{printf "%d MiB", $2/1024}' /proc/meminfo)"
version="$("$SPOOL_BIN" --version 2>/dev/null || echo spool) (git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
ffv="$(ffmpeg -version | head -1 | awk '{print $3}')"
chromium_v="$( (/usr/bin/chromium --version 2>/dev/null || echo chromium) | head -1)"
hlsjs_v="$(node -p "require('$root/interop/node_modules/hls.js/package.json').version")"
python3 - "$work"/{ll,plain,viewers,floor}.json <<EOF
import json, statistics, sys
ll, plain, viewers, floor = (json.load(open(p)) for p in sys.argv[1:5])
def f(value, spec=".1f"):
    return "n/a" if value is None else format(value, spec)
def q(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")
def minute(samples, start):
    inside = [l for t, l in samples if start <= t < start + 60]
    return statistics.median(inside) if inside else float("nan")
def summary(r, skip=15):
    # The first seconds are the player's start (it joins behind and catches up).
    samples = [(t, l) for t, l in r["samples"] if t >= skip]
    lat = [l for _, l in samples]
    last = max((t for t, _ in samples), default=0)
    first_minute = minute(samples, skip)
    last_minute = minute(samples, max(skip, last - 60))
    return dict(n=len(lat), p50=q(lat, .5), p95=q(lat, .95), first=first_minute,
                last=last_minute, drift=last_minute - first_minute, bad=r["unreadable"],
                level=r["level"], errors=len(r["errors"]), fatal=r["fatal"])
a, b = summary(ll), summary(plain)
print("## Live: \`bash bench/live.sh\` ($(date -u +%F), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))")
print()
print("Machine: $cores cores, $cpu_model; memory $mem; kernel $kernel.")
print("Versions: $version; ffmpeg $ffv (publisher and ladder); $chromium_v, hls.js $hlsjs_v.")
print("Settings: LL_S=$LL_S PLAIN_S=$PLAIN_S CPU_S=$CPU_S VIEWERS=$VIEWERS VIEWERS_S=$VIEWERS_S; Spool's defaults (part target 250 ms, segment target 1 s, ladder 480/360) but server.max_connections_per_address, raised for the viewers, who all come from 127.0.0.1; SERVE_ENV='$SERVE_ENV'.")
print("Publisher: ffmpeg -re, testsrc2 1280x720 30 fps with a 27-block binary wall clock (ms since midnight) burnt in, x264 veryfast zerolatency 2.5 Mbit/s, 1 s GOP, AAC, RTMP to Spool on loopback. Viewer: hls.js in headless Chromium, the source rendition, the clock read from every presented frame (requestVideoFrameCallback + canvas) and subtracted from Date.now(); the first 15 s (the player joining) are left out.")
print()
print("| measure | Spool | target | Spool / target | peers (documented) |")
print("|---|---:|---:|---:|---|")
print(f"| LL-HLS glass-to-glass p50, s | {a['p50']:.2f} | 1.5 | {a['p50']/1.5:.2f} | MediaMTX 0.5-3; OvenMediaEngine 2-5; SRS >= 5 (HLS) |")
print(f"| LL-HLS p95, s | {a['p95']:.2f} | 2.5 | {a['p95']/2.5:.2f} | |")
print(f"| LL-HLS drift, median of the last minute - of the first, s | {a['drift']:+.2f} ({a['first']:.2f} -> {a['last']:.2f}) | <= 0.5 | | |")
print(f"| plain HLS p50, s | {b['p50']:.2f} | 4 | {b['p50']/4:.2f} | Owncast ~10 (default), >= 6 |")
print(f"| ffmpeg's start-up (included above: the clock starts at its launch), ms | $startup_ms | | | |")
print(f"| plain HLS p95, s | {b['p95']:.2f} | | | |")
print(f"| CPU of the room (Spool + its ladder ffmpeg), % of all cores | $cpu_share | keeps real time | | |")
print(f"| ladder speed: media seconds made per wall second, 360p / source | $rung_speed / $source_speed | >= 1.0 | | |")
print(f"| {viewers['viewers']} blocking viewers: answer after the part landed, p50 / p99 / max, ms | {f(viewers['p50Ms'])} / {f(viewers['p99Ms'])} / {f(viewers['maxMs'])} | p99 <= 50 | {f(viewers['p99Ms'] and viewers['p99Ms'] / 50, '.2f')} | |")
print(f"| the same viewers against a server that only holds and answers (the client's floor), p50 / p99 / max, ms | {f(floor['p50Ms'])} / {f(floor['p99Ms'])} / {f(floor['maxMs'])} | | Spool / floor p99: {f(viewers['p99Ms'] and floor['p99Ms'] and viewers['p99Ms'] / floor['p99Ms'], '.2f')} | |")
print(f"| {viewers['viewers']} blocking viewers: requests/s | {viewers['requestsPerSecond']:.0f} | | floor {floor['requestsPerSecond']:.0f} | |")
print()
print(f"Samples: LL {a['n']} frames ({a['bad']} unreadable, level {a['level']}p, {a['errors']} hls.js errors, fatal: {a['fatal']}); plain {b['n']} frames ({b['bad']} unreadable, level {b['level']}p, {b['errors']} errors, fatal: {b['fatal']}). Viewers: {viewers['requests']} requests over {viewers['parts']} parts, {viewers['errors']} errors. The publisher's own CPU (its x264 encode of 720p and the clock): $publisher_cpu % of one core.")
EOF
