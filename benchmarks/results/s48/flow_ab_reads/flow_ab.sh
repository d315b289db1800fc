#!/bin/bash
# Freshness pairs, the order flipping each pair: 71e8db2's native core (base) against a551628's (reads).
cd /work/main
H=benchmarks/results/hll_runs_s46
for p in 1 2 3 4; do
  if [ $((p % 2)) = 1 ]; then A="base=/tmp/s48/so/base.so"; B="reads=/tmp/s48/so/running.so"; else A="reads=/tmp/s48/so/running.so"; B="base=/tmp/s48/so/base.so"; fi
  PAIRS=1 FLAGS="--nice -10" OUT=/tmp/s48/flow_ab bash $H/alternate_builds.sh "PAIR=$p bash $H/freshness_one.sh" $A $B
done
cp /tmp/s48/so/running.so operators/_native.cpython-311-x86_64-linux-gnu.so
