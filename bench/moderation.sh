#!/usr/bin/env bash
# Moderation: the exact Hamming-radius index over 256-bit PDQ hashes
# (crates/moderation/src/index.rs, multi-index hashing over 16 slots of 16 bits) on 1,000,000
# uniform random hashes plus 1,000 planted centres with neighbours at known distances, queried
# at radius 31, against a linear scan in the same process: bulk build time, query p50/p99
# (10,000 queries, half planted, half random), the scan's p50/p99 and the speed-up on the same
# queries, every scanned answer checked equal to the index's (any mismatch fails the run),
# memory (the index's capacities and the RSS growth over the build), single inserts and
# removes, and the machine. Each run is a fresh process with its own seed; the medians of
# RUNS runs are reported next to every run. CPU only, no scratch files, stops by itself.
#
#   bash bench/moderation.sh > table.md     (progress on stderr, the markdown table on stdout)
#   RUNS=1 ENTRIES=100000 bash bench/moderation.sh      (smoke test)
#
# Environment:
#   RUNS     runs, the median is reported (default 5)
#   ENTRIES  random hashes (default 1000000)
#   PLANTED  planted centres, each with 14 neighbours at 1..40 bits, 11 within 31 (default 1000)
#   QUERIES  queries per run, half planted centres, half random hashes (default 10000)
#   SCANS    how many of those the linear scan answers too (default 300)
#   UPDATES  single inserts into the built index, then as many removes (default 10000)
#   SEED     run k uses SEED + k - 1 (default 1)
#   CARGO_TARGET_DIR as for cargo
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

log "building the benchmark (release)"
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p spool-moderation --example index_bench >&2
rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain -- crates/moderation 2>/dev/null)" ]; then rev="$rev + uncommitted crates/moderation"; fi
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Build: git $rev; $(rustc --version); release profile; $(date -u +%Y-%m-%d)."
"$target/release/examples/index_bench"
