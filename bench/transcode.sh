#!/usr/bin/env bash
# Transcoding: Spool's pipeline end to end (upload done -> ladder published) vs. the same ladder
# encoded "the PeerTube way" (one ffmpeg process per resolution, one after another, each decoding
# the source) vs. one bare ffmpeg process encoding every rung from a single decode. Every
# contender uses Spool's exact encoder settings (read from crates/media/src/transcode.rs), so
# only the way the work is organised differs. Loopback only, bounded, stops by itself, cleans
# up its scratch files. See bench/README.md.
#
#   bash bench/transcode.sh > table.md      (progress goes to stderr, the markdown table to stdout)
#   QUICK=1 bash bench/transcode.sh         (smoke test: 4 s 640x360 source, 1 run)
#
# Environment:
#   SPOOL_BIN   spool binary (default: $CARGO_TARGET_DIR/release/spool if set, else target/release/spool)
#   BENCH_DIR   scratch directory (default /tmp/spool-bench)
#   RUNS        interleaved runs, the median is reported (default 3)
#   DURATION    seconds of the generated source (default 60)
#   SIZE        WIDTHxHEIGHT of the generated source (default 1920x1080)
#   FPS         frame rate of the generated source (default 30)
#   SRC_CRF     x264 CRF of the generated source, low = high quality and costly to decode (default 14)
#   SOURCE      benchmark this file instead of generating one (DURATION/SIZE/FPS/SRC_CRF then unused)
#   TIMEOUT     seconds any one measurement may take before the script gives up (default 3600)
#   QUICK=1     smoke test: DURATION=4 SIZE=640x360 RUNS=1 unless set explicitly
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${SPOOL_BIN:-}" ]; then
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then SPOOL_BIN="$CARGO_TARGET_DIR/release/spool"
  else SPOOL_BIN="$root/target/release/spool"; fi
fi
if [ "${QUICK:-0}" = 1 ]; then
  DURATION="${DURATION:-4}"; SIZE="${SIZE:-640x360}"; RUNS="${RUNS:-1}"
fi
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-60}"
SIZE="${SIZE:-1920x1080}"
FPS="${FPS:-30}"
SRC_CRF="${SRC_CRF:-14}"
SOURCE="${SOURCE:-}"
TIMEOUT="${TIMEOUT:-3600}"

# Spool's defaults that the ffmpeg contenders mirror (crates/config/src/lib.rs [media],
# crates/media/src/{probe,transcode,ladder}.rs). If those change, change these.
LADDER="1080 720 480 360 240"
PRESET=veryfast
SEGMENT_S=4
MAX_OUTPUT_FPS=60
PROBE_SIZE=50000000
ANALYZE_US=10000000
FORMAT_WHITELIST="mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv"
AUDIO_KBPS=128

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in curl ffmpeg ffprobe python3 timeout awk; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[ -x "$SPOOL_BIN" ] || die "spool binary missing (looked for $SPOOL_BIN; cargo build --release -p spool, or set SPOOL_BIN)"
[[ "$SIZE" =~ ^[0-9]+x[0-9]+$ ]] || die "SIZE must look like 1920x1080"
[ -z "$SOURCE" ] || [ -f "$SOURCE" ] || die "SOURCE $SOURCE does not exist"
# Spool must run with its defaults, which is what the ffmpeg contenders mirror.
for var in $(compgen -e | grep '^SPOOL__' || true); do
  log "ignoring $var from the environment (the ffmpeg contenders mirror Spool's defaults)"
  unset "$var"
done

mkdir -p "$BENCH_DIR"
work="$(mktemp -d "$BENCH_DIR/transcode.XXXXXX")"
SRV_PID=""
CHILD_PID=""
cleanup() {
  if [ -n "$CHILD_PID" ]; then kill "$CHILD_PID" 2>/dev/null || true; wait "$CHILD_PID" 2>/dev/null || true; fi
  if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; fi
  rm -rf "$work"
  rmdir "$BENCH_DIR" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------- helpers
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b - a}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR==0) {print "n/a"; exit}
  if (NR%2) printf "%.2f\n", v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="n/a" || b=="n/a" || b==0) print "n/a"; else printf "%.2f", a/b }'; }
