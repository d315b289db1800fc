#!/bin/bash
# Freshness runs alternating the native Kafka reader (STREAMFEAT_NATIVE_KAFKA=1, the default) with
# confluent-kafka's consume (=0), one run each, the order flipping each pair.
# Usage (repository root, broker running): [VIEW=light] [PAIRS=3] bash reader_ab.sh OUT_DIR
out=$1; pairs=${PAIRS:-3}; here=$(dirname "$0"); mkdir -p "$out"
if [ "${VIEW:-example}" = light ]; then bench=(env PYTHONPATH=. python3 "$here/light.py"); else bench=(python3 -m benchmarks.freshness); fi
for i in $(seq "$pairs"); do
  if [ $((i % 2)) = 1 ]; then order="1 0"; else order="0 1"; fi
  for n in $order; do
    name=$([ "$n" = 1 ] && echo native || echo consume)
    STREAMFEAT_NATIVE_KAFKA=$n "${bench[@]}" --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 \
      --variant "$name=" --out "$out/$name$i" > "$out/$name$i.log" 2>&1
    echo "$name $i: $(grep -h '^round' "$out/$name$i.log") | flow %, µs/event: $(grep -h "^| $name run 1" "$out/$name$i/freshness.md" | cut -d'|' -f3,6)"
  done
done
