#!/bin/bash
# Wait for the `streamfeat run` process to start producing — more than half a core over a whole second (s55's
# perf2.sh took the start-up's imports for it) — and print its pid and when.
tick=$(getconf CLK_TCK)
while true; do
  pid=$(pgrep -f "streamfeat.cli run" | head -1)
  [ -z "$pid" ] && { sleep 0.2; continue; }
  prev=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null) || continue
  while [ -e /proc/$pid/stat ]; do
    sleep 1; now=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null) || break
    [ $((now-prev)) -gt $((tick/2)) ] && { echo "$pid $(date +%T.%N)"; exit 0; }; prev=$now
  done
done
