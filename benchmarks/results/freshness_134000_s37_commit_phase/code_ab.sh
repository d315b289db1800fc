#!/bin/bash
# Alternated pairs of single freshness runs of two checkouts ($OLD, $NEW, each with its native libraries built),
# with the flow flags $FLAGS, a broker on 127.0.0.1:19092. Usage: OLD=/old NEW=/new FLAGS="-w 1 --processes 2"
# PAIRS=4 bash code_ab.sh OUT_DIR
out=$1; mkdir -p "$out"; i=0
orders=("old new" "new old" "old new" "new old" "old new" "new old")
for order in "${orders[@]:0:${PAIRS:-4}}"; do
  i=$((i+1))
  for t in $order; do
    tree=$OLD; [ "$t" = new ] && tree=$NEW
    (cd "$tree" && PYTHONPATH="$tree" timeout 900 python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 \
      --rate 134000 --seconds 30 --rounds 1 --variant "$t=$FLAGS" --out "$out/${t}_$i" > "$out/${t}_$i.log" 2>&1)
    echo "$t pair $i: $(grep -E '^round' "$out/${t}_$i.log") $(grep -E "^\| $t run 1 \|" "$out/${t}_$i/freshness.md" | cut -d'|' -f3,6)"
  done
done
