#!/bin/bash
# Alternate the benchmark's producer with and without delivery.report.only.error (DRONLY=1).
cd /work/main
OUT=$1; mkdir -p $OUT
for pair in 1 2 3 4; do
  for v in dr:1 base:; do
    name=${v%%:*}; val=${v#*:}
    DRONLY=$val python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 \
      --variant $name= --nice -10 --out $OUT/$name-$pair > $OUT/$name-$pair.log 2>&1
    echo "$name $pair $(grep -E '^\| '$name' run' $OUT/$name-$pair/freshness.md | cut -d'|' -f2-6,9 | tr -s ' ') p99 $(grep -E '^round' $OUT/$name-$pair.log | sed 's/.*p99//')"
  done
done
