#!/usr/bin/env bash
# Bound (not a correct flow): PAIRS pairs of freshness runs at RATE events/s (default 134000), the order flipping: states written (write) vs not (nostate); both with a cache that evicts nothing.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$(git -C "$HERE" rev-parse --show-toplevel)" || exit 1
OUT=${OUT:?set OUT}; PAIRS=${PAIRS:-3}
mkdir -p "$OUT"
run() { # name env
  local name=$1 val=$2 i=$3
  PYTHONPATH=$HERE:. STREAMFEAT_BOUND_NOSTATE=$val python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate "${RATE:-134000}" --seconds 30 --rounds 1 --variant "$name=--cache-entities 10000000" --nice -10 --out "$OUT/${name}_$i" > "$OUT/${name}_$i.log" 2>&1
  grep -E "^\| $name \|" "$OUT/${name}_$i/freshness.md" | head -1
}
for i in $(seq 1 "$PAIRS"); do
  if (( i % 2 )); then run write 0 $i; run nostate 1 $i; else run nostate 1 $i; run write 0 $i; fi
done
