#!/usr/bin/env bash
# Instruction counts under `valgrind --tool=callgrind`: per uploaded MiB and per served request
# for Spool, and per served request for nginx on the same files. A count does not drift with
# the machine's speed or load (the same binary and input give the same count to a fraction of
# a percent), so bench/RESULTS.md keeps these beside the wall-clock ratios as regression
# figures: a change that costs 20 % shows up even on a noisy week. Only user-space instructions
# are counted (valgrind does not see the kernel's copies into sockets and the page cache).
# Loopback only, bounded, stops by itself, cleans up its scratch files.
#
#   bash bench/callgrind.sh > table.md     (progress to stderr, the markdown to stdout)
#
# Environment:
#   SPOOL_BIN   spool binary (default: $CARGO_TARGET_DIR/release/spool if set, else target/release/spool)
#   NGINX_BIN   nginx binary (default: nginx from PATH, else /usr/sbin/nginx)
#   FLOOR_BIN   the serving floor (crates/api/examples/serving_floor.rs), measured beside Spool
#               and nginx when present (default: examples/serving_floor next to SPOOL_BIN)
#   BENCH_DIR   scratch directory (default /tmp/spool-bench)
#   RUNS        runs of each measurement, every count is reported (default 2)
#   UPLOAD_MIB  size of the measured upload (default 64)
#   REQUESTS    requests per served-object measurement, on one keep-alive connection (default 2000)
#   KEEP_DUMPS  a directory to keep the last run's dumps in, for callgrind_annotate --inclusive=yes
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${SPOOL_BIN:-}" ]; then
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then SPOOL_BIN="$CARGO_TARGET_DIR/release/spool"
  else SPOOL_BIN="$root/target/release/spool"; fi
fi
NGINX_BIN="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"
FLOOR_BIN="${FLOOR_BIN:-$(dirname "$SPOOL_BIN")/examples/serving_floor}"
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench}"
RUNS="${RUNS:-2}"
UPLOAD_MIB="${UPLOAD_MIB:-64}"
REQUESTS="${REQUESTS:-2000}"
MiB=1048576

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in curl ffmpeg valgrind callgrind_control callgrind_annotate python3 awk openssl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[ -x "$NGINX_BIN" ] || die "nginx is required (apt-get install nginx-light; or set NGINX_BIN)"
[ -x "$SPOOL_BIN" ] || die "spool binary missing (looked for $SPOOL_BIN; set SPOOL_BIN)"
for var in $(compgen -e | grep '^SPOOL__' || true); do unset "$var"; done

mkdir -p "$BENCH_DIR"
work="$(mktemp -d "$BENCH_DIR/callgrind.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP_DUMPS:-}" ]; then mkdir -p "$KEEP_DUMPS" && cp "$work"/*.dump "$KEEP_DUMPS"/ 2>/dev/null || true; fi
  rm -rf "$work"
  rmdir "$BENCH_DIR" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url, pid, log, what, seconds
  local i code=""
  for i in $(seq $(( $5 * 10 ))); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true)"
    [ "$code" = 200 ] && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "$4 exited"; }
    sleep 0.1
  done
  cat "$3" >&2; die "$4 not answering 200 at $1 after $5 s (last: $code)"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
per() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", a / b}'; }
spread() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{printf "%.2f %%", (v[NR]-v[1]) * 100 / v[1]}'; }

