#!/usr/bin/env bash
# Alternate two builds of streamfeat/_store_native under the same checkout: OLD.so NEW.so ROUNDS.
# Usage (repository root): bash benchmarks/results/online_writer_s35/ab.sh OLD.so NEW.so 3 [GROW]
set -euo pipefail
old=$1 new=$2 rounds=${3:-3} grow=${4:-0}
target=streamfeat/_store_native.cpython-311-x86_64-linux-gnu.so
keep=$(mktemp); cp "$target" "$keep"
for round in $(seq "$rounds"); do
  for v in old new; do
    so=$old; [ "$v" = new ] && so=$new
    cp "$so" "$target"
    echo -n "$v: "; python3 benchmarks/results/online_writer_s35/lmdb_rows.py 400000 3 7 "$grow"
  done
done
cp "$keep" "$target"; rm -f "$keep"
