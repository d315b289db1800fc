#!/bin/bash
# GIL busy fraction of the flow late in a freshness run: py-spy --gil samples vs rate*duration
cd "$(dirname "$0")"
for i in $(seq 1 600); do
  pid=$(pgrep -f "streamfeat.cli run" | head -1)
  [ -n "$pid" ] && break
  sleep 0.2
done
sleep ${DELAY:-18}
py-spy record --gil --nonblocking -r 100 -d 12 -f raw -p "$pid" -o gil.txt > gil.log 2>&1