# Starts CMD under callgrind; sets CG_PID and CG_OUT (the file prefix of its dumps).
cg_start() { # name, log, cmd...
  local name="$1" logf="$2"; shift 2
  CG_OUT="$work/cg.$name"
  # spool re-executes itself to set its allocator's options when they are missing from the
  # environment, and valgrind does not follow an exec: give them here.
  # `env` goes outside valgrind: valgrind does not follow an exec either.
  env MIMALLOC_ARENA_EAGER_COMMIT=0 MIMALLOC_PURGE_DELAY=0 SPOOL__JOBS__WORKERS=0 \
    valgrind --tool=callgrind --callgrind-out-file="$CG_OUT" "$@" >>"$logf" 2>&1 &
  CG_PID=$!
  PIDS+=("$CG_PID")
}
# Zeroes the counters, runs the workload (the remaining arguments), dumps; prints the dump's
# Ir and the dump's path.
cg_measure() { # pid, workload...
  local pid="$1"; shift
  callgrind_control -z "$pid" >/dev/null
  "$@"
  callgrind_control -d "$pid" >/dev/null
  local dump; dump="$(ls -t "$CG_OUT".* 2>/dev/null | grep -v '\.0$' | head -1 || true)"
  [ -n "$dump" ] || die "callgrind wrote no dump for $pid"
  echo "$(awk '/^(summary|totals):/{print $2; exit}' "$dump") $dump"
}
# Threads' entry frames and tokio's poll loop still on the stack at the dump are credited the
# whole cost even with --inclusive=no (seen with valgrind 3.19 on a dump taken mid-run): they
# are left out, as they do no work of their own.
top_functions() { # dump, how many
  # `head` closes the pipe early: that SIGPIPE upstream is not a failure.
  set +o pipefail
  callgrind_annotate --inclusive=no --threshold=100 "$1" 2>/dev/null \
    | awk '/Ir .*file:function/{on=1; next} on && NF>=2 {print}' \
    | grep -vE 'clone\.S|pthread_create|thread_start|__rust_begin_short_backtrace|call_once|tokio::runtime::(task|context|scheduler|blocking)' \
    | head -"$2" \
    | sed -E 's/^ *([0-9,]+) *\(([ 0-9.]+%)\) */| \2 | /; s/$/ |/'
  set -o pipefail
}

# ---------------------------------------------------------------- uploads
upload_file="$work/upload.bin"
{ openssl enc -aes-128-ctr -pass pass:spool-callgrind -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } \
  | head -c $(( UPLOAD_MIB * MiB )) >"$upload_file"
