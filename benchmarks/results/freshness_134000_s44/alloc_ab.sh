#!/bin/bash
# Freshness runs alternating two builds of operators/_native (glibc's malloc against mimalloc as Rust's
# global allocator), one run each, the order flipping each pair; the build is copied into place before each run.
# Usage (repository root, broker running): [PAIRS=3] bash alloc_ab.sh OUT_DIR GLIBC_SO MIMALLOC_SO
out=$1; glibc=$2; mi=$3; pairs=${PAIRS:-3}; mkdir -p "$out"
so=operators/_native.cpython-311-x86_64-linux-gnu.so
for i in $(seq "$pairs"); do
  if [ $((i % 2)) = 1 ]; then order="glibc mimalloc"; else order="mimalloc glibc"; fi
  for name in $order; do
    src=$([ "$name" = glibc ] && echo "$glibc" || echo "$mi")
    cp "$src" "$so.tmp" && mv "$so.tmp" "$so"
    python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 \
      --variant "$name=" --out "$out/$name$i" > "$out/$name$i.log" 2>&1
    echo "$name $i: $(grep -h '^round' "$out/$name$i.log") | flow %, µs/event: $(grep -h "^| $name run 1" "$out/$name$i/freshness.md" | cut -d'|' -f3,6)"
  done
done
