#!/bin/bash
# benchmarks.backfill's example view (all of W1, no spine) alternating builds of operators/_native given as
# NAME=PATH, PAIRS times (repository root); each run's table row goes to $LOG.
# Usage: [PAIRS=3] [LOG=backfill_ab.log] bash backfill_ab.sh base=BASE_SO runs=RUNS_SO
cd "$(git rev-parse --show-toplevel)"
so=operators/_native.cpython-311-x86_64-linux-gnu.so
log=${LOG:-backfill_ab.log}
for i in $(seq 1 ${PAIRS:-3}); do
  for spec in "$@"; do
    name=${spec%%=*}; path=${spec#*=}
    cp "$path" $so.tmp && mv $so.tmp $so
    out=$(mktemp -d)
    python3 -m benchmarks.backfill --jobs example --memory-limit 3.5GiB --out "$out" > "$out/log.txt" 2>&1
    echo "$name pair $i $(date +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) | $(grep -E '^\| *example' "$out/backfill.md" | head -1)" | tee -a "$log"
    rm -rf "$out"
  done
done
