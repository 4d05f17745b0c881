#!/usr/bin/env bash
# Origin offload through the nginx CDN edge (issue 18): Spool behind nginx rendered from
# deploy/nginx/spool-edge.conf.template, a processed video, then VIEWERS simulated viewers
# (Python threads on loopback) each playing it through the edge: the master playlist, one
# rendition (viewer i takes rung i mod the ladder), its init segment and every segment in
# order. A warm-up wave of WARM viewers goes first; then the share of segment bytes the edge
# served from its cache (nginx's $upstream_cache_status, logged per request) is measured over
# the viewers' wave, and checked against Spool's own count of media requests it answered.
# The limit is 100% (after warm-up every object is cached once). Median of RUNS runs, each on
# a cold cache. Loopback only, bounded, stops by itself, cleans up. See bench/README.md.
#
#   bash bench/edge.sh > table.md
#   QUICK=1 bash bench/edge.sh        (smoke test: 8 s clip, 20 viewers, 1 run)
#
# Environment: SPOOL_BIN, NGINX_BIN, BENCH_DIR as in serve.sh; VIEWERS (100), WARM (3),
# RUNS (3), CLIP_S (20), CLIP_SIZE (1280x720).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${SPOOL_BIN:-}" ]; then
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then SPOOL_BIN="$CARGO_TARGET_DIR/release/spool"
  else SPOOL_BIN="$root/target/release/spool"; fi
fi
if [ "${QUICK:-0}" = 1 ]; then
  CLIP_S="${CLIP_S:-8}"; VIEWERS="${VIEWERS:-20}"; RUNS="${RUNS:-1}"
fi
NGINX_BIN="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench}"
VIEWERS="${VIEWERS:-100}"
WARM="${WARM:-3}"
RUNS="${RUNS:-3}"
CLIP_S="${CLIP_S:-20}"
CLIP_SIZE="${CLIP_SIZE:-1280x720}"
MAX_WAIT=1800

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in curl ffmpeg python3 awk; do command -v "$tool" >/dev/null || die "$tool is required"; done
[ -x "$NGINX_BIN" ] || die "nginx is required (apt-get install nginx-light; or set NGINX_BIN)"
[ -x "$SPOOL_BIN" ] || die "spool binary missing (looked for $SPOOL_BIN; cargo build --release -p spool)"
for var in $(compgen -e | grep '^SPOOL__' || true); do unset "$var"; done

mkdir -p "$BENCH_DIR"
work="$(mktemp -d "$BENCH_DIR/edge.XXXXXX")"
SRV_PID=""; NGX_PID=""
stop_pid() { [ -n "$1" ] || return 0; kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
cleanup() { stop_pid "$SRV_PID"; stop_pid "$NGX_PID"; rm -rf "$work"; rmdir "$BENCH_DIR" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url pid log what
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)" = 200 ] && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "$4 exited"; }
    sleep 0.1
  done
  cat "$3" >&2; die "$4 not answering at $1"
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR%2) printf "%.4f\n", v[(NR+1)/2]; else printf "%.4f\n", (v[NR/2]+v[NR/2+1])/2 }'; }

# ---------------------------------------------------------------- Spool with a video
data="$work/data"; mkdir -p "$data"
SPOOL_PORT="$(free_port)"; SPOOL_URL="http://127.0.0.1:$SPOOL_PORT"
token="$(cd "$work" && "$SPOOL_BIN" user add bench --data "$data" | awk 'NF{last=$NF} END{print last}')"
(cd "$work" && exec "$SPOOL_BIN" serve --data "$data" --listen "127.0.0.1:$SPOOL_PORT") >>"$work/spool.log" 2>&1 &
SRV_PID=$!
wait_http "$SPOOL_URL/healthz" "$SRV_PID" "$work/spool.log" "spool serve"
clip="$work/clip.mp4"
ffmpeg -hide_banner -nostdin -v error -y -f lavfi -i "testsrc2=size=${CLIP_SIZE}:rate=30" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$CLIP_S" -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -g 60 -pix_fmt yuv420p -c:a aac -ac 2 "$clip"
id="$(cd "$work" && "$SPOOL_BIN" upload "$clip" --server "$SPOOL_URL" --token "$token" --no-progress \
  --state-dir "$work/state" | tail -1)"
log "uploaded $id; waiting for processing"
for _ in $(seq $(( MAX_WAIT * 2 ))); do
  json="$(curl -sS --max-time 5 -H "Authorization: Bearer $token" "$SPOOL_URL/api/v1/videos/$id" || true)"
  case "$json" in *'"status":"failed"'*) die "processing failed: $json" ;; *'"processing_complete":true'*) break ;; esac
  sleep 0.5
done
case "$json" in *'"processing_complete":true'*) ;; *) die "not processed: $json" ;; esac

