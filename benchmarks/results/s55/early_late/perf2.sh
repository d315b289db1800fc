#!/bin/bash
# perf of the busy `streamfeat run` process over production seconds A..A+LEN (counted from when it gets busy); OUT=perf.data
# (s54's perf.sh, which follows the first pid it finds; this one retries while a pid it found is gone)
set -u
OUT=$1; A=${A:-23}; LEN=${LEN:-6}
tick=$(getconf CLK_TCK)
while true; do
  pid=$(pgrep -f "streamfeat.cli run" | head -1)
  [ -z "$pid" ] && { sleep 0.2; continue; }
  prev=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null) || continue
  busy=0
  while [ -e /proc/$pid/stat ]; do
    sleep 0.5; now=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null) || break
    [ $((now-prev)) -gt $((tick/4)) ] && { busy=1; break; }; prev=$now
  done
  [ $busy = 1 ] && break
done
sleep $A
perf record -F ${FREQ:-499} ${CALLGRAPH:+--call-graph $CALLGRAPH} -p $pid -o $OUT -- sleep $LEN > $OUT.log 2>&1
