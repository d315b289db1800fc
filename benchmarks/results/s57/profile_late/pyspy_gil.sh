#!/bin/bash
# py-spy of the `streamfeat run` process over production seconds A..A+LEN (found as perf3.sh finds it), only samples of
# the thread holding the GIL (--gil), raw collapsed stacks: what the workers wait for each other on. OUT=stacks.txt
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
sleep $((A-1))
py-spy record -p $pid ${GIL---gil} ${NATIVE:+--native} -r ${RATE:-97} -d $LEN -f raw -o $OUT > $OUT.log 2>&1
