#!/bin/bash
# Freshness at 134,000 events/s for two checkouts of the code, alternated: one run of each per pair,
# the order old, new; new, old; old, new. Each checkout needs its native libraries built
# (operators/_native*.so, streamfeat/_store_native*.so) and a Kafka broker on 127.0.0.1:19092.
# Usage: OLD=/path/to/old/checkout NEW=/path/to/new/checkout bash code_ab.sh OUT_DIR
set -u
out=$1
mkdir -p "$out"
i=0
for order in "old new" "new old" "old new"; do
  i=$((i+1))
  for t in $order; do
    tree=$OLD; [ "$t" = new ] && tree=$NEW
    (cd "$tree" && PYTHONPATH="$tree" timeout 900 python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 \
      --rate 134000 --seconds 30 --rounds 1 --variant "$t=" --out "$out/${t}_$i" > "$out/${t}_$i.log" 2>&1)
    echo "$t pair $i: $(grep -E '^round' "$out/${t}_$i.log")"
  done
done
