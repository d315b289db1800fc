#!/bin/bash
# py-spy of the flow process: wait for `streamfeat.cli run`, then DELAY s, then record DURATION s (GIL holders only
# with GIL=1) to OUT (collapsed stacks)
OUT=$1; DELAY=${DELAY:-24}; DURATION=${DURATION:-6}
while ! pid=$(pgrep -f "streamfeat.cli run" | head -1) || [ -z "$pid" ]; do sleep 0.2; done
# the flow starts before production: wait until its CPU rises
sleep $DELAY
py-spy record --pid $pid --duration $DURATION --rate 250 --format raw -o $OUT ${GIL:+--gil} --nonblocking > $OUT.log 2>&1
