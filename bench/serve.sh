#!/usr/bin/env bash
# Segment serving: Spool's media endpoint vs. nginx serving the SAME files statically, measured
# with wrk on loopback (requests/s and p99 latency, medians of interleaved runs). The video is
# made through Spool itself (a short generated clip, uploaded and processed), so the segments
# are real CMAF segments of a public video. Loopback only, bounded, stops by itself, cleans up
# its scratch files. See bench/README.md.
#
#   bash bench/serve.sh > table.md          (progress goes to stderr, the markdown table to stdout)
#   QUICK=1 bash bench/serve.sh             (smoke test: 8 s clip, 3 s per measurement, 1 run)
#
# Environment:
#   SPOOL_BIN    spool binary (default: $CARGO_TARGET_DIR/release/spool if set, else target/release/spool)
#   NGINX_BIN    nginx binary (default: nginx from PATH, else /usr/sbin/nginx)
#   FLOOR_BIN    the serving floor (crates/api/examples/serving_floor.rs: Spool's listener and
#                HTTP stack answering with one in-memory file, none of Spool's per-request work);
#                default: next to SPOOL_BIN in examples/; measured as a third server when present
#                (cargo build --release -p spool-api --example serving_floor)
#   BENCH_DIR    scratch directory (default /tmp/spool-bench)
#   RUNS         interleaved runs, the median is reported (default 3)
#   DURATION     seconds of each wrk measurement (default 15)
#   WARMUP       seconds of an unrecorded wrk run per server and segment before the runs (default 3)
#   CONNS        wrk connection counts to measure (default "64 16"; the target is at 64)
#   THREADS      wrk threads (default 2)
#   CLIP_S       seconds of the generated clip (default 20)
#   CLIP_SIZE    WIDTHxHEIGHT of the generated clip (default 1280x720)
#   NGINX_EXTRA  extra directives for nginx's http{} block, e.g. 'open_file_cache max=1000;'
#   QUICK=1      smoke test: CLIP_S=8 DURATION=3 WARMUP=1 RUNS=1 unless set explicitly
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${SPOOL_BIN:-}" ]; then
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then SPOOL_BIN="$CARGO_TARGET_DIR/release/spool"
  else SPOOL_BIN="$root/target/release/spool"; fi
fi
if [ "${QUICK:-0}" = 1 ]; then
  CLIP_S="${CLIP_S:-8}"; DURATION="${DURATION:-3}"; WARMUP="${WARMUP:-1}"; RUNS="${RUNS:-1}"
fi
NGINX_BIN="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"
FLOOR_BIN="${FLOOR_BIN:-$(dirname "$SPOOL_BIN")/examples/serving_floor}"
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-3}"
CONNS="${CONNS:-64 16}"
THREADS="${THREADS:-2}"
CLIP_S="${CLIP_S:-20}"
CLIP_SIZE="${CLIP_SIZE:-1280x720}"
NGINX_EXTRA="${NGINX_EXTRA:-}"
MAX_WAIT=1800 # seconds Spool may take to process the clip

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in curl ffmpeg wrk python3 awk cmp; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[ -x "$NGINX_BIN" ] || die "nginx is required (apt-get install nginx-light; or set NGINX_BIN)"
[ -x "$SPOOL_BIN" ] || die "spool binary missing (looked for $SPOOL_BIN; cargo build --release -p spool, or set SPOOL_BIN)"
[[ "$CLIP_SIZE" =~ ^[0-9]+x[0-9]+$ ]] || die "CLIP_SIZE must look like 1280x720"
for var in $(compgen -e | grep '^SPOOL__' || true); do
  log "ignoring $var from the environment (Spool runs with its defaults)"
  unset "$var"
done

mkdir -p "$BENCH_DIR"
work="$(mktemp -d "$BENCH_DIR/serve.XXXXXX")"
SRV_PID=""
NGX_PID=""
FLOOR_PIDS=()
stop_pid() { # pid
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop_pid "$SRV_PID"; SRV_PID=""
  stop_pid "$NGX_PID"; NGX_PID=""
  for p in "${FLOOR_PIDS[@]}"; do stop_pid "$p"; done; FLOOR_PIDS=()
  rm -rf "$work"
  rmdir "$BENCH_DIR" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR==0) {print "n/a"; exit}
  if (NR%2) printf "%.2f\n", v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="n/a" || b=="n/a" || b==0) print "n/a"; else printf "%.2f", a/b }'; }
