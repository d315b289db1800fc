#!/bin/bash
# Freshness pairs, the order flipping each pair: 71e8db2's native core (base) against 17d195f's (head).
cd /work/main
H=benchmarks/results/hll_runs_s46
for p in 1 2 3 4; do
  if [ $((p % 2)) = 1 ]; then A="base=/tmp/s48/so/base.so"; B="head=/tmp/s48/so/head.so"; else A="head=/tmp/s48/so/head.so"; B="base=/tmp/s48/so/base.so"; fi
  PAIRS=1 FLAGS="--nice -10" OUT=/tmp/s48/flow_ab2 bash $H/alternate_builds.sh "PAIR=$p bash $H/freshness_one.sh" $A $B
done
cp /tmp/s48/so/head.so operators/_native.cpython-311-x86_64-linux-gnu.so
