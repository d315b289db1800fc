#!/bin/bash
# benchmarks.freshness, one round per run, alternating builds of operators/_native given as NAME=PATH, PAIRS times
# (repository root; the flow imports the module at its start). Each run's report goes to $OUT/NAME-PAIR.
# Usage: [PAIRS=3] [FLAGS="--nice -10"] OUT=DIR bash freshness_ab.sh base=BASE_SO runs=RUNS_SO
cd "$(git rev-parse --show-toplevel)"
so=operators/_native.cpython-311-x86_64-linux-gnu.so
for i in $(seq 1 ${PAIRS:-3}); do
  for spec in "$@"; do
    name=${spec%%=*}; path=${spec#*=}
    cp "$path" $so.tmp && mv $so.tmp $so
    python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 \
        --variant "$name=" ${FLAGS:-} --out "$OUT/$name-$i" > "$OUT/$name-$i.log" 2>&1
    echo "$name pair $i: $(grep -E "^\| $name " "$OUT/$name-$i/freshness.md" | head -2 | tr '\n' ' ')"
  done
done
