#!/bin/bash
OUT=$1; DELAY=${2:-18}
for i in $(seq 1 600); do PID=$(pgrep -f "streamfeat.cli run|streamfeat run" | head -1); [ -n "$PID" ] && break; sleep 0.1; done
sleep $DELAY
py-spy record -p $PID -d 8 -r 200 --nonblocking -f raw -o $OUT.txt > $OUT.log 2>&1
