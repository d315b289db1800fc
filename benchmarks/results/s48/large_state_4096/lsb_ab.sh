#!/bin/bash
# Alternated pairs of the pipeline simulation: --large-state-bytes 16384 (default) against $LSB_B
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || exit 1
for i in $(seq 1 ${PAIRS:-3}); do
  for v in 16384 ${LSB_B:-4096}; do
    QUARTERS=1 LSB=$v APPLY_T=1 WAL=0 PYTHONPATH=. python3 benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py 4000000 1500 > ${OUT:-/tmp}/$v-$i.log 2>&1
    echo "lsb $v pair $i: $(grep -E 'cpu s per' ${OUT:-/tmp}/$v-$i.log) | $(grep -oE 'cpu [0-9.]+s ->' ${OUT:-/tmp}/$v-$i.log) | $(grep -oE 'main thread cpu [0-9.]+s' ${OUT:-/tmp}/$v-$i.log) | $(grep -oE "'python3-[0-9]+': [0-9.]+" ${OUT:-/tmp}/$v-$i.log | tail -1) | apply+publish $(grep -E 'apply_publish' ${OUT:-/tmp}/$v-$i.log | grep -oE '[0-9.]+ us') | $(grep -oE 'values_only.: [0-9]+' ${OUT:-/tmp}/$v-$i.log | tail -1) | rows $(grep 'in place' ${OUT:-/tmp}/$v-$i.log | cut -d: -f2)"
  done
done