# ---------------------------------------------------------------- the edge
ngx="$work/nginx"
start_edge() {
  rm -rf "$ngx"; mkdir -p "$ngx/cache" "$ngx/temp"
  NGX_PORT="$(free_port)"; NGX_URL="http://127.0.0.1:$NGX_PORT"
  EDGE_LISTEN="127.0.0.1:$NGX_PORT" EDGE_CACHE_DIR="$ngx/cache" \
    SPOOL_UPSTREAM_SERVERS="server 127.0.0.1:$SPOOL_PORT;" SPOOL_LIVE_SERVERS="server 127.0.0.1:$SPOOL_PORT;" \
    python3 -c 'import os,sys,re; sys.stdout.write(re.sub(r"\$\{(EDGE_LISTEN|EDGE_CACHE_DIR|SPOOL_UPSTREAM_SERVERS|SPOOL_LIVE_SERVERS)\}", lambda m: os.environ[m.group(1)], sys.stdin.read()))' \
    <"$root/deploy/nginx/spool-edge.conf.template" >"$ngx/spool.conf"
  local user_line=""; [ "$(id -u)" = 0 ] && user_line="user root root;"
  cat >"$ngx/nginx.conf" <<EOF
daemon off;
$user_line
worker_processes 1;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
events { worker_connections 4096; }
http {
    log_format offload '\$upstream_cache_status \$body_bytes_sent \$uri';
    access_log $ngx/access.log offload;
    client_body_temp_path $ngx/temp/body; proxy_temp_path $ngx/temp/proxy;
    fastcgi_temp_path $ngx/temp/fastcgi; uwsgi_temp_path $ngx/temp/uwsgi; scgi_temp_path $ngx/temp/scgi;
    include $ngx/spool.conf;
}
EOF
  "$NGINX_BIN" -c "$ngx/nginx.conf" 2>>"$ngx/error.log" &
  NGX_PID=$!
  wait_http "$NGX_URL/healthz" "$NGX_PID" "$ngx/error.log" "nginx"
}

media_requests() { # Spool's count of media answers so far
  curl -sS -H "Authorization: Bearer $admin" "$SPOOL_URL/metrics" |
    awk '/^spool_http_requests_total\{/ && /route="\/media\// {s+=$NF} END{printf "%d\n", s}'
}
admin="$(cd "$work" && "$SPOOL_BIN" user add benchadmin --admin --data "$data" | awk 'NF{last=$NF} END{print last}')"

viewers() { # count: plays the video through the edge with that many concurrent viewers
  python3 - "$NGX_URL/media/${hls_path}" "$1" <<'PY'
import sys, threading, urllib.request
master_url, count = sys.argv[1], int(sys.argv[2])
def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()
def resolve(base, ref):
    return ref if ref.startswith("http") else base.rsplit("/", 1)[0] + "/" + ref
master = get(master_url).decode()
rungs = [l for l in master.splitlines() if l and not l.startswith("#")]
errors = []
def viewer(i):
    try:
        get(master_url)
        playlist_url = resolve(master_url, rungs[i % len(rungs)])
        playlist = get(playlist_url).decode()
        for line in playlist.splitlines():
            if line.startswith("#EXT-X-MAP:"):
                get(resolve(playlist_url, line.split('URI="')[1].split('"')[0]))
            elif line and not line.startswith("#"):
                get(resolve(playlist_url, line))
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=viewer, args=(i,)) for i in range(count)]
for t in threads: t.start()
for t in threads: t.join()
if errors:
    sys.exit(f"{len(errors)} viewers failed: {errors[0]}")
PY
}

hls_url="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["hls_url"])' <<<"$json")"
hls_path="${hls_url#*/media/}"
shares=(); origin_shares=(); segment_bytes=()
for run in $(seq "$RUNS"); do
  start_edge
  viewers "$WARM"
  # The viewers' wave gets a log of its own (USR1: nginx reopens its logs).
  mv "$ngx/access.log" "$ngx/access.warm"; kill -USR1 "$NGX_PID"
  for _ in $(seq 100); do [ -f "$ngx/access.log" ] && break; sleep 0.05; done
  before="$(media_requests)"
  viewers "$VIEWERS"
  after="$(media_requests)"
  read -r share bytes edge_requests < <(awk '$3 ~ /\/seg_[0-9]+\.m4s$/ || $3 ~ /init/ {
      t+=$2; if ($1=="HIT") h+=$2 } {n++} END{ printf "%.4f %d %d\n", (t ? h/t : 0), t, n }' "$ngx/access.log")
  origin=$(( after - before ))
  origin_share="$(awk -v o="$origin" -v n="$edge_requests" 'BEGIN{ printf "%.4f", (n ? 1 - o/n : 0) }')"
  log "run $run: segment bytes from cache $share of $bytes; origin answered $origin of $edge_requests edge requests"
  shares+=("$share"); origin_shares+=("$origin_share"); segment_bytes+=("$bytes")
  stop_pid "$NGX_PID"; NGX_PID=""
done

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "| viewers | warm-up viewers | runs | segment bytes per wave | offload (segment bytes from the edge cache), median | requests not reaching Spool, median | limit | ratio to limit |"
echo "|---|---|---|---|---|---|---|---|"
s="$(median "${shares[@]}")"; o="$(median "${origin_shares[@]}")"
printf '| %s | %s | %s | %s | %.1f%% | %.1f%% | 100%% | %.3f |\n' "$VIEWERS" "$WARM" "$RUNS" \
  "$(median "${segment_bytes[@]}" | cut -d. -f1)" "$(awk -v s="$s" 'BEGIN{print s*100}')" \
  "$(awk -v s="$o" 'BEGIN{print s*100}')" "$s"
echo
echo "Machine: $(nproc) cores, $cpu; nginx $("$NGINX_BIN" -v 2>&1 | cut -d/ -f2); git $(git -C "$root" rev-parse --short HEAD)."
