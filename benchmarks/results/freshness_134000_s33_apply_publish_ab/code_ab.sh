#!/bin/bash
# alternate two checkouts of the code in freshness runs (each one round), order flipping each pair
out=$1; shift
i=0
for order in "old new" "new old" "old new"; do
  i=$((i+1))
  for t in $order; do
    (cd /tmp/s33/$t && PYTHONPATH=/tmp/s33/$t timeout 900 python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant "$t=" --out $out/${t}_$i > $out/${t}_$i.log 2>&1)
    echo "$t pair $i: $(grep -E '^round' $out/${t}_$i.log)"
  done
done
