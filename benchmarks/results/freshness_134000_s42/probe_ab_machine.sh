#!/bin/bash
# alternate the reader probe (ORDER="rows header"), PAIRS pairs, the order flipping each pair (FLIP=0: always ORDER,
# as runs/probe_ab2 was made); machine idle/steal from /proc/stat over each run
cd "$(dirname "$0")/../../.."
OUT=$1; mkdir -p $OUT
for i in $(seq 1 ${PAIRS:-2}); do
  if [ "${FLIP:-1}" = 0 ] || [ $((i % 2)) = 1 ]; then order="$ORDER"; else order=$(echo $ORDER | awk "{print \$2, \$1}"); fi
  for v in $order; do
    s0=($(head -1 /proc/stat))
    timeout 600 python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 \
      --probe $v --variant "default=" --out $OUT/${v}_$i > $OUT/${v}_$i.log 2>&1
    s1=($(head -1 /proc/stat))
    tot=0; for k in 1 2 3 4 5 6 7 8; do tot=$((tot + ${s1[$k]} - ${s0[$k]})); done
    echo "$v $i: $(grep round $OUT/${v}_$i.log) | $(grep '^| default run' $OUT/${v}_$i/freshness.md | cut -d'|' -f3-6) | idle% $(( (${s1[4]}-${s0[4]})*100/tot )) steal% $(( (${s1[8]}-${s0[8]})*100/tot ))"
  done
done
