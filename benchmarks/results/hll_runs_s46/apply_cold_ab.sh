#!/bin/bash
# apply_cold_micro.py (50,000 entities, 40 events each, 200 batches, 3 rounds) alternating builds of operators/_native
# given as NAME=PATH, three pairs. Usage (any directory): bash apply_cold_ab.sh runs=RUNS_SO pf=PF_SO
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
so=operators/_native.cpython-311-x86_64-linux-gnu.so
for i in 1 2 3; do for spec in "$@"; do name=${spec%%=*}; path=${spec#*=}; cp "$path" $so.tmp && mv $so.tmp $so
echo "== $name pair $i"; PYTHONPATH=. python3 benchmarks/results/hll_runs_s46/apply_cold_micro.py 50000 40 200 3; done; done
