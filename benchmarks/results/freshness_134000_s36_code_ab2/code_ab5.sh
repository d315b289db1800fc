#!/bin/bash
# Five alternated pairs of single freshness runs of two checkouts ($OLD, $NEW), each with its native libraries
# built, and a broker on 127.0.0.1:19092. Usage: OLD=/path/old NEW=/path/new bash code_ab5.sh OUT_DIR
out=$1; mkdir -p "$out"; i=0
for order in "old new" "new old" "old new" "new old" "old new"; do
  i=$((i+1))
  for t in $order; do
    tree=$OLD; [ "$t" = new ] && tree=$NEW
    (cd "$tree" && PYTHONPATH="$tree" timeout 900 python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 \
      --rate 134000 --seconds 30 --rounds 1 --variant "$t=" --out "$out/${t}_$i" > "$out/${t}_$i.log" 2>&1)
    echo "$t pair $i: $(grep -E '^round' "$out/${t}_$i.log") $(grep -E "^\| $t run 1 \|" "$out/${t}_$i/freshness.md" | cut -d'|' -f3,6)"
  done
done
