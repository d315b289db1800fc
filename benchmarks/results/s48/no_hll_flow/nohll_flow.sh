#!/bin/bash
# Freshness at 134,000 events/s (--nice -10), pairs with the order flipping: the example view against the same
# view without its 30-day ApproxDistinct (../s47/drop_one_feature/make_views.py's no_hll30d.py), through
# ../freshness_134000_s40/fresh_features.py. Usage (repository root): OUT=DIR PAIRS=3 bash nohll_flow.sh NO_HLL_VIEW
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || exit 1
run() {  # name features
  if [ "$2" = example ]; then
    python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant "$1=" --nice -10 --out "$OUT/$1-$p" > "$OUT/$1-$p.log" 2>&1
  else
    PYTHONPATH=. python3 benchmarks/results/freshness_134000_s40/fresh_features.py "$2" --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant "$1=" --nice -10 --out "$OUT/$1-$p" > "$OUT/$1-$p.log" 2>&1
  fi
  echo "$1 pair $p: $(grep -E "^\| $1 " "$OUT/$1-$p/freshness.md" | head -2 | tr '\n' ' ')"
}
mkdir -p "$OUT"
for p in $(seq 1 ${PAIRS:-3}); do
  if [ $((p % 2)) = 1 ]; then run example example; run nohll "$1"; else run nohll "$1"; run example example; fi
done
