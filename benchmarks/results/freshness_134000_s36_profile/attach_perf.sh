#!/bin/bash
# Profile the flow of a running freshness benchmark from 16 s after it starts, for 14 s (late in a run).
# Start this, then: python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30
#   --rounds 1 --variant base= --out DIR
# Then: perf report -i flow.perf --no-children --sort dso -g none  (or --sort pid, --sort dso,symbol)
# With --call-graph dwarf,16384 and -F 150 for 6 s instead, callers are resolved (a much larger file).
for i in $(seq 1 600); do
  pid=$(pgrep -f "streamfeat.cli run" | head -1)
  [ -n "$pid" ] && break
  sleep 0.2
done
sleep 16
perf record -e cpu-clock -F 499 -g -p "$pid" -o flow.perf -- sleep 14
