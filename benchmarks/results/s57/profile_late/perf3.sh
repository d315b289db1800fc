#!/bin/bash
# perf of the `streamfeat run` process over production seconds A..A+LEN, production detected as the process
# using more than half a core over a whole second (s55's perf2.sh took the start-up's imports for it). OUT=perf.data
set -u
OUT=$1; A=${A:-23}; LEN=${LEN:-6}
tick=$(getconf CLK_TCK)
while true; do
  pid=$(pgrep -f "streamfeat.cli run" | head -1)
  [ -z "$pid" ] && { sleep 0.2; continue; }
  prev=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null) || continue
  busy=0
  while [ -e /proc/$pid/stat ]; do
    sleep 1; now=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null) || break
    [ $((now-prev)) -gt $((tick/2)) ] && { busy=1; break; }; prev=$now
  done
  [ $busy = 1 ] && break
done
echo "production from $(date +%T.%N) (pid $pid)"
sleep $((A-1))
perf record -F ${FREQ:-499} ${CALLGRAPH:+--call-graph $CALLGRAPH} -p $pid -o $OUT -- sleep $LEN > $OUT.log 2>&1