mibps() { awk -v r="$1" -v b="$2" 'BEGIN{ if (r=="n/a") print "n/a"; else printf "%.0f", r * b / 1048576 }'; }
wait_http() { # url, pid, log, what
  local i code=""
  for i in $(seq 300); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)"
    [ "$code" = 200 ] && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "$4 exited"; }
    sleep 0.1
  done
  cat "$3" >&2; die "$4 not answering 200 at $1 after 30 s (last: $code)"
}

# ---------------------------------------------------------------- Spool
data="$work/data"; mkdir -p "$data"
# Run from the scratch dir, so that no ./spool.toml changes the defaults.
start_spool() { # workers
  SPOOL_PORT="$(free_port)"; SPOOL_URL="http://127.0.0.1:$SPOOL_PORT"
  (cd "$work" && SPOOL__JOBS__WORKERS="$1" exec "$SPOOL_BIN" serve --data "$data" --listen "127.0.0.1:$SPOOL_PORT") \
    >>"$work/spool.log" 2>&1 &
  SRV_PID=$!
  wait_http "$SPOOL_URL/healthz" "$SRV_PID" "$work/spool.log" "spool serve"
}

log "scratch $work; making a ${CLIP_S} s ${CLIP_SIZE} clip"
clip="$work/clip.mp4"
w="${CLIP_SIZE%x*}"; h="${CLIP_SIZE#*x}"
ffmpeg -hide_banner -nostdin -v error -y \
  -f lavfi -i "testsrc2=size=${w}x${h}:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t "$CLIP_S" -map 0:v -map 1:a -c:v libx264 -preset veryfast -crf 18 -g 60 -pix_fmt yuv420p \
  -c:a aac -b:a 128k -ac 2 "$clip"

token="$(cd "$work" && "$SPOOL_BIN" user add bench --data "$data" | awk 'NF{last=$NF} END{print last}')"
[ -n "$token" ] || die "spool user add printed no token"
start_spool 1
id="$(cd "$work" && "$SPOOL_BIN" upload "$clip" --server "$SPOOL_URL" --token "$token" --no-progress \
  --state-dir "$work/state" | tail -1)"
[ -n "$id" ] || die "spool upload printed no video id"
log "uploaded video $id; waiting for processing"
json=""
for i in $(seq $(( MAX_WAIT * 2 ))); do
  json="$(curl -sS --max-time 5 -H "Authorization: Bearer $token" "$SPOOL_URL/api/v1/videos/$id" || true)"
  case "$json" in
    *'"status":"failed"'*) die "processing failed: $json" ;;
    *'"processing_complete":true'*) break ;;
  esac
  sleep 0.5
done
case "$json" in *'"processing_complete":true'*) ;; *) die "not processed after $MAX_WAIT s: $json" ;; esac
case "$json" in *'"visibility":"public"'*) ;; *) die "the video is not public: $json" ;; esac
hls_url="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["hls_url"])' <<<"$json")"
base="${hls_url%/master.m3u8}"
master="$(curl -sS --max-time 10 "$hls_url")"
# Media playlists are listed as <generation>/<rung>/index.m3u8 (the audio one in a URI="...").
gen="$(grep -v '^#' <<<"$master" | grep -m1 '/index.m3u8' | cut -d/ -f1)"
[ -n "$gen" ] || die "no media playlist in the master playlist: $master"
mapfile -t names < <(python3 -c 'import json,sys; [print(r["name"]) for r in json.load(sys.stdin)["renditions"]]' <<<"$json")
log "generation $gen, renditions ${names[*]}"

# Stop the processing server; serve with no job worker, like nginx only serving. The new
# server listens on another port: keep only the path of the playlists' URL.
stop_pid "$SRV_PID"; SRV_PID=""
start_spool 0
base="$SPOOL_URL/${base#*://*/}"

# The segments to fetch: the middle segment of the 360p rendition and of the highest one.
targets=()
for n in 360p "${names[0]}"; do
  printf '%s\n' "${names[@]}" | grep -qx "$n" || { log "no $n rendition, skipping it"; continue; }
  [[ " ${targets[*]} " == *" $n "* ]] && continue
  targets+=("$n")
