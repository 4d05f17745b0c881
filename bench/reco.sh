#!/usr/bin/env bash
# Discovery, offline: MovieLens-100K under Gorse's protocol (5-fold cross-validation, every
# rating an implicit positive, all unseen items ranked) for popularity, item KNN, EASE at
# several λ, EDLAE, the profile's CF feature and the whole online ranker; then a time-ordered
# replay (leave the latest out) of batch against real-time histories.
#
# The dataset ships inside the recbole wheel on PyPI; its licence forbids redistribution, so it
# is fetched here (pip download, unzipped into BENCH_DIR) and never committed.
#
#   bash bench/reco.sh > table.md      (progress on stderr, markdown tables on stdout)
#
# Environment:
#   BENCH_DIR  scratch directory (default /tmp/spool-bench); the wheel is kept there
#   CARGO_TARGET_DIR as for cargo
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/spool-bench}"
data="$BENCH_DIR/recbole"
log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

mkdir -p "$data"
if [ ! -f "$data/recbole/dataset_example/ml-100k/ml-100k.inter" ]; then
  log "fetching MovieLens-100K (inside recbole==1.2.1 from PyPI)"
  python3 -m pip download --quiet --no-deps recbole==1.2.1 -d "$data" >&2
  python3 - "$data" <<'PY'
import glob, sys, zipfile
dest = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{dest}/recbole-1.2.1-*.whl")[0])
for name in wheel.namelist():
    if "dataset_example/ml-100k/" in name:
        wheel.extract(name, dest)
PY
fi
log "building the evaluation (release)"
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p spool-recommend --example offline >&2
target="${CARGO_TARGET_DIR:-$root/target}"
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)"
"$target/release/examples/offline" "$data/recbole/dataset_example/ml-100k"
