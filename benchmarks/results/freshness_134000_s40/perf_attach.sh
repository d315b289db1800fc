#!/bin/bash
# wait for the flow, then record it late in the run
OUT=$1; DELAY=${2:-22}
for i in $(seq 1 600); do PID=$(pgrep -f "streamfeat.cli run|streamfeat run" | head -1); [ -n "$PID" ] && break; sleep 0.1; done
echo "flow pid $PID" > $OUT.pid
sleep $DELAY
perf record -F 499 -g -p $PID -o $OUT.data -- sleep 8 2> $OUT.err
ps -L -o tid,comm,time -p $PID > $OUT.threads 2>&1
