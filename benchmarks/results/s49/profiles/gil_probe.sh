#!/usr/bin/env bash
# One freshness run of the example view; py-spy --gil samples the flow over 8 s from DELAY s after it starts.
set -u
OUT=${OUT:?set OUT}; DELAY=${DELAY:-24}; FLAGS=${FLAGS:-}
mkdir -p "$OUT"
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || exit 1
python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant "base=$FLAGS" --nice -10 --out "$OUT/run" > "$OUT/run.log" 2>&1 &
bench=$!
pid=""
for i in $(seq 1 600); do pid=$(pgrep -f "streamfeat.cli run" | head -1); [[ -n "$pid" ]] && break; sleep 0.1; done
echo "flow pid $pid"
sleep "$DELAY"
py-spy record --gil --nonblocking -r 100 -d 8 -f raw -o "$OUT/gil.txt" -p "$pid" > "$OUT/pyspy_gil.log" 2>&1
py-spy record --idle --nonblocking -r 100 -d 4 -f raw -o "$OUT/all.txt" -p "$pid" > "$OUT/pyspy_all.log" 2>&1 || true
wait $bench
grep -E "^\| base \|" "$OUT/run/freshness.md"
python3 - "$OUT/gil.txt" <<'PY'
import sys, collections
tot = 0; by = collections.Counter()
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(" ")
    n = int(n); tot += n
    frames = stack.split(";")
    by[frames[-1][:110]] += n
print(f"GIL-held samples {tot} of 800 possible (8 s x 100 Hz): {tot/8:.0f} % of the time")
for k, v in by.most_common(15): print(f"{100*v/tot:5.1f}% {k}")
PY
