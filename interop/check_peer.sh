#!/usr/bin/env bash
# Validate interop/tus_js_upload.mjs and interop/tuspy_upload.py against the peer
# tus server (@tus/server + @tus/file-store, interop/peer_server.mjs) started with
# --require-token and --fake-video-id so it behaves like Spool where the clients care:
# a normal and an interrupted+resumed upload per client, each stored file compared by
# sha256 with the source, plus a wrong token that must fail. Loopback only; stops by itself.
#
#   bash interop/check_peer.sh            (needs `npm ci` in interop/ and
#                                          `pip install -r interop/requirements.txt`)
# Prints 'N passed, N failed' last; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
[ -d node_modules/@tus/server ] || npm ci --no-audit --no-fund >/dev/null
python3 -c 'import tusclient, requests' 2>/dev/null || pip install -q -r requirements.txt

work="$(mktemp -d /tmp/spool-interop.XXXXXX)"
peer_pid=""
cleanup() { [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

token="interop-$RANDOM$RANDOM"
node peer_server.mjs --port 0 --dir "$work/store" --require-token "$token" --fake-video-id >"$work/peer.log" 2>&1 &
peer_pid=$!
for _ in $(seq 100); do grep -q '^listening ' "$work/peer.log" && break; sleep 0.1; done
endpoint="$(sed -n 's/^listening //p' "$work/peer.log")"
[ -n "$endpoint" ] || { cat "$work/peer.log"; echo "peer server did not start"; exit 1; }

# 3 MiB + 12345 bytes: not a multiple of any chunk size
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$work/clip.bin"
want="$(sha256sum <"$work/clip.bin" | cut -d' ' -f1)"

passed=0 failed=0
check() { # name, cmd...
  local name="$1"; shift
  local out
  if ! out="$("$@" 2>"$work/err")"; then
    echo "FAIL $name: exit $?: $(tail -3 "$work/err")"; failed=$((failed + 1)); return
  fi
  local verdict
  verdict="$(python3 - "$out" "$work/store" "$want" "$name" <<'PY'
import hashlib, json, os, sys
out, store, want, name = sys.argv[1:]
r = json.loads(out)
uid = r["upload_url"].rstrip("/").rsplit("/", 1)[1]
got = hashlib.sha256(open(os.path.join(store, uid), "rb").read()).hexdigest()
errs = []
if got != want: errs.append(f"sha256 {got} != {want}")
if r["video_id"] != f"vid-{uid}": errs.append(f"video_id {r['video_id']!r}")
interrupted = "interrupted" in name
if interrupted and not r["resumed_from"] > 0: errs.append(f"resumed_from {r['resumed_from']}")
if not interrupted and r["resumed_from"] != 0: errs.append(f"resumed_from {r['resumed_from']}")
print("; ".join(errs) or "ok")
PY
)"
  if [ "$verdict" = ok ]; then echo "ok   $name: $out"; passed=$((passed + 1))
  else echo "FAIL $name: $verdict ($out)"; failed=$((failed + 1)); fi
}
expect_fail() { # name, cmd...
  local name="$1"; shift
  if "$@" >/dev/null 2>&1; then echo "FAIL $name: succeeded with a wrong token"; failed=$((failed + 1))
  else echo "ok   $name"; passed=$((passed + 1)); fi
}

args=(--endpoint "$endpoint" --token "$token" --file "$work/clip.bin")
check "tus-js-client normal" node tus_js_upload.mjs "${args[@]}"
check "tus-js-client chunked" node tus_js_upload.mjs "${args[@]}" --chunk-size 1000000
check "tus-js-client interrupted" node tus_js_upload.mjs "${args[@]}" --interrupt-after 1500000
check "tuspy normal" python3 tuspy_upload.py "${args[@]}"
check "tuspy chunked" python3 tuspy_upload.py "${args[@]}" --chunk-size 1000000
check "tuspy interrupted" python3 tuspy_upload.py "${args[@]}" --interrupt-after 1500000
bad=(--endpoint "$endpoint" --token wrong --file "$work/clip.bin")
expect_fail "tus-js-client wrong token fails" node tus_js_upload.mjs "${bad[@]}"
expect_fail "tuspy wrong token fails" python3 tuspy_upload.py "${bad[@]}"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