done
[ "${#targets[@]}" -gt 0 ] || die "no rendition to fetch"
declare -A seg_path seg_bytes seg_name
for n in "${targets[@]}"; do
  mapfile -t segs < <(curl -sS --max-time 10 "$base/$gen/$n/index.m3u8" | grep -v '^#' | grep 'seg_')
  [ "${#segs[@]}" -gt 0 ] || die "no segments in $base/$gen/$n/index.m3u8"
  s="${segs[$(( (${#segs[@]} - 1) / 2 ))]}"
  seg_name[$n]="$s"
  seg_path[$n]="/media/$id/$gen/$n/$s"
  f="$data/media/$id/$gen/$n/$s"
  [ -f "$f" ] || die "$f is not on disk"
  seg_bytes[$n]="$(stat -c %s "$f")"
  log "$n: ${seg_path[$n]} (${seg_bytes[$n]} bytes, segment $(( (${#segs[@]} - 1) / 2 + 1 )) of ${#segs[@]})"
done
# An LL-HLS part's size: the first 30,000 bytes of the 360p segment as a byte range (how
# LL-HLS parts are fetched with EXT-X-PART BYTERANGE), 206 from both servers.
PART_BYTES=30000
if [ -n "${seg_path[360p]:-}" ]; then
  targets+=(part)
  seg_name[part]="${seg_name[360p]} bytes=0-$(( PART_BYTES - 1 ))"
  seg_path[part]="${seg_path[360p]}"
  seg_bytes[part]="$PART_BYTES"
  log "part-sized object: ${seg_path[part]}, Range bytes=0-$(( PART_BYTES - 1 ))"
fi

# ---------------------------------------------------------------- nginx
ngx="$work/nginx"; mkdir -p "$ngx"
NGX_PORT="$(free_port)"; NGX_URL="http://127.0.0.1:$NGX_PORT"
user_line=""
# As root, nginx would hand its workers to "nobody", who cannot read the 0700 scratch dir.
[ "$(id -u)" = 0 ] && user_line="user root root;"
cat >"$ngx/nginx.conf" <<EOF
# Generated by bench/serve.sh: static files of Spool's data dir, same URL paths as Spool.
daemon off;
worker_processes auto;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
$user_line
events { worker_connections 4096; }
http {
    types { video/iso.segment m4s; video/mp4 mp4; application/vnd.apple.mpegurl m3u8; }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    # nginx closes a keep-alive connection after 1000 requests by default; Spool does not.
    keepalive_requests 1000000;
    client_body_temp_path $ngx/client_body;
    proxy_temp_path $ngx/proxy;
    fastcgi_temp_path $ngx/fastcgi;
    uwsgi_temp_path $ngx/uwsgi;
    scgi_temp_path $ngx/scgi;
    $NGINX_EXTRA
    server {
        listen 127.0.0.1:$NGX_PORT;
        root $data;
        location /media/ { }
        location / { return 404; }
    }
}
EOF
"$NGINX_BIN" -p "$ngx/" -e "$ngx/error.log" -c "$ngx/nginx.conf" >"$ngx/stdout.log" 2>&1 &
NGX_PID=$!
wait_http "$NGX_URL${seg_path[${targets[0]}]}" "$NGX_PID" "$ngx/error.log" nginx

# ---------------------------------------------------------------- the floor
# One floor process per file (it serves one file, whatever the path).
servers=(spool nginx)
declare -A floor_url
if [ -x "$FLOOR_BIN" ]; then
  servers=(spool floor nginx)
  for n in "${targets[@]}"; do
    f="$data/media/${seg_path[$n]#/media/}"
    for m in "${!floor_url[@]}"; do
      [ "$data/media/${seg_path[$m]#/media/}" = "$f" ] && floor_url[$n]="${floor_url[$m]}"
    done
    [ -n "${floor_url[$n]:-}" ] && continue
    port="$(free_port)"
    "$FLOOR_BIN" "$f" "127.0.0.1:$port" >>"$work/floor.log" 2>&1 &
    FLOOR_PIDS+=($!)
    floor_url[$n]="http://127.0.0.1:$port"
    wait_http "${floor_url[$n]}${seg_path[$n]}" "$!" "$work/floor.log" "serving_floor"
  done
else
  log "no serving floor at $FLOOR_BIN: measuring Spool and nginx only"
fi

# Every server must answer every target with exactly the file's bytes.
for n in "${targets[@]}"; do
  f="$data/media/${seg_path[$n]#/media/}"
  range=(); [ "$n" = part ] && range=(-H "Range: bytes=0-$(( PART_BYTES - 1 ))")
  for u in "$SPOOL_URL" "$NGX_URL" ${floor_url[$n]:-}; do
    curl -sS --fail --max-time 10 "${range[@]}" -o "$work/check.m4s" "$u${seg_path[$n]}" || die "GET $u${seg_path[$n]} failed"
    cmp -s -n "${seg_bytes[$n]}" "$work/check.m4s" "$f" && [ "$(stat -c %s "$work/check.m4s")" = "${seg_bytes[$n]}" ] \
      || die "$u${seg_path[$n]} did not return the file's bytes"
  done
