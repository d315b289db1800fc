#!/bin/bash
cd "$(git rev-parse --show-toplevel)" && mkdir -p /tmp/streamfeat-switch-ab
for order in "base sw" "sw base" "base sw"; do
  for t in $order; do
    i=$((${i:-0}+1))
    if [ $t = sw ]; then
      FLOW_SWITCH_S=0.02 PYTHONPATH=benchmarks/results/freshness_134000_s36_switch_ab python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant sw20= --out /tmp/streamfeat-switch-ab/${t}_$i > /tmp/streamfeat-switch-ab/${t}_$i.log 2>&1
    else
      python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant base= --out /tmp/streamfeat-switch-ab/${t}_$i > /tmp/streamfeat-switch-ab/${t}_$i.log 2>&1
    fi
    echo "$t $i: $(grep -E '^round' /tmp/streamfeat-switch-ab/${t}_$i.log) $(grep -E '^\| (base|sw20) run 1 \|' /tmp/streamfeat-switch-ab/${t}_$i/freshness.md | cut -d'|' -f3,6)"
  done
done
