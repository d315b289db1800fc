#!/bin/bash
# Alternated 30 s freshness runs (tmpfs store): the flow publishing as of the wall clock (base) or as of the stream's newest event time (stream).
OUT=${OUT:-/tmp/s53/streamclock}; ROUNDS=${ROUNDS:-2}; HOOK=$(dirname $(readlink -f $0))
cd ${ROOT:-.}
one() { local name=$1; shift
  echo "== $name $*" >> $OUT/runs.txt
  env PYTHONPATH=$HOOK "$@" SECONDS_=30 python3 benchmarks/results/s52/step30/run_kept.py 232342 $OUT/work-$name --online-store /dev/shm/streamfeat-sc.lmdb >> $OUT/runs.txt 2>&1
  rm -rf /dev/shm/streamfeat-sc.lmdb* $OUT/work-$name; }
for r in $(seq 1 $ROUNDS); do
  if [ $((r % 2)) = 1 ]; then one stream STREAM_CLOCK=1; one base STREAM_CLOCK=0; else one base STREAM_CLOCK=0; one stream STREAM_CLOCK=1; fi
done