done
rm -f "$work/check.m4s"

# ---------------------------------------------------------------- measurements
# One wrk run; prints "requests_per_s p99_ms". Any non-2xx answer or socket error is fatal.
wrk_run() { # url, connections, seconds[, header]
  local out rps p99 non2xx errs header=()
  [ -n "${4:-}" ] && header=(-H "$4")
  out="$(wrk -t"$THREADS" -c"$2" -d"$3s" --latency "${header[@]}" "$1" 2>&1)" || { echo "$out" >&2; die "wrk failed on $1"; }
  rps="$(awk '/^Requests\/sec:/{print $2}' <<<"$out")"
  p99="$(awk '$1=="99%"{v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    f = (u=="us") ? 0.001 : (u=="ms") ? 1 : (u=="s") ? 1000 : (u=="m") ? 60000 : -1;
    if (f < 0) exit 1; printf "%.3f", v * f}' <<<"$out")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/{print $NF}' <<<"$out")"
  errs="$(sed -n 's/.*Socket errors: //p' <<<"$out")"
  [ -z "$non2xx" ] || { echo "$out" >&2; die "$1 answered $non2xx non-2xx responses"; }
  [ -z "$errs" ] || log "socket errors on $1 with $2 connections: $errs"
  [ -n "$rps" ] && [ -n "$p99" ] || { echo "$out" >&2; die "cannot read wrk's output"; }
  echo "$rps $p99"
}

range_of() { [ "$1" = part ] && echo "Range: bytes=0-$(( PART_BYTES - 1 ))" || true; }
url_of() { # server, target
  case "$1" in
    spool) echo "$SPOOL_URL${seg_path[$2]}" ;;
    floor) echo "${floor_url[$2]}${seg_path[$2]}" ;;
    *) echo "$NGX_URL${seg_path[$2]}" ;;
  esac
}
read -ra conns <<<"$CONNS"
if [ "$WARMUP" -gt 0 ]; then
  log "warm-up: ${WARMUP} s per server and segment"
  for n in "${targets[@]}"; do for s in "${servers[@]}"; do
    wrk_run "$(url_of "$s" "$n")" "${conns[0]}" "$WARMUP" "$(range_of "$n")" >/dev/null
  done; done
fi
declare -A rps_runs p99_runs
log "${RUNS} run(s) x ${#targets[@]} segment(s) x connections ${CONNS} x ${#servers[@]} servers, ${DURATION} s each"
for r in $(seq "$RUNS"); do
  # Alternate the order of the servers from run to run.
  order=("${servers[@]}")
  [ $(( r % 2 )) = 0 ] && mapfile -t order < <(printf '%s\n' "${servers[@]}" | tac)
  for n in "${targets[@]}"; do
    for c in "${conns[@]}"; do
      for s in "${order[@]}"; do
        read -r rps p99 <<<"$(wrk_run "$(url_of "$s" "$n")" "$c" "$DURATION" "$(range_of "$n")")"
        rps_runs[$s.$n.$c]+="$rps "; p99_runs[$s.$n.$c]+="$p99 "
        log "run $r: $s $n c=$c: $rps req/s, p99 $p99 ms"
      done
    done
  done
done
kill -0 "$SRV_PID" 2>/dev/null || die "spool serve died during the benchmark"
kill -0 "$NGX_PID" 2>/dev/null || die "nginx died during the benchmark"
for p in "${FLOOR_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || die "serving_floor died during the benchmark"; done

# ---------------------------------------------------------------- report
declare -A rps p99
for k in "${!rps_runs[@]}"; do
  # shellcheck disable=SC2206
  a=(${rps_runs[$k]}); b=(${p99_runs[$k]})
  rps[$k]="$(median "${a[@]}")"; p99[$k]="$(median "${b[@]}")"
