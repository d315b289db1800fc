#!/usr/bin/env bash
# Pipeline simulation A/B of two native cores, alternating the order each pair: PAIRS pairs; prints wall/cpu/main/apply per run.
# Usage: SO_DIR=DIR PAIRS=4 bash sim_ab.sh A B   (DIR/A.so and DIR/B.so are copied over operators/_native in turn;
# the last one run stays installed)
set -u
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || exit 1
SO_DIR=${SO_DIR:?set SO_DIR}
A=$1; B=$2; PAIRS=${PAIRS:-3}
use() { cp "$1" operators/_native.tmp.so && mv operators/_native.tmp.so operators/_native.cpython-311-x86_64-linux-gnu.so; }
one() {
  use "$SO_DIR/$1.so"
  local out; out=$(APPLY_T=1 WAL=0 PYTHONPATH=. python3 benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py 4000000 1500 2>&1)
  echo "$1: $(echo "$out" | grep -o 'cpu s per quarter.*' | head -1) | $(echo "$out" | grep -o 'wall [0-9.]*s cpu [0-9.]*s') | $(echo "$out" | grep -o 'main thread cpu [0-9.]*s') | $(echo "$out" | grep -o '[0-9.]* us per event')"
}
for i in $(seq 1 "$PAIRS"); do
  if (( i % 2 )); then one "$A"; one "$B"; else one "$B"; one "$A"; fi
done
