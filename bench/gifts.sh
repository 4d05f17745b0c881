#!/usr/bin/env bash
# Gifts: SENDS concurrent gift sends (20% retries of earlier requests with the same
# Idempotency-Key, 10% of senders granted about half of what they try to spend) through the
# gifts service on a fresh SQLite file and a fresh MariaDB database; after each run the driver
# checks that the ledger sums to zero, every balance equals its entries, none is negative and
# every key was applied once. Beside it, the same number of bare write transactions (one row
# changed and committed) at the same concurrency: the engine's and disk's ceiling for any
# transactional write. Prints a markdown table (the median run of RUNS by time) on stdout.
#
#   bash bench/gifts.sh > /tmp/gifts.md          # RUNS=3 SENDS=10000 CONCURRENCY=64
#
# MariaDB: SPOOL_TEST_MYSQL (default mysql://root@127.0.0.1:3306), as the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SENDS=${SENDS:-10000}
CONCURRENCY=${CONCURRENCY:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

echo "building the driver (release)..." >&2
cargo build --release -q -p spool-gifts --example ledger_bench >&2
DRIVER="$CARGO_TARGET_DIR/release/examples/ledger_bench"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| engine | sends | concurrency | s | sends/s | bare write transactions/s | sends / bare | applied | replayed | refused (overdrawn) | ledger checks |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for engine in sqlite mysql; do
  rows=()
  for run in $(seq "$RUNS"); do
    echo "$engine run $run/$RUNS..." >&2
    rows+=("$("$DRIVER" "$engine" "$SENDS" "$CONCURRENCY")")
  done
  secs=$(printf '%s\n' "${rows[@]}" | awk -F'|' '{print $5}' | median)
  # The row of the median run, so its counts go with its time.
  printf '%s\n' "${rows[@]}" | awk -F'|' -v s="$secs" '$5+0 == s+0 {print; exit}'
done
echo
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr); MariaDB $(mysql -uroot -h127.0.0.1 -N -e 'select version()' 2>/dev/null || echo '?'); git $(git rev-parse --short HEAD)."