xrt() { awk -v d="$1" -v s="$2" 'BEGIN{ if (s=="n/a" || s==0) print "n/a"; else printf "%.2f", d/s }'; }
# Runs a long command in the background and waits for it, so that a signal to the script is
# handled at once (bash defers traps while a foreground command runs); cleanup kills it.
run_child() {
  local rc=0
  "$@" &
  CHILD_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  return "$rc"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Python helpers: the ladder plan (a transcription of crates/media/src/ladder.rs) and the
# status poller (one process, one keep-alive connection, a GET every 100 ms). The poller reads
# the video's JSON from GET /api/v1/me/videos, which the server reads from the database on
# every request: GET /api/v1/videos/{id} answers from a 1 s row cache (crates/api/src/cache.rs)
# and would add up to a second of lag to every time measured.
cat >"$work/helper.py" <<'PY'
import http.client, json, math, sys, time

STANDARD = [(24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (48, 1), (50, 1), (60000, 1001), (60, 1)]

def rnd(x):  # Rust f64::round: half away from zero
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)

def even(x):
    return max(int(rnd(x / 2.0)) * 2, 2)

def output_fps(src, cap):
    cap = cap if (math.isfinite(cap) and cap >= 1.0) else 60.0
    fps = min(src, cap) if (math.isfinite(src) and 1.0 <= src <= 1000.0) else min(30.0, cap)
    best = None
    for n, d in STANDARD:
        r = n / d
        if r <= cap + 1e-9 and (best is None or abs(r - fps) < abs(best - fps)):
            best = r
    if best is not None and abs(best - fps) <= fps * 0.03:
        return best
    return rnd(fps * 1000.0) / 1000.0

def fps_rational(fps):
    for n, d in STANDARD:
        if abs(n / d - fps) < 1e-6:
            return n, d
    num = max(int(rnd(fps * 1000.0)), 1)
    g = math.gcd(num, 1000)
    return num // g, 1000 // g

def max_bitrate(w, h, fps):
    base = 4500.0 * ((w * h) / (1920.0 * 1080.0)) ** 0.8
    motion = 1.5 if fps > 31.0 else 1.0
    return int(max(rnd(base * motion / 10.0) * 10.0, 100.0))

def plan(w, h, src_fps, cap, ladder, segment_s):
    w, h = max(w, 1), max(h, 1)
    short, long_, portrait = min(w, h), max(w, h), h > w
    fps = output_fps(src_fps, cap)
    heights = sorted({r for r in ladder if 0 < r <= short}, reverse=True)
    if not heights:
        sizes = [(even(short), even(long_))]
    else:
        sizes = [(even(r), even(long_ * r / short)) for r in heights]
    num, den = fps_rational(fps)
    keyint = math.ceil(segment_s * fps) * 2 + 1
    for s, l in sizes:
        rw, rh = (s, l) if portrait else (l, s)
        print(f"{s}p {rw} {rh} {num} {den} {max_bitrate(rw, rh, fps)} {keyint}")

def poll(port, vid, token, t0, timeout):
    conn, ready, last = None, None, None
    start = time.time()
    k = 0
    while True:
        v = None
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/v1/me/videos?limit=5", headers={"Authorization": "Bearer " + token})
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                sys.exit(f"GET /api/v1/me/videos answered {r.status}: {body[:300]!r}")
            v = next((x for x in json.loads(body)["videos"] if x["id"] == vid), None)
            if v is None:
                sys.exit(f"video {vid} is not among the user's videos")
        except (OSError, http.client.HTTPException):
            conn = None
        t = time.time()
        if v is not None:
            state = (v["status"], v.get("processing_complete"), [x["name"] for x in v.get("renditions", [])])
            if state != last:
                print(f"  +{t - t0:7.2f} s  status={state[0]} complete={state[1]} renditions={','.join(state[2]) or '-'} progress={v.get('progress')}", file=sys.stderr)
                last = state
            if v["status"] == "failed":
                sys.exit(f"processing failed: {v.get('error')}")
            if ready is None and v["status"] == "ready":
                ready = t - t0
            if v["status"] == "ready" and v.get("processing_complete"):
                print(f"{ready:.2f} {t - t0:.2f}")
                return
        if t - t0 > timeout:
            sys.exit(f"not processed after {timeout} s")
        k += 1
        time.sleep(max(0.0, start + k * 0.1 - time.time()))

cmd = sys.argv[1]
if cmd == "plan":
    w, h, fps, cap, seg = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    plan(w, h, fps, cap, [int(x) for x in sys.argv[7].split()], seg)
elif cmd == "poll":
    poll(int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6]))
