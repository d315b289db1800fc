#!/bin/bash
# alternate the freshness reader's probe: rows (whole rows, as before) and header; PAIRS pairs, order flipping
cd "$(dirname "$0")/../../.."
OUT=$1
for i in $(seq 1 ${PAIRS:-4}); do
  if [ $((i % 2)) = 1 ]; then order="rows header"; else order="header rows"; fi
  for v in $order; do
    timeout 600 python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 \
      --probe $v --variant "default=" --out $OUT/${v}_$i > $OUT/${v}_$i.log 2>&1
    echo "$v $i: $(grep round $OUT/${v}_$i.log) | $(grep '^| default run' $OUT/${v}_$i/freshness.md | cut -d'|' -f3-6)"
  done
done
