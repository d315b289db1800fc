#!/bin/bash
# hll_insert_micro.py alternating builds of operators/_native given as NAME=PATH, PAIRS times (repository root).
# Usage: [PAIRS=3] [ARGS="3000 20000 200000 3"] bash micro_ab.sh base=BASE_SO runs=RUNS_SO
cd "$(git rev-parse --show-toplevel)"
so=operators/_native.cpython-311-x86_64-linux-gnu.so
for i in $(seq 1 ${PAIRS:-3}); do
  for spec in "$@"; do
    name=${spec%%=*}; path=${spec#*=}
    cp "$path" $so.tmp && mv $so.tmp $so
    echo "== $name pair $i ($ARGS)"
    PYTHONPATH=. python3 benchmarks/results/hll_runs_s46/hll_insert_micro.py ${ARGS:-3000 20000 200000 3}
  done
done
