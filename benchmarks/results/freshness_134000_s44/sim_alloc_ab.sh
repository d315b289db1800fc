#!/bin/bash
# The pipeline simulation (../pipeline_late_regime_s32/pipe_sim_fresh.py, 3M events, 1,500 records per partition turn,
# commits off the log) alternating builds of one native module given as NAME=PATH, PAIRS times: operators/_native, or
# streamfeat/_store_native with MODULE=store. APPLY_T=1 also prints the main thread's CPU inside the native
# apply+publish (sim_alloc_ab_total.log was run before that line existed).
# Usage (repository root): [PAIRS=3] [MODULE=store] bash sim_alloc_ab.sh glibc=GLIBC_SO mimalloc=MIMALLOC_SO
cd "$(git rev-parse --show-toplevel)"
if [ "${MODULE:-native}" = store ]; then so=streamfeat/_store_native.cpython-311-x86_64-linux-gnu.so
else so=operators/_native.cpython-311-x86_64-linux-gnu.so; fi
for i in $(seq 1 ${PAIRS:-3}); do
  for spec in "$@"; do
    name=${spec%%=*}; path=${spec#*=}
    cp "$path" $so.tmp && mv $so.tmp $so
    echo "== $name pair $i"
    APPLY_T=1 WAL=0 PYTHONPATH=. python3 benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py ${EVENTS:-3000000} 1500 2>&1 | grep -E "cpu s per quarter|ev/cpu-s|thread cpu|apply_publish"
  done
done