PY
helper() { python3 "$work/helper.py" "$@"; }

# ---------------------------------------------------------------- source
if [ -n "$SOURCE" ]; then
  src="$(cd "$(dirname "$SOURCE")" && pwd)/$(basename "$SOURCE")"
  src_desc="\`$(basename "$SOURCE")\` (given with SOURCE)"
else
  src="$work/source.mp4"
  w="${SIZE%x*}"; h="${SIZE#*x}"
  log "generating the source: ${DURATION} s ${SIZE} ${FPS} fps testsrc2 + sine, x264 crf ${SRC_CRF}"
  run_child ffmpeg -hide_banner -nostdin -v error -y \
    -f lavfi -i "testsrc2=size=${w}x${h}:rate=${FPS}" \
    -f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000" \
    -t "$DURATION" -map 0:v -map 1:a \
    -c:v libx264 -preset veryfast -crf "$SRC_CRF" -g "$(( FPS * 2 ))" -pix_fmt yuv420p \
    -c:a aac -b:a 192k -ac 2 -movflags +faststart "$src"
  src_desc="generated: testsrc2 ${SIZE} ${FPS} fps + 440 Hz sine, ${DURATION} s, H.264 (x264 veryfast crf ${SRC_CRF}, GOP $(( FPS * 2 ))) + AAC 192k stereo in MP4"