tus_upload() { # base url, token
  local loc code
  loc="$(curl -sS --max-time 300 -o /dev/null -D - -X POST -H 'Tus-Resumable: 1.0.0' \
    -H "Upload-Length: $(( UPLOAD_MIB * MiB ))" -H "Authorization: Bearer $2" "$1/api/v1/uploads" \
    | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')"
  [ -n "$loc" ] || die "no Location from the tus creation"
  case "$loc" in /*) loc="$1$loc" ;; esac
  code="$(curl -sS --max-time 1800 -o /dev/null -w '%{http_code}' -X PATCH -T "$upload_file" \
    -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \
    -H "Authorization: Bearer $2" "$loc")"
  [ "$code" = 204 ] || die "PATCH $loc answered $code"
}
upload_counts=()
for r in $(seq "$RUNS"); do
  data="$work/up$r"; mkdir -p "$data"
  token="$(cd "$work" && "$SPOOL_BIN" user add bench --data "$data" | awk 'NF{last=$NF} END{print last}')"
  port="$(free_port)"
  cg_start "up$r" "$work/up$r.log" "$SPOOL_BIN" serve --data "$data" --listen "127.0.0.1:$port"
  pid=$CG_PID
  wait_http "http://127.0.0.1:$port/healthz" "$pid" "$work/up$r.log" "spool serve under callgrind" 600
  log "upload run $r: ${UPLOAD_MIB} MiB under callgrind"
  read -r ir upload_dump <<<"$(cg_measure "$pid" tus_upload "http://127.0.0.1:$port" "$token")"
  upload_counts+=("$ir")
  log "upload run $r: $ir instructions, $(per "$ir" "$UPLOAD_MIB") per MiB"
  cp "$upload_dump" "$work/upload.dump"
  stop "$pid"
done

# ---------------------------------------------------------------- serving
data="$work/serve"; mkdir -p "$data"
clip="$work/clip.mp4"
ffmpeg -hide_banner -nostdin -v error -y \
  -f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t 12 -map 0:v -map 1:a -c:v libx264 -preset veryfast -crf 18 -g 60 -pix_fmt yuv420p \
  -c:a aac -b:a 128k -ac 2 "$clip"
token="$(cd "$work" && "$SPOOL_BIN" user add bench --data "$data" | awk 'NF{last=$NF} END{print last}')"
port="$(free_port)"; url="http://127.0.0.1:$port"
(cd "$work" && exec "$SPOOL_BIN" serve --data "$data" --listen "127.0.0.1:$port") >>"$work/process.log" 2>&1 &
pid=$!; PIDS+=("$pid")
wait_http "$url/healthz" "$pid" "$work/process.log" "spool serve" 60
id="$(cd "$work" && "$SPOOL_BIN" upload "$clip" --server "$url" --token "$token" --no-progress \
  --state-dir "$work/state" | tail -1)"
log "processing video $id"
json=""
for _ in $(seq 3600); do
  json="$(curl -sS --max-time 5 -H "Authorization: Bearer $token" "$url/api/v1/videos/$id" || true)"
  case "$json" in *'"status":"failed"'*) die "processing failed: $json" ;; *'"processing_complete":true'*) break ;; esac
  sleep 0.5
done
case "$json" in *'"processing_complete":true'*) ;; *) die "not processed: $json" ;; esac
stop "$pid"
# The objects: the middle 360p segment, and its first 30,000 bytes as a byte range (an LL-HLS
# part's size and how parts are fetched).
pick() { # rung: the middle segment's path under media/
  python3 - "$data/media/$id" "$1" <<'EOF'
import os, sys
root, rung = sys.argv[1], sys.argv[2]
segs = sorted(os.path.join(d, n) for d, _, names in os.walk(root) for n in names
              if n.endswith(".m4s") and f"/{rung}/" in os.path.join(d, n))
print(os.path.relpath(segs[(len(segs) - 1) // 2], os.path.dirname(root)))
EOF
}
PART_BYTES=30000
declare -A object
object[segment]="$(pick 360p)"
object[small]="${object[segment]}"
log "segment: /media/${object[segment]} ($(stat -c %s "$data/media/${object[segment]}") B); part: its bytes 0-$(( PART_BYTES - 1 ))"
requests_config() { # base url, object key → a curl config of REQUESTS fetches
  local f="$work/curl.$2.cfg" i range=""
  [ "$2" = small ] && range="range = \"0-$(( PART_BYTES - 1 ))\""
  : >"$f"
  for i in $(seq "$REQUESTS"); do
    printf 'url = "%s/media/%s"\noutput = "/dev/null"\n%s\n' "$1" "${object[$2]}" "$range" >>"$f"
  done
  echo "$f"
}
fetch_all() { curl -sS --fail --max-time 1800 -K "$1"; }

ngx="$work/nginx"; mkdir -p "$ngx"
user_line=""; [ "$(id -u)" = 0 ] && user_line="user root root;"
declare -A serve_counts
# Fetches both objects from a server under callgrind, one measurement each: adds to
# serve_counts[NAME.object] and keeps the dump as NAME.object.dump.
measure_objects() { # name, pid, base url
  local k cfg ir dump
  for k in segment small; do
    cfg="$(requests_config "$3" "$k")"
    curl -sS --fail -o /dev/null "$3/media/${object[$k]}" # into Spool's file cache
    log "serve run $r: $1, $REQUESTS x $k"
    read -r ir dump <<<"$(cg_measure "$2" fetch_all "$cfg")"
    serve_counts[$1.$k]+="$ir "; cp "$dump" "$work/$1.$k.dump"
  done
}
for r in $(seq "$RUNS"); do
  port="$(free_port)"; url="http://127.0.0.1:$port"
  cg_start "serve$r" "$work/serve$r.log" "$SPOOL_BIN" serve --data "$data" --listen "127.0.0.1:$port"
  pid=$CG_PID
  wait_http "$url/healthz" "$pid" "$work/serve$r.log" "spool serve under callgrind" 600
  measure_objects spool "$pid" "$url"
  stop "$pid"

  if [ -x "$FLOOR_BIN" ]; then
    fport="$(free_port)"; furl="http://127.0.0.1:$fport"
    cg_start "floor$r" "$work/floor$r.log" "$FLOOR_BIN" "$data/media/${object[segment]}" "127.0.0.1:$fport"
    pid=$CG_PID
    wait_http "$furl/media/${object[segment]}" "$pid" "$work/floor$r.log" "serving_floor under callgrind" 300
    measure_objects floor "$pid" "$furl"
    stop "$pid"
  fi

  nport="$(free_port)"; nurl="http://127.0.0.1:$nport"
  cat >"$ngx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
$user_line
events { worker_connections 1024; }
http {
    types { video/iso.segment m4s; }
    default_type application/octet-stream;
    sendfile on; tcp_nopush on; access_log off; keepalive_requests 1000000;
    client_body_temp_path $ngx/client_body; proxy_temp_path $ngx/proxy;
    fastcgi_temp_path $ngx/fastcgi; uwsgi_temp_path $ngx/uwsgi; scgi_temp_path $ngx/scgi;
    server { listen 127.0.0.1:$nport; root $data; location /media/ { } location / { return 404; } }
}
EOF
  cg_start "nginx$r" "$ngx/stdout.log" "$NGINX_BIN" -p "$ngx/" -e "$ngx/error.log" -c "$ngx/nginx.conf"
  pid=$CG_PID
  wait_http "$nurl/media/${object[small]}" "$pid" "$ngx/error.log" "nginx under callgrind" 120
  measure_objects nginx "$pid" "$nurl"
  stop "$pid"
done

# ---------------------------------------------------------------- report
git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -n "$(git -C "$root" status --porcelain -- crates Cargo.lock Cargo.toml 2>/dev/null)" ] && git_rev+=" + uncommitted changes"
cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
row() { # label, unit divisor, counts...
  local label="$1" div="$2"; shift 2
  local cells="" c
  for c in "$@"; do cells+="$(per "$c" "$div") / "; done
  echo "| $label | ${cells% / } | $(spread "$@") |"
}
# shellcheck disable=SC2206
sseg=(${serve_counts[spool.segment]}); ssmall=(${serve_counts[spool.small]})
# shellcheck disable=SC2206
nseg=(${serve_counts[nginx.segment]}); nsmall=(${serve_counts[nginx.small]})
med() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
over() { awk -v a="$(med $1)" -v b="$(med $2)" 'BEGIN{printf "%.2f", a/b}'; } # "counts" "counts"
floor_rows="" floor_ratios="" floor_top=""
if [ -n "${serve_counts[floor.segment]:-}" ]; then
  # shellcheck disable=SC2206
  fseg=(${serve_counts[floor.segment]}); fsmall=(${serve_counts[floor.small]})
  floor_rows="$(row "floor, per request: the same segment" "$REQUESTS" "${fseg[@]}")
$(row "floor, per request: the same range" "$REQUESTS" "${fsmall[@]}")"
  floor_ratios="Spool / floor (what Spool's own per-request code adds): segment $(over "${sseg[*]}" "${fseg[*]}"), 30 KB range $(over "${ssmall[*]}" "${fsmall[*]}"). Floor / nginx (what the HTTP stack costs): segment $(over "${fseg[*]}" "${nseg[*]}"), 30 KB range $(over "${fsmall[*]}" "${nsmall[*]}")."
  floor_top="
Where the floor's 30,000-byte range goes (last run, self cost, top 12):

| share | function |
|---:|---|
$(top_functions "$work/floor.small.dump" 12)"
fi
cat <<EOF
## Instruction counts: \`bash bench/callgrind.sh\` ($(date -u +%Y-%m-%d), git ${git_rev})

Machine: $(nproc) cores, ${cpu:-unknown CPU}; kernel $(uname -r); $(valgrind --version); $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //').
Method: each server runs under \`valgrind --tool=callgrind\`; the counters are zeroed after start-up
(\`callgrind_control -z\`), the workload runs, and the dump's total of user-space instructions (Ir)
is divided by the work. Upload: one tus POST + one PATCH of ${UPLOAD_MIB} MiB of incompressible bytes
(curl), a fresh data dir each run, \`SPOOL__JOBS__WORKERS=0\`. Serving: ${REQUESTS} GETs of one object on
one keep-alive connection (curl), the object already in Spool's file cache; nginx with
\`sendfile on\`, one worker, no master. The floor (\`serving_floor\`, crates/api/examples): Spool's listener
loop and HTTP stack answering with the file held in memory, none of Spool's per-request work.
Every run is listed (RUNS=${RUNS}), and the spread between them.

| measure | instructions (each run) | spread |
|---|---:|---:|
$(row "Spool upload, per MiB" "$UPLOAD_MIB" "${upload_counts[@]}")
$(row "Spool, per request: 360p segment $(stat -c %s "$data/media/${object[segment]}") B" "$REQUESTS" "${sseg[@]}")
$(row "nginx, per request: the same segment" "$REQUESTS" "${nseg[@]}")
$(row "Spool, per request: its first ${PART_BYTES} B (Range)" "$REQUESTS" "${ssmall[@]}")
$(row "nginx, per request: the same range" "$REQUESTS" "${nsmall[@]}")
${floor_rows}

Spool / nginx instructions per request: segment $(over "${sseg[*]}" "${nseg[*]}"), 30 KB range $(over "${ssmall[*]}" "${nsmall[*]}"). ${floor_ratios}

Where an upload's instructions go (last run, self cost, top 12):

| share | function |
|---:|---|
$(top_functions "$work/upload.dump" 12)

Where a 30,000-byte range's instructions go (last run, self cost, top 12):

| share | function |
|---:|---|
$(top_functions "$work/spool.small.dump" 12)
${floor_top}
EOF
log "done"
