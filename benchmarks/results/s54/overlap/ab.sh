#!/bin/bash
# Alternate `-w 2` (the default) and `-w 1` with the overlap prototype (OVERLAP=1, this directory's sitecustomize.py):
# ROUNDS pairs, 30 s at 232,342 events/s, store on tmpfs; each run's per-event latencies kept (OUT/NAME.npz).
set -u
HERE=$(cd "$(dirname "$0")" && pwd); OUT=${OUT:-$HERE}; ROUNDS=${ROUNDS:-3}; RATE=${RATE:-232342}
for r in $(seq 1 $ROUNDS); do
  for v in w2 ov; do
    if [ $v = w2 ]; then env SECONDS_=30 WORKERS_=2 python3 $HERE/../shape/run_shape.py $RATE /tmp/s54ab $OUT/${v}_$r.npz --online-store /dev/shm/streamfeat-ab.lmdb > $OUT/${v}_$r.log 2>&1
    else env OVERLAP=1 PYTHONPATH=$HERE SECONDS_=30 WORKERS_=1 python3 $HERE/../shape/run_shape.py $RATE /tmp/s54ab $OUT/${v}_$r.npz --online-store /dev/shm/streamfeat-ab.lmdb > $OUT/${v}_$r.log 2>&1
    fi
    rm -rf /tmp/s54ab /dev/shm/streamfeat-ab.lmdb*
    echo "$v round $r: $(tail -3 $OUT/${v}_$r.log | tr '\n' ' ')"
  done
done
