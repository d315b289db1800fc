#!/bin/bash
# Evicted states freed by the native core's freeing thread (the default) or on the worker that evicts them
# (STREAMFEAT_FREE_INLINE=1: an experiment build of operators/rust/src/lib.rs's freeing_thread()), alternated:
# ROUNDS pairs of 30 s at 232,342 events/s, store on tmpfs, the flow at nice -10 (s53/phases/run_kept.py).
set -u
HERE=$(cd "$(dirname "$0")" && pwd); OUT=${OUT:-$HERE}; ROUNDS=${ROUNDS:-3}
RUN=$HERE/../../s53/phases/run_kept.py
for r in $(seq 1 $ROUNDS); do
  if [ $((r % 2)) = 1 ]; then order="thread inline"; else order="inline thread"; fi
  for v in $order; do
    if [ $v = inline ]; then export STREAMFEAT_FREE_INLINE=1; else unset STREAMFEAT_FREE_INLINE; fi
    SECONDS_=30 WORKERS_=2 python3 $RUN 232342 /tmp/s54fi --online-store /dev/shm/streamfeat-fi.lmdb > $OUT/${v}_$r.log 2>&1
    rm -rf /tmp/s54fi /dev/shm/streamfeat-fi.lmdb*
    echo "$v round $r: $(grep -v '^%' $OUT/${v}_$r.log | tail -3 | tr '\n' ' ')"
  done
done
unset STREAMFEAT_FREE_INLINE
