#!/bin/bash
# One run of benchmarks.backfill's example view (all of W1, no spine) for alternate_builds.sh: its table row,
# with the build, pair, time and load average, is appended to $LOG (default backfill_ab.log) and printed.
out=$(mktemp -d)
python3 -m benchmarks.backfill --jobs example --memory-limit 3.5GiB --out "$out" > "$out/log.txt" 2>&1
echo "$NAME pair $PAIR $(date +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) | $(grep -E '^\| *example' "$out/backfill.md" | head -1)" \
    | tee -a "${LOG:-backfill_ab.log}"
rm -rf "$out"
