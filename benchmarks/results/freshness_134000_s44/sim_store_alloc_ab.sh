#!/bin/bash
# The pipeline simulation alternating builds of streamfeat/_store_native given as NAME=PATH (see sim_alloc_ab.sh).
cd /work/main
so=streamfeat/_store_native.cpython-311-x86_64-linux-gnu.so
for i in $(seq 1 ${PAIRS:-3}); do
  for spec in "$@"; do
    name=${spec%%=*}; path=${spec#*=}
    cp "$path" $so.tmp && mv $so.tmp $so
    echo "== $name pair $i"
    APPLY_T=1 WAL=0 PYTHONPATH=. python3 benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py ${EVENTS:-3000000} 1500 2>&1 | grep -E "ev/cpu-s|thread cpu|apply_publish"
  done
done
