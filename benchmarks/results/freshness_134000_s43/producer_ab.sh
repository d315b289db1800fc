#!/bin/bash
# Freshness runs alternating the benchmark's paced producer: native (one librdkafka call per ~10 ms chunk,
# KafkaBatchProducer) against python (confluent-kafka's produce per event, as before stop 43); the flow the same.
# Usage (repository root, broker running): [PAIRS=3] bash producer_ab.sh OUT_DIR
out=$1; pairs=${PAIRS:-3}; mkdir -p "$out"
for i in $(seq "$pairs"); do
  if [ $((i % 2)) = 1 ]; then order="native python"; else order="python native"; fi
  for p in $order; do
    python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 \
      --producer "$p" --variant "$p=" --out "$out/$p$i" > "$out/$p$i.log" 2>&1
    echo "$p $i: $(grep -h '^round' "$out/$p$i.log") | flow %, benchmark %, broker %, flow µs/event, machine busy %: $(grep -h "^| $p run 1" "$out/$p$i/freshness.md" | cut -d'|' -f3,4,5,6,9)"
  done
done
