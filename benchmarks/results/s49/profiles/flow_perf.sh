#!/usr/bin/env bash
# One freshness run at RATE (default 134000); perf record (all threads of the flow, 299 Hz) for 8 s from DELAY s after the flow starts.
set -u
OUT=${OUT:?set OUT}; DELAY=${DELAY:-24}; FLAGS=${FLAGS:-}
mkdir -p "$OUT"; cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || exit 1
python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate "${RATE:-134000}" --seconds 30 --rounds 1 --variant "base=$FLAGS" --nice -10 --out "$OUT/run" > "$OUT/run.log" 2>&1 &
bench=$!
pid=""
for i in $(seq 1 600); do pid=$(pgrep -f "streamfeat.cli run" | head -1); [[ -n "$pid" ]] && break; sleep 0.1; done
sleep "$DELAY"
perf record -F 299 -g -o "$OUT/flow.data" -p "$pid" -- sleep 8 > "$OUT/perf.log" 2>&1
wait $bench
grep -E "^\| base \|" "$OUT/run/freshness.md"
