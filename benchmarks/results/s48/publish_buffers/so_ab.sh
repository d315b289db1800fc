#!/bin/bash
# Alternated builds of operators/_native in the pipeline simulation, with the process's page faults.
# Usage: PAIRS=N OUT=DIR so_ab.sh name=SO name=SO
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || exit 1
so=operators/_native.cpython-311-x86_64-linux-gnu.so
mkdir -p $OUT
for i in $(seq 1 ${PAIRS:-3}); do
  for spec in "$@"; do
    name=${spec%%=*}; path=${spec#*=}
    cp "$path" $so.tmp && mv $so.tmp $so
    APPLY_T=1 WAL=0 PYTHONPATH=. /usr/bin/time -f "faults %R" python3 benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py ${EVENTS:-4000000} 1500 > $OUT/$name-$i.log 2>&1
    echo "$name $i: $(grep -E 'cpu s per' $OUT/$name-$i.log) | $(grep -oE 'cpu [0-9.]+s ->' $OUT/$name-$i.log) | $(grep -oE 'main thread cpu [0-9.]+s' $OUT/$name-$i.log) | apply+publish $(grep -E 'apply_publish' $OUT/$name-$i.log | grep -oE '[0-9.]+ s,') | $(grep faults $OUT/$name-$i.log)"
  done
done
