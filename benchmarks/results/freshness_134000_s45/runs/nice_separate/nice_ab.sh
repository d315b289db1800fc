#!/bin/bash
# nice_ab.sh OUT ROUNDS: alternate default and the flow at nice -10
OUT=$1; N=${2:-2}
cd /work/main
for r in $(seq 1 $N); do
  for v in default nice; do
    if [ $(( r % 2 )) -eq 0 ]; then v=$([ $v = default ] && echo nice || echo default); fi
    if [ $v = nice ]; then export BENCH_FLOW_NICE=-10; else unset BENCH_FLOW_NICE; fi
    python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant $v= --out $OUT/r$r-$v 2>&1 | grep -E "^round"
  done
done