fi
probe() { ffprobe -v error -select_streams v:0 -show_entries "$1" -of default=nw=1:nk=1 "$src" | head -1; }
src_w="$(probe stream=width)"; src_h="$(probe stream=height)"
src_rate="$(probe stream=avg_frame_rate)"
case "$src_rate" in ''|0/0|0/*) src_rate="$(probe stream=r_frame_rate)" ;; esac
src_fps="$(awk -v r="$src_rate" 'BEGIN{split(r, a, "/"); if (a[2] == "" ) a[2] = 1; if (a[2] == 0) print 0; else printf "%.6f", a[1] / a[2]}')"
src_dur="$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$src")"
src_fmt="$(ffprobe -v error -show_entries format=format_name -of default=nw=1:nk=1 "$src")"
src_kbps="$(ffprobe -v error -show_entries format=bit_rate -of default=nw=1:nk=1 "$src" | awk '{printf "%.0f", $1 / 1000}')"
src_bytes="$(stat -c %s "$src")"
demuxer="${src_fmt%%,*}"
ffprobe -v error -select_streams a:0 -show_entries stream=index -of csv=p=0 "$src" | grep -q . \
  || die "the source has no audio stream; this benchmark expects one (Spool encodes it as its own rendition)"
log "source: ${src_w}x${src_h} @ ${src_rate}, ${src_dur} s, ${src_kbps} kbit/s, ${src_bytes} bytes"

# The ladder Spool will plan for this source: name width height fps_num fps_den maxrate_kbps keyint.
mapfile -t rungs < <(helper plan "$src_w" "$src_h" "$src_fps" "$MAX_OUTPUT_FPS" "$SEGMENT_S" "$LADDER")
[ "${#rungs[@]}" -gt 0 ] || die "no rungs planned"
rung_names=(); for r in "${rungs[@]}"; do read -r n _ <<<"$r"; rung_names+=("$n"); done
log "ladder: $(for r in "${rungs[@]}"; do read -r n rw rh fn fd mr ki <<<"$r"; printf '%s=%sx%s@%s/%s maxrate %sk keyint %s; ' "$n" "$rw" "$rh" "$fn" "$fd" "$mr" "$ki"; done)"

# ---------------------------------------------------------------- ffmpeg command lines
# Exactly what crates/media/src/transcode.rs builds (ffmpeg_args, hls_output), minus the
# storyboard and cover-candidate branches.
input_args=(-hide_banner -nostdin -y -v error -nostats -progress pipe:1
  -protocol_whitelist file -format_whitelist "$FORMAT_WHITELIST"
  -probesize "$PROBE_SIZE" -analyzeduration "$ANALYZE_US" -f "$demuxer" -i "file:$src")
hls_args() { # dir
  printf '%s\n' -map_metadata -1 -map_chapters -1 -f hls -hls_segment_type fmp4 -hls_time "$SEGMENT_S" \
    -hls_playlist_type vod -hls_list_size 0 -hls_flags temp_file -start_number 1 \
    -hls_fmp4_init_filename init.mp4 -hls_segment_filename "$1/seg_%d.m4s" "$1/ffmpeg.m3u8"
}
rung_filter() { # label-in, rung line, label-out
  local n rw rh fn fd mr ki; read -r n rw rh fn fd mr ki <<<"$2"
  printf '%sfps=%s/%s,scale=%s:%s:flags=bicubic,setsar=1,format=yuv420p[%s]' "$1" "$fn" "$fd" "$rw" "$rh" "$3"
}
rung_args() { # map label, rung line, out dir
  local n rw rh fn fd mr ki; read -r n rw rh fn fd mr ki <<<"$2"
  printf '%s\n' -map "[$1]" -c:v libx264 -preset "$PRESET" -profile:v high -crf 23 \
    -maxrate "${mr}k" -bufsize "$(( mr * 2 ))k" \
    -force_key_frames "expr:gte(n*${fd},n_forced*${SEGMENT_S}*${fn})" -forced-idr 1 \
    -x264-params "scenecut=0:open-gop=0:keyint=${ki}"
  hls_args "$3/$n"
}
audio_args() { # out dir
  printf '%s\n' -map 0:a:0 -c:a aac -profile:a aac_low -b:a "${AUDIO_KBPS}k" -ac 2 -ar 48000
  hls_args "$1/audio"
}
run_ffmpeg() { # args...; stdout (the -progress feed) is discarded, errors are fatal
  run_child timeout "$TIMEOUT" ffmpeg "$@" >/dev/null || die "ffmpeg failed (or exceeded TIMEOUT=$TIMEOUT s): ffmpeg $*"
}

# (b) The PeerTube way: one process per resolution, one after another, each decoding the
# source; the audio once, in a process of its own.
peertube_way() { # out dir
  local out="$1" r n args
  for r in "${rungs[@]}"; do
    read -r n _ <<<"$r"; mkdir -p "$out/$n"
    mapfile -t args < <(rung_args v0 "$r" "$out")
    run_ffmpeg "${input_args[@]}" -filter_complex "$(rung_filter '[0:v:0]' "$r" v0)" "${args[@]}"
  done
  mkdir -p "$out/audio"
  mapfile -t args < <(audio_args "$out")
  run_ffmpeg "${input_args[@]}" "${args[@]}"
}

# (c) One bare ffmpeg process: split to every rung, plus the audio; no storyboard, no covers.
one_pass() { # out dir
  local out="$1" graph i r n args all=()
  graph="[0:v:0]split=${#rungs[@]}"
  for i in "${!rungs[@]}"; do graph+="[s$i]"; done
  for i in "${!rungs[@]}"; do
    r="${rungs[$i]}"; read -r n _ <<<"$r"; mkdir -p "$out/$n"
    graph+=";$(rung_filter "[s$i]" "$r" "v$i")"
    mapfile -t args < <(rung_args "v$i" "$r" "$out"); all+=("${args[@]}")
  done
  mkdir -p "$out/audio"
  mapfile -t args < <(audio_args "$out"); all+=("${args[@]}")
  run_ffmpeg "${input_args[@]}" -filter_complex "$graph" "${all[@]}"
}

# ---------------------------------------------------------------- Spool
# A fresh `spool serve` (empty data dir, one in-process job worker, defaults otherwise; run
# from the scratch dir so no ./spool.toml is read), the upload with `spool upload`, then the
# video polled every 100 ms. Sets SRV_PID (the server stays up for the output check; stop it
# with spool_stop), SPOOL_TIMES ("upload_s ready_s complete_s") and SPOOL_OUT (the published
# generation dir). Not to be called in a subshell.
spool_run() { # progressive true|false, tag
  local progressive="$1" tag="$2" data token port url id t0 t1 times gen
  data="$work/$tag-data"; mkdir -p "$data"
  token="$(cd "$work" && "$SPOOL_BIN" user add bench --data "$data" | awk 'NF{last=$NF} END{print last}')"
  [ -n "$token" ] || die "spool user add printed no token"
  port="$(free_port)"; url="http://127.0.0.1:$port"
  (cd "$work" && SPOOL__JOBS__WORKERS=1 SPOOL__MEDIA__PROGRESSIVE="$progressive" \
    exec "$SPOOL_BIN" serve --data "$data" --listen "127.0.0.1:$port") >"$data.log" 2>&1 &
  SRV_PID=$!
  local i code=""
  for i in $(seq 300); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/healthz" || true)"
    [ "$code" = 200 ] && break
    kill -0 "$SRV_PID" 2>/dev/null || { cat "$data.log" >&2; die "spool serve exited"; }
    sleep 0.1
  done
  [ "$code" = 200 ] || { cat "$data.log" >&2; die "spool serve not ready after 30 s"; }
  t0="$(now)"
  id="$(cd "$work" && timeout "$TIMEOUT" "$SPOOL_BIN" upload "$src" --server "$url" --token "$token" \
    --no-progress --state-dir "$work/$tag-state" | tail -1)"
  t1="$(now)"
  [ -n "$id" ] || { cat "$data.log" >&2; die "spool upload printed no video id"; }
  run_child python3 "$work/helper.py" poll "$port" "$id" "$token" "$t1" "$TIMEOUT" >"$work/times" \
    || { tail -20 "$data.log" >&2; die "Spool did not finish processing"; }
  times="$(cat "$work/times")"
  gen="$(find "$data/media/$id" -mindepth 1 -maxdepth 1 -type d ! -name covers -printf '%f\n' | head -1)"
  [ -n "$gen" ] || die "no published generation under $data/media/$id"
  SPOOL_OUT="$data/media/$id/$gen"
  SPOOL_TIMES="$(elapsed "$t0" "$t1") $times"
}
spool_stop() {
  kill "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}

# ---------------------------------------------------------------- output check
# One line per rendition found in the output dir (every subdirectory with an init.mp4, the
# planned rungs first): name WxH-or-audio-format segments bytes(init + segments).
describe() { # out dir
  local out="$1" n wh segs bytes names=()
  for n in "${rung_names[@]}" audio; do
    [ -f "$out/$n/init.mp4" ] || die "$out/$n/init.mp4 is missing"
    names+=("$n")
  done
  for n in $(find "$out" -mindepth 2 -maxdepth 2 -name init.mp4 -printf '%h\n' | xargs -rn1 basename | sort); do
    [[ " ${names[*]} " == *" $n "* ]] || names+=("$n")
  done
  for n in "${names[@]}"; do
    if [ "$n" = audio ]; then
      wh="$(ffprobe -v error -select_streams a:0 -show_entries stream=codec_name,sample_rate,channels -of csv=p=0 "$out/$n/init.mp4" | tr ',' '/')"
    else
      wh="$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$out/$n/init.mp4")"
    fi
    segs="$(find "$out/$n" -name 'seg_*.m4s' | wc -l)"
    bytes="$(find "$out/$n" \( -name 'seg_*.m4s' -o -name init.mp4 \) -printf '%s\n' | awk '{s+=$1} END{print s+0}')"
    echo "$n $wh $segs $bytes"
  done
}

# ---------------------------------------------------------------- measurements
declare -A raw
contenders=(spool_off spool_on peertube onepass)
declare -A desc
log "scratch $work; ${RUNS} interleaved run(s) of: Spool progressive off, Spool progressive on, PeerTube way, one-pass ffmpeg"
for r in $(seq "$RUNS"); do
  # Rotate the order from run to run, so no contender always follows the same one.
  order=()
  for i in "${!contenders[@]}"; do order+=("${contenders[$(( (i + r - 1) % ${#contenders[@]} ))]}"); done
  for c in "${order[@]}"; do
    sync
    case "$c" in
      spool_off|spool_on)
        prog=false; [ "$c" = spool_on ] && prog=true
        log "run $r: Spool, progressive $prog"
        spool_run "$prog" "$c-$r"
        spool_stop
        read -r up ready complete <<<"$SPOOL_TIMES"
        raw[$c.upload]+="$up "; raw[$c.ready]+="$ready "; raw[$c.complete]+="$complete "
        log "run $r: Spool, progressive $prog: upload ${up} s; then ready after ${ready} s, complete after ${complete} s"
        out="$SPOOL_OUT"
        ;;
      peertube)
        log "run $r: PeerTube way (${#rungs[@]} video processes + 1 audio process, one after another)"
        out="$work/$c-$r"; mkdir -p "$out"
        t0="$(now)"; peertube_way "$out"; t1="$(now)"
        raw[$c.complete]+="$(elapsed "$t0" "$t1") "
        log "run $r: PeerTube way: $(elapsed "$t0" "$t1") s"
        ;;
      onepass)
        log "run $r: one-pass ffmpeg"
        out="$work/$c-$r"; mkdir -p "$out"
        t0="$(now)"; one_pass "$out"; t1="$(now)"
        raw[$c.complete]+="$(elapsed "$t0" "$t1") "
        log "run $r: one-pass ffmpeg: $(elapsed "$t0" "$t1") s"
        ;;
    esac
    [ "$r" = 1 ] && desc[$c]="$(describe "$out")"
    rm -rf "$work/$c-$r" "$work/$c-$r-data" "$work/$c-$r-data.log" "$work/$c-$r-state"
  done
done

# The comparison is honest only if every contender produced the same renditions.
check_rows=""
mismatch=0
for c in "${contenders[@]}"; do
  if [ "$(awk '{print $1, $2, $3}' <<<"${desc[$c]}")" != "$(awk '{print $1, $2, $3}' <<<"${desc[onepass]}")" ]; then
    mismatch=1
    log "output mismatch: $c wrote"$'\n'"${desc[$c]}"$'\n'"one-pass wrote"$'\n'"${desc[onepass]}"
  fi
done
while read -r n wh segs bytes; do
  row="| $n | $wh | $segs |"
  for c in "${contenders[@]}"; do
    read -r _ cwh csegs cbytes <<<"$(awk -v n="$n" '$1==n' <<<"${desc[$c]}")"
    if [ "$cwh" != "$wh" ] || [ "$csegs" != "$segs" ]; then
      mismatch=1; log "output mismatch for $n: one-pass $wh/$segs segments, $c $cwh/$csegs segments"
    fi
    row+=" $(awk -v b="$cbytes" 'BEGIN{printf "%.2f", b / 1048576}') |"
  done
  check_rows+="$row"$'\n'
done <<<"${desc[onepass]}"
[ "$mismatch" = 0 ] || die "the contenders' outputs differ in size or segmentation (see above); the comparison would not be fair"

declare -A med
for k in spool_off.upload spool_off.ready spool_off.complete spool_on.upload spool_on.ready spool_on.complete peertube.complete onepass.complete; do
  # shellcheck disable=SC2206
  vals=(${raw[$k]}); med[$k]="$(median "${vals[@]}")"
done

# ---------------------------------------------------------------- report
fs="$(df -PT "$BENCH_DIR" | awk 'NR==2{print $2" on "$1}')"
cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
mem="$(free -m | awk '/^Mem:/{printf "%d MiB total, %d MiB available", $2, $7}')"
spool_ver="$("$SPOOL_BIN" --version 2>/dev/null | head -1 | sed 's/^spool //' || true)"
git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -n "$(git -C "$root" status --porcelain -- crates Cargo.lock 2>/dev/null)" ] && git_rev+=" + uncommitted changes in crates/"
ff_ver="$(ffmpeg -version | head -1 | awk '{print $3}')"
x264_ver="$(ffmpeg -v error -f lavfi -i nullsrc=s=64x64:d=0.04 -c:v libx264 -f h264 - 2>/dev/null \
  | grep -aom1 'core [0-9]* r[0-9]* [0-9a-f]*' || true)"
ladder_desc="$(for r in "${rungs[@]}"; do read -r n rw rh fn fd mr ki <<<"$r"; printf '%s %sx%s %sk, ' "$n" "$rw" "$rh" "$mr"; done)"
fps_desc="$(read -r _ _ _ fn fd _ ki <<<"${rungs[0]}"; echo "${fn}/${fd} fps, keyint ${ki}")"
D="$src_dur"

cat <<EOF
## Transcode benchmark ($(date -u +%Y-%m-%d))

Machine: $(nproc) cores, ${cpu:-unknown CPU}; memory ${mem}; disk ${fs} (scratch \`${BENCH_DIR}\`); kernel $(uname -r).
Versions: spool ${spool_ver:-unknown} (git ${git_rev}); ffmpeg ${ff_ver}${x264_ver:+ (libx264 ${x264_ver})}.
Source: ${src_desc}; ${src_w}x${src_h}, $(awk -v d="$D" 'BEGIN{printf "%.1f", d}') s, ${src_kbps} kbit/s, $(awk -v b="$src_bytes" 'BEGIN{printf "%.1f", b / 1048576}') MiB.
Ladder (Spool's defaults, every contender): ${ladder_desc%, }; ${fps_desc}; libx264 -preset ${PRESET} -profile:v high -crf 23, -maxrate/-bufsize 2x per rung, keyframes forced every ${SEGMENT_S} s (scenecut=0, closed GOP); AAC-LC ${AUDIO_KBPS}k stereo 48 kHz as its own rendition; CMAF fMP4 HLS, ${SEGMENT_S} s segments.
Settings: RUNS=${RUNS}, interleaved (the order rotates from run to run), median reported; TIMEOUT=${TIMEOUT} s.
Spool: a fresh \`spool serve\` per run (empty data dir, \`SPOOL__JOBS__WORKERS=1\`, otherwise defaults), the file sent with \`spool upload\`; timed from the end of the upload until the video's JSON (\`GET /api/v1/me/videos\`, read from the database, polled every 100 ms) shows \`status: ready\` (first rungs playable) and \`processing_complete: true\` (whole ladder). That includes the job queue, both probes, the source fetch, storyboard sheets, 8 cover candidates and the automatic cover, and publishing.
PeerTube way: one ffmpeg process per rung, one after another (as PeerTube's per-resolution jobs run on one worker), each decoding the source, plus one process for the audio; the same arguments as Spool's. One-pass: one ffmpeg process, \`split\` to every rung, plus the audio; no storyboard, no covers.

| contender | wall time, s | x realtime | / PeerTube way | / one-pass |
|---|---:|---:|---:|---:|
| Spool, progressive off: upload done -> complete | ${med[spool_off.complete]} | $(xrt "$D" "${med[spool_off.complete]}") | $(ratio "${med[spool_off.complete]}" "${med[peertube.complete]}") | $(ratio "${med[spool_off.complete]}" "${med[onepass.complete]}") |
| Spool, progressive on: upload done -> ready (first rungs playable) | ${med[spool_on.ready]} | $(xrt "$D" "${med[spool_on.ready]}") | $(ratio "${med[spool_on.ready]}" "${med[peertube.complete]}") | $(ratio "${med[spool_on.ready]}" "${med[onepass.complete]}") |
| Spool, progressive on: upload done -> complete | ${med[spool_on.complete]} | $(xrt "$D" "${med[spool_on.complete]}") | $(ratio "${med[spool_on.complete]}" "${med[peertube.complete]}") | $(ratio "${med[spool_on.complete]}" "${med[onepass.complete]}") |
| PeerTube way: ${#rungs[@]} + 1 ffmpeg processes in sequence | ${med[peertube.complete]} | $(xrt "$D" "${med[peertube.complete]}") | 1.00 | $(ratio "${med[peertube.complete]}" "${med[onepass.complete]}") |
| one-pass ffmpeg, all rungs from one decode | ${med[onepass.complete]} | $(xrt "$D" "${med[onepass.complete]}") | $(ratio "${med[onepass.complete]}" "${med[peertube.complete]}") | 1.00 |

| target | result |
|---|---|
| progressive off, Spool / PeerTube way <= 0.80 | **$(ratio "${med[spool_off.complete]}" "${med[peertube.complete]}")** (${med[spool_off.complete]} vs ${med[peertube.complete]} s) |
| progressive off, Spool / one-pass <= 1.10 (Spool also writes storyboard and covers) | **$(ratio "${med[spool_off.complete]}" "${med[onepass.complete]}")** (${med[spool_off.complete]} vs ${med[onepass.complete]} s) |
| progressive on, time to ready / one-pass <= 0.40 | **$(ratio "${med[spool_on.ready]}" "${med[onepass.complete]}")** (${med[spool_on.ready]} vs ${med[onepass.complete]} s) |
| progressive on, time to complete / one-pass <= 1.25 | **$(ratio "${med[spool_on.complete]}" "${med[onepass.complete]}")** (${med[spool_on.complete]} vs ${med[onepass.complete]} s) |

Outputs of run 1 (checked: every contender wrote the same renditions, sizes and segment counts; MiB = init + segments):

| rendition | size | segments | MiB Spool off | MiB Spool on | MiB PeerTube way | MiB one-pass |
|---|---|---:|---:|---:|---:|---:|
${check_rows%$'\n'}

Raw runs (s): Spool off complete ${raw[spool_off.complete]% }; Spool on ready ${raw[spool_on.ready]% }; Spool on complete ${raw[spool_on.complete]% }; PeerTube way ${raw[peertube.complete]% }; one-pass ${raw[onepass.complete]% }. Upload (not in the times above): Spool off ${raw[spool_off.upload]% }; Spool on ${raw[spool_on.upload]% }.
EOF
log "done"
