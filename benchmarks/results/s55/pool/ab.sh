#!/bin/bash
# Alternate a base checkout (BASE, its operators/_native built there; first on PYTHONPATH) and the installed checkout:
# ROUNDS pairs, 30 s at 232,342 events/s, store on tmpfs; each run's per-event latencies kept (OUT/NAME.npz).
set -u
HERE=$(cd "$(dirname "$0")" && pwd); OUT=${OUT:-$HERE}; ROUNDS=${ROUNDS:-3}; RATE=${RATE:-232342}
SHAPE=/work/main/benchmarks/results/s54/shape/run_shape.py
for r in $(seq 1 $ROUNDS); do
  for v in base new; do
    if [ $v = base ]; then env PYTHONPATH=$BASE SECONDS_=30 WORKERS_=2 python3 $SHAPE $RATE /tmp/s55ab $OUT/${v}_$r.npz --online-store /dev/shm/streamfeat-ab.lmdb $FLAGS > $OUT/${v}_$r.log 2>&1
    else env SECONDS_=30 WORKERS_=2 python3 $SHAPE $RATE /tmp/s55ab $OUT/${v}_$r.npz --online-store /dev/shm/streamfeat-ab.lmdb $FLAGS > $OUT/${v}_$r.log 2>&1
    fi
    rm -rf /tmp/s55ab /dev/shm/streamfeat-ab.lmdb*
    echo "$v round $r: $(tail -3 $OUT/${v}_$r.log | tr '\n' ' ')"
  done
done