done
rows=""; target_rows=""; raw=""
for n in "${targets[@]}"; do
  for c in "${conns[@]}"; do
    sk="spool.$n.$c"; nk="nginx.$n.$c"; fk="floor.$n.$c"
    rows+="| $n ${seg_name[$n]}, ${seg_bytes[$n]} B | $c | ${rps[$sk]} | ${rps[$fk]:-n/a} | ${rps[$nk]} | **$(ratio "${rps[$sk]}" "${rps[$nk]}")** | $(ratio "${rps[$sk]}" "${rps[$fk]:-n/a}") | $(ratio "${rps[$fk]:-n/a}" "${rps[$nk]}") | ${p99[$sk]} | ${p99[$nk]} | $(mibps "${rps[$sk]}" "${seg_bytes[$n]}") | $(mibps "${rps[$nk]}" "${seg_bytes[$n]}") |"$'\n'
    raw+="$n c=$c: Spool ${rps_runs[$sk]% } req/s, p99 ${p99_runs[$sk]% } ms; nginx ${rps_runs[$nk]% } req/s, p99 ${p99_runs[$nk]% } ms"
    [ -n "${rps_runs[$fk]:-}" ] && raw+="; floor ${rps_runs[$fk]% } req/s, p99 ${p99_runs[$fk]% } ms"
    raw+=". "
    if [ "$c" = 64 ]; then
      if [ -n "$target_rows" ]; then target_rows+=$'\n'; fi
      target_rows+="| Spool >= 1.0x nginx requests/s at 64 connections, $n (${seg_bytes[$n]} B) | **$(ratio "${rps[$sk]}" "${rps[$nk]}")x** (${rps[$sk]} vs ${rps[$nk]} req/s; p99 ${p99[$sk]} vs ${p99[$nk]} ms) |"
    fi
  done
done

fs="$(df -PT "$BENCH_DIR" | awk 'NR==2{print $2" on "$1}')"
cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
mem="$(free -m | awk '/^Mem:/{printf "%d MiB total, %d MiB available", $2, $7}')"
spool_ver="$("$SPOOL_BIN" --version 2>/dev/null | head -1 | sed 's/^spool //' || true)"
git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -n "$(git -C "$root" status --porcelain -- crates Cargo.lock 2>/dev/null)" ] && git_rev+=" + uncommitted changes in crates/"
ngx_ver="$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')"
ngx_pkg="$(dpkg-query -W -f '${Package} ${Version}' nginx-light 2>/dev/null || true)"
ngx_workers="$(pgrep -P "$NGX_PID" | wc -l)"

cat <<EOF
## Serving benchmark ($(date -u +%Y-%m-%d))

Machine: $(nproc) cores, ${cpu:-unknown CPU}; memory ${mem}; disk ${fs} (scratch \`${BENCH_DIR}\`); kernel $(uname -r).
Versions: spool ${spool_ver:-unknown} (git ${git_rev}); ${ngx_ver}${ngx_pkg:+ (Debian ${ngx_pkg})}; $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}').
Content: a ${CLIP_S} s ${CLIP_SIZE} clip (testsrc2 + sine) uploaded to Spool and processed with its defaults; public video. The middle segment of each rendition named below, and (\`part\`) the first 30,000 bytes of the 360p one as a byte range, an LL-HLS part's size, fetched at its public URL \`/media/<video>/<generation>/<rung>/seg_N.m4s\` from both servers (checked byte-identical to the file on disk).
Spool: \`spool serve\` with its defaults (hot files served from its in-memory cache, \`playback.file_cache_bytes\` 256 MiB), restarted after processing with \`SPOOL__JOBS__WORKERS=0\` so only serving runs. nginx: its own foreground process, ${ngx_workers} worker(s) (\`worker_processes auto\`), \`sendfile on; tcp_nopush on; access_log off; keepalive_requests 1000000\`, \`root\` = Spool's data dir${NGINX_EXTRA:+, plus \`${NGINX_EXTRA}\`}.
Floor: \`serving_floor\` (crates/api/examples), Spool's own listener loop and HTTP stack (hyper-util auto builder, axum, mimalloc) answering with the file held in memory, one route, the same headers and byte ranges, none of Spool's per-request work; "Spool / floor" is what Spool's own code costs, "floor / nginx" what the stack costs.
Load: \`wrk -t${THREADS} -c<connections> -d${DURATION}s --latency\` on one URL, on the same cores as the server (loopback); ${WARMUP} s warm-up per server and segment first. RUNS=${RUNS}, interleaved (segment x connections x server; the server order alternates from run to run), median reported. MiB/s = requests/s x segment size.

| segment | connections | Spool req/s | floor req/s | nginx req/s | Spool / nginx | Spool / floor | floor / nginx | Spool p99 ms | nginx p99 ms | Spool MiB/s | nginx MiB/s |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows%$'\n'}

| target | result |
|---|---|
${target_rows:-| Spool >= 0.8x nginx requests/s at 64 connections | not measured (CONNS=${CONNS}) |}

Raw runs: ${raw% }
EOF
log "done"
