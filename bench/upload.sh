#!/usr/bin/env bash
# Upload throughput and server memory: Spool vs. the physical limit (cp + fsync) vs. a peer
# tus server (@tus/server + @tus/file-store, interop/peer_server.mjs). Loopback only, bounded,
# stops by itself, cleans up its scratch files. See bench/README.md.
#
#   bash bench/upload.sh > table.md        (progress goes to stderr, the markdown table to stdout)
#
# Environment:
#   SPOOL_BIN   spool binary (default: $CARGO_TARGET_DIR/release/spool if set, else target/release/spool);
#               when missing, the Spool rows are skipped and the rest still runs
#   BENCH_DIR   scratch directory, on the disk to measure (default /tmp/spool-bench)
#   RUNS        runs per measurement, the median is reported (default 5)
#   SIZE_MIB    size of the single upload (default 1024)
#   CONC        number of concurrent uploads (default 32)
#   CONC_MIB    size of each concurrent upload (default SIZE_MIB/16, i.e. 64 with the defaults)
#   MAX_TIME    curl --max-time per request in seconds (default 900)
#   IDLE_BUDGET_MIB  Spool's RSS before an upload may not exceed this (default 16)
#   PEAK_BUDGET_MIB  Spool's peak RSS under the concurrent uploads may not exceed this (default 64)
#               The script prints its table, then exits 1 naming every budget that was exceeded.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${SPOOL_BIN:-}" ]; then
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then SPOOL_BIN="$CARGO_TARGET_DIR/release/spool"
  else SPOOL_BIN="$root/target/release/spool"; fi
fi
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench}"
RUNS="${RUNS:-5}"
SIZE_MIB="${SIZE_MIB:-1024}"
CONC="${CONC:-32}"
CONC_MIB="${CONC_MIB:-$(( SIZE_MIB / 16 > 0 ? SIZE_MIB / 16 : 1 ))}"
MAX_TIME="${MAX_TIME:-900}"
IDLE_BUDGET_MIB="${IDLE_BUDGET_MIB:-16}"
PEAK_BUDGET_MIB="${PEAK_BUDGET_MIB:-64}"
MiB=1048576

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in curl node python3 openssl sync awk; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
interop="$root/interop"
if [ ! -d "$interop/node_modules/@tus/server" ]; then
  log "installing the peer server (npm ci in interop/)"
  (cd "$interop" && npm ci --no-audit --no-fund >/dev/null)
fi

have_spool=1
if [ ! -x "$SPOOL_BIN" ]; then
  log "spool binary missing, skipping (looked for $SPOOL_BIN; set SPOOL_BIN)"
  have_spool=0
fi

