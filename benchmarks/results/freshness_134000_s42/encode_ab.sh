#!/bin/bash
# Usage: PAIRS=N bash encode_ab.sh OLD_TREE NEW_TREE (each a checkout with its native .so files in place)
# alternate the pipeline simulation between two trees (OLD NEW), PAIRS pairs, order flipping
for i in $(seq 1 ${PAIRS:-3}); do
  if [ $((i % 2)) = 1 ]; then order="$1 $2"; else order="$2 $1"; fi
  for t in $order; do
    echo "$(basename $t) $i: $(cd $t && WAL=0 PYTHONPATH=. python3 benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py 4000000 1500 2>&1 | grep -E 'cpu s per quarter|ev/cpu-s' | sed 's/LSB.*batch [0-9]*: //' | tr '\n' ' ')"
  done
done
