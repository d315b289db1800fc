#!/bin/bash
# perf of the `streamfeat run` process over production seconds A..A+LEN (counted from when it gets busy); OUT=perf.data
set -u
OUT=$1; A=${A:-23}; LEN=${LEN:-6}
pid=""
while [ -z "$pid" ]; do pid=$(pgrep -f "streamfeat.cli run" | head -1); sleep 0.2; done
tick=$(getconf CLK_TCK)
prev=$(awk '{print $14+$15}' /proc/$pid/stat)
while true; do sleep 0.5; now=$(awk '{print $14+$15}' /proc/$pid/stat); [ $((now-prev)) -gt $((tick/4)) ] && break; prev=$now; done
sleep $A
perf record -F ${FREQ:-499} ${CALLGRAPH:+--call-graph $CALLGRAPH} -p $pid -o $OUT -- sleep $LEN > $OUT.log 2>&1