mkdir -p "$BENCH_DIR"
work="$(mktemp -d "$BENCH_DIR/run.XXXXXX")"
SRV_PID=""
cleanup() {
  if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; fi
  rm -rf "$work"
  rmdir "$BENCH_DIR" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

need_mib=$(( SIZE_MIB * 3 + CONC * CONC_MIB * 2 + 256 ))
avail_mib=$(( $(df -Pk "$work" | awk 'NR==2{print $4}') / 1024 ))
[ "$avail_mib" -ge "$need_mib" ] || die "need ~${need_mib} MiB free in $BENCH_DIR, have ${avail_mib} MiB"

# ---------------------------------------------------------------- helpers
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.6f", b - a}'; }
mibps() { awk -v bytes="$1" -v s="$2" -v M="$MiB" 'BEGIN{printf "%.1f", bytes / M / s}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR==0) {print "n/a"; exit}
  if (NR%2) print v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
maxof() { printf '%s\n' "$@" | sort -g | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="n/a" || b=="n/a" || b==0) print "n/a"; else printf "%.2f", a/b }'; }
kib_to_mib() { awk -v k="$1" 'BEGIN{printf "%.0f", k/1024}'; }
proc_kib() { awk -v f="$2:" '$1==f{print $2}' "/proc/$1/status"; } # pid, VmRSS|VmHWM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Deterministic pseudo-random bytes (AES-CTR keystream of a named seed): reproducible, incompressible.
make_file() { # path, MiB, seed
  { openssl enc -aes-128-ctr -pass "pass:spool-bench-$3" -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } \
    | head -c $(( $2 * MiB )) >"$1"
  [ "$(stat -c %s "$1")" = $(( $2 * MiB )) ] || die "could not generate $1"
}

# Start a fresh server of KIND (spool|peer) with an empty data dir.
# Sets SRV_PID, SRV_ENDPOINT (tus creation URL), SRV_TOKEN, SRV_DATA.
start_server() {
  local kind="$1"
  SRV_DATA="$(mktemp -d "$work/data-$kind.XXXXXX")"
  SRV_TOKEN=""
  if [ "$kind" = spool ]; then
    SRV_TOKEN="$("$SPOOL_BIN" user add bench --data "$SRV_DATA" | awk 'NF{last=$NF} END{print last}')"
    [ -n "$SRV_TOKEN" ] || die "spool user add printed no token"
    local port; port="$(free_port)"
    "$SPOOL_BIN" serve --data "$SRV_DATA" --listen "127.0.0.1:$port" >"$SRV_DATA.log" 2>&1 &
    SRV_PID=$!
    SRV_ENDPOINT="http://127.0.0.1:$port/api/v1/uploads"
    local i code
    for i in $(seq 300); do
      code="$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS --max-time 2 "$SRV_ENDPOINT" || true)"
      { [ "$code" = 200 ] || [ "$code" = 204 ]; } && break
      kill -0 "$SRV_PID" 2>/dev/null || { cat "$SRV_DATA.log" >&2; die "spool serve exited"; }
      sleep 0.1
    done
    { [ "$code" = 200 ] || [ "$code" = 204 ]; } || { cat "$SRV_DATA.log" >&2; die "spool serve not ready after 30 s"; }
  else
    node "$interop/peer_server.mjs" --port 0 --dir "$SRV_DATA/files" >"$SRV_DATA.log" 2>&1 &
    SRV_PID=$!
    local i
    for i in $(seq 300); do
      grep -q '^listening ' "$SRV_DATA.log" && break
      kill -0 "$SRV_PID" 2>/dev/null || { cat "$SRV_DATA.log" >&2; die "peer server exited"; }
      sleep 0.1
    done
    SRV_ENDPOINT="$(sed -n 's/^listening //p' "$SRV_DATA.log")"
    [ -n "$SRV_ENDPOINT" ] || die "peer server not ready after 30 s"
  fi
  sleep 0.5 # let the process settle before reading its baseline RSS
}

stop_server() {
  kill "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
  rm -rf "$SRV_DATA" "$SRV_DATA.log"
  sync # do not let this run's dirty pages slow the next one
}

# One tus upload with curl: POST (creation, Upload-Length) then the whole file in ONE PATCH,
# then HEAD to check the server's offset. Fails on any unexpected status.
curl_upload() { # endpoint, token, file
  local endpoint="$1" token="$2" file="$3" size auth=() loc code off
  size="$(stat -c %s "$file")"
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  loc="$(curl -sS --max-time 60 -o /dev/null -D - -X POST \
    -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" \
    -H "Upload-Metadata: filename $(basename "$file" | base64 -w0)" "${auth[@]}" "$endpoint" \
    | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')"
  [ -n "$loc" ] || { log "POST $endpoint gave no Location"; return 1; }
  case "$loc" in /*) loc="$(echo "$endpoint" | sed -E 's#^(https?://[^/]+).*#\1#')$loc" ;; esac
  code="$(curl -sS --max-time "$MAX_TIME" -o /dev/null -w '%{http_code}' -X PATCH -T "$file" \
    -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
    -H 'Content-Type: application/offset+octet-stream' "${auth[@]}" "$loc")"
  [ "$code" = 204 ] || { log "PATCH $loc -> $code"; return 1; }
  off="$(curl -sS --max-time 60 -I -H 'Tus-Resumable: 1.0.0' "${auth[@]}" "$loc" \
    | tr -d '\r' | awk 'tolower($1)=="upload-offset:"{print $2}')"
  [ "$off" = "$size" ] || { log "HEAD $loc: Upload-Offset $off, expected $size"; return 1; }
}

# ---------------------------------------------------------------- inputs
log "scratch $work; single ${SIZE_MIB} MiB, ${CONC} x ${CONC_MIB} MiB concurrent, ${RUNS} run(s) each"
log "generating input files"
single="$work/single.bin"
make_file "$single" "$SIZE_MIB" single
conc_files=()
for i in $(seq "$CONC"); do
  f="$work/conc-$i.bin"; make_file "$f" "$CONC_MIB" "conc-$i"; conc_files+=("$f")
done
sync
single_bytes=$(( SIZE_MIB * MiB ))
conc_bytes=$(( CONC * CONC_MIB * MiB ))

# ---------------------------------------------------------------- measurements
# Runs are interleaved (cp, then each server, then the next run) so that drift in the VM's
# disk speed hits every contender alike. A server's upload is timed until its bytes are
# durable: Spool acknowledges only fsynced bytes, the peer never fsyncs, so the peer's timer
# also covers a `sync` of its data dir ("peer" below); its time without that sync is reported
# too ("peer, no fsync").
declare -A runs_single runs_conc rss0_single hwm_single rss0_conc hwm_conc
kinds=(peer peer_nosync)
[ "$have_spool" = 1 ] && kinds=(spool peer peer_nosync)
server_of() { [ "$1" = spool ] && echo spool || echo peer; }
make_durable() { [ "$1" = peer ] && sync -f "$SRV_DATA" || true; }

cp_runs=()
for r in $(seq "$RUNS"); do
  dst="$work/cp-copy.bin"
  t0="$(now)"; cp "$single" "$dst"; sync "$dst"; t1="$(now)"
  cp_runs+=("$(mibps "$single_bytes" "$(elapsed "$t0" "$t1")")")
  rm -f "$dst"; sync
  log "cp+fsync run $r: ${cp_runs[-1]} MiB/s"

  for kind in "${kinds[@]}"; do
    start_server "$(server_of "$kind")"
    rss0="$(proc_kib "$SRV_PID" VmRSS)"
    t0="$(now)"
    curl_upload "$SRV_ENDPOINT" "$SRV_TOKEN" "$single" || die "$kind single upload failed"
    make_durable "$kind"
    t1="$(now)"
    hwm="$(proc_kib "$SRV_PID" VmHWM)"
    mib="$(mibps "$single_bytes" "$(elapsed "$t0" "$t1")")"
    runs_single[$kind]+="$mib "; rss0_single[$kind]+="$rss0 "; hwm_single[$kind]+="$hwm "
    stop_server
    log "$kind single ${SIZE_MIB} MiB run $r: $mib MiB/s, RSS $(kib_to_mib "$rss0") -> peak $(kib_to_mib "$hwm") MiB"
  done

  for kind in "${kinds[@]}"; do
    start_server "$(server_of "$kind")"
    rss0="$(proc_kib "$SRV_PID" VmRSS)"
    pids=()
    t0="$(now)"
    for f in "${conc_files[@]}"; do curl_upload "$SRV_ENDPOINT" "$SRV_TOKEN" "$f" & pids+=($!); done
    fails=0
    for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
    make_durable "$kind"
    t1="$(now)"
    [ "$fails" = 0 ] || die "$kind: $fails of $CONC concurrent uploads failed"
    hwm="$(proc_kib "$SRV_PID" VmHWM)"
    mib="$(mibps "$conc_bytes" "$(elapsed "$t0" "$t1")")"
    runs_conc[$kind]+="$mib "; rss0_conc[$kind]+="$rss0 "; hwm_conc[$kind]+="$hwm "
    stop_server
    log "$kind ${CONC}x${CONC_MIB} MiB run $r: $mib MiB/s, RSS $(kib_to_mib "$rss0") -> peak $(kib_to_mib "$hwm") MiB"
  done
done
cp_med="$(median "${cp_runs[@]}")"

declare -A raw single_med single_rss0 single_hwm conc_med conc_rss0 conc_hwm
for kind in "${kinds[@]}"; do
  # shellcheck disable=SC2206
  s_runs=(${runs_single[$kind]}) c_runs=(${runs_conc[$kind]})
  s_rss0=(${rss0_single[$kind]}) s_hwm=(${hwm_single[$kind]})
  c_rss0=(${rss0_conc[$kind]}) c_hwm=(${hwm_conc[$kind]})
  raw[$kind]="single ${s_runs[*]}; concurrent ${c_runs[*]}"
  single_med[$kind]="$(median "${s_runs[@]}")"
  single_rss0[$kind]="$(kib_to_mib "$(median "${s_rss0[@]}")")"
  single_hwm[$kind]="$(kib_to_mib "$(maxof "${s_hwm[@]}")")"
  conc_med[$kind]="$(median "${c_runs[@]}")"
  conc_rss0[$kind]="$(kib_to_mib "$(median "${c_rss0[@]}")")"
  conc_hwm[$kind]="$(kib_to_mib "$(maxof "${c_hwm[@]}")")"
done
if [ "$have_spool" = 0 ]; then
  for k in single_med single_rss0 single_hwm conc_med conc_rss0 conc_hwm; do eval "$k[spool]=n/a"; done
fi

# ---------------------------------------------------------------- report
fs="$(df -PT "$BENCH_DIR" | awk 'NR==2{print $2" on "$1}')"
cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
mem="$(free -m | awk '/^Mem:/{printf "%d MiB total, %d MiB available", $2, $7}')"
spool_ver="n/a (binary missing)"
[ "$have_spool" = 1 ] && spool_ver="$("$SPOOL_BIN" --version 2>/dev/null | head -1 | sed 's/^spool //' || true)"
[ -n "$spool_ver" ] || spool_ver="unknown"
git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
pkgver() { node -p "require('$interop/node_modules/$1/package.json').version"; }

cat <<EOF
## Upload benchmark ($(date -u +%Y-%m-%d))

Machine: $(nproc) cores, ${cpu:-unknown CPU}; memory ${mem}; disk ${fs} (scratch \`${BENCH_DIR}\`); kernel $(uname -r).
Versions: spool ${spool_ver} (git ${git_rev}); peer @tus/server $(pkgver @tus/server) + @tus/file-store $(pkgver @tus/file-store) on node $(node --version); client $(curl --version | head -1 | cut -d' ' -f1-2).
Settings: RUNS=${RUNS} (median reported; peak RSS is the max over runs), SIZE_MIB=${SIZE_MIB}, CONC=${CONC}, CONC_MIB=${CONC_MIB}; loopback; input files in the page cache.
Notes: **cp is timed including fsync of the copy** (\`cp\` + \`sync FILE\`), since Spool fsyncs before acknowledging bytes.
Each upload is a tus POST (Upload-Length) + the whole file in ONE curl PATCH + a HEAD check; the timer covers all three.
Runs are interleaved (cp, Spool, peer, peer without fsync; then the next run) so disk drift hits all alike.
The peer (@tus/file-store) never fsyncs; Spool acknowledges only fsynced bytes. So the **peer** column is timed until its bytes are durable (upload + \`sync -f\` of its data dir); **peer, no fsync** is the same upload timed without that sync.
Every server measurement uses a freshly started server with an empty data dir, so VmHWM is that workload's peak.

| workload | cp + fsync | Spool | peer (@tus/server) | peer, no fsync | Spool / cp | Spool / peer | Spool / peer no fsync |
|---|---:|---:|---:|---:|---:|---:|---:|
| 1 x ${SIZE_MIB} MiB, MiB/s | ${cp_med} | ${single_med[spool]} | ${single_med[peer]} | ${single_med[peer_nosync]} | $(ratio "${single_med[spool]}" "$cp_med") | $(ratio "${single_med[spool]}" "${single_med[peer]}") | $(ratio "${single_med[spool]}" "${single_med[peer_nosync]}") |
| ${CONC} x ${CONC_MIB} MiB concurrent, aggregate MiB/s | | ${conc_med[spool]} | ${conc_med[peer]} | ${conc_med[peer_nosync]} | $(ratio "${conc_med[spool]}" "$cp_med") | $(ratio "${conc_med[spool]}" "${conc_med[peer]}") | $(ratio "${conc_med[spool]}" "${conc_med[peer_nosync]}") |
| RSS before 1 x ${SIZE_MIB} MiB, MiB | | ${single_rss0[spool]} | ${single_rss0[peer]} | | | $(ratio "${single_rss0[spool]}" "${single_rss0[peer]}") | |
| peak RSS (VmHWM) 1 x ${SIZE_MIB} MiB, MiB | | ${single_hwm[spool]} | ${single_hwm[peer]} | | | $(ratio "${single_hwm[spool]}" "${single_hwm[peer]}") | |
| RSS before ${CONC} x ${CONC_MIB} MiB, MiB | | ${conc_rss0[spool]} | ${conc_rss0[peer]} | | | $(ratio "${conc_rss0[spool]}" "${conc_rss0[peer]}") | |
| peak RSS (VmHWM) ${CONC} x ${CONC_MIB} MiB, MiB | | ${conc_hwm[spool]} | ${conc_hwm[peer]} | | | $(ratio "${conc_hwm[spool]}" "${conc_hwm[peer]}") | |

Raw runs (MiB/s): cp+fsync ${cp_runs[*]}; Spool ${raw[spool]:-n/a}; peer ${raw[peer]}; peer, no fsync ${raw[peer_nosync]}.
EOF
over=()
over_budget() { [ "$1" != n/a ] && [ "$1" -gt "$2" ]; }
over_budget "${single_rss0[spool]}" "$IDLE_BUDGET_MIB" && over+=("RSS before an upload ${single_rss0[spool]} MiB > ${IDLE_BUDGET_MIB} MiB")
over_budget "${conc_rss0[spool]}" "$IDLE_BUDGET_MIB" && over+=("RSS before the concurrent uploads ${conc_rss0[spool]} MiB > ${IDLE_BUDGET_MIB} MiB")
over_budget "${conc_hwm[spool]}" "$PEAK_BUDGET_MIB" && over+=("peak RSS of ${CONC} x ${CONC_MIB} MiB ${conc_hwm[spool]} MiB > ${PEAK_BUDGET_MIB} MiB")
if [ "${#over[@]}" -gt 0 ]; then
  for o in "${over[@]}"; do log "OVER BUDGET: $o"; done
  exit 1
fi
log "done"
