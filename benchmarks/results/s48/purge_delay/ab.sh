#!/bin/bash
# Alternated pairs of the pipeline simulation: mimalloc's default purge delay against MIMALLOC_PURGE_DELAY=-1 (never).
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || exit 1
for i in $(seq 1 ${PAIRS:-4}); do
  for v in base never; do
    if [ $v = never ]; then E="MIMALLOC_PURGE_DELAY=-1"; else E="SIM_VARIANT=base"; fi
    env $E APPLY_T=1 WAL=0 PYTHONPATH=. /usr/bin/time -f "faults %R" python3 benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py 4000000 1500 > ${OUT:-/tmp}/$v$i.log 2>&1
    echo "$v$i: $(grep -E 'cpu s per' ${OUT:-/tmp}/$v$i.log) | $(grep -oE 'cpu [0-9.]+s ->' ${OUT:-/tmp}/$v$i.log) | $(grep -oE 'main thread cpu [0-9.]+s' ${OUT:-/tmp}/$v$i.log) | apply+publish $(grep -E 'apply_publish' ${OUT:-/tmp}/$v$i.log | grep -oE '[0-9.]+ us') | $(grep faults ${OUT:-/tmp}/$v$i.log)"
  done
done
